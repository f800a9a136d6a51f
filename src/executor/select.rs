//! Which nodes a walk visits, written once: the named nodes as each verb spreads them (`up`
//! with what they depend on, `restart` with their `restart: true` dependents, `stop`, `start`
//! and `down` exactly), always in dependency order.

use crate::engine::observed::ContainerState;
use crate::project::graph::Graph;
use crate::project::Project;

/// How far a selection reaches from the named nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// The named nodes; every node when none are named (`stop`, `start`, `down`).
    Exactly,
    /// The named nodes, or every active one, and everything they depend on (`up`).
    Dependencies,
    /// The named nodes and the nodes that declare `restart: true` on them, transitively
    /// (`restart`, auto-heal).
    RestartDependents,
}

#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub named: &'a [String],
    pub spread: Spread,
}

impl<'a> Selection<'a> {
    pub fn exactly(named: &'a [String]) -> Self {
        Selection {
            named,
            spread: Spread::Exactly,
        }
    }

    pub fn with_dependencies(named: &'a [String]) -> Self {
        Selection {
            named,
            spread: Spread::Dependencies,
        }
    }

    pub fn with_restart_dependents(named: &'a [String]) -> Self {
        Selection {
            named,
            spread: Spread::RestartDependents,
        }
    }

    /// The selected nodes of `project`, dependencies first.
    pub fn nodes(&self, project: &Project) -> Vec<String> {
        match self.spread {
            Spread::Dependencies if self.named.is_empty() => project
                .graph
                .with_dependencies(&crate::engine::converge::active_services(project)),
            _ => self.nodes_of(&project.graph),
        }
    }

    /// The same on a bare graph (`Dependencies` with none named: every node).
    pub fn nodes_of(&self, graph: &Graph) -> Vec<String> {
        let order = graph.order();
        match self.spread {
            Spread::Exactly => order
                .into_iter()
                .filter(|n| self.named.is_empty() || self.named.contains(n))
                .collect(),
            Spread::Dependencies if self.named.is_empty() => order,
            Spread::Dependencies => graph.with_dependencies(self.named),
            Spread::RestartDependents => {
                let reached: Vec<String> = self
                    .named
                    .iter()
                    .flat_map(|n| graph.restart_dependents(n))
                    .collect();
                order
                    .into_iter()
                    .filter(|n| self.named.contains(n) || reached.contains(n))
                    .collect()
            }
        }
    }
}

/// The nodes with something to act on: host processes, and services that have a container.
pub fn present(graph: &Graph, nodes: Vec<String>, containers: &[ContainerState]) -> Vec<String> {
    nodes
        .into_iter()
        .filter(|n| graph.is_host(n) || containers.iter().any(|c| &c.service == n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> Graph {
        // db ← api (restart: true) ← web (restart: true); worker needs api, no restart.
        Graph::from_labels(
            [
                ("db", ""),
                ("api", "db:service_healthy:true"),
                ("web", "api:service_started:true"),
                ("worker", "api:service_started:false"),
                ("other", ""),
            ]
            .into_iter(),
        )
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exactly_keeps_the_named_in_dependency_order_or_all() {
        let g = graph();
        let named = names(&["web", "db"]);
        assert_eq!(
            Selection::exactly(&named).nodes_of(&g),
            names(&["db", "web"])
        );
        assert_eq!(Selection::exactly(&[]).nodes_of(&g), g.order());
    }

    #[test]
    fn dependencies_pull_in_what_the_named_need() {
        let g = graph();
        let named = names(&["web"]);
        assert_eq!(
            Selection::with_dependencies(&named).nodes_of(&g),
            names(&["db", "api", "web"])
        );
    }

    #[test]
    fn restart_dependents_follow_only_restart_true_edges() {
        let g = graph();
        let named = names(&["db"]);
        assert_eq!(
            Selection::with_restart_dependents(&named).nodes_of(&g),
            names(&["db", "api", "web"])
        );
        let named = names(&["worker", "other"]);
        assert_eq!(
            Selection::with_restart_dependents(&named).nodes_of(&g),
            names(&["worker", "other"])
        );
    }
}
