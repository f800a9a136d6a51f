//! Container operations, one place: create, start, stop, restart, kill, remove, recreate (the
//! Compose swap), its blue/green variant (`watch`'s rebuild) and the exec probe of a
//! healthcheck. The convergence loop, the executor, `watch` and auto-heal call these; none of
//! them builds engine options itself.

use std::time::Duration;

use bollard::models::{ExecConfig, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptions, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::converge::{Action, ConvergeError};
use super::observed::{self, ContainerState};
use super::spec::ContainerSpec;
use super::{labels, Engine};
use crate::project::model::{Healthcheck, Service};

/// Stops a container (SIGTERM, SIGKILL after `grace` seconds); a gone one is fine.
pub async fn stop(engine: &Engine, id: &str, grace: i32) {
    let opts = StopContainerOptionsBuilder::default().t(grace).build();
    let _ = engine.docker.stop_container(id, Some(opts)).await;
}

/// Restarts a container with its service's stop grace period (SIGTERM, then SIGKILL).
pub async fn restart(engine: &Engine, id: &str, grace: i32) -> Result<(), bollard::errors::Error> {
    let opts = RestartContainerOptionsBuilder::default().t(grace).build();
    engine.docker.restart_container(id, Some(opts)).await
}

pub async fn remove(engine: &Engine, id: &str) -> Result<(), bollard::errors::Error> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(false)
        .build();
    match engine.docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) if message.contains("already in progress") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether an existing container no longer matches its spec (configuration hash or image).
pub fn changed(current: &ContainerState, spec: &ContainerSpec) -> bool {
    let image_label = spec.body.labels.as_ref().and_then(|l| l.get(labels::IMAGE));
    current.config_hash.as_deref() != Some(spec.config_hash.as_str())
        || current.image_label.as_ref() != image_label
}

/// When an existing container is recreated (`up --force-recreate`, `--no-recreate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// When its configuration hash or image changed.
    #[default]
    IfChanged,
    Always,
    Never,
}

/// Creates, recreates (only when changed) or starts one service's container.
pub async fn ensure(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    current: Option<&ContainerState>,
    one_shot: bool,
) -> Result<(String, Action), ConvergeError> {
    ensure_with(engine, svc, spec, current, one_shot, Recreate::IfChanged).await
}

/// [`ensure`], recreating as `recreate` says.
pub async fn ensure_with(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    current: Option<&ContainerState>,
    one_shot: bool,
    policy: Recreate,
) -> Result<(String, Action), ConvergeError> {
    if let Some(cur) = current {
        let keep = match policy {
            Recreate::IfChanged => !changed(cur, &spec),
            Recreate::Always => false,
            Recreate::Never => true,
        };
        if keep {
            return start_existing(engine, svc, cur, one_shot).await;
        }
        let id = recreate(engine, svc, spec, cur).await?;
        return Ok((id, Action::Recreated));
    }
    let name = spec.name.clone();
    let id = create(engine, svc, spec, &name).await?;
    start(engine, svc, &id).await?;
    Ok((id, Action::Created))
}

/// Starts an existing container unless it runs (or is a one-shot job that completed).
pub async fn start_existing(
    engine: &Engine,
    svc: &Service,
    cur: &ContainerState,
    one_shot: bool,
) -> Result<(String, Action), ConvergeError> {
    let st = observed::inspect(engine, &cur.id).await?;
    if st.running() || st.restarting {
        return Ok((cur.id.clone(), Action::UpToDate));
    }
    // A finished one-shot job stays finished: a no-change `up` touches nothing.
    if one_shot && st.exited() && st.exit_code == Some(0) {
        return Ok((cur.id.clone(), Action::UpToDate));
    }
    start(engine, svc, &cur.id).await?;
    Ok((cur.id.clone(), Action::Started))
}

/// Compose's swap: create under a temporary name, stop and remove the old one, rename, start.
pub async fn recreate(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    cur: &ContainerState,
) -> Result<String, ConvergeError> {
    let name = spec.name.clone();
    let id = create_beside(engine, svc, spec, cur).await?;
    take_place(engine, svc, cur, &id, &name)
        .await
        .map_err(|e| match e {
            SwapError::RemoveOld(e) | SwapError::Rename(e) => ConvergeError::from(e),
        })?;
    start(engine, svc, &id).await?;
    Ok(id)
}

/// The blue/green swap (`watch`'s rebuild), in three steps around the caller's readiness
/// wait: [`create_beside`] and [`start`] the new container while the old one serves, then
/// [`take_place`] once the new one is ready, or [`discard`] it when it is not.
///
/// Creates the replacement of `cur` under a temporary name (Compose's, `<old id>_<name>`),
/// so both exist at once; the spec's name is what it takes in [`take_place`].
pub async fn create_beside(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    cur: &ContainerState,
) -> Result<String, ConvergeError> {
    let tmp = format!("{}_{}", &cur.id[..12.min(cur.id.len())], spec.name);
    create(engine, svc, spec, &tmp).await
}

/// Why the new container could not take the old one's place.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("cannot remove the old container: {}", docker_message(.0))]
    RemoveOld(bollard::errors::Error),
    #[error("cannot rename the new container: {}", docker_message(.0))]
    Rename(bollard::errors::Error),
}

/// The new container `id` takes the old one's place: `cur` stops (its `pre_stop` hooks, its
/// grace period), is removed, and `id` is renamed to `name`.
pub async fn take_place(
    engine: &Engine,
    svc: &Service,
    cur: &ContainerState,
    id: &str,
    name: &str,
) -> Result<(), SwapError> {
    stop_service(engine, svc, &cur.id, svc.stop_grace_secs()).await;
    remove(engine, &cur.id)
        .await
        .map_err(SwapError::RemoveOld)?;
    engine
        .docker
        .rename_container(
            id,
            RenameContainerOptionsBuilder::default().name(name).build(),
        )
        .await
        .map_err(SwapError::Rename)
}

/// Removes a replacement that did not become ready (stopped at once: it never served).
pub async fn discard(engine: &Engine, id: &str) {
    stop(engine, id, 1).await;
    let _ = remove(engine, id).await;
}

async fn create(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    name: &str,
) -> Result<String, ConvergeError> {
    let mut opts = CreateContainerOptionsBuilder::default().name(name);
    if let Some(p) = &spec.platform {
        opts = opts.platform(p);
    }
    let opts = opts.build();
    let resp = engine
        .docker
        .create_container(Some(opts), spec.body)
        .await
        .map_err(|e| ConvergeError::Start {
            service: svc.name.clone(),
            detail: format!("cannot create container {name}: {}", docker_message(&e)),
        })?;
    for (network, endpoint) in spec.extra_networks {
        let req = NetworkConnectRequest {
            container: resp.id.clone(),
            endpoint_config: Some(endpoint),
        };
        engine.docker.connect_network(&network, req).await?;
    }
    if !spec.files.is_empty() {
        // Secrets and configs that are not plain file binds go in before the first start.
        if let Err(e) = put_files(engine, &resp.id, &spec.files).await {
            let _ = remove(engine, &resp.id).await;
            return Err(ConvergeError::Start {
                service: svc.name.clone(),
                detail: format!("cannot place its secrets and configs in {name}: {e}"),
            });
        }
    }
    if !spec.copies.is_empty() {
        // A remote engine's project binds: their files go in before the first start.
        if let Err(e) = super::remote::upload(engine, &resp.id, &spec.copies).await {
            let _ = remove(engine, &resp.id).await;
            return Err(ConvergeError::Start {
                service: svc.name.clone(),
                detail: format!(
                    "cannot copy the project's bind-mounted files into {name} (the engine is on another machine, so binds inside the project are copied): {e}"
                ),
            });
        }
    }
    Ok(resp.id)
}

/// Why a container's files (secrets, configs) or a hook could not be run or placed.
#[derive(Debug, thiserror::Error)]
pub enum InContainerError {
    #[error("{}", docker_message(.0))]
    Engine(#[from] bollard::errors::Error),
    #[error("{0}")]
    Tar(#[from] std::io::Error),
    #[error("exit code {code}: {tail}")]
    Exited { code: i64, tail: String },
}

/// Copies secrets and configs into a created container (one tar through the archive
/// endpoint, unpacked at `/`).
async fn put_files(
    engine: &Engine,
    id: &str,
    files: &[super::spec::Injection],
) -> Result<(), InContainerError> {
    let tar = super::spec::injections_tar(files)?;
    let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
        .path("/")
        .build();
    engine
        .docker
        .upload_to_container(id, Some(opts), bollard::body_full(tar.into()))
        .await?;
    Ok(())
}

// The engine assigns ports from ranges racily when starts overlap (Compose's `startMx`).
static START_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts a container, then runs the service's `post_start` hooks in it (as Compose does: a
/// failing hook fails the start).
pub async fn start(engine: &Engine, svc: &Service, id: &str) -> Result<(), ConvergeError> {
    start_only(engine, svc, id).await?;
    for hook in &svc.container.post_start {
        run_hook(engine, id, hook)
            .await
            .map_err(|e| ConvergeError::Start {
                service: svc.name.clone(),
                detail: format!(
                    "its post_start hook `{}` failed: {e}",
                    hook.command.join(" ")
                ),
            })?;
    }
    Ok(())
}

/// Stops a service's container after its `pre_stop` hooks (a failing hook is noted in the
/// log and the stop goes on, as a stop must not be refused).
pub async fn stop_service(engine: &Engine, svc: &Service, id: &str, grace: i32) {
    for hook in &svc.container.pre_stop {
        if let Err(e) = run_hook(engine, id, hook).await {
            tracing::warn!(service = %svc.name, "pre_stop hook `{}` failed: {e}", hook.command.join(" "));
        }
    }
    stop(engine, id, grace).await;
}

/// Runs a lifecycle hook in a running container and waits for it: Ok when it exits 0, else
/// its exit code and the end of its output.
pub async fn run_hook(
    engine: &Engine,
    id: &str,
    hook: &crate::project::model::Hook,
) -> Result<(), InContainerError> {
    let config = ExecConfig {
        cmd: Some(hook.command.clone()),
        user: hook.user.clone(),
        privileged: Some(hook.privileged),
        working_dir: hook.working_dir.clone(),
        env: (!hook.environment.is_empty()).then(|| {
            hook.environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        }),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = engine.docker.create_exec(id, config).await?;
    let mut tail = String::new();
    if let Ok(bollard::exec::StartExecResults::Attached { mut output, .. }) =
        engine.docker.start_exec(&exec.id, None).await
    {
        while let Some(Ok(chunk)) = output.next().await {
            tail.push_str(&chunk.to_string());
            if tail.len() > 2048 {
                tail.drain(..tail.len() - 2048);
            }
        }
    }
    match engine.docker.inspect_exec(&exec.id).await? {
        r if r.exit_code == Some(0) => Ok(()),
        r => Err(InContainerError::Exited {
            code: r.exit_code.unwrap_or(-1),
            tail: tail.trim().to_string(),
        }),
    }
}

async fn start_only(engine: &Engine, svc: &Service, id: &str) -> Result<(), ConvergeError> {
    let _guard = START_LOCK.lock().await;
    engine.docker.start_container(id, None).await.map_err(|e| {
        let msg = docker_message(&e);
        if msg.contains("could not select device driver") {
            return ConvergeError::NoGpuRuntime {
                service: svc.name.clone(),
            };
        }
        if msg.contains("port is already allocated") || msg.contains("address already in use") {
            return ConvergeError::Start {
                service: svc.name.clone(),
                detail: format!(
                    "a published port is already in use on the host ({msg}): free it or {}",
                    crate::project::model::busy_port_hint(&svc.ports, &msg)
                ),
            };
        }
        ConvergeError::Start {
            service: svc.name.clone(),
            detail: format!("cannot start: {msg}"),
        }
    })
}

pub fn docker_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// SIGKILL now (a second Ctrl-C); a gone one is fine.
pub async fn kill(engine: &Engine, id: &str) {
    let _ = engine
        .docker
        .kill_container(id, None::<KillContainerOptions>)
        .await;
}

/// Runs the healthcheck's test inside the container once; true when it exits 0.
pub async fn exec_probe(engine: &Engine, id: &str, hc: &Healthcheck) -> bool {
    let cmd = match hc.test.first().map(String::as_str) {
        Some("CMD") => hc.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), hc.test[1..].join(" ")],
        _ => return false,
    };
    let config = ExecConfig {
        cmd: Some(cmd),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let Ok(exec) = engine.docker.create_exec(id, config).await else {
        return false;
    };
    let timeout = hc
        .timeout
        .unwrap_or(Duration::from_secs(30))
        .min(Duration::from_secs(30));
    let run = async {
        if let Ok(bollard::exec::StartExecResults::Attached { mut output, .. }) =
            engine.docker.start_exec(&exec.id, None).await
        {
            while output.next().await.is_some() {}
        }
    };
    if tokio::time::timeout(timeout, run).await.is_err() {
        return false;
    }
    matches!(engine.docker.inspect_exec(&exec.id).await, Ok(r) if r.exit_code == Some(0))
}

/// Creates a one-off container (`devstack run`) under its spec's name; [`start`] starts it.
pub async fn create_oneoff(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
) -> Result<String, ConvergeError> {
    let name = spec.name.clone();
    create(engine, svc, spec, &name).await
}

/// Sends `signal` ("SIGINT", "SIGKILL", …) to a container; a gone one is fine.
pub async fn signal(engine: &Engine, id: &str, signal: &str) {
    let opts = KillContainerOptions {
        signal: signal.to_string(),
    };
    let _ = engine.docker.kill_container(id, Some(opts)).await;
}

/// Waits until a container is not running and returns its exit code.
pub async fn wait_exit(engine: &Engine, id: &str) -> Result<i64, bollard::errors::Error> {
    let mut waits = engine
        .docker
        .wait_container(id, None::<bollard::query_parameters::WaitContainerOptions>);
    match waits.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e),
        None => Ok(observed::inspect(engine, id).await?.exit_code.unwrap_or(0)),
    }
}
