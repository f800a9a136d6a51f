//! Restart (waiting for health, then `restart: true` dependents) and teardown.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveImageOptions, RemoveVolumeOptions,
};
use futures_util::future::join_all;
use tokio::sync::watch;

use super::converge::{self, ConvergeError};
use super::health::{self, Monitor, Want};
use super::observed::{self, ContainerState};
use super::{build, labels, spec, Engine};
use crate::project::{graph, Project};

/// How one service's restart went.
#[derive(Debug, Clone)]
pub struct Restarted {
    pub service: String,
    pub recreated: bool,
    pub took: Duration,
    pub state: String,
    /// Restarted because it declares `restart: true` on a restarted dependency.
    pub as_dependent_of: Option<String>,
}

/// Restarts `services` (recreating those whose configuration changed), waits for each to be
/// ready, then restarts their `restart: true` dependents the same way.
pub async fn restart(
    engine: &Engine,
    project: &Project,
    services: &[String],
    wait: bool,
    timeout: Duration,
    on_done: &(dyn Fn(&Restarted) + Sync),
) -> Result<Vec<Restarted>, ConvergeError> {
    let monitor = Monitor::start(engine, &project.name);
    let containers = observed::list(engine, &project.name).await?;
    let mut queue: Vec<(String, Option<String>)> =
        services.iter().map(|s| (s.clone(), None)).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while !queue.is_empty() {
        let (name, because) = queue.remove(0);
        if !seen.insert(name.clone()) {
            continue;
        }
        let svc = &project.model.services[&name];
        let Some(cur) = containers
            .iter()
            .find(|c| c.name == labels::container_name(&project.name, &name))
        else {
            return Err(ConvergeError::Start {
                service: name.clone(),
                detail: "has no container yet: run `devstack up` first".into(),
            });
        };
        let begin = Instant::now();
        let (image_id, _) =
            build::ensure_image(engine, &project.name, svc, false, true, &|_| {}).await?;
        let spec = spec::container_spec(project, svc, &image_id, engine.api_at_least(1, 44));
        let changed = cur.config_hash.as_deref() != Some(spec.config_hash.as_str())
            || cur.image_label.as_deref()
                != spec
                    .body
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::IMAGE))
                    .map(String::as_str);
        let id = if changed {
            let svc_list = vec![name.clone()];
            let opts = converge::UpOptions {
                services: svc_list,
                force_build: false,
                no_build: true,
                timeout,
                skip_preflight: false,
            };
            // Converging just this service recreates it (its dependencies are already up).
            converge::up(engine, project, opts, std::sync::Arc::new(|_| {})).await?;
            observed::list(engine, &project.name)
                .await?
                .into_iter()
                .find(|c| c.service == name)
                .map(|c| c.id)
                .unwrap_or_default()
        } else {
            converge::restart_container(engine, &cur.id, svc.stop_grace_secs()).await?;
            cur.id.clone()
        };
        let state = if wait {
            let st = health::wait_for(
                engine,
                &monitor,
                &name,
                &id,
                Want::Ready,
                svc.healthcheck.as_ref(),
                Instant::now() + timeout,
            )
            .await?;
            st.health.unwrap_or_else(|| st.status.clone())
        } else {
            "restarted".into()
        };
        let r = Restarted {
            service: name.clone(),
            recreated: changed,
            took: begin.elapsed(),
            state,
            as_dependent_of: because,
        };
        on_done(&r);
        out.push(r);
        for dep in graph::restart_dependents(&project.model, &name) {
            queue.push((dep, Some(name.clone())));
        }
    }
    Ok(out)
}

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

/// Stops and removes the project's containers in reverse dependency order (read from the
/// `depends_on` labels, so it works even when the templates no longer render), then its
/// networks, and its volumes only when asked.
pub async fn down(
    engine: &Engine,
    project: &str,
    remove_volumes: bool,
    remove_images: RemoveImages,
    grace: Duration,
) -> Result<DownReport, ConvergeError> {
    let containers = observed::list(engine, project).await?;
    let used_images: Vec<String> = containers.iter().map(|c| c.image.clone()).collect();
    let mut report = DownReport::default();
    // Who depends on whom, from labels: a container is stopped after its dependents.
    let dependents: HashMap<String, Vec<String>> = {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for c in &containers {
            for dep in c
                .labels
                .get(labels::DEPENDS_ON)
                .map(String::as_str)
                .unwrap_or("")
                .split(',')
            {
                if let Some(name) = dep.split(':').next().filter(|n| !n.is_empty()) {
                    m.entry(name.to_string())
                        .or_default()
                        .push(c.service.clone());
                }
            }
        }
        m
    };
    let mut done_tx = HashMap::new();
    let mut done_rx = HashMap::new();
    for c in &containers {
        let (tx, rx) = watch::channel(false);
        done_tx.insert(c.id.clone(), tx);
        done_rx.insert(c.service.clone(), rx);
    }
    let stops = containers.iter().map(|c: &ContainerState| {
        let tx = done_tx.remove(&c.id).expect("one per container");
        let waits: Vec<watch::Receiver<bool>> = dependents
            .get(&c.service)
            .map(|ds| {
                ds.iter()
                    .filter(|d| **d != c.service)
                    .filter_map(|d| done_rx.get(d).cloned())
                    .collect()
            })
            .unwrap_or_default();
        async move {
            for mut rx in waits {
                while !*rx.borrow() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
            converge::stop_container(engine, &c.id, grace.as_secs() as i32).await;
            let r = converge::remove_container(engine, &c.id).await;
            let _ = tx.send(true);
            r.map(|_| c.name.clone())
        }
    });
    for r in join_all(stops).await {
        report.containers.push(r?);
    }
    let filter = labels::project_filter(project);
    let filters = HashMap::from([("label", vec![filter.as_str()])]);
    let nets = engine
        .docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    for n in nets {
        let name = n.name.unwrap_or_default();
        match engine.docker.remove_network(&name).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => report.networks.push(name),
            Err(e) => return Err(e.into()),
        }
    }
    let vols = engine
        .docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    for v in vols.volumes.unwrap_or_default() {
        if remove_volumes {
            engine
                .docker
                .remove_volume(&v.name, None::<RemoveVolumeOptions>)
                .await?;
            report.volumes_removed.push(v.name);
        } else {
            report.volumes_kept.push(v.name);
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
    report.containers.sort();
    Ok(report)
}
