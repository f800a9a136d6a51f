//! The engine restarting under a running stack (dockerd stopped and started, a daemon upgrade):
//! its containers come back `exited`, and Docker starts none of them unless they have a
//! restart policy. The supervisor watches the engine; once it answers again after being gone,
//! it walks the graph as `up` does, starting what exists in dependency order and waiting on
//! health (host processes that still run are left as they are), and says why in one line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::walks::Walks;
use super::{Controls, Shared, SupEvent};
use crate::engine::{observed, Engine};
use crate::project::Project;

const POLL: Duration = Duration::from_secs(1);

pub async fn run(
    engine: Engine,
    project: Arc<Project>,
    shared: Arc<Shared>,
    controls: Controls,
    walks: Arc<dyn Walks>,
) {
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
                bring_back(&engine, &project, &shared, &controls, walks.as_ref()).await;
            }
            _ => {}
        }
    }
}

async fn bring_back(
    engine: &Engine,
    project: &Project,
    shared: &Shared,
    controls: &Controls,
    walks: &dyn Walks,
) {
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
    match walks
        .bring_back(engine, project, controls.clone(), existing)
        .await
    {
        Ok(started) => shared.emit(SupEvent::Note(
            "engine".into(),
            format!("stack back up ({} started again)", started.join(", ")),
        )),
        Err(e) => shared.emit(SupEvent::Note(
            "engine".into(),
            format!("could not bring the stack back: {e}"),
        )),
    }
}
