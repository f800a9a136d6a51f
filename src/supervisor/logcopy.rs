//! devstack's own copy of every container's log under `.devstack/logs/<service>.log`, kept
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
    for name in project.model.services.keys() {
        let path = paths.log(name);
        let container = labels::container_name(&project.name, name);
        tasks.push(tokio::spawn(copy(
            engine.clone(),
            name.clone(),
            container,
            path,
        )));
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
