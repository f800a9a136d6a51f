//! `docker.engine` and `docker.gpu-runtime`.

use serde_json::json;

use super::{Check, Status};
use crate::engine::{Engine, EngineError};

pub async fn engine(result: &Result<Engine, EngineError>, real_root: bool) -> Check {
    let engine = match result {
        Ok(e) => e,
        Err(err) => {
            let (summary, fix) = match err {
                EngineError::NoDaemon { .. } => (err.to_string(), "sudo systemctl start docker (or `sudo dockerd &`); check DOCKER_HOST / `docker context ls`"),
                EngineError::PermissionDenied { .. } => (err.to_string(), "sudo usermod -aG docker $USER, then log out and in (or `newgrp docker`)"),
                EngineError::TooOld { .. } => (err.to_string(), "upgrade Docker to 20.10 or newer"),
                _ => (err.to_string(), "check DOCKER_HOST and `docker info`"),
            };
            return Check::new("docker.engine", Status::Fail, summary).fix(fix);
        }
    };
    let info = engine.docker.info().await.ok();
    let driver = info
        .as_ref()
        .and_then(|i| i.driver.clone())
        .unwrap_or_default();
    let root = info
        .as_ref()
        .and_then(|i| i.docker_root_dir.clone())
        .unwrap_or_default();
    let free_gb = (real_root && engine.host.starts_with("unix://") && !root.is_empty())
        .then(|| nix::sys::statvfs::statvfs(root.as_str()).ok())
        .flatten()
        .map(|s| s.blocks_available() as f64 * s.fragment_size() as f64 / 1e9);
    let details = json!({ "host": engine.host, "version": engine.server_version, "api": format!("{}.{}", engine.api.0, engine.api.1), "storage_driver": driver, "root": root, "free_gb": free_gb });
    let summary = format!(
        "Docker {} (API {}.{}) at {}, storage {driver}{}",
        engine.server_version,
        engine.api.0,
        engine.api.1,
        engine.host,
        free_gb
            .map(|g| format!(", {g:.0} GB free in {root}"))
            .unwrap_or_default()
    );
    // The pose image (~10 GB) and the model cache (~6 GB) need room.
    if free_gb.is_some_and(|g| g < 20.0) {
        return Check::new("docker.engine", Status::Warn, format!("{summary}: less than 20 GB free for images and the model cache"))
            .fix("docker system prune (removes unused images), or move data-root in /etc/docker/daemon.json to a larger disk")
            .details(details);
    }
    Check::new("docker.engine", Status::Ok, summary).details(details)
}

pub async fn gpu_runtime(engine: Option<&Engine>, stack_wants_gpu: bool) -> Check {
    let Some(engine) = engine else {
        return Check::new(
            "docker.gpu-runtime",
            Status::Skip,
            "no engine to ask (see docker.engine)",
        );
    };
    if crate::engine::converge::gpu_runtime_available(engine).await {
        return Check::new(
            "docker.gpu-runtime",
            Status::Ok,
            "the engine can serve NVIDIA GPU requests",
        );
    }
    let status = if stack_wants_gpu {
        Status::Fail
    } else {
        Status::Skip
    };
    let why = if stack_wants_gpu {
        "the stack requests a GPU"
    } else {
        "not needed: the stack requests no GPU"
    };
    Check::new("docker.gpu-runtime", status, format!("no NVIDIA runtime, CDI spec or runtime hook in the engine ({why})"))
        .fix("sudo apt-get install nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker")
}
