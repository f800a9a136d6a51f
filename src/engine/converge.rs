//! The convergence loop of `up`, readable top to bottom (modelled on Compose's
//! `pkg/compose/convergence.go`):
//!
//! 1. observe the project's containers and repair what an interrupted run left behind;
//! 2. preflight what would fail half-way: busy host ports, GPU requests without a GPU runtime;
//! 3. images (build changed contexts, pull missing ones);
//! 4. networks and named volumes;
//! 5. per service, concurrently, as soon as its `depends_on` conditions hold: create, recreate
//!    (only when the config hash or image changed) or start its container;
//! 6. wait until every selected service is running/healthy (or completed, for init jobs).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::future::join_all;
use tokio::sync::watch;

use super::build::{self, ImageAction};
use super::health::{self, Monitor, WaitFailure, Want};
use super::observed::{self, ContainerState};
use super::spec::{self, ContainerSpec};
use super::{labels, Engine};
use crate::project::model::{Condition, Service};
use crate::project::{graph, Project};

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    #[error("port {ip}:{port} (service {service}) is already in use on the host: stop what holds it (`ss -ltnp 'sport = :{port}'`) or change the port in .env")]
    PortBusy {
        service: String,
        ip: String,
        port: u16,
    },
    #[error("service {service} requests a GPU, but the Docker engine has no NVIDIA runtime: install the NVIDIA Container Toolkit (`sudo apt-get install nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`), or set DEVSTACK_GPU=none for a CPU-only stack")]
    NoGpuRuntime { service: String },
    #[error("service {service}: {detail}")]
    Start { service: String, detail: String },
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Wait(Box<WaitFailure>),
    #[error("dependency {dependency} of service {service} failed")]
    Dependency { service: String, dependency: String },
    #[error(transparent)]
    Docker(#[from] bollard::errors::Error),
}

/// What happened to a service during `up`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Created,
    Recreated,
    Started,
    UpToDate,
}

/// Progress reports (the UI decides how to show them).
#[derive(Debug, Clone)]
pub enum Event {
    Building(String),
    BuildLine(String, String),
    Image(String, ImageAction),
    Waiting(String, String),
    Container(String, Action),
    /// Still starting; the last health check said this (e.g. a download's progress).
    Starting(String, String),
    Ready(String, String, Duration),
    Note(String),
}

pub type Reporter = Arc<dyn Fn(Event) + Send + Sync>;

pub struct UpOptions {
    /// Services to converge (already resolved); empty = all active services.
    pub services: Vec<String>,
    pub force_build: bool,
    pub no_build: bool,
    pub timeout: Duration,
    /// Skip the busy-port and GPU-runtime preflight (`up --skip-preflight`).
    pub skip_preflight: bool,
}

#[derive(Debug, Default)]
pub struct UpReport {
    pub actions: Vec<(String, Action)>,
}

/// Services active by default: those without `profiles`, or in `COMPOSE_PROFILES`.
pub fn active_services(project: &Project) -> Vec<String> {
    let profiles: HashSet<String> = project
        .env
        .get("COMPOSE_PROFILES")
        .map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
        .unwrap_or_default();
    project
        .model
        .services
        .values()
        .filter(|s| s.profiles.is_empty() || s.profiles.iter().any(|p| profiles.contains(p)))
        .map(|s| s.name.clone())
        .collect()
}

/// What `up [SVC…]` acts on: the named services, or every active one, with their
/// dependencies, in dependency order.
pub fn selected_services(project: &Project, named: &[String]) -> Vec<String> {
    let roots = if named.is_empty() {
        active_services(project)
    } else {
        named.to_vec()
    };
    graph::with_dependencies(&project.model, &roots)
}

/// Services that someone waits on with `service_completed_successfully`: one-shot jobs.
fn one_shot_jobs(project: &Project) -> HashSet<String> {
    project
        .model
        .services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, d)| d.condition == Condition::ServiceCompletedSuccessfully)
        .map(|(n, _)| n.clone())
        .collect()
}

pub async fn up(
    engine: &Engine,
    project: &Project,
    opts: UpOptions,
    report: Reporter,
) -> Result<UpReport, ConvergeError> {
    let selected = selected_services(project, &opts.services);
    let monitor = Monitor::start(engine, &project.name);

    // 1. Observe and repair.
    let existing = repair(engine, project, &report).await?;

    // 2. Preflight: nothing is created when these fail.
    if !opts.skip_preflight {
        preflight_ports(project, &selected, &existing)?;
        preflight_gpu(engine, project, &selected).await?;
    }

    // 3. Images, concurrently, once per distinct image (services may share one).
    let mut by_image: Vec<(String, &Service)> = Vec::new();
    for name in &selected {
        let svc = &project.model.services[name];
        let image = spec::image_ref(&project.name, svc);
        if !by_image.iter().any(|(i, _)| *i == image) {
            by_image.push((image, svc));
        }
    }
    let built = join_all(by_image.iter().map(|(image, svc)| {
        let report = report.clone();
        async move {
            if svc.build.is_some() && !opts.no_build {
                report(Event::Building(svc.name.clone()));
            }
            let line_report = report.clone();
            let svc_name = svc.name.clone();
            let on_line =
                move |l: &str| line_report(Event::BuildLine(svc_name.clone(), l.to_string()));
            let (id, action) = build::ensure_image(
                engine,
                &project.name,
                svc,
                opts.force_build,
                opts.no_build,
                &on_line,
            )
            .await?;
            report(Event::Image(svc.name.clone(), action));
            Ok::<_, ConvergeError>((image.clone(), id))
        }
    }))
    .await
    .into_iter()
    .collect::<Result<HashMap<String, String>, _>>()?;
    let images: HashMap<String, String> = selected
        .iter()
        .map(|n| {
            (
                n.clone(),
                built[&spec::image_ref(&project.name, &project.model.services[n])].clone(),
            )
        })
        .collect();

    // 4. Networks and volumes (after the images, so a failed build or pull creates nothing).
    ensure_networks(engine, project, &selected).await?;
    ensure_volumes(engine, project, &selected).await?;

    // 5. Per service, concurrently: wait until its dependencies hold, create / recreate /
    //    start it, then wait until it is ready itself (healthy, running, or completed for a
    //    one-shot job) and say so. Dependents learn of each stage through a watch channel,
    //    so one wait per service serves all its dependents.
    let jobs = one_shot_jobs(project);
    let deadline = Instant::now() + opts.timeout;
    type Stage = watch::Receiver<Option<Result<String, ()>>>;
    let mut started: HashMap<String, Stage> = HashMap::new();
    let mut ready: HashMap<String, Stage> = HashMap::new();
    let mut senders = HashMap::new();
    for name in &selected {
        let (started_tx, started_rx) = watch::channel(None);
        let (ready_tx, ready_rx) = watch::channel(None);
        started.insert(name.clone(), started_rx);
        ready.insert(name.clone(), ready_rx);
        senders.insert(name.clone(), (started_tx, ready_tx));
    }
    let existing = Arc::new(existing);
    let tasks = selected.iter().map(|name| {
        let svc = &project.model.services[name];
        let (started_tx, ready_tx) = senders.remove(name).expect("one sender per service");
        let (started, ready) = (&started, &ready);
        let existing = existing.clone();
        let images = &images;
        let monitor = &monitor;
        let report = report.clone();
        let jobs = &jobs;
        async move {
            let created = async {
                for (dep, d) in &svc.depends_on {
                    let dep_svc = &project.model.services[dep];
                    let want = match d.condition {
                        Condition::ServiceStarted => None,
                        Condition::ServiceHealthy => Some(Want::Healthy),
                        Condition::ServiceCompletedSuccessfully => Some(Want::Completed),
                    };
                    // The dependency's own readiness wait answers when it is the condition:
                    // completed for a job, healthy for a service with a healthcheck.
                    let own_wait_answers = match want {
                        Some(Want::Completed) => true,
                        Some(_) => !jobs.contains(dep) && dep_svc.has_healthcheck(),
                        None => false,
                    };
                    if want.is_some() {
                        report(Event::Waiting(name.clone(), dep.clone()));
                    }
                    let stage = if own_wait_answers { ready } else { started };
                    let Some(rx) = stage.get(dep) else { continue };
                    let Ok(dep_id) = reached(rx.clone()).await else {
                        return Err(ConvergeError::Dependency {
                            service: name.clone(),
                            dependency: dep.clone(),
                        });
                    };
                    if let (Some(want), false) = (want, own_wait_answers) {
                        health::wait_for(
                            engine,
                            monitor,
                            dep,
                            &dep_id,
                            want,
                            dep_svc.healthcheck.as_ref(),
                            deadline,
                        )
                        .await?;
                    }
                }
                let spec =
                    spec::container_spec(project, svc, &images[name], engine.api_at_least(1, 44));
                let current = existing.iter().find(|c| c.name == spec.name);
                let (id, action) =
                    ensure_container(engine, svc, spec, current, jobs.contains(name)).await?;
                report(Event::Container(name.clone(), action.clone()));
                Ok((id, action))
            }
            .await;
            let _ = started_tx.send(Some(
                created.as_ref().map(|(id, _)| id.clone()).map_err(|_| ()),
            ));
            let result = match created {
                Ok((id, action)) => {
                    let since = Instant::now();
                    let want = if jobs.contains(name) {
                        Want::Completed
                    } else {
                        Want::Ready
                    };
                    let last_said = std::sync::Mutex::new(String::new());
                    let on_state = |st: &observed::ContainerState| {
                        let said = st.last_health_output.as_deref().unwrap_or_default();
                        let mut last = last_said.lock().unwrap_or_else(|e| e.into_inner());
                        if st.health.as_deref() == Some("starting")
                            && !said.is_empty()
                            && *last != said
                        {
                            *last = said.to_string();
                            report(Event::Starting(name.clone(), said.to_string()));
                        }
                    };
                    health::wait_watching(
                        engine,
                        monitor,
                        name,
                        &id,
                        want,
                        svc.healthcheck.as_ref(),
                        deadline,
                        &on_state,
                    )
                    .await
                    .map(|st| {
                        let what = if want == Want::Completed {
                            "completed".to_string()
                        } else {
                            st.health.clone().unwrap_or_else(|| "running".into())
                        };
                        report(Event::Ready(name.clone(), what, since.elapsed()));
                        (id, action)
                    })
                    .map_err(ConvergeError::from)
                }
                Err(e) => Err(e),
            };
            let _ = ready_tx.send(Some(
                result.as_ref().map(|(id, _)| id.clone()).map_err(|_| ()),
            ));
            result.map(|(_, action)| (name.clone(), action))
        }
    });
    let mut actions = Vec::new();
    let mut errors = Vec::new();
    for r in join_all(tasks).await {
        match r {
            Ok(x) => actions.push(x),
            Err(e) => errors.push(e),
        }
    }
    // The root cause outranks the "dependency X failed" follow-ups.
    if let Some(pos) = errors
        .iter()
        .position(|e| !matches!(e, ConvergeError::Dependency { .. }))
    {
        return Err(errors.swap_remove(pos));
    }
    if let Some(e) = errors.pop() {
        return Err(e);
    }
    Ok(UpReport { actions })
}

/// Waits until a service reaches a stage: its container id, or `Err` when it failed.
async fn reached(mut rx: watch::Receiver<Option<Result<String, ()>>>) -> Result<String, ()> {
    loop {
        if let Some(r) = rx.borrow().clone() {
            return r;
        }
        if rx.changed().await.is_err() {
            return Err(());
        }
    }
}

/// Removes what an interrupted run left: containers under a temporary recreate name
/// (`<id12>_<name>`) when the real one exists, or renames them back when it does not.
async fn repair(
    engine: &Engine,
    project: &Project,
    report: &Reporter,
) -> Result<Vec<ContainerState>, ConvergeError> {
    let mut containers = observed::list(engine, &project.name).await?;
    let names: HashSet<String> = containers.iter().map(|c| c.name.clone()).collect();
    let mut changed = false;
    for c in &containers {
        let proper = labels::container_name(&project.name, &c.service);
        if c.name == proper || c.service.is_empty() {
            continue;
        }
        if names.contains(&proper) {
            report(Event::Note(format!(
                "removing {} left by an interrupted run",
                c.name
            )));
            remove_container(engine, &c.id).await?;
        } else {
            report(Event::Note(format!(
                "renaming {} back to {proper} (interrupted recreate)",
                c.name
            )));
            engine
                .docker
                .rename_container(
                    &c.id,
                    RenameContainerOptionsBuilder::default()
                        .name(&proper)
                        .build(),
                )
                .await?;
        }
        changed = true;
    }
    if changed {
        containers = observed::list(engine, &project.name).await?;
    }
    Ok(containers)
}

/// Stops a container (SIGTERM, SIGKILL after `grace` seconds); a gone one is fine.
pub async fn stop_container(engine: &Engine, id: &str, grace: i32) {
    let opts = StopContainerOptionsBuilder::default().t(grace).build();
    let _ = engine.docker.stop_container(id, Some(opts)).await;
}

/// Restarts a container with its service's stop grace period (SIGTERM, then SIGKILL).
pub async fn restart_container(
    engine: &Engine,
    id: &str,
    grace: i32,
) -> Result<(), bollard::errors::Error> {
    let opts = RestartContainerOptionsBuilder::default().t(grace).build();
    engine.docker.restart_container(id, Some(opts)).await
}

pub async fn remove_container(engine: &Engine, id: &str) -> Result<(), bollard::errors::Error> {
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

fn preflight_ports(
    project: &Project,
    selected: &[String],
    existing: &[ContainerState],
) -> Result<(), ConvergeError> {
    for name in selected {
        let svc = &project.model.services[name];
        // A port held by this service's own running container is fine: it is ours.
        let ours = existing.iter().any(|c| &c.service == name && c.running());
        if ours {
            continue;
        }
        for p in &svc.ports {
            let Some(port) = p.host_port else { continue };
            if p.protocol != "tcp" {
                continue;
            }
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                p.host_ip.as_str()
            };
            let addr = format!("{ip}:{port}");
            let addr = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                addr
            };
            if let Err(e) = std::net::TcpListener::bind(&addr) {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    return Err(ConvergeError::PortBusy {
                        service: name.clone(),
                        ip: ip.to_string(),
                        port,
                    });
                }
            }
        }
    }
    Ok(())
}

async fn preflight_gpu(
    engine: &Engine,
    project: &Project,
    selected: &[String],
) -> Result<(), ConvergeError> {
    let Some(svc) = selected
        .iter()
        .find(|n| !project.model.services[*n].gpus.is_empty())
    else {
        return Ok(());
    };
    if gpu_runtime_available(engine).await {
        return Ok(());
    }
    Err(ConvergeError::NoGpuRuntime {
        service: svc.clone(),
    })
}

/// The engine can serve NVIDIA device requests: a registered `nvidia` runtime, CDI specs, or
/// (for a local engine) the runtime hook on PATH, which is what registers the driver.
pub async fn gpu_runtime_available(engine: &Engine) -> bool {
    let Ok(info) = engine.docker.info().await else {
        return false;
    };
    if info
        .runtimes
        .as_ref()
        .is_some_and(|r| r.contains_key("nvidia"))
    {
        return true;
    }
    if info.cdi_spec_dirs.as_ref().is_some_and(|d| {
        d.iter().any(|dir| {
            std::fs::read_dir(dir).is_ok_and(|mut e| {
                e.any(|f| f.is_ok_and(|f| f.file_name().to_string_lossy().contains("nvidia")))
            })
        })
    }) {
        return true;
    }
    engine.host.starts_with("unix://")
        && std::env::var_os("PATH").is_some_and(|p| {
            std::env::split_paths(&p).any(|d| d.join("nvidia-container-runtime-hook").is_file())
        })
}

async fn ensure_networks(
    engine: &Engine,
    project: &Project,
    selected: &[String],
) -> Result<(), ConvergeError> {
    let used: HashSet<&String> = selected
        .iter()
        .flat_map(|s| project.model.services[s].networks.keys())
        .collect();
    for key in used {
        let def = &project.model.networks[key];
        if def.external || engine.docker.inspect_network(&def.name, None).await.is_ok() {
            continue;
        }
        let req = NetworkCreateRequest {
            name: def.name.clone(),
            driver: Some(def.driver.clone().unwrap_or_else(|| "bridge".into())),
            labels: Some(resource_labels(&project.name, labels::NETWORK, key)),
            ..Default::default()
        };
        match engine.docker.create_network(req).await {
            Ok(_) => {}
            // Created concurrently by another run: fine.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn ensure_volumes(
    engine: &Engine,
    project: &Project,
    selected: &[String],
) -> Result<(), ConvergeError> {
    let used: HashSet<&String> = selected
        .iter()
        .flat_map(|s| project.model.services[s].volumes.iter())
        .filter_map(|m| {
            m.source
                .as_ref()
                .filter(|_| m.kind == crate::project::model::MountKind::Volume)
        })
        .collect();
    for key in used {
        let def = &project.model.volumes[key];
        if def.external || engine.docker.inspect_volume(&def.name).await.is_ok() {
            continue;
        }
        let req = VolumeCreateRequest {
            name: Some(def.name.clone()),
            driver: def.driver.clone(),
            labels: Some(resource_labels(&project.name, labels::VOLUME, key)),
            ..Default::default()
        };
        engine.docker.create_volume(req).await?;
    }
    Ok(())
}

/// Compose's labels on a network or volume, so `docker compose down` finds it.
fn resource_labels(project: &str, kind: &str, key: &str) -> HashMap<String, String> {
    HashMap::from([
        (labels::PROJECT.to_string(), project.to_string()),
        (kind.to_string(), key.to_string()),
        (
            labels::VERSION.to_string(),
            labels::COMPOSE_VERSION.to_string(),
        ),
    ])
}

/// Creates, recreates or starts one service's container.
async fn ensure_container(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    current: Option<&ContainerState>,
    one_shot: bool,
) -> Result<(String, Action), ConvergeError> {
    let image_label = spec
        .body
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::IMAGE))
        .cloned();
    if let Some(cur) = current {
        let same = cur.config_hash.as_deref() == Some(spec.config_hash.as_str())
            && cur.image_label == image_label;
        if same {
            let st = observed::inspect(engine, &cur.id).await?;
            if st.running() || st.restarting {
                return Ok((cur.id.clone(), Action::UpToDate));
            }
            // A finished one-shot job stays finished: a no-change `up` touches nothing.
            if one_shot && st.exited() && st.exit_code == Some(0) {
                return Ok((cur.id.clone(), Action::UpToDate));
            }
            start(engine, svc, &cur.id).await?;
            return Ok((cur.id.clone(), Action::Started));
        }
        // Compose's swap: create under a temporary name, stop and remove the old one, rename.
        let tmp = format!("{}_{}", &cur.id[..12.min(cur.id.len())], spec.name);
        let name = spec.name.clone();
        let id = create(engine, svc, spec, &tmp).await?;
        stop_container(engine, &cur.id, svc.stop_grace_secs()).await;
        remove_container(engine, &cur.id).await?;
        engine
            .docker
            .rename_container(
                &id,
                RenameContainerOptionsBuilder::default().name(&name).build(),
            )
            .await?;
        start(engine, svc, &id).await?;
        return Ok((id, Action::Recreated));
    }
    let name = spec.name.clone();
    let id = create(engine, svc, spec, &name).await?;
    start(engine, svc, &id).await?;
    Ok((id, Action::Created))
}

async fn create(
    engine: &Engine,
    svc: &Service,
    spec: ContainerSpec,
    name: &str,
) -> Result<String, ConvergeError> {
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    let resp = engine
        .docker
        .create_container(Some(opts), spec.body)
        .await
        .map_err(|e| ConvergeError::Start {
            service: svc.name.clone(),
            detail: format!("cannot create container {name}: {}", docker_message(&e)),
        })?;
    for (network, aliases) in spec.extra_networks {
        let req = NetworkConnectRequest {
            container: resp.id.clone(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(aliases),
                ..Default::default()
            }),
        };
        engine.docker.connect_network(&network, req).await?;
    }
    Ok(resp.id)
}

// The engine assigns ports from ranges racily when starts overlap (Compose's `startMx`).
static START_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(engine: &Engine, svc: &Service, id: &str) -> Result<(), ConvergeError> {
    let _guard = START_LOCK.lock().await;
    engine.docker.start_container(id, None).await.map_err(|e| {
        let msg = docker_message(&e);
        if msg.contains("could not select device driver") {
            return ConvergeError::NoGpuRuntime { service: svc.name.clone() };
        }
        if msg.contains("port is already allocated") || msg.contains("address already in use") {
            return ConvergeError::Start {
                service: svc.name.clone(),
                detail: format!("a published port is already in use on the host ({msg}): free it or change the port in .env"),
            };
        }
        ConvergeError::Start { service: svc.name.clone(), detail: format!("cannot start: {msg}") }
    })
}

pub fn docker_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl From<WaitFailure> for ConvergeError {
    fn from(w: WaitFailure) -> Self {
        ConvergeError::Wait(Box::new(w))
    }
}
