//! The one executor: every verb walks the project's one graph of containers and host
//! processes through here (Compose's `dependencies.go`), so the orders cannot drift apart.
//!
//! - [`forward`]: each node is visited at once and waits, through its [`Gate`], until each of
//!   its dependencies reached the stage its condition asks for (started, or ready); independent
//!   nodes go in parallel. `up`, the engine's return and `start` use it.
//! - [`reverse`]: a node is visited once every node that depends on it is done, so stopping is
//!   the exact reverse, in parallel where the graph allows. `down`, `stop` and the attached
//!   stop use it.
//! - [`restart`]: the forward walk over the named nodes and their `restart: true` dependents
//!   ([`Spread::RestartDependents`]): each is restarted once the nodes it follows are ready
//!   (the `restart` verb, auto-heal, `watch`).
//!
//! Which nodes a walk visits is its [`Selection`]; `--dry-run`s visit the same walk without
//! acting ([`restart_plan`], [`stop_plan`], [`plan::plan_up`]).

pub mod plan;
mod restart;
mod select;
mod stop;
mod supervised;
mod up;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::watch;

pub use restart::{
    plan as restart_plan, restart, walk as restart_walk, Restarted, Visited, WouldRestart,
};
pub use select::{present, Selection, Spread};
pub use stop::{plan as stop_plan, stop, StopHow, StopStep};
pub use supervised::Walker;
pub use up::{up, UpWalk};

use crate::engine::converge::Reporter;
use crate::engine::health::Monitor;
use crate::engine::Engine;
use crate::project::graph::Graph;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;

/// What a walk works with: the engine, the project (its graph), the host processes, where
/// progress goes.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    pub hosts: Hosts,
    pub monitor: Monitor,
    pub report: Reporter,
}

impl<'a> Ctx<'a> {
    pub fn new(engine: &'a Engine, project: &'a Project, hosts: Hosts, report: Reporter) -> Self {
        Ctx {
            engine,
            project,
            hosts,
            monitor: Monitor::start(engine, &project.name),
            report,
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.project.graph
    }

    /// The last lines a host process printed (devstack's copy of its output).
    pub fn host_log_tail(&self, name: &str, n: usize) -> Vec<String> {
        let lines = crate::supervisor::logfile::read_lines(&self.project.paths().log(name));
        let skip = lines.len().saturating_sub(n);
        lines
            .into_iter()
            .skip(skip)
            .map(|(_, _, text)| text)
            .collect()
    }
}

/// How far a node of a forward walk has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Its container or process was started.
    Started,
    /// Healthy (with a healthcheck), running (without one), completed (a one-shot job).
    Ready,
}

type Slot = watch::Receiver<Option<bool>>;

/// A node's view of a forward walk: it waits on its dependencies here and says how far it got.
/// Dropping it without saying so tells the dependents it failed.
pub struct Gate {
    started: watch::Sender<Option<bool>>,
    ready: watch::Sender<Option<bool>>,
    others: Arc<HashMap<String, (Slot, Slot)>>,
}

impl Gate {
    /// Whether `dep` reached `stage` (`Some(false)`: it failed first), or `None` when it is not
    /// part of this walk (left out by `--no-deps`/`--no-host`, or already handled).
    pub async fn reached(&self, dep: &str, stage: Stage) -> Option<bool> {
        let (started, ready) = self.others.get(dep)?;
        let mut rx = match stage {
            Stage::Started => started.clone(),
            Stage::Ready => ready.clone(),
        };
        loop {
            if let Some(v) = *rx.borrow_and_update() {
                return Some(v);
            }
            if rx.changed().await.is_err() {
                return Some(false);
            }
        }
    }

    pub fn started(&self) {
        self.started.send_replace(Some(true));
    }

    pub fn ready(&self) {
        self.started
            .send_if_modified(|s| s.replace(true) != Some(true));
        self.ready.send_replace(Some(true));
    }
}

/// Visits every node of `nodes` concurrently; each waits on its dependencies through its gate.
pub async fn forward<T, F, Fut>(nodes: &[String], visit: F) -> Vec<(String, T)>
where
    F: Fn(String, Gate) -> Fut,
    Fut: Future<Output = T>,
{
    let mut senders = Vec::new();
    let mut slots = HashMap::new();
    for n in nodes {
        let (started_tx, started_rx) = watch::channel(None);
        let (ready_tx, ready_rx) = watch::channel(None);
        slots.insert(n.clone(), (started_rx, ready_rx));
        senders.push((n.clone(), started_tx, ready_tx));
    }
    let others = Arc::new(slots);
    let visits = senders.into_iter().map(|(name, started, ready)| {
        let gate = Gate {
            started,
            ready,
            others: others.clone(),
        };
        let fut = visit(name.clone(), gate);
        async move { (name, fut.await) }
    });
    join_all(visits).await
}

/// Visits every node of `nodes` once all nodes that depend on it (among `nodes`) are done.
pub async fn reverse<T, F, Fut>(graph: &Graph, nodes: &[String], visit: F) -> Vec<(String, T)>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = T>,
{
    let mut done_tx = HashMap::new();
    let mut done_rx: HashMap<String, watch::Receiver<bool>> = HashMap::new();
    for n in nodes {
        let (tx, rx) = watch::channel(false);
        done_tx.insert(n.clone(), tx);
        done_rx.insert(n.clone(), rx);
    }
    let visits = nodes.iter().map(|name| {
        let tx = done_tx.remove(name).expect("one per node");
        let waits: Vec<watch::Receiver<bool>> = graph
            .dependents(name)
            .iter()
            .filter(|d| *d != name)
            .filter_map(|d| done_rx.get(d).cloned())
            .collect();
        let fut = visit(name.clone());
        async move {
            for mut rx in waits {
                while !*rx.borrow_and_update() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
            let out = fut.await;
            let _ = tx.send(true);
            (name.clone(), out)
        }
    });
    join_all(visits).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::graph::Graph;
    use std::sync::Mutex;
    use std::time::Duration;

    fn chain() -> Graph {
        // a ← b ← c, and d independent.
        Graph::from_labels(
            [
                ("a", ""),
                ("b", "a:service_started:false"),
                ("c", "b:service_started:false"),
                ("d", ""),
            ]
            .into_iter(),
        )
    }

    #[tokio::test]
    async fn reverse_stops_dependents_first_and_independent_nodes_at_once() {
        let g = chain();
        let log = Mutex::new(Vec::new());
        let nodes: Vec<String> = g.order();
        reverse(&g, &nodes, |n| {
            let log = &log;
            async move {
                log.lock().unwrap().push(format!("{n}>"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                log.lock().unwrap().push(format!("{n}<"));
            }
        })
        .await;
        let log = log.into_inner().unwrap();
        let at = |s: &str| log.iter().position(|l| l == s).unwrap();
        assert!(at("c<") < at("b>") && at("b<") < at("a>"), "{log:?}");
        // d has no dependents: it starts with c, not after a.
        assert!(at("d>") < at("b>"), "{log:?}");
    }

    #[tokio::test]
    async fn forward_waits_on_the_stage_each_dependency_asks_for() {
        let g = chain();
        let log = Mutex::new(Vec::new());
        let nodes = g.order();
        let out = forward(&nodes, |n, gate| {
            let log = &log;
            let g = &g;
            async move {
                for dep in g.get(&n).unwrap().deps.keys() {
                    if gate.reached(dep, Stage::Ready).await != Some(true) {
                        return Err(format!("{dep} failed"));
                    }
                }
                log.lock().unwrap().push(n.clone());
                if n == "b" {
                    return Err("b broke".to_string());
                }
                gate.ready();
                Ok(())
            }
        })
        .await;
        let log = log.into_inner().unwrap();
        assert!(log.contains(&"a".to_string()) && log.contains(&"d".to_string()));
        assert!(
            !log.contains(&"c".to_string()),
            "c must not start after b failed"
        );
        let c = out.iter().find(|(n, _)| n == "c").unwrap();
        assert_eq!(c.1, Err("b failed".to_string()));
    }
}
