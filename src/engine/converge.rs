//! The convergence of `up` before any container starts, readable top to bottom (modelled on
//! Compose's `pkg/compose/convergence.go`):
//!
//! 1. observe the project's containers and repair what an interrupted run left behind;
//! 2. preflight what would fail half-way: busy host ports, GPU requests without a GPU runtime;
//! 3. images (build changed contexts, pull missing ones);
//! 4. networks and named volumes.
//!
//! Then `crate::executor::up` walks the one graph: each container and host process is created,
//! recreated (only when its config hash or image changed) or started the moment its
//! `depends_on` conditions hold, and waited on until it is ready.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::RenameContainerOptionsBuilder;
use futures_util::future::join_all;

use super::build::{self, ImageAction};
use super::container;
use super::health::WaitFailure;
use super::observed::{self, ContainerState};
use super::spec;
use super::{labels, Engine};
use crate::project::model::Service;
use crate::project::Project;

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    #[error("port {ip}:{port} (service {service}) is already in use on the host: stop what holds it (`ss -ltnp 'sport = :{port}'`) or {hint}")]
    PortBusy {
        service: String,
        ip: String,
        port: u16,
        /// Where the port was written: the variable and its line, or the file's `ports:` entry.
        hint: String,
    },
    #[error("service {service} requests a GPU, but the Docker engine has no NVIDIA runtime: install the NVIDIA Container Toolkit (`sudo apt-get install nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`), or set DEVSTACK_GPU=none for a CPU-only stack")]
    NoGpuRuntime { service: String },
    #[error("service {service}: {detail}")]
    Start { service: String, detail: String },
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Wait(Box<WaitFailure>),
    #[error("{}", host_failure(name, reason, last_logs))]
    Host {
        name: String,
        reason: String,
        last_logs: Vec<String>,
    },
    #[error("dependency {dependency} of {service} failed")]
    Dependency { service: String, dependency: String },
    #[error("{}", problems.join("\n"))]
    Unsupported { problems: Vec<String> },
    #[error(transparent)]
    Docker(#[from] bollard::errors::Error),
}

fn host_failure(name: &str, reason: &str, last_logs: &[String]) -> String {
    let mut s = format!("host process {name}: {reason}");
    if !last_logs.is_empty() {
        s.push_str(&format!("\n  last {} log lines:", last_logs.len()));
        for l in last_logs {
            s.push_str(&format!("\n    {l}"));
        }
    }
    s
}

/// What happened to a service or host process during `up`.
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
    /// Where a build is (the step running, cached steps counted).
    BuildStep(String, String),
    BuildLine(String, String),
    Image(String, ImageAction),
    Waiting(String, String),
    Container(String, Action),
    /// Still starting; the last health check said this (e.g. a download's progress).
    Starting(String, String),
    Ready(String, String, Duration),
    /// A node that will not run (a disabled host process), with why.
    Skipped(String, String),
    Stopped(String),
    Removed(String),
    Note(String),
}

pub type Reporter = Arc<dyn Fn(Event) + Send + Sync>;

#[derive(Default)]
pub struct UpOptions {
    /// Containers to converge (already resolved, with their dependencies).
    pub services: Vec<String>,
    /// Building and pulling (`--build`, `--no-build`, `--pull`).
    pub image: build::ImageOptions,
    /// `--force-recreate` / `--no-recreate`.
    pub recreate: super::container::Recreate,
    /// Remove containers of services no longer in the file.
    pub remove_orphans: bool,
    /// Skip the busy-port and GPU-runtime preflight (`up --skip-preflight`).
    pub skip_preflight: bool,
}

/// What the graph walk needs: the containers as found (after repair) and each selected
/// service's image id.
#[derive(Debug, Default)]
pub struct Prepared {
    pub existing: Vec<ContainerState>,
    pub images: HashMap<String, String>,
    /// Per container, how the walk treats an existing one (the plan's decisions); absent:
    /// the walk's own policy.
    pub recreate: HashMap<String, container::Recreate>,
}

/// Services active by default (Compose's rules): those without `profiles`, or with one of the
/// enabled profiles (`--profile`, else `COMPOSE_PROFILES`; `*` enables all). A service named on
/// the command line runs whatever its profiles.
pub fn active_services(project: &Project) -> Vec<String> {
    let all = project.profiles.iter().any(|p| p == "*");
    project
        .model
        .services
        .values()
        .filter(|s| {
            all || s.profiles.is_empty() || s.profiles.iter().any(|p| project.profiles.contains(p))
        })
        .map(|s| s.name.clone())
        .chain(project.model.x_devstack.host.keys().cloned())
        .collect()
}

/// Steps 1–4: nothing starts here, and nothing is created when a preflight or a build fails.
pub async fn prepare(
    engine: &Engine,
    project: &Project,
    opts: &UpOptions,
    report: &Reporter,
) -> Result<Prepared, ConvergeError> {
    prepare_planned(engine, project, opts, report, None).await
}

/// [`prepare`] with the plan's image decisions: only the services in `to_build` (those the
/// plan found out of date) are built or pulled; the others use their image as it is.
pub async fn prepare_planned(
    engine: &Engine,
    project: &Project,
    opts: &UpOptions,
    report: &Reporter,
    to_build: Option<&HashSet<String>>,
) -> Result<Prepared, ConvergeError> {
    let selected = &opts.services;
    // 1. Observe and repair; orphans (services no longer in the file) go when asked.
    let existing = observe(engine, project, opts, report).await?;
    if engine.site.remote {
        note_remote_copies(engine, project, selected, report);
    }
    // 2. Preflight: nothing is created when these fail.
    preflight_spec(engine, project, selected)?;
    if !opts.skip_preflight {
        // A remote engine's ports are its machine's: the engine itself says when one is taken.
        if !engine.site.remote {
            preflight_ports(project, selected, &existing)?;
        }
        preflight_gpu(engine, project, selected).await?;
    }
    // 3. Images.
    let images = ensure_images(engine, project, opts, report, to_build).await?;
    // 4. Networks and volumes (after the images, so a failed build or pull creates nothing).
    ensure_networks(engine, project, selected).await?;
    ensure_volumes(engine, project, selected).await?;
    Ok(Prepared {
        existing,
        images,
        recreate: HashMap::new(),
    })
}

/// The project's containers after repair; orphans removed with `--remove-orphans`, else
/// named.
async fn observe(
    engine: &Engine,
    project: &Project,
    opts: &UpOptions,
    report: &Reporter,
) -> Result<Vec<ContainerState>, ConvergeError> {
    let mut existing = repair(engine, project, report).await?;
    let orphans = orphans(project, &existing);
    if !orphans.is_empty() && opts.remove_orphans {
        for c in &orphans {
            container::stop(engine, &c.id, 10).await;
            container::remove(engine, &c.id).await?;
            report(Event::Removed(c.name.clone()));
        }
        existing.retain(|c| !orphans.iter().any(|o| o.id == c.id));
    } else if !orphans.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        report(Event::Note(format!(
            "found orphan containers ({}) for services no longer in the file: `devstack up --remove-orphans` removes them",
            names.join(", ")
        )));
    }
    Ok(existing)
}

/// A remote engine: says which services' bind mounts are copied to it.
fn note_remote_copies(engine: &Engine, project: &Project, selected: &[String], report: &Reporter) {
    let copied: Vec<String> = selected
        .iter()
        .filter_map(|n| project.model.services.get(n))
        .filter(|s| !super::remote::project_binds(s, &project.dir).is_empty())
        .map(|s| s.name.clone())
        .collect();
    if !copied.is_empty() {
        report(Event::Note(format!(
            "the engine is on {} ({}): bind mounts inside the project are copied into {} before it starts; `devstack watch` (or `up --watch`) keeps them in sync",
            engine.site.host,
            engine.site.reason,
            copied.join(", ")
        )));
    }
}

/// Each selected service's image id: built or pulled concurrently, once per distinct image
/// (services may share one); with the plan's `to_build`, only those it found out of date.
async fn ensure_images(
    engine: &Engine,
    project: &Project,
    opts: &UpOptions,
    report: &Reporter,
    to_build: Option<&HashSet<String>>,
) -> Result<HashMap<String, String>, ConvergeError> {
    let selected = &opts.services;
    let mut by_image: Vec<(String, &Service)> = Vec::new();
    for name in selected {
        let svc = &project.model.services[name];
        let image = spec::image_ref(&project.name, svc);
        if !by_image.iter().any(|(i, _)| *i == image) {
            by_image.push((image, svc));
        }
    }
    let built = join_all(by_image.iter().map(|(image, svc)| {
        let planned_ready = to_build.is_some_and(|b| !b.contains(&svc.name));
        ensure_image(
            engine,
            project,
            &opts.image,
            report,
            image,
            svc,
            planned_ready,
        )
    }))
    .await
    .into_iter()
    .collect::<Result<HashMap<String, String>, _>>()?;
    Ok(selected
        .iter()
        .map(|n| {
            (
                n.clone(),
                built[&spec::image_ref(&project.name, &project.model.services[n])].clone(),
            )
        })
        .collect())
}

/// One image: taken as it is when the plan found it ready, else built or pulled with its
/// progress reported. Returns (reference, id).
async fn ensure_image(
    engine: &Engine,
    project: &Project,
    image_opts: &build::ImageOptions,
    report: &Reporter,
    image: &str,
    svc: &Service,
    planned_ready: bool,
) -> Result<(String, String), ConvergeError> {
    if svc.build.is_some() && !image_opts.no_build {
        report(Event::Building(svc.name.clone()));
    }
    let line_report = report.clone();
    let svc_name = svc.name.clone();
    let on_line = move |u: &build::BuildUpdate| {
        let name = svc_name.clone();
        line_report(match *u {
            build::BuildUpdate::Step(s) => Event::BuildStep(name, s.to_string()),
            build::BuildUpdate::Log(l) => Event::BuildLine(name, l.to_string()),
            build::BuildUpdate::Note(n) => Event::Note(n.to_string()),
            build::BuildUpdate::Done { steps, cached } => {
                Event::BuildStep(name, format!("built: {steps} steps, {cached} cached"))
            }
        })
    };
    let ready_image = if planned_ready {
        engine
            .docker
            .inspect_image(image)
            .await
            .ok()
            .and_then(|i| i.id)
    } else {
        None
    };
    let (id, action) = match ready_image {
        Some(id) => (id, ImageAction::UpToDate),
        None => build::ensure_image_with(engine, project, svc, image_opts, &on_line).await?,
    };
    report(Event::Image(svc.name.clone(), action));
    Ok((image.to_string(), id))
}

/// The networks and named volumes (engine-side names) that `selected` use and that do not
/// exist yet: what `up` would create.
pub async fn missing_resources(
    engine: &Engine,
    project: &Project,
    selected: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut networks = Vec::new();
    let mut volumes = Vec::new();
    let nets: std::collections::BTreeSet<&String> = selected
        .iter()
        .flat_map(|s| project.model.services[s].networks.keys())
        .collect();
    for key in nets {
        let def = &project.model.networks[key];
        if !def.external
            && engine
                .docker
                .inspect_network(&def.name, None)
                .await
                .is_err()
        {
            networks.push(def.name.clone());
        }
    }
    let vols: std::collections::BTreeSet<&String> = selected
        .iter()
        .flat_map(|s| project.model.services[s].volumes.iter())
        .filter(|m| m.kind == crate::project::model::MountKind::Volume)
        .filter_map(|m| m.source.as_ref())
        .collect();
    for key in vols {
        let Some(def) = project.model.volumes.get(key) else {
            continue;
        };
        if !def.external && engine.docker.inspect_volume(&def.name).await.is_err() {
            volumes.push(def.name.clone());
        }
    }
    (networks, volumes)
}

/// Containers of the project whose service is no longer in the file (one-offs of `run` are
/// not orphans).
pub fn orphans(project: &Project, existing: &[ContainerState]) -> Vec<ContainerState> {
    existing
        .iter()
        .filter(|c| !c.service.is_empty() && !project.model.services.contains_key(&c.service))
        .filter(|c| c.labels.get(labels::ONEOFF).map(String::as_str) != Some("True"))
        .cloned()
        .collect()
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
        let proper = project.container_name(&c.service, c.number);
        if c.name == proper || c.service.is_empty() {
            continue;
        }
        if names.contains(&proper) {
            report(Event::Note(format!(
                "removing {} left by an interrupted run",
                c.name
            )));
            container::remove(engine, &c.id).await?;
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

/// What the engine's API cannot do (a key newer than its version) and what cannot be placed
/// in the container (a secret whose variable is unset, a file that cannot be read, a copy
/// into a read-only container) fail here, before anything is created.
fn preflight_spec(
    engine: &Engine,
    project: &Project,
    selected: &[String],
) -> Result<(), ConvergeError> {
    let api = spec::Api(engine.api.0, engine.api.1);
    let mut problems = Vec::new();
    for name in selected {
        let Some(svc) = project.model.services.get(name) else {
            continue;
        };
        if svc.provider.is_some() {
            problems.push(format!(
                "service {name}: `provider:` runs a Compose provider plugin, which devstack does not drive: bring it up with `docker compose up {name}`, or leave it out (`devstack up` with the other services named)"
            ));
            continue;
        }
        problems.extend(spec::unsupported(svc, api));
        match spec::injections(project, svc) {
            Err(e) => problems.push(e),
            Ok(files) if !files.is_empty() && svc.security.read_only == Some(true) => {
                problems.push(format!(
                    "service {name}: its secrets and configs that are not plain files ({}) are copied into the container, which `read_only: true` forbids: give them a `file:` without uid/gid/mode, or drop read_only",
                    files.iter().map(|f| f.target.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Ok(_) => {}
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConvergeError::Unsupported { problems })
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
                        hint: p.source.change_hint(),
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
        let exists = engine.docker.inspect_network(&def.name, None).await.is_ok();
        if def.external && !exists {
            return Err(ConvergeError::Start {
                service: key.clone(),
                detail: format!(
                    "network {} is declared external, but the engine has none: create it (`docker network create {}`) or drop `external: true`",
                    def.name, def.name
                ),
            });
        }
        if exists || def.external {
            continue;
        }
        let req = network_request(project, key, def);
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

fn map(m: &indexmap::IndexMap<String, String>) -> HashMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A network as Compose creates it: its driver and options, address pools, `internal`,
/// `attachable`, IPv6 (and IPv4), its labels and Compose's.
fn network_request(
    project: &Project,
    key: &str,
    def: &crate::project::model::NetworkDef,
) -> NetworkCreateRequest {
    let mut labels = map(&def.labels);
    labels.extend(resource_labels(&project.name, labels::NETWORK, key));
    NetworkCreateRequest {
        name: def.name.clone(),
        driver: Some(def.driver.clone().unwrap_or_else(|| "bridge".into())),
        options: Some(map(&def.driver_opts)).filter(|o| !o.is_empty()),
        internal: def.internal.then_some(true),
        attachable: def.attachable.then_some(true),
        enable_ipv6: def.enable_ipv6,
        enable_ipv4: def.enable_ipv4,
        ipam: def.ipam.as_ref().map(|i| bollard::models::Ipam {
            driver: i.driver.clone(),
            config: Some(
                i.config
                    .iter()
                    .map(|p| bollard::models::IpamConfig {
                        subnet: p.subnet.clone(),
                        ip_range: p.ip_range.clone(),
                        gateway: p.gateway.clone(),
                        auxiliary_addresses: Some(map(&p.aux_addresses)).filter(|a| !a.is_empty()),
                    })
                    .collect(),
            ),
            options: Some(map(&i.options)).filter(|o| !o.is_empty()),
        }),
        labels: Some(labels),
        ..Default::default()
    }
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
        let exists = engine.docker.inspect_volume(&def.name).await.is_ok();
        if def.external && !exists {
            return Err(ConvergeError::Start {
                service: key.clone(),
                detail: format!(
                    "volume {} is declared external, but the engine has none: create it (`docker volume create {}`) or drop `external: true`",
                    def.name, def.name
                ),
            });
        }
        if exists || def.external {
            continue;
        }
        let mut labels = map(&def.labels);
        labels.extend(resource_labels(&project.name, labels::VOLUME, key));
        let req = VolumeCreateRequest {
            name: Some(def.name.clone()),
            driver: def.driver.clone(),
            driver_opts: Some(map(&def.driver_opts)).filter(|o| !o.is_empty()),
            labels: Some(labels),
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

impl From<WaitFailure> for ConvergeError {
    fn from(w: WaitFailure) -> Self {
        ConvergeError::Wait(Box::new(w))
    }
}
