//! The engine's classic builder (`POST /build`, `version=1`), for engines without BuildKit:
//! the context goes as a tar, the output comes back as lines.

use std::collections::HashMap;

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;

use super::{context_tar, BuildError, BuildUpdate};
use crate::engine::Engine;
use crate::project::model::{Build, Service};

/// Builds and tags `tags`; the image id the engine reported.
pub async fn build(
    engine: &Engine,
    svc: &Service,
    build: &Build,
    tags: &[String],
    no_cache: bool,
    pull: bool,
    on: &(dyn Fn(&BuildUpdate) + Sync),
) -> Result<Option<String>, BuildError> {
    let (name, spec) = (svc.name.clone(), build.clone());
    let (tar, _) = tokio::task::spawn_blocking(move || context_tar(&name, &spec))
        .await
        .map_err(|e| BuildError::Context {
            service: svc.name.clone(),
            detail: e.to_string(),
        })??;
    let args: HashMap<String, String> = build.args.clone().into_iter().collect();
    let labels: HashMap<String, String> = build.labels.clone().into_iter().collect();
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile(&build.dockerfile)
        .t(&tags[0])
        .rm(true)
        .forcerm(true)
        .nocache(no_cache)
        .buildargs(&args)
        .labels(&labels);
    if pull {
        opts = opts.pull("true");
    }
    if let Some(t) = &build.target {
        opts = opts.target(t);
    }
    if let Some(n) = &build.network {
        opts = opts.networkmode(n);
    }
    if let Some(s) = build.shm_size {
        opts = opts.shmsize(i32::try_from(s).unwrap_or(i32::MAX));
    }
    if !build.extra_hosts.is_empty() {
        opts = opts.extrahosts(&build.extra_hosts.join(","));
    }
    let mut stream =
        engine
            .docker
            .build_image(opts.build(), None, Some(bollard::body_full(tar.into())));
    let mut log: Vec<String> = Vec::new();
    let mut image_id = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                for l in info.stream.iter().flat_map(|s| s.lines()) {
                    if l.trim().is_empty() {
                        continue;
                    }
                    if l.starts_with("Step ") {
                        on(&BuildUpdate::Step(l));
                    }
                    on(&BuildUpdate::Log(l));
                    log.push(l.to_string());
                }
                if let Some(bollard::models::BuildInfoAux::Default(id)) = info.aux {
                    image_id = id.id.or(image_id);
                }
            }
            Err(e) => {
                let msg = match e {
                    bollard::errors::Error::DockerStreamError { error } => error,
                    other => other.to_string(),
                };
                return Err(failed(&svc.name, msg, &log));
            }
        }
    }
    for extra in &tags[1..] {
        tag(engine, &tags[0], extra)
            .await
            .map_err(|e| failed(&svc.name, format!("tagging {extra}: {e}"), &[]))?;
    }
    Ok(image_id)
}

async fn tag(engine: &Engine, image: &str, tag: &str) -> Result<(), bollard::errors::Error> {
    let (repo, t) = match crate::engine::image_ref::ImageRef::parse(tag) {
        Ok(r) => (
            r.repository(),
            r.tag_or_latest().unwrap_or("latest").to_string(),
        ),
        Err(_) => (tag.to_string(), "latest".to_string()),
    };
    let opts = bollard::query_parameters::TagImageOptionsBuilder::default()
        .repo(&repo)
        .tag(&t)
        .build();
    engine.docker.tag_image(image, Some(opts)).await
}

/// The error with the last 20 lines of output, where the failing step is.
fn failed(service: &str, message: String, log: &[String]) -> BuildError {
    let tail: Vec<&str> = log
        .iter()
        .rev()
        .take(20)
        .rev()
        .map(String::as_str)
        .collect();
    BuildError::Failed {
        service: service.into(),
        message: message.trim().to_string(),
        log: tail.join("\n"),
    }
}
