//! `watch` without `--no-up` first builds and starts the services, as `up -d` does (Compose's
//! `watch` does the same). This is `up -d`'s walk, written against the executor.
// TODO(lead): `commands/up.rs`'s `Plan` does the same; once it lives in `ops/` (issue 24,
// item 1), `bring_up` should call it instead and this file go.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::build::ImageOptions;
use crate::engine::converge::{self, Action, Event, UpOptions};
use crate::engine::Engine;
use crate::executor::plan::plan_up;
use crate::executor::{self, Ctx, UpWalk};
use crate::project::graph::Kind;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::supervisor::Running;
use crate::ui::color;
use crate::ui::progress::Progress;

/// `up -d` of `named` (every active service when empty) and their dependencies: the
/// supervisor first when host processes or auto-heal need it, then the walk, with `up`'s
/// progress lines; returns when every node is ready within `wait`.
pub async fn bring_up(
    engine: &Engine,
    project: &Project,
    named: &[String],
    wait: Duration,
    verbose: bool,
) -> anyhow::Result<()> {
    let paths = project.paths();
    let nodes = converge::selected_nodes(project, named);
    let has_hosts = nodes.iter().any(|n| project.graph.is_host(n));
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
    let progress = Arc::new(Progress::new(&nodes, verbose));
    let p = progress.clone();
    let ctx = Ctx::new(
        engine,
        project,
        hosts,
        Arc::new(move |ev: Event| p.event(&ev)),
    );
    let actions = match walk(&ctx, &nodes, wait).await {
        Ok(a) => a,
        Err(e) => {
            progress.abandon();
            // A supervisor started here for nothing (a build or pull failed before any host
            // process ran) goes again: a failed `up` leaves nothing behind it made.
            let hosts_run = crate::supervisor::state::State::load(&paths)
                .host
                .values()
                .any(|h| matches!(h.state.as_str(), "running" | "backoff"));
            if !had_supervisor && !hosts_run && matches!(running, Some(Running::Background(_))) {
                crate::supervisor::stop_background(&project.source).await?;
            }
            return Err(e.into());
        }
    };
    let changed = actions
        .iter()
        .filter(|(_, act)| *act != Action::UpToDate)
        .count();
    progress.finish(actions.len(), changed);
    say_supervisor(running);
    Ok(())
}

/// The plan (computed once), the builds and pulls, then the executor's forward walk.
async fn walk(
    ctx: &Ctx<'_>,
    nodes: &[String],
    wait: Duration,
) -> Result<Vec<(String, Action)>, converge::ConvergeError> {
    let opts = UpOptions {
        services: nodes
            .iter()
            .filter(|n| ctx.project.graph.kind(n) == Some(Kind::Container))
            .cloned()
            .collect(),
        image: ImageOptions::default(),
        ..Default::default()
    };
    let steps = plan_up(ctx.engine, ctx.project, nodes, &opts).await?;
    let to_build: std::collections::HashSet<String> =
        steps.images.iter().map(|(s, _)| s.clone()).collect();
    let mut prepared =
        converge::prepare_planned(ctx.engine, ctx.project, &opts, &ctx.report, Some(&to_build))
            .await?;
    prepared.recreate = steps.recreate_policies();
    let deadline = Instant::now() + wait;
    executor::up(
        ctx,
        nodes,
        &prepared,
        UpWalk::Converge(opts.recreate),
        deadline,
    )
    .await
}

fn say_supervisor(running: Option<Running>) {
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
