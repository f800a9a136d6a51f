//! `restart`, `stop` and `start`: a running stack's nodes through the executor's walks, host
//! processes through the project's supervisor (a command that finds none while host
//! processes a killed one left still run starts one, which adopts them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::converge::{Action, ConvergeError, Event, Prepared, Reporter};
use crate::engine::{observed, Engine};
use crate::executor::{self, Ctx, Restarted, Selection, StopHow, UpWalk};
use crate::project::graph::Kind;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::ui::color;
use crate::ui::progress::Progress;

/// The project's supervisor's socket when one runs (started to adopt orphans when needed),
/// else why host processes cannot be reached.
async fn supervised_hosts(project: &Project) -> anyhow::Result<Hosts> {
    let supervised = super::session::supervised(project).await?;
    Ok(hosts_if(supervised, project))
}

fn hosts_if(supervised: bool, project: &Project) -> Hosts {
    if supervised {
        Hosts::Socket(project.paths())
    } else {
        Hosts::Absent(
            "no supervisor runs for this project (start one with `devstack up -d` or `devstack up`)"
                .into(),
        )
    }
}

/// `restart`'s flags.
#[derive(Debug, Clone, Default)]
pub struct RestartOptions {
    /// Not waited on until ready (`--no-wait`).
    pub no_wait: bool,
    /// How long each may take to become ready.
    pub wait: Duration,
    /// `-t`: the stop grace period instead of each service's own.
    pub grace: Option<Duration>,
}

/// What `restart` would do (`--dry-run`), one line a node: the cascade as the walk takes it,
/// each node, then its `restart: true` dependents.
pub async fn restart_plan(project: &Project, names: &[String]) -> Vec<String> {
    let start: Vec<(String, Option<String>)> = names.iter().map(|n| (n.clone(), None)).collect();
    let mut lines = Vec::new();
    for w in executor::restart_plan(&project.graph, &start).await {
        let kind = match w.kind {
            Kind::Host => "host process",
            Kind::Container => "container",
        };
        let why = w
            .as_dependent_of
            .map(|b| format!(" (declares restart: true on {b})"))
            .unwrap_or_default();
        lines.push(format!(
            "{kind:<12} {}: would be restarted, then waited on{why}",
            w.service
        ));
    }
    lines
}

/// Restarts `names` (services or host processes, recreated alone when their configuration
/// changed), each waited on until ready, then their `restart: true` dependents of either
/// kind, through the executor's walk; each as it is done, printed.
pub async fn restart(
    engine: &Engine,
    project: &Project,
    names: Vec<String>,
    a: &RestartOptions,
) -> anyhow::Result<()> {
    let hosts = supervised_hosts(project).await?;
    let ctx = Ctx::new(engine, project, hosts, Arc::new(|_| {}));
    let print = |r: &Restarted| {
        let why = r
            .as_dependent_of
            .as_ref()
            .map(|d| format!(" (depends on {d} with restart: true)"))
            .unwrap_or_default();
        if r.skipped {
            // The restart goes on whether or not anyone reads its report.
            let _ = crate::outln!("{} {} {}{why}", color::warn("!"), r.service, r.state);
            return;
        }
        let how = match (r.kind, r.recreated) {
            (Kind::Host, _) => "restarted (host process)",
            (_, true) => "recreated (config changed)",
            (_, false) => "restarted",
        };
        let state = if a.no_wait {
            String::new()
        } else {
            format!(", {} after {:.1}s", r.state, r.took.as_secs_f64())
        };
        let _ = crate::outln!("{} {} {how}{state}{why}", color::ok("✓"), r.service);
    };
    executor::restart(
        &ctx,
        names.into_iter().map(|n| (n, None)).collect(),
        !a.no_wait,
        a.wait,
        a.grace,
        &print,
    )
    .await?;
    Ok(())
}

/// Stops the named nodes (all when none are named) without removing them, through the
/// executor's reverse walk (a node once everything depending on it among those stopped has
/// stopped; independent ones in parallel). Host processes by the project's supervisor;
/// without one none runs.
pub async fn stop(
    engine: &Engine,
    project: &Project,
    named: &[String],
    grace: Option<Duration>,
) -> anyhow::Result<()> {
    let containers = observed::list(engine, &project.name).await?;
    let supervised = super::session::supervised(project).await?;
    let mut nodes = Selection::exactly(named).nodes(project);
    if !supervised {
        let hosts: Vec<String> = nodes
            .iter()
            .filter(|n| project.graph.is_host(n))
            .cloned()
            .collect();
        if !hosts.is_empty() {
            crate::say!(
                "{} no supervisor runs for project {}, so host process{} {} {} not running: nothing to stop",
                color::dim("•"),
                project.name,
                if hosts.len() == 1 { "" } else { "es" },
                hosts.join(", "),
                if hosts.len() == 1 { "is" } else { "are" },
            );
        }
        nodes.retain(|n| !project.graph.is_host(n));
    }
    // Containers that exist; a service without one has nothing to stop.
    let nodes = executor::present(&project.graph, nodes, &containers);
    if nodes.is_empty() {
        crate::say!("nothing to stop for project {}", project.name);
        return Ok(());
    }
    let hosts = hosts_if(supervised, project);
    let said: Reporter = Arc::new(|ev| {
        if let Event::Stopped(n) = &ev {
            crate::say!("{} {n} stopped", color::ok("✓"));
        }
    });
    let ctx = Ctx::new(engine, project, hosts, said);
    executor::stop(&ctx, &nodes, &containers, StopHow::Stop, grace)
        .await
        .map_err(ConvergeError::from)?;
    Ok(())
}

/// Starts the named nodes' existing containers and host processes again (all when none are
/// named) through the executor's forward walk, each the moment its dependencies among those
/// started hold, waited on until ready; creates and recreates nothing (`up` does that).
pub async fn start(
    engine: &Engine,
    project: &Project,
    named: &[String],
    wait: Duration,
    verbose: bool,
) -> anyhow::Result<()> {
    let existing = observed::list(engine, &project.name).await?;
    let mut nodes = Selection::exactly(named).nodes(project);
    let host_nodes: Vec<String> = nodes
        .iter()
        .filter(|n| project.graph.is_host(n))
        .cloned()
        .collect();
    let supervised = super::session::supervised(project).await?;
    if !supervised && !host_nodes.is_empty() {
        let msg = format!(
            "host process{} {} cannot start: no supervisor runs for project {}; host processes \
             need `devstack up -d` (or an attached `devstack up`)",
            if host_nodes.len() == 1 { "" } else { "es" },
            host_nodes.join(", "),
            project.name
        );
        if host_nodes.iter().any(|h| named.contains(h)) {
            anyhow::bail!(msg);
        }
        crate::say!("{} {msg}", color::warn("note:"));
        nodes.retain(|n| !project.graph.is_host(n));
    }
    let missing: Vec<&String> = nodes
        .iter()
        .filter(|n| !project.graph.is_host(n) && !existing.iter().any(|c| &c.service == *n))
        .collect();
    if let Some(first) = missing.iter().find(|m| named.contains(m)) {
        anyhow::bail!(
            "service {first} has no container to start: create it with `devstack up -d {first}`"
        );
    }
    let missing: Vec<String> = missing.into_iter().cloned().collect();
    nodes.retain(|n| !missing.contains(n));
    if nodes.is_empty() {
        anyhow::bail!(
            "project {} has no containers to start: create them with `devstack up -d`",
            project.name
        );
    }
    let hosts = hosts_if(supervised, project);
    let progress = Arc::new(Progress::new(&nodes, verbose));
    let p = progress.clone();
    let reporter: Reporter = Arc::new(move |ev: Event| p.event(&ev));
    let ctx = Ctx::new(engine, project, hosts, reporter);
    let prepared = Prepared {
        existing,
        ..Default::default()
    };
    let deadline = Instant::now() + wait;
    match executor::up(&ctx, &nodes, &prepared, UpWalk::StartOnly, deadline).await {
        Ok(actions) => {
            let started = actions
                .iter()
                .filter(|(_, act)| *act != Action::UpToDate)
                .count();
            progress.finish(actions.len(), started);
            Ok(())
        }
        Err(e) => {
            progress.abandon();
            Err(e.into())
        }
    }
}
