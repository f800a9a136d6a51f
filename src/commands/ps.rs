use serde::Serialize;

use crate::cli::{GlobalOpts, PsArgs, PsFormat};
use crate::engine::observed;
use crate::project::ProjectSource;
use crate::supervisor::state::HostPhase;
use crate::ui::{color, table};

#[derive(Serialize)]
struct Row {
    /// The container's id (12 hex); none for a host process.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    name: String,
    service: String,
    /// The container's number among the service's replicas; none for a host process.
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u32>,
    kind: &'static str,
    state: String,
    health: Option<String>,
    exit_code: Option<i64>,
    restarts: i64,
    uptime_secs: Option<i64>,
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<i32>,
    /// The supervisor's last auto-heal action, e.g. "unhealthy ×3".
    #[serde(skip_serializing_if = "Option::is_none")]
    last_reason: Option<String>,
    /// GPUs it was given ("all" or ids) and the GPU memory its processes use (NVML).
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu_memory_mib: Option<u64>,
}

pub async fn run(g: &GlobalOpts, a: &PsArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    if a.services_only {
        // The names come from the file: when it does not load, that is the error to show.
        let p = super::load_source(source.clone(), super::FactsFrom::Cached)?;
        for n in p.graph.order() {
            crate::outln!("{n}")?;
        }
        return Ok(0);
    }
    // The file's view (names, aliases) when it renders; `ps` works without it too.
    let project = super::load_project_quietly(&source);
    let wanted: Vec<String> = match &project {
        Some(p) => p.resolve_services(&a.services)?,
        None => a.services.clone(),
    };
    let engine = super::connect().await?;
    // -a: stopped containers and the one-offs of `devstack run` too, as Compose's `ps -a`.
    let listed = if a.all {
        observed::list_with_oneoffs(&engine, &source.name).await?
    } else {
        observed::list(&engine, &source.name).await?
    };
    let inspected =
        futures_util::future::join_all(listed.iter().map(|c| observed::inspect(&engine, &c.id)))
            .await;
    let now = chrono::Utc::now();
    // GPU memory per container: NVML processes → /proc/<pid>/cgroup → container id.
    // GPU memory is attributed by process, so a container that uses a GPU without asking for
    // one in the file (a runtime default) is seen too; without NVML this is one failed load.
    let running = inspected.iter().flatten().any(|st| st.running());
    let gpu_use = if running {
        tokio::task::spawn_blocking(|| crate::gpu::status(std::path::Path::new("/proc")))
            .await?
            .map(|devs| crate::gpu::usage_by_container(&devs))
            .ok()
    } else {
        None
    };
    let mut rows: Vec<Row> = inspected
        .into_iter()
        .filter_map(Result::ok)
        .map(|st| {
            let uptime = st
                .started_at
                .as_deref()
                .filter(|_| st.running())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0));
            Row {
                id: Some(st.id.chars().take(12).collect()),
                name: st.name.clone(),
                service: st.service.clone(),
                number: Some(st.number),
                kind: "container",
                state: st.status.clone(),
                health: st.health.clone(),
                exit_code: st.exit_code.filter(|_| st.exited()),
                restarts: st.restart_count,
                uptime_secs: uptime,
                ports: st
                    .ports
                    .iter()
                    .filter(|p| p.contains("->"))
                    .map(|p| engine.site.reachable(p))
                    .collect(),
                pid: None,
                last_reason: None,
                gpu: st.gpu_request.clone(),
                gpu_memory_mib: gpu_use
                    .as_ref()
                    .and_then(|u| u.get(&st.id))
                    .map(|(_, mib)| *mib),
            }
        })
        .collect();
    rows.sort_by(|x, y| (&x.service, x.number).cmp(&(&y.service, y.number)));
    // Auto-heal actions and host processes, from the supervisor's state file.
    let paths = source.paths();
    let sup = crate::supervisor::state::State::load(&paths);
    let sup_alive = crate::supervisor::any_running(&paths);
    for r in rows.iter_mut() {
        if let Some(h) = sup.autoheal.get(&r.service) {
            r.restarts += i64::from(h.restarts);
            r.last_reason = h.last_reason.clone();
            if h.crash_looping {
                r.state = "crash-looping".into();
            }
        }
    }
    for (name, h) in &sup.host {
        // A zombie or dead pid is not running; "unsupervised" only while it really runs.
        let pid_alive = h.command_alive();
        let state = h.shown_state(sup_alive);
        let uptime = h
            .started_at
            .as_deref()
            .filter(|_| h.state == HostPhase::Running && pid_alive)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0));
        rows.push(Row {
            id: None,
            name: name.clone(),
            service: name.clone(),
            number: None,
            kind: "host",
            state,
            health: h.health.clone(),
            exit_code: h
                .last_exit
                .map(i64::from)
                .filter(|_| h.state != HostPhase::Running),
            restarts: i64::from(h.restarts),
            uptime_secs: uptime,
            ports: vec![],
            pid: h.pid.filter(|_| pid_alive),
            last_reason: None,
            gpu: None,
            gpu_memory_mib: None,
        });
    }
    // Compose's rules: running containers unless -a; host processes always (they are nodes
    // of the project whether they run or not); then names and --status.
    rows.retain(|r| {
        a.all
            || r.kind == "host"
            || matches!(
                r.state.as_str(),
                "running" | "restarting" | "paused" | "crash-looping"
            )
    });
    if !wanted.is_empty() {
        rows.retain(|r| wanted.contains(&r.service));
    }
    if !a.status.is_empty() {
        rows.retain(|r| {
            a.status
                .iter()
                .any(|s| r.state == *s || r.state.starts_with(&format!("{s} ")))
        });
    }
    if a.quiet {
        for r in &rows {
            match (&r.id, r.pid) {
                (Some(id), _) => crate::outln!("{id}")?,
                (None, Some(pid)) => crate::outln!("{pid}")?,
                _ => {}
            }
        }
        return Ok(0);
    }
    if a.json || a.format == PsFormat::Json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    let heals = sup.autoheal.len() + rows.iter().filter(|r| r.kind == "container").count();
    if !sup_alive && (!sup.host.is_empty() || (heals > 0 && !sup.config_hash.is_empty())) {
        crate::say!(
            "{} no supervisor runs for project {}: host processes are not restarted and unhealthy containers are not healed (`devstack up -d` starts one)",
            color::warn("!"),
            source.name
        );
    }
    if rows.is_empty() {
        crate::say!(
            "no containers for project {} (start them with `devstack up`)",
            source.name
        );
        return Ok(0);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let state = match (r.state.as_str(), r.exit_code) {
                ("running", _) => color::ok("running"),
                ("crash-looping", _) => color::bad("crash-looping"),
                (s, Some(0)) => format!("{s} (0)"),
                (s, Some(c)) => color::bad(&format!("{s} ({c})")),
                (s, None) => color::warn(s),
            };
            let health = match r.health.as_deref() {
                Some("healthy") => color::ok("healthy"),
                Some("unhealthy") => color::bad("unhealthy"),
                Some(h) => color::warn(h),
                None => color::dim("-"),
            };
            vec![
                crate::engine::labels::log_name(&r.service, r.number.unwrap_or(1)),
                r.kind.to_string(),
                state,
                health,
                r.uptime_secs
                    .map(crate::ui::human_duration)
                    .unwrap_or_else(|| "-".into()),
                r.restarts.to_string(),
                if r.ports.is_empty() {
                    "-".into()
                } else {
                    r.ports.join(", ")
                },
                match (&r.gpu, r.gpu_memory_mib) {
                    (Some(g), Some(m)) => format!("{g} ({m} MiB)"),
                    (Some(g), None) => g.clone(),
                    (None, Some(m)) => format!("{m} MiB"),
                    _ => "-".into(),
                },
                r.pid
                    .map(|p| p.to_string())
                    .or_else(|| r.last_reason.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        table::render(
            &[
                "SERVICE", "KIND", "STATE", "HEALTH", "UPTIME", "RESTARTS", "PORTS", "GPU",
                "PID/LAST"
            ],
            &table_rows
        )
    )?;
    Ok(0)
}
