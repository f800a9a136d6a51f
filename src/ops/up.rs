//! `up`: the plan (what the walk brings up, and how it reports), the walk of the one graph
//! of containers and host processes, and the detached `up` with the background supervisor.
//! Attached, see `attached.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::converge::{self, Action, Event, UpOptions};
use crate::engine::Engine;
use crate::executor::plan::plan_up;
use crate::executor::{self, Ctx, UpWalk};
use crate::project::graph::Kind;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::supervisor::state::HostPhase;
use crate::supervisor::Running;
use crate::ui::color;
use crate::ui::progress::Progress;

/// `up -d`: the background supervisor first (host processes are nodes of the walk), then
/// the walk; returns when every node is ready. A supervisor this `up` started for nothing
/// (a build or pull failed before any host process ran) goes again: a failed `up` leaves
/// nothing behind it made.
pub async fn detached(
    engine: &Engine,
    project: &Project,
    plan: &Plan,
) -> anyhow::Result<Option<Running>> {
    let paths = project.paths();
    let has_hosts = plan.nodes.iter().any(|n| project.graph.is_host(n));
    let wants_supervisor = has_hosts || project.model.x_devstack.autoheal.enabled;
    let had_supervisor = crate::supervisor::running_pid(&paths).is_some();
    let running = if wants_supervisor {
        Some(crate::supervisor::ensure_background(project).await?)
    } else {
        None
    };
    let hosts = if running.is_some() {
        Hosts::Socket(paths.clone())
    } else {
        Hosts::Absent("no supervisor runs".into())
    };
    let ctx = Ctx::new(engine, project, hosts, plan.reporter.clone());
    let actions = match plan.converge(&ctx).await {
        Ok(a) => a,
        Err(e) => {
            plan.progress.abandon();
            let hosts_run = crate::supervisor::state::State::load(&paths)
                .host
                .values()
                .any(|h| matches!(h.state, HostPhase::Running | HostPhase::Backoff));
            if !had_supervisor && !hosts_run && matches!(running, Some(Running::Background(_))) {
                crate::supervisor::stop_background(&project.source).await?;
            }
            return Err(e.into());
        }
    };
    plan.finish(&actions);
    Ok(running)
}

/// Says where the host processes and auto-heal run after a detached `up`.
pub fn say_running(running: Option<Running>) {
    match running {
        Some(Running::Background(pid)) => crate::say!(
            "{} supervisor running in the background (pid {pid})",
            color::ok("✓")
        ),
        Some(Running::Attached(pid)) => crate::say!(
            "{} host processes and auto-heal stay with the attached `devstack up` (pid {pid}); \
             restart it to apply changes to x-devstack",
            color::ok("✓")
        ),
        None => {}
    }
}

/// What `plan` would do, one step a line (`--dry-run`): nothing is changed.
pub async fn dry_run(
    engine: &Engine,
    project: &Project,
    plan: &Plan,
) -> anyhow::Result<Vec<String>> {
    Ok(plan_up(engine, project, &plan.nodes, &plan.opts)
        .await?
        .lines())
}

/// What `up` walks, and how it reports.
pub struct Plan {
    /// Services and host processes, dependencies first.
    pub nodes: Vec<String>,
    pub opts: UpOptions,
    /// How long the nodes may take to become ready, from the end of the builds.
    pub wait: Duration,
    pub progress: Arc<Progress>,
    pub reporter: converge::Reporter,
}

impl Plan {
    /// The plan for `nodes` (dependencies first): `opts` with its containers filled in, and
    /// live progress lines for every node.
    pub fn new(
        project: &Project,
        nodes: Vec<String>,
        mut opts: UpOptions,
        wait: Duration,
        verbose: bool,
    ) -> Plan {
        opts.services = nodes
            .iter()
            .filter(|n| project.graph.kind(n) == Some(Kind::Container))
            .cloned()
            .collect();
        let progress = Arc::new(Progress::new(&nodes, verbose));
        let p = progress.clone();
        let reporter: converge::Reporter = Arc::new(move |ev: Event| p.event(&ev));
        Plan {
            nodes,
            opts,
            wait,
            progress,
            reporter,
        }
    }

    /// Steps 1–4 of the convergence, then the graph walk.
    pub async fn converge(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, Action)>, converge::ConvergeError> {
        // The plan is computed once; the walk follows its create/recreate decisions.
        let steps = plan_up(ctx.engine, ctx.project, &self.nodes, &self.opts).await?;
        let to_build: std::collections::HashSet<String> =
            steps.images.iter().map(|(s, _)| s.clone()).collect();
        let mut prepared = converge::prepare_planned(
            ctx.engine,
            ctx.project,
            &self.opts,
            &self.reporter,
            Some(&to_build),
        )
        .await?;
        prepared.recreate = steps.recreate_policies();
        let deadline = Instant::now() + self.wait;
        executor::up(
            ctx,
            &self.nodes,
            &prepared,
            UpWalk::Converge(self.opts.recreate),
            deadline,
        )
        .await
    }

    pub fn finish(&self, actions: &[(String, Action)]) {
        let changed = actions
            .iter()
            .filter(|(_, act)| *act != Action::UpToDate)
            .count();
        self.progress.finish(actions.len(), changed);
    }
}

/// The named nodes (or every active one) with their dependencies of both kinds (`--no-deps`:
/// only the named ones); `--no-host` leaves host processes out and says which selected
/// services depend on them.
pub fn selection(project: &Project, named: &[String], no_host: bool, no_deps: bool) -> Vec<String> {
    let mut nodes = if no_deps && !named.is_empty() {
        // Only what was named (Compose's --no-deps); dependencies are not waited on.
        named.to_vec()
    } else {
        executor::Selection::with_dependencies(named).nodes(project)
    };
    if no_host {
        for n in &nodes {
            let Some(node) = project.graph.get(n) else {
                continue;
            };
            for dep in node.deps.keys().filter(|d| project.graph.is_host(d)) {
                crate::say!(
                    "{} {n} depends on host process {dep}, which --no-host leaves out: {n} starts without waiting for it",
                    color::warn("note:")
                );
            }
        }
        nodes.retain(|n| !project.graph.is_host(n));
    }
    nodes
}
