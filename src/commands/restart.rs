//! `devstack restart NAME…`: services or host processes (recreated alone when their
//! configuration changed), each waited on until ready, then their `restart: true` dependents
//! of either kind, through the executor.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{GlobalOpts, RestartArgs};
use crate::executor::{self, Ctx, Restarted};
use crate::project::graph::Kind;
use crate::supervisor::hosts::Hosts;
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &RestartArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let names = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let paths = project.paths();
    if a.dry_run {
        crate::outln!(
            "devstack restart --dry-run: the plan for project {}; nothing is changed",
            project.name
        )?;
        // The cascade as `restart` walks it: each node, then its `restart: true` dependents.
        let start: Vec<(String, Option<String>)> =
            names.iter().map(|n| (n.clone(), None)).collect();
        for w in executor::restart_plan(&project.graph, &start).await {
            let kind = match w.kind {
                Kind::Host => "host process",
                Kind::Container => "container",
            };
            let why = w
                .as_dependent_of
                .map(|b| format!(" (declares restart: true on {b})"))
                .unwrap_or_default();
            crate::outln!(
                "  {kind:<12} {}: would be restarted, then waited on{why}",
                w.service
            )?;
        }
        return Ok(0);
    }
    let hosts = if super::supervised(&project).await? {
        Hosts::Socket(paths.clone())
    } else {
        Hosts::Absent(
            "no supervisor runs for this project (start one with `devstack up -d` or `devstack up`)"
                .into(),
        )
    };
    let ctx = Ctx::new(&engine, &project, hosts, Arc::new(|_| {}));
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
        Duration::from_secs(a.wait_timeout),
        a.timeout.map(Duration::from_secs),
        &print,
    )
    .await?;
    Ok(0)
}
