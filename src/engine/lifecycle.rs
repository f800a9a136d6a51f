//! Teardown of what is not a node of the graph: networks, volumes, images.

use std::collections::{BTreeSet, HashMap};

use bollard::query_parameters::{
    ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveImageOptions, RemoveVolumeOptions,
};

use super::converge::ConvergeError;
use super::{labels, Engine};

/// What `down` removed and kept.
#[derive(Debug, Default)]
pub struct DownReport {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes_removed: Vec<String>,
    pub volumes_kept: Vec<String>,
    pub images_removed: Vec<String>,
    /// Images asked for but still in use elsewhere, with the engine's reason.
    pub images_kept: Vec<(String, String)>,
}

/// Which images `down` removes (Compose's `--rmi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    None,
    /// Those devstack built for this project (labelled with it); pulled images stay.
    Built,
    /// Those, and every image the project's containers ran.
    All,
}

/// The project's networks and volumes (engine-side names), by Compose's project label.
pub async fn resources(
    engine: &Engine,
    project: &str,
) -> Result<(Vec<String>, Vec<String>), bollard::errors::Error> {
    let filter = labels::project_filter(project);
    let filters = HashMap::from([("label", vec![filter.as_str()])]);
    let nets = engine
        .docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let vols = engine
        .docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    Ok((nets, vols))
}

/// After the containers are gone (the executor stops them in reverse graph order): the
/// project's networks, its volumes only when asked, and images as `--rmi` says.
pub async fn remove_resources(
    engine: &Engine,
    project: &str,
    remove_volumes: bool,
    remove_images: RemoveImages,
    used_images: Vec<String>,
    built_images: Vec<String>,
) -> Result<DownReport, ConvergeError> {
    let mut report = DownReport::default();
    let (networks, volumes) = resources(engine, project).await?;
    for name in networks {
        match engine.docker.remove_network(&name).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => report.networks.push(name),
            Err(e) => return Err(e.into()),
        }
    }
    for name in volumes {
        if remove_volumes {
            engine
                .docker
                .remove_volume(&name, None::<RemoveVolumeOptions>)
                .await?;
            report.volumes_removed.push(name);
        } else {
            report.volumes_kept.push(name);
        }
    }
    if remove_images != RemoveImages::None {
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        let built_filter = format!("{}={project}", labels::BUILT_FOR_PROJECT);
        let built = engine
            .docker
            .list_images(Some(
                ListImagesOptionsBuilder::default()
                    .filters(&HashMap::from([("label", vec![built_filter.as_str()])]))
                    .build(),
            ))
            .await?;
        for img in built {
            let tags: Vec<String> = img
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect();
            if tags.is_empty() {
                wanted.insert(img.id);
            } else {
                wanted.extend(tags);
            }
        }
        // What devstack's build record says it built (an older devstack labelled them instead).
        for tag in built_images {
            if engine.docker.inspect_image(&tag).await.is_ok() {
                wanted.insert(tag);
            }
        }
        if remove_images == RemoveImages::All {
            wanted.extend(used_images.into_iter().filter(|i| !i.is_empty()));
        }
        for image in wanted {
            match engine
                .docker
                .remove_image(&image, None::<RemoveImageOptions>, None)
                .await
            {
                Ok(_) => report.images_removed.push(image),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409,
                    message,
                }) => report.images_kept.push((image, message)),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(report)
}
