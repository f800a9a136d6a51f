//! One status of the stack: every container (each replica) and host process as `ps`,
//! `ps --json`, `dash`, `top` and `graph` show it, built once here.
//!
//! Health is the readiness devstack verified itself (`up`/`restart` print "healthy" the moment
//! devstack's probe passes) reconciled with the engine's own check, which `engine_health`
//! keeps beside it; a host process is running only while its command really runs (a zombie
//! is not), and "unsupervised" only when that is true.

use std::collections::HashMap;

use serde::Serialize;

use crate::engine::observed::{self, ContainerState};
use crate::engine::readiness::{self, Readiness};
use crate::engine::{labels, Engine};
use crate::project::paths::Paths;
use crate::supervisor::state::{HealState, HostState, State};

/// A node of the stack: a container or a host process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    #[default]
    Container,
    Host,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Container => "container",
            NodeKind::Host => "host",
        }
    }
}

/// One node's status. Serialized as `ps --json` prints it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeStatus {
    /// The container's id (12 hex); none for a host process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The container's whole id (for the engine and NVML), not printed.
    #[serde(skip)]
    pub full_id: Option<String>,
    pub name: String,
    pub service: String,
    /// The container's number among the service's replicas; none for a host process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    pub kind: NodeKind,
    pub state: String,
    /// What devstack tells: the engine's health, or `healthy` where devstack verified it.
    pub health: Option<String>,
    /// The engine's own health check (`null` for a host process or without a healthcheck).
    pub engine_health: Option<String>,
    /// The last health check's output, when there is one.
    #[serde(skip)]
    pub health_output: Option<String>,
    pub exit_code: Option<i64>,
    pub restarts: i64,
    pub uptime_secs: Option<i64>,
    /// Published ports as the user reaches them (`127.0.0.1:8080->80/tcp`).
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The supervisor's last auto-heal action, e.g. "unhealthy ×3".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reason: Option<String>,
    /// GPUs it was given ("all" or ids) and the GPU memory its processes use (NVML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_memory_mib: Option<u64>,
}

impl NodeStatus {
    pub fn running(&self) -> bool {
        matches!(
            self.state.as_str(),
            "running" | "restarting" | "paused" | "crash-looping"
        ) || self.state.starts_with("running ")
    }

    /// `svc` or `svc-2`: as logs and the tables name it.
    pub fn shown_name(&self) -> String {
        labels::log_name(&self.service, self.number.unwrap_or(1))
    }
}

/// What to look at beyond the containers' own state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Look {
    /// Stopped containers and one-off (`devstack run`) containers too, as `ps -a`.
    pub all: bool,
    /// Attribute GPU memory to containers through NVML (one driver call).
    pub gpu: bool,
}

/// The stack now: its nodes, and whether a supervisor keeps the host processes.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<NodeStatus>,
    pub supervised: bool,
    /// Auto-heal records by service (for the note about a missing supervisor).
    pub heals: usize,
    /// Whether the supervisor's state file names a configuration (it ran for this project).
    pub had_supervisor: bool,
}

impl Snapshot {
    /// The status of `service`'s container number `n`, or of host process `service`.
    pub fn node(&self, service: &str, n: u32) -> Option<&NodeStatus> {
        self.nodes
            .iter()
            .find(|s| s.service == service && (s.kind == NodeKind::Host || s.number == Some(n)))
    }
}

/// Seconds since an RFC 3339 start, for a node that runs.
pub fn uptime(started_at: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    started_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0))
}

/// The status of every container of `project` and of every host process its supervisor
/// knows, containers by service and number, then host processes.
pub async fn collect(
    engine: &Engine,
    project: &str,
    paths: &Paths,
    look: Look,
) -> anyhow::Result<Snapshot> {
    let listed = if look.all {
        observed::list_with_oneoffs(engine, project).await?
    } else {
        observed::list(engine, project).await?
    };
    // Inspected all at once: one round trip's time, not one per container.
    let inspected: Vec<ContainerState> =
        futures_util::future::join_all(listed.iter().map(|c| observed::inspect(engine, &c.id)))
            .await
            .into_iter()
            .flatten()
            .collect();
    let gpu_use = if look.gpu && inspected.iter().any(ContainerState::running) {
        gpu_memory().await
    } else {
        HashMap::new()
    };
    let sup = State::load(paths);
    let ready = Readiness::load(paths);
    let now = chrono::Utc::now();
    let mut nodes: Vec<NodeStatus> = inspected
        .iter()
        .map(|st| {
            let mut n = container(st, &ready, now, |p| engine.site.reachable(p));
            n.gpu_memory_mib = gpu_use.get(&st.id).copied();
            if let Some(h) = sup.autoheal.get(&st.service) {
                healed(&mut n, h);
            }
            n
        })
        .collect();
    nodes.sort_by(|x, y| (&x.service, x.number).cmp(&(&y.service, y.number)));
    let mut snap = hosts_of(paths, &sup, now);
    nodes.append(&mut snap.nodes);
    snap.nodes = nodes;
    Ok(snap)
}

/// The host processes only, from the supervisor's state and the process table (no engine).
pub fn hosts(paths: &Paths) -> Snapshot {
    hosts_of(paths, &State::load(paths), chrono::Utc::now())
}

fn hosts_of(paths: &Paths, sup: &State, now: chrono::DateTime<chrono::Utc>) -> Snapshot {
    let supervised = crate::supervisor::any_running(paths);
    Snapshot {
        nodes: sup
            .host
            .iter()
            .map(|(name, h)| host(name, h, supervised, now))
            .collect(),
        supervised,
        heals: sup.autoheal.len(),
        had_supervisor: !sup.config_hash.is_empty(),
    }
}

/// GPU memory per container id: NVML's processes → /proc/<pid>/cgroup → container id. By
/// process, so a container that uses a GPU without asking for one (a runtime default) is seen
/// too; without NVML this is one failed load and nothing.
pub async fn gpu_memory() -> HashMap<String, u64> {
    tokio::task::spawn_blocking(|| crate::gpu::status(std::path::Path::new("/proc")))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|devs| {
            crate::gpu::usage_by_container(&devs)
                .into_iter()
                .map(|(id, (_, mib))| (id, mib))
                .collect()
        })
        .unwrap_or_default()
}

/// A container's status from its inspection.
fn container(
    st: &ContainerState,
    ready: &Readiness,
    now: chrono::DateTime<chrono::Utc>,
    reachable: impl Fn(&str) -> String,
) -> NodeStatus {
    let verified = ready.verified(&st.id, st.started_at.as_deref());
    NodeStatus {
        id: Some(st.id.chars().take(12).collect()),
        full_id: Some(st.id.clone()),
        name: st.name.clone(),
        service: st.service.clone(),
        number: Some(st.number),
        kind: NodeKind::Container,
        state: st.status.clone(),
        health: readiness::shown_health(st.health.as_deref(), verified),
        engine_health: st.health.clone(),
        health_output: st.last_health_output.clone(),
        exit_code: st.exit_code.filter(|_| st.exited()),
        restarts: st.restart_count,
        uptime_secs: uptime(st.started_at.as_deref(), now).filter(|_| st.running()),
        ports: st
            .ports
            .iter()
            .filter(|p| p.contains("->"))
            .map(|p| reachable(p))
            .collect(),
        gpu: st.gpu_request.clone(),
        ..Default::default()
    }
}

/// What the supervisor's auto-heal did to a service's containers.
fn healed(n: &mut NodeStatus, h: &HealState) {
    n.restarts += i64::from(h.restarts);
    n.last_reason = h.last_reason.clone();
    if h.crash_looping {
        n.state = "crash-looping".into();
    }
}

/// A host process's status from the supervisor's state file and the process table.
fn host(
    name: &str,
    h: &HostState,
    supervised: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> NodeStatus {
    let runs = h.state == "running" && h.command_alive();
    NodeStatus {
        name: name.to_string(),
        service: name.to_string(),
        kind: NodeKind::Host,
        state: h.shown_state(supervised),
        health: h.health.clone().filter(|_| runs),
        exit_code: h.last_exit.map(i64::from).filter(|_| !runs),
        restarts: i64::from(h.restarts),
        uptime_secs: uptime(h.started_at.as_deref(), now).filter(|_| runs),
        pid: h.pid.filter(|_| runs || h.command_alive()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(health: Option<&str>, started: &str) -> ContainerState {
        ContainerState {
            id: "0123456789abcdef".into(),
            name: "p-api-1".into(),
            service: "api".into(),
            number: 1,
            status: "running".into(),
            health: health.map(str::to_string),
            started_at: Some(started.into()),
            ports: vec!["127.0.0.1:8080->80/tcp".into(), "80/tcp".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_container_devstack_verified_is_healthy_with_the_engine_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let now = chrono::Utc::now();
        let st = cs(Some("starting"), "2026-12-07T05:00:00Z");
        let n = container(&st, &Readiness::load(&paths), now, str::to_string);
        assert_eq!(n.health.as_deref(), Some("starting"));
        readiness::record(&paths, &st.id, st.started_at.as_deref());
        let n = container(&st, &Readiness::load(&paths), now, str::to_string);
        assert_eq!(n.health.as_deref(), Some("healthy"));
        assert_eq!(n.engine_health.as_deref(), Some("starting"));
        assert_eq!(n.id.as_deref(), Some("0123456789ab"));
        assert_eq!(n.ports, vec!["127.0.0.1:8080->80/tcp".to_string()]);
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["engine_health"], "starting");
        assert_eq!(json["health"], "healthy");
        assert!(json.get("full_id").is_none());
    }

    #[test]
    fn a_dead_host_process_is_not_running_and_has_no_uptime() {
        let h = HostState {
            state: "running".into(),
            // No such process: pid_max is far below this.
            pid: Some(i32::MAX - 1),
            pgid: Some(i32::MAX - 1),
            started_at: Some("2026-12-07T05:00:00Z".into()),
            health: Some("healthy".into()),
            last_exit: Some(137),
            ..Default::default()
        };
        let now = chrono::Utc::now();
        let n = host("kinect", &h, true, now);
        assert_eq!(n.state, "exited");
        assert_eq!(n.uptime_secs, None);
        assert_eq!(n.health, None);
        assert_eq!(n.pid, None);
        assert_eq!(n.exit_code, Some(137));
        let n = host("kinect", &h, false, now);
        assert_eq!(n.state, "exited (no supervisor)");
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "host");
    }

    #[test]
    fn crash_looping_and_heals_count() {
        let mut n = NodeStatus {
            state: "running".into(),
            restarts: 1,
            ..Default::default()
        };
        healed(
            &mut n,
            &HealState {
                restarts: 2,
                crash_looping: true,
                last_reason: Some("unhealthy ×3".into()),
                ..Default::default()
            },
        );
        assert_eq!((n.state.as_str(), n.restarts), ("crash-looping", 3));
        assert!(n.running());
    }
}
