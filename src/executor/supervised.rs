//! The walks the supervisor asks for ([`crate::supervisor::walks::Walks`]), done here, above
//! it: auto-heal's dependents follow through [`super::restart`], the engine's return goes
//! through [`super::up`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::{present, restart, up, Ctx, Restarted, Selection, UpWalk};
use crate::engine::converge::{Action, Prepared, Reporter};
use crate::engine::observed::ContainerState;
use crate::engine::Engine;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::supervisor::walks::{Followed, Walks};
use crate::supervisor::Controls;

/// The executor's side of [`Walks`]: pass `Arc::new(Walker)` to a supervisor.
pub struct Walker;

fn quiet() -> Reporter {
    Arc::new(|_| {})
}

impl Walks for Walker {
    fn restart_dependents<'a>(
        &'a self,
        engine: &'a Engine,
        project: &'a Project,
        controls: Controls,
        service: &'a str,
    ) -> BoxFuture<'a, Vec<Followed>> {
        Box::pin(async move {
            let ctx = Ctx::new(engine, project, Hosts::Local(controls), quiet());
            let direct: Vec<(String, Option<String>)> = project
                .graph
                .direct_restart_dependents(service)
                .into_iter()
                .map(|d| (d, Some(service.to_string())))
                .collect();
            let done = std::sync::Mutex::new(Vec::new());
            let note = |r: &Restarted| {
                done.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Followed {
                        service: r.service.clone(),
                        because: r.as_dependent_of.clone(),
                        skipped: r.skipped,
                        state: r.state.clone(),
                    })
            };
            let timeout = Duration::from_secs(120);
            let _ = restart(&ctx, direct, false, timeout, None, &note).await;
            done.into_inner().unwrap_or_else(|e| e.into_inner())
        })
    }

    fn bring_back<'a>(
        &'a self,
        engine: &'a Engine,
        project: &'a Project,
        controls: Controls,
        existing: Vec<ContainerState>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            // What was up: the project's containers, and the host processes that run (or
            // restart).
            let nodes: Vec<String> = present(
                &project.graph,
                Selection::exactly(&[]).nodes(project),
                &existing,
            )
            .into_iter()
            .filter(|n| !project.graph.is_host(n) || controls.is_up(n))
            .collect();
            let ctx = Ctx::new(engine, project, Hosts::Local(controls), quiet());
            let prepared = Prepared {
                existing,
                ..Default::default()
            };
            let deadline = Instant::now() + Duration::from_secs(600);
            let actions = up(&ctx, &nodes, &prepared, UpWalk::StartOnly, deadline)
                .await
                .map_err(|e| e.to_string())?;
            Ok(actions
                .into_iter()
                .filter(|(_, a)| *a != Action::UpToDate)
                .map(|(n, _)| n)
                .collect())
        })
    }
}
