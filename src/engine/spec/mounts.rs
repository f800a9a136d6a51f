//! A service's storage as the engine takes it, as Compose v2 builds it: plain binds and named
//! volumes as `Binds` strings (`src:dst:rw[,z][,nocopy]`: the engine creates a missing host
//! path, as Compose users expect), anything with options the strings cannot carry
//! (propagation, `create_host_path: false`, subpath, labels, tmpfs size and mode, images) as
//! `Mounts`; `tmpfs:` entries; secrets and configs from files as read-only binds.

use std::collections::HashMap;

use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountImageOptions, MountTmpfsOptions,
    MountType, MountVolumeOptions,
};

use crate::project::model::{self, FileSource, MountKind, Service};
use crate::project::Project;

/// The `Binds` strings and the `Mounts` of a service's `volumes:`, secrets and configs.
pub fn storage(project: &Project, svc: &Service) -> (Vec<String>, Vec<Mount>) {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for m in &svc.volumes {
        let source = source_name(project, m);
        if m.fits_bind_string() {
            binds.push(bind_string(&source.unwrap_or_default(), m));
        } else {
            mounts.push(mount(source, m));
        }
    }
    let taken: Vec<String> = svc.volumes.iter().map(|m| m.target.clone()).collect();
    for f in super::files::bound(project, svc) {
        if taken.contains(&f.target) {
            continue;
        }
        let FileSource::File(path) = &super::files::def(project, f).source else {
            continue;
        };
        mounts.push(Mount {
            target: Some(f.target.clone()),
            source: Some(path.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        });
    }
    (binds, mounts)
}

/// A named volume by its engine-side name; a bind's host path; an image's reference.
fn source_name(project: &Project, m: &model::Mount) -> Option<String> {
    match m.kind {
        MountKind::Volume => m.source.as_ref().map(|k| {
            project
                .model
                .volumes
                .get(k)
                .map(|v| v.name.clone())
                .unwrap_or_else(|| k.clone())
        }),
        _ => m.source.clone(),
    }
}

/// Compose's `toBindString`: `src:dst:rw|ro[,z|Z][,propagation][,nocopy]`.
fn bind_string(source: &str, m: &model::Mount) -> String {
    let mut opts = vec![if m.read_only { "ro" } else { "rw" }.to_string()];
    if let Some(b) = &m.bind {
        opts.extend(b.selinux.clone());
        opts.extend(b.propagation.clone());
    }
    if m.volume.as_ref().is_some_and(|v| v.nocopy) {
        opts.push("nocopy".into());
    }
    format!("{source}:{}:{}", m.target, opts.join(","))
}

fn mount(source: Option<String>, m: &model::Mount) -> Mount {
    let typ = match m.kind {
        MountKind::Volume => MountType::VOLUME,
        MountKind::Bind => MountType::BIND,
        MountKind::Tmpfs => MountType::TMPFS,
        MountKind::Image => MountType::IMAGE,
    };
    Mount {
        target: Some(m.target.clone()),
        source,
        typ: Some(typ),
        read_only: Some(m.read_only),
        consistency: m.consistency.clone(),
        bind_options: m
            .bind
            .as_ref()
            .filter(|_| m.kind == MountKind::Bind)
            .map(bind_options),
        volume_options: m
            .volume
            .as_ref()
            .filter(|_| m.kind == MountKind::Volume)
            .map(|v| MountVolumeOptions {
                no_copy: v.nocopy.then_some(true),
                labels: (!v.labels.is_empty()).then(|| {
                    v.labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<HashMap<_, _>>()
                }),
                subpath: v.subpath.clone(),
                ..Default::default()
            }),
        tmpfs_options: m
            .tmpfs
            .as_ref()
            .filter(|_| m.kind == MountKind::Tmpfs)
            .map(|t| MountTmpfsOptions {
                size_bytes: t.size,
                mode: t.mode.map(i64::from),
                ..Default::default()
            }),
        image_options: m.image_subpath.as_ref().map(|s| MountImageOptions {
            subpath: Some(s.clone()),
        }),
    }
}

/// Compose's `buildBindOption`.
fn bind_options(b: &model::BindOptions) -> MountBindOptions {
    let propagation = b.propagation.as_deref().and_then(|p| match p {
        "private" => Some(MountBindOptionsPropagationEnum::PRIVATE),
        "rprivate" => Some(MountBindOptionsPropagationEnum::RPRIVATE),
        "shared" => Some(MountBindOptionsPropagationEnum::SHARED),
        "rshared" => Some(MountBindOptionsPropagationEnum::RSHARED),
        "slave" => Some(MountBindOptionsPropagationEnum::SLAVE),
        "rslave" => Some(MountBindOptionsPropagationEnum::RSLAVE),
        _ => None,
    });
    let recursive = b.recursive.as_deref();
    MountBindOptions {
        propagation,
        create_mountpoint: b.create_host_path.then_some(true),
        non_recursive: (recursive == Some("disabled")).then_some(true),
        read_only_non_recursive: (recursive == Some("writable")).then_some(true),
        read_only_force_recursive: (recursive == Some("readonly")).then_some(true),
    }
}

/// `tmpfs:` as the engine's map of mount point to options.
pub fn tmpfs(svc: &Service) -> Option<HashMap<String, String>> {
    (!svc.storage.tmpfs.is_empty()).then(|| {
        svc.storage
            .tmpfs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}
