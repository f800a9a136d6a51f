//! One log stream for a set of nodes (containers, every replica by its log name `svc-2`, and
//! host processes, whose output the supervisor's relay writes to `.devstack/logs/`): the
//! history merged by timestamp across all of them, then the new lines of all of them as they
//! come, containers followed across restarts and recreations and new ones picked up as they
//! appear. `devstack logs` prints it; the attached `up` and the dash's log pane show it.
//!
//! ```text
//! let mut stream = LogStream::new(engine, &project, paths, nodes, window);
//! stream.history(|line| …).await?;   // time order, across containers and host processes
//! let mut live = stream.follow();     // then every new line, until `live` is dropped
//! while let Some(line) = live.next().await { … }
//! ```

mod follow;
pub mod history;
mod targets;

use std::collections::{BTreeSet, HashMap};

pub use follow::{Followers, Live};
pub use history::TimeRange;
pub use targets::{copies, Known, Missing, Targets, TargetsError};

use crate::engine::logs::{EngineLines, Line};
use crate::engine::{labels, observed, Engine};
use crate::project::paths::Paths;
use crate::project::Project;
use history::History;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("reading {node}'s log from the engine: {source}")]
    Engine {
        node: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The consumer's own write failed (a closed pipe, for `logs | head`).
    #[error("writing the log: {0}")]
    Write(#[source] std::io::Error),
}

/// One source of lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A container, by its log name (`svc`, `svc-2`) and the engine's name for it.
    Container { key: String, container: String },
    /// A host process: the relay's file (`.devstack/logs/<name>.log`).
    Host { name: String },
    /// A service with no container now: devstack's copy of what its containers printed.
    Gone { key: String },
}

impl Node {
    /// The name its lines carry (and its copy's file name).
    pub fn key(&self) -> &str {
        match self {
            Node::Container { key, .. } | Node::Gone { key } => key,
            Node::Host { name } => name,
        }
    }
}

/// Which lines of the history: the last `tail` of each node, within `since`..`until`
/// (Unix seconds; `until` exclusive).
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub tail: Option<usize>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Whose containers the follow picks up when they appear (a service started after the
/// stream began, a replica added by a scale-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickUp {
    /// Every service of the project.
    All,
    Services(BTreeSet<String>),
}

impl PickUp {
    fn wants(&self, service: &str) -> bool {
        match self {
            PickUp::All => true,
            PickUp::Services(s) => s.contains(service),
        }
    }
}

/// The log stream of a set of nodes: [`history`](LogStream::history), then
/// [`follow`](LogStream::follow).
pub struct LogStream {
    /// None when the engine cannot be reached: devstack's copies only, no containers followed.
    engine: Option<Engine>,
    project: String,
    paths: Paths,
    nodes: Vec<Node>,
    window: Window,
    pick_up: PickUp,
    /// Each node's last timestamp shown by the history.
    shown: HashMap<String, String>,
    /// When the history was read: a node it showed nothing of is followed from here when
    /// its history was cut (`--tail 0`, `--until`).
    read_at: Option<String>,
}

impl LogStream {
    /// The stream of `nodes`; the follow picks up new containers of their services.
    pub fn new(
        engine: Option<Engine>,
        project: &str,
        paths: Paths,
        nodes: Vec<Node>,
        window: Window,
    ) -> LogStream {
        let pick_up = PickUp::Services(
            nodes
                .iter()
                .filter_map(|n| match n {
                    Node::Container { key, .. } | Node::Gone { key } => Some(key.clone()),
                    Node::Host { .. } => None,
                })
                .collect(),
        );
        LogStream {
            engine,
            project: project.to_string(),
            paths,
            nodes,
            window,
            pick_up,
            shown: HashMap::new(),
            read_at: None,
        }
    }

    /// The stream of a loaded project's `names` (services and host processes, as its graph
    /// names them): every running replica of each service, picked up again as they
    /// (re)appear. For the attached `up` and the dash.
    pub async fn of_project(
        engine: &Engine,
        project: &Project,
        names: &[String],
        window: Window,
    ) -> Result<LogStream, LogsError> {
        let containers = observed::list(engine, &project.name)
            .await
            .map_err(|source| LogsError::Engine {
                node: project.name.clone(),
                source,
            })?;
        let mut nodes = Vec::new();
        for name in names {
            if project.graph.is_host(name) {
                nodes.push(Node::Host { name: name.clone() });
                continue;
            }
            nodes.extend(containers.iter().filter(|c| &c.service == name).map(|c| {
                Node::Container {
                    key: labels::log_name(name, c.number),
                    container: c.name.clone(),
                }
            }));
        }
        let services = names.iter().filter(|n| !project.graph.is_host(n));
        let pick_up = PickUp::Services(services.cloned().collect());
        let stream = LogStream::new(
            Some(engine.clone()),
            &project.name,
            project.paths(),
            nodes,
            window,
        );
        Ok(stream.picking_up(pick_up))
    }

    /// Sets whose new containers the follow picks up.
    pub fn picking_up(mut self, pick_up: PickUp) -> LogStream {
        self.pick_up = pick_up;
        self
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Each node's last timestamp the history showed (a consumer that also receives a
    /// node's lines another way skips those at or before it).
    pub fn shown(&self) -> &HashMap<String, String> {
        &self.shown
    }

    /// Hands every line of the history to `emit`, in time order across all the nodes (ties
    /// in the nodes' order). An error of `emit` ends it as [`LogsError::Write`].
    pub async fn history(
        &mut self,
        emit: impl FnMut(&Line) -> std::io::Result<()>,
    ) -> Result<(), LogsError> {
        self.read_at = Some(now_stamp());
        let w = self.window;
        let range = TimeRange::new(w.since, w.until);
        let mut sources = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let copy = self.paths.log(node.key());
            sources.push(match (node, &self.engine) {
                (Node::Container { key, container }, Some(engine)) => {
                    let lines = EngineLines::open(engine, key, container, w.tail, w.since, w.until);
                    History::container(lines, &copy, key, w.tail, &range).await?
                }
                _ => History::copy_only(&copy, node.key(), w.tail, &range),
            });
        }
        self.shown = history::merge(&mut sources, emit).await?;
        Ok(())
    }

    /// Every new line of every node from now on (after what the history showed), on a
    /// channel; the followers stop when the returned [`Live`] is dropped.
    pub fn follow(self) -> Live {
        follow::start(self)
    }

    /// Where a node's follow starts: after its last line shown; for a node the history showed
    /// nothing of, after the window's start, or after the moment the history was read when
    /// that history was cut short (`--tail 0`, `--until`).
    fn follow_after(&self, key: &str) -> String {
        if let Some(ts) = self.shown.get(key) {
            return ts.clone();
        }
        let cut = self.window.tail == Some(0) || self.window.until.is_some();
        match (&self.read_at, cut) {
            (Some(at), true) => at.clone(),
            _ => self.window.since.map(history::stamp).unwrap_or_default(),
        }
    }
}

fn now_stamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::logfile::LogFile;

    fn stream_of_hosts(
        tag: &str,
        names: &[&str],
        window: Window,
    ) -> (std::path::PathBuf, LogStream) {
        let dir =
            std::env::temp_dir().join(format!("devstack-stream-{tag}-{}", std::process::id()));
        let paths = Paths::new(&dir);
        let nodes = names
            .iter()
            .map(|n| Node::Host {
                name: n.to_string(),
            })
            .collect();
        (dir, LogStream::new(None, "p", paths, nodes, window))
    }

    #[tokio::test]
    async fn host_processes_history_in_time_order_then_only_their_new_lines() {
        let (dir, mut stream) = stream_of_hosts("hosts", &["cam", "ticker"], Window::default());
        let mut cam = LogFile::open(&stream.paths.log("cam")).unwrap();
        let mut ticker = LogFile::open(&stream.paths.log("ticker")).unwrap();
        cam.write_line("stdout", "c1").unwrap();
        ticker.write_line("stdout", "t1").unwrap();
        cam.write_line("stderr", "c2").unwrap();
        let mut shown = Vec::new();
        stream
            .history(|l| {
                shown.push(format!("{} {}", l.service, l.text));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(shown, ["cam c1", "ticker t1", "cam c2"]);

        let mut live = stream.follow();
        ticker.write_line("stdout", "t2").unwrap();
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), live.next()).await;
        let line = next.unwrap().unwrap();
        assert_eq!(
            (line.service.as_str(), line.text.as_str()),
            ("ticker", "t2")
        );
        drop(live);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_node_is_followed_after_what_its_history_showed() {
        let window = Window {
            tail: None,
            since: Some(10),
            until: None,
        };
        let (_, mut stream) = stream_of_hosts("after", &["cam"], window);
        stream
            .shown
            .insert("cam".into(), "2026-01-01T00:00:01.000000000Z".into());
        assert_eq!(stream.follow_after("cam"), "2026-01-01T00:00:01.000000000Z");
        // Nothing shown: from the window's start.
        assert_eq!(stream.follow_after("new"), history::stamp(10));
        // A history cut short (`--tail 0`): from when it was read, not from its start.
        stream.window.tail = Some(0);
        stream.read_at = Some("2026-01-01T00:00:09.000000000Z".into());
        assert_eq!(stream.follow_after("new"), "2026-01-01T00:00:09.000000000Z");
    }
}
