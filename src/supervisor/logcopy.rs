//! devstack's own copy of every container's log under `.devstack/logs/<service>.log` (further
//! replicas: `<service>-N.log`), kept
//! while a supervisor runs, so history survives recreation and `down` (the engine's copy goes
//! with the container).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::logfile::{read_lines, LogFile};
use crate::engine::logs::{follow, Line};
use crate::engine::{labels, Engine};
use crate::project::Project;

pub async fn run(engine: Engine, project: Arc<Project>) {
    let paths = project.paths();
    let mut tasks = Vec::new();
    for (name, svc) in &project.model.services {
        for n in 1..=svc.replicas {
            let key = labels::log_name(name, n);
            let container = project.container_name(name, n);
            tasks.push(tokio::spawn(copy(
                engine.clone(),
                key.clone(),
                container,
                paths.log(&key),
            )));
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn copy(engine: Engine, service: String, container: String, path: PathBuf) {
    let Ok(mut file) = LogFile::open(&path) else {
        return;
    };
    // Resume after the last line already copied.
    let after = read_lines(&path)
        .last()
        .map(|(ts, _, _)| ts.clone())
        .unwrap_or_default();
    let (tx, mut rx) = mpsc::channel::<Line>(1024);
    tokio::spawn(follow(engine, service, container, after, tx));
    while let Some(l) = rx.recv().await {
        let _ = file.write_at(&l.ts, l.stream, &l.text);
    }
}
