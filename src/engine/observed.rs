//! What the engine has for a project: containers by Compose label, with state and health.

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};

use super::{labels, Engine};

/// One container as devstack reasons about it.
#[derive(Debug, Clone, Default)]
pub struct ContainerState {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Compose's container number (replica), 1 when the label is absent.
    pub number: u32,
    pub status: String,
    /// healthy / unhealthy / starting, or None without a healthcheck.
    pub health: Option<String>,
    pub last_health_output: Option<String>,
    /// Consecutive failed health checks, as the engine counts them.
    pub failing_streak: i64,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub restarting: bool,
    pub started_at: Option<String>,
    pub restart_count: i64,
    pub config_hash: Option<String>,
    pub image_label: Option<String>,
    /// The image as the container was created from it (`redis:7`, `stack-api`).
    pub image: String,
    pub labels: HashMap<String, String>,
    /// "127.0.0.1:8080->80/tcp"
    pub ports: Vec<String>,
    pub pid: Option<i64>,
    /// The GPUs it was given: "all", device ids, or None.
    pub gpu_request: Option<String>,
}

impl ContainerState {
    pub fn running(&self) -> bool {
        self.status == "running"
    }

    pub fn exited(&self) -> bool {
        matches!(self.status.as_str(), "exited" | "dead") && !self.restarting
    }
}

/// Containers of `project` (all states), by Compose's project label. One-off containers
/// (`devstack run`, `docker compose run`: `oneoff=True`) are not a service's container and are
/// left out, as Compose's `oneOffExclude` does; [`list_with_oneoffs`] has them too.
pub async fn list(
    engine: &Engine,
    project: &str,
) -> Result<Vec<ContainerState>, bollard::errors::Error> {
    let mut all = list_with_oneoffs(engine, project).await?;
    all.retain(|c| !is_oneoff(c));
    Ok(all)
}

/// Full state of one container (health, exit code, OOM, ports).
pub async fn inspect(engine: &Engine, id: &str) -> Result<ContainerState, bollard::errors::Error> {
    let ins = engine
        .docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await?;
    Ok(from_inspect(ins))
}

pub fn from_inspect(ins: ContainerInspectResponse) -> ContainerState {
    let gpu_request = ins
        .host_config
        .as_ref()
        .and_then(|h| h.device_requests.as_ref())
        .and_then(|reqs| reqs.first())
        .map(|r| match (&r.device_ids, r.count) {
            (Some(ids), _) if !ids.is_empty() => ids.join(","),
            (_, Some(-1)) | (_, None) => "all".to_string(),
            (_, Some(n)) => format!("{n} (first)"),
        });
    let labels = ins
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    let st = ins.state.clone().unwrap_or_default();
    let health = st
        .health
        .as_ref()
        .and_then(|h| h.status)
        .and_then(|s| match s {
            HealthStatusEnum::HEALTHY => Some("healthy".to_string()),
            HealthStatusEnum::UNHEALTHY => Some("unhealthy".to_string()),
            HealthStatusEnum::STARTING => Some("starting".to_string()),
            _ => None,
        });
    let last_health_output = st
        .health
        .as_ref()
        .and_then(|h| h.log.as_ref())
        .and_then(|l| l.last())
        .map(|r| {
            let out = r.output.as_deref().unwrap_or_default().trim();
            match r.exit_code {
                // A silent check (`test -f /tmp/ready`) still says how it failed.
                Some(code) if out.is_empty() && code != 0 => {
                    format!("health check exited with code {code}, no output")
                }
                _ => out.to_string(),
            }
        });
    let mut ports = Vec::new();
    if let Some(map) = ins.network_settings.as_ref().and_then(|n| n.ports.as_ref()) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for k in keys {
            match &map[k] {
                Some(bindings) if !bindings.is_empty() => {
                    for b in bindings {
                        ports.push(format!(
                            "{}:{}->{k}",
                            b.host_ip.clone().unwrap_or_default(),
                            b.host_port.clone().unwrap_or_default()
                        ));
                    }
                }
                _ => ports.push(k.clone()),
            }
        }
    }
    ContainerState {
        id: ins.id.unwrap_or_default(),
        name: ins
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
        number: number(&labels),
        status: match st.status {
            Some(ContainerStateStatusEnum::RUNNING) => "running".into(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        health,
        last_health_output,
        failing_streak: st
            .health
            .as_ref()
            .and_then(|h| h.failing_streak)
            .unwrap_or(0),
        exit_code: st.exit_code,
        oom_killed: st.oom_killed.unwrap_or(false),
        restarting: st.restarting.unwrap_or(false),
        started_at: st.started_at.clone(),
        restart_count: ins.restart_count.unwrap_or(0),
        config_hash: labels.get(labels::CONFIG_HASH).cloned(),
        image_label: labels.get(labels::IMAGE).cloned(),
        image: ins
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        labels,
        ports,
        pid: st.pid,
        gpu_request,
    }
}

/// Containers of `project` (all states), by Compose's project label, one-off containers
/// (`devstack run`) included.
pub async fn list_with_oneoffs(
    engine: &Engine,
    project: &str,
) -> Result<Vec<ContainerState>, bollard::errors::Error> {
    let filter = labels::project_filter(project);
    let filters = HashMap::from([("label", vec![filter.as_str()])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let summaries = engine.docker.list_containers(Some(opts)).await?;
    Ok(summaries
        .into_iter()
        .map(|s| {
            let labels = s.labels.unwrap_or_default();
            ContainerState {
                id: s.id.unwrap_or_default(),
                name: s
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_default(),
                service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                number: number(&labels),
                status: s.state.map(|st| st.to_string()).unwrap_or_default(),
                config_hash: labels.get(labels::CONFIG_HASH).cloned(),
                image_label: labels.get(labels::IMAGE).cloned(),
                image: s.image.unwrap_or_default(),
                labels,
                ..Default::default()
            }
        })
        .collect())
}

/// Compose's container number (1 when the label is absent).
fn number(labels: &HashMap<String, String>) -> u32 {
    labels
        .get(labels::NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// A one-off container (`devstack run`, `docker compose run`), not a service's own.
pub fn is_oneoff(c: &ContainerState) -> bool {
    c.labels.get(labels::ONEOFF).map(String::as_str) == Some("True")
}
