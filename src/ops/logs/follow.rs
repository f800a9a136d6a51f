//! The live half of the log stream: a follower per node (containers re-attached across
//! restarts and recreations by `engine::logs::follow`, host processes' files polled), and a
//! watcher that starts followers for containers that appear.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{history::copy_line, LogStream, Node};
use crate::engine::logs::{follow, Line};
use crate::engine::{labels, observed, Engine};

/// How often a host process's file is looked at (local: a stat costs nothing).
const FILE_POLL: Duration = Duration::from_millis(200);
/// How often the project's containers are listed for new ones.
const DISCOVER: Duration = Duration::from_secs(1);

/// New lines of every node, as they come; dropping it stops the followers.
pub struct Live {
    lines: mpsc::Receiver<Line>,
    tasks: Followers,
}

impl Live {
    /// The next line of any node; `None` when nothing can send any more (no engine and no
    /// host process to follow).
    pub async fn next(&mut self) -> Option<Line> {
        self.lines.recv().await
    }

    /// The channel itself, for a consumer that selects over it; the followers stop when
    /// the returned guard is dropped.
    pub fn split(self) -> (mpsc::Receiver<Line>, Followers) {
        (self.lines, self.tasks)
    }
}

/// The follower tasks, stopped together when dropped.
#[derive(Default)]
pub struct Followers(Vec<JoinHandle<()>>);

impl Drop for Followers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

pub(super) fn start(stream: LogStream) -> Live {
    let (tx, rx) = mpsc::channel::<Line>(1024);
    let mut tasks = Followers::default();
    let mut followed = HashSet::new();
    for node in &stream.nodes {
        let after = stream.follow_after(node.key());
        match (node, &stream.engine) {
            (Node::Container { key, container }, Some(engine)) => {
                followed.insert(key.clone());
                let f = follow(
                    engine.clone(),
                    key.clone(),
                    container.clone(),
                    after,
                    tx.clone(),
                );
                tasks.0.push(tokio::spawn(f));
            }
            (Node::Host { name }, _) => {
                let path = stream.paths.log(name);
                tasks.0.push(tokio::spawn(follow_file(
                    path,
                    name.clone(),
                    after,
                    tx.clone(),
                )));
            }
            _ => {}
        }
    }
    if let Some(engine) = stream.engine.clone() {
        tasks
            .0
            .push(tokio::spawn(discover(engine, stream, followed, tx)));
    }
    Live { lines: rx, tasks }
}

/// Follows the containers of the stream's services that appear later (a service started
/// after the stream began, a new replica), each from its first line.
async fn discover(
    engine: Engine,
    stream: LogStream,
    mut followed: HashSet<String>,
    tx: mpsc::Sender<Line>,
) {
    // Owned here: aborting this task drops them, which aborts them.
    let mut tasks = Followers::default();
    loop {
        tokio::time::sleep(DISCOVER).await;
        if tx.is_closed() {
            return;
        }
        let Ok(containers) = observed::list(&engine, &stream.project).await else {
            continue;
        };
        for c in containers
            .iter()
            .filter(|c| stream.pick_up.wants(&c.service))
        {
            let key = labels::log_name(&c.service, c.number);
            if followed.insert(key.clone()) {
                let after = stream.follow_after(&key);
                let f = follow(engine.clone(), key, c.name.clone(), after, tx.clone());
                tasks.0.push(tokio::spawn(f));
            }
        }
    }
}

/// Follows a host process's log file as the relay appends to it, across rotation.
async fn follow_file(path: PathBuf, name: String, after: String, tx: mpsc::Sender<Line>) {
    let mut follower = crate::supervisor::logfile::Follower::new(&path);
    loop {
        for (ts, stream, text) in follower.poll() {
            if ts <= after {
                continue;
            }
            if tx.send(copy_line(&name, ts, &stream, text)).await.is_err() {
                return;
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(FILE_POLL).await;
    }
}
