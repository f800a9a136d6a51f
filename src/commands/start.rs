//! `devstack start [SVC…]`: start existing containers and host processes again through the
//! executor's forward walk (each the moment its dependencies among those started hold, waited
//! on until ready), creating and recreating nothing: `up` does that. Named nodes only, as
//! Compose starts only the named services; all when none are named. Host processes are
//! started by the project's supervisor, which `devstack up -d` (or an attached `up`) runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::{GlobalOpts, StartArgs};
use crate::engine::converge::{Event, Prepared, Reporter};
use crate::engine::observed;
use crate::executor::{self, Ctx, Selection, UpWalk};
use crate::supervisor::hosts::Hosts;
use crate::ui::color;
use crate::ui::progress::Progress;

pub async fn run(g: &GlobalOpts, a: &StartArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let named = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let existing = observed::list(&engine, &project.name).await?;
    let paths = project.paths();
    let mut nodes = Selection::exactly(&named).nodes(&project);
    let host_nodes: Vec<String> = nodes
        .iter()
        .filter(|n| project.graph.is_host(n))
        .cloned()
        .collect();
    let supervised = super::supervised(&project).await?;
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
    let hosts = if supervised {
        Hosts::Socket(paths)
    } else {
        Hosts::Absent("no supervisor runs".into())
    };
    let progress = Arc::new(Progress::new(&nodes, g.verbose > 0));
    let p = progress.clone();
    let reporter: Reporter = Arc::new(move |ev: Event| p.event(&ev));
    let ctx = Ctx::new(&engine, &project, hosts, reporter);
    let prepared = Prepared {
        existing,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(a.wait_timeout);
    match executor::up(&ctx, &nodes, &prepared, UpWalk::StartOnly, deadline).await {
        Ok(actions) => {
            let started = actions
                .iter()
                .filter(|(_, act)| *act != crate::engine::converge::Action::UpToDate)
                .count();
            progress.finish(actions.len(), started);
            Ok(0)
        }
        Err(e) => {
            progress.abandon();
            Err(e.into())
        }
    }
}
