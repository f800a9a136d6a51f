//! `devstack ps`: the one status of the stack (`ops::status`), filtered as Compose's `ps`.

use crate::cli::{GlobalOpts, PsArgs, PsFormat};
use crate::ops::session::{self, FactsFrom};
use crate::ops::status::{self, Look, NodeKind, NodeStatus, Snapshot};
use crate::project::ProjectSource;
use crate::ui::{color, table};

pub async fn run(g: &GlobalOpts, a: &PsArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    if a.services_only {
        // The names come from the file: when it does not load, that is the error to show.
        let p = session::load_source(source.clone(), FactsFrom::Cached)?;
        for n in p.graph.order() {
            crate::outln!("{n}")?;
        }
        return Ok(0);
    }
    // The file's view (names, aliases) when it renders; `ps` works without it too.
    let wanted: Vec<String> = match session::load_quietly(&source) {
        Some(p) => p.resolve_services(&a.services)?,
        None => a.services.clone(),
    };
    let engine = session::connect().await?;
    let look = Look {
        all: a.all,
        gpu: true,
    };
    let snap = status::collect(&engine, &source.name, &source.paths(), look).await?;
    let rows = filtered(&snap, a, &wanted);
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
    let containers = rows
        .iter()
        .filter(|r| r.kind == NodeKind::Container)
        .count();
    let hosts = snap.nodes.iter().any(|r| r.kind == NodeKind::Host);
    if !snap.supervised && (hosts || (snap.heals + containers > 0 && snap.had_supervisor)) {
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
    crate::out!("{}", render(&rows))?;
    Ok(0)
}

/// Compose's rules: running containers unless -a; host processes always (they are nodes of
/// the project whether they run or not); then the named services and `--status`.
fn filtered<'a>(snap: &'a Snapshot, a: &PsArgs, wanted: &[String]) -> Vec<&'a NodeStatus> {
    snap.nodes
        .iter()
        .filter(|r| a.all || r.kind == NodeKind::Host || r.running())
        .filter(|r| wanted.is_empty() || wanted.contains(&r.service))
        .filter(|r| {
            a.status.is_empty()
                || a.status
                    .iter()
                    .any(|s| r.state == *s || r.state.starts_with(&format!("{s} ")))
        })
        .collect()
}

fn render(rows: &[&NodeStatus]) -> String {
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.shown_name(),
                r.kind.as_str().to_string(),
                shown_state(r),
                shown_health(r.health.as_deref()),
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
    table::render(
        &[
            "SERVICE", "KIND", "STATE", "HEALTH", "UPTIME", "RESTARTS", "PORTS", "GPU", "PID/LAST",
        ],
        &table_rows,
    )
}

fn shown_state(r: &NodeStatus) -> String {
    match (r.state.as_str(), r.exit_code) {
        ("running", _) => color::ok("running"),
        ("crash-looping", _) => color::bad("crash-looping"),
        (s, Some(0)) => format!("{s} (0)"),
        (s, Some(c)) => color::bad(&format!("{s} ({c})")),
        (s, None) => color::warn(s),
    }
}

fn shown_health(h: Option<&str>) -> String {
    match h {
        Some("healthy") => color::ok("healthy"),
        Some("unhealthy") => color::bad("unhealthy"),
        Some(h) => color::warn(h),
        None => color::dim("-"),
    }
}
