//! The engine restarting under a running stack (dockerd stopped and started, a daemon upgrade):
//! its containers come back `exited`, and Docker starts none of them unless they have a
//! restart policy. The supervisor watches the engine; once it answers again after being gone,
//! it walks the graph as `up` does, starting what exists in dependency order and waiting on
//! health (host processes that still run are left as they are), and says why in one line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hosts::Hosts;
use super::{Controls, Shared, SupEvent};
use crate::engine::converge::{Event, Prepared};
use crate::engine::{observed, Engine};
use crate::executor::{self, Ctx, UpWalk};
use crate::project::Project;

const POLL: Duration = Duration::from_secs(1);

pub async fn run(engine: Engine, project: Arc<Project>, shared: Arc<Shared>, controls: Controls) {
    let mut gone_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(POLL).await;
        let answers = engine.docker.ping().await.is_ok();
        match (answers, gone_since) {
            (false, None) => {
                gone_since = Some(Instant::now());
                shared.emit(SupEvent::Note(
                    "engine".into(),
                    "the Docker engine does not answer; the stack comes back when it does".into(),
                ));
            }
            (true, Some(since)) => {
                gone_since = None;
                shared.emit(SupEvent::Note(
                    "engine".into(),
                    format!(
                        "the Docker engine is back after {:.0}s: starting the stack again in dependency order",
                        since.elapsed().as_secs_f64()
                    ),
                ));
                bring_back(&engine, &project, &shared, &controls).await;
            }
            _ => {}
        }
    }
}

async fn bring_back(engine: &Engine, project: &Project, shared: &Shared, controls: &Controls) {
    // The engine answers pings before it has restored its containers' state: wait until it
    // lists them.
    let mut existing = Vec::new();
    for _ in 0..30 {
        match observed::list(engine, &project.name).await {
            Ok(list) => {
                existing = list;
                break;
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
    // What was up: the project's containers, and the host processes that run (or restart).
    let nodes: Vec<String> = project
        .graph
        .order()
        .into_iter()
        .filter(|n| existing.iter().any(|c| &c.service == n) || controls.is_up(n))
        .collect();
    let quiet: crate::engine::converge::Reporter = Arc::new(|_: Event| {});
    let ctx = Ctx::new(engine, project, Hosts::Local(controls.clone()), quiet);
    let prepared = Prepared {
        existing,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    match executor::up(&ctx, &nodes, &prepared, UpWalk::StartOnly, deadline).await {
        Ok(actions) => {
            let started: Vec<&str> = actions
                .iter()
                .filter(|(_, a)| *a != crate::engine::converge::Action::UpToDate)
                .map(|(n, _)| n.as_str())
                .collect();
            shared.emit(SupEvent::Note(
                "engine".into(),
                format!("stack back up ({} started again)", started.join(", ")),
            ));
        }
        Err(e) => shared.emit(SupEvent::Note(
            "engine".into(),
            format!("could not bring the stack back: {e}"),
        )),
    }
}
