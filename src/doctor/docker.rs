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

/// `docker.remote`: where the engine runs. On another machine: the round trip, which project
/// bind mounts become copies, and which binds mean paths on that machine.
pub async fn remote(
    engine: Option<&Engine>,
    site: &crate::engine::remote::Site,
    project: Option<&crate::project::Project>,
) -> Check {
    if !site.remote {
        return Check::new(
            "docker.remote",
            Status::Ok,
            format!(
                "the engine is on this machine ({}): bind mounts and published ports are this machine's",
                site.reason
            ),
        )
        .details(json!({ "remote": false, "host": site.host, "reason": site.reason }));
    }
    let binds = project.map(Binds::of).unwrap_or_default();
    let latency_ms = match engine {
        Some(e) => Some(median_ping_ms(e).await),
        None => None,
    };
    let details = json!({
        "remote": true,
        "host": site.host,
        "reason": site.reason,
        "latency_ms": latency_ms,
        "copies": binds.copies.iter().map(|(s, h, t)| json!({"service": s, "host": h, "target": t})).collect::<Vec<_>>(),
        "engine_machine_binds": binds.theirs.iter().map(|(s, h, t)| json!({"service": s, "source": h, "target": t})).collect::<Vec<_>>(),
    });
    let summary = remote_summary(site, latency_ms, &binds.copies);
    let check = if !binds.theirs.is_empty() {
        Check::new(
            "docker.remote",
            Status::Warn,
            format!(
                "{summary}; these binds are outside the project, so they mount paths on {}: {}",
                site.host,
                listed(&binds.theirs)
            ),
        )
        .fix(format!(
            "make sure those paths exist on {} (or move the files into the project directory to have them copied)",
            site.host
        ))
    } else if latency_ms.flatten().is_some_and(|ms| ms > 100.0) {
        Check::new(
            "docker.remote",
            Status::Warn,
            format!("{summary}: a slow link (syncs and logs lag)"),
        )
        .fix("use a closer engine, or a wired link to it")
    } else {
        Check::new("docker.remote", Status::Ok, summary)
    };
    check.details(details)
}

/// A remote engine's bind mounts, each as (service, source, target): those inside the
/// project become copies; the others mount the engine machine's paths.
#[derive(Default)]
struct Binds {
    copies: Vec<(String, String, String)>,
    theirs: Vec<(String, String, String)>,
}

impl Binds {
    fn of(p: &crate::project::Project) -> Binds {
        let mut b = Binds::default();
        for svc in p.model.services.values() {
            let (left, copied) = crate::engine::remote::without_project_binds(svc, &p.dir);
            for c in copied {
                b.copies
                    .push((svc.name.clone(), rel(&c.host, &p.dir), c.target));
            }
            for m in left
                .volumes
                .iter()
                .filter(|m| m.kind == crate::project::model::MountKind::Bind)
            {
                b.theirs.push((
                    svc.name.clone(),
                    m.source.clone().unwrap_or_default(),
                    m.target.clone(),
                ));
            }
        }
        b
    }
}

fn listed(items: &[(String, String, String)]) -> String {
    items
        .iter()
        .map(|(s, h, t)| format!("{s} {h} → {t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the engine is, how far, where its ports and GPUs are, and which binds become copies.
fn remote_summary(
    site: &crate::engine::remote::Site,
    latency_ms: Option<Option<f64>>,
    copies: &[(String, String, String)],
) -> String {
    let mut summary = format!("the engine is on {} ({})", site.host, site.reason);
    match latency_ms {
        Some(Some(ms)) => summary.push_str(&format!(", round trip {ms:.1} ms")),
        Some(None) => summary.push_str(", which does not answer pings"),
        None => summary.push_str(", not reached (see docker.engine)"),
    }
    summary.push_str(&format!(
        "; published ports are at {}:PORT; GPUs are that machine's (the gpu.* checks describe this one)",
        site.host
    ));
    if copies.is_empty() {
        summary.push_str("; no bind mount inside the project to copy");
    } else {
        let what = if copies.len() == 1 {
            "1 bind mount inside the project becomes a copy".to_string()
        } else {
            format!(
                "{} bind mounts inside the project become copies",
                copies.len()
            )
        };
        summary.push_str(&format!(
            "; {what} (uploaded before start, kept in sync by `devstack watch` / `up --watch`): {}",
            listed(copies)
        ));
    }
    summary
}

/// Median of five `GET /_ping` round trips, in milliseconds (`None` when none answered).
async fn median_ping_ms(engine: &Engine) -> Option<f64> {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        if engine.docker.ping().await.is_ok() {
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied()
}

fn rel(p: &std::path::Path, dir: &std::path::Path) -> String {
    match p.strip_prefix(dir) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => format!("./{}", r.display()),
        Err(_) => p.display().to_string(),
    }
}
