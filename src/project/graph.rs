//! The one dependency graph of a project: its services (containers) and its host processes
//! (`x-devstack.host`). Edges are a service's `depends_on`, its `x-devstack.depends_on` (on host
//! processes) and a host process's `depends_on` (on services or other host processes); a
//! condition and `restart: true` mean the same whatever the kinds at either end.
//!
//! Validation (unknown names, cycles printed as their whole path) and the orders every verb
//! walks in live here; the walking itself is `crate::executor`.

use indexmap::{IndexMap, IndexSet};
use serde::Serialize;

use super::model::{ComposeModel, Condition, Dependency};
use super::ProjectError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Container,
    Host,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Host => "host",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: Kind,
    /// What it depends on, of either kind.
    pub deps: IndexMap<String, Dependency>,
    /// A disabled host process (no camera): dependencies on it hold at once, with a note.
    pub disabled: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    nodes: IndexMap<String, Node>,
}

impl Graph {
    /// The graph of a parsed model (call [`validate`] first for its errors).
    pub fn new(model: &ComposeModel) -> Graph {
        let mut nodes = IndexMap::new();
        for (name, svc) in &model.services {
            let mut deps = svc.depends_on.clone();
            deps.extend(svc.host_depends_on.clone());
            nodes.insert(
                name.clone(),
                Node {
                    name: name.clone(),
                    kind: Kind::Container,
                    deps,
                    disabled: None,
                },
            );
        }
        for (name, h) in &model.x_devstack.host {
            nodes.insert(
                name.clone(),
                Node {
                    name: name.clone(),
                    kind: Kind::Host,
                    deps: h.depends_on.clone(),
                    disabled: (!h.enabled).then(|| {
                        h.disabled_reason
                            .clone()
                            .unwrap_or_else(|| "enabled: false".into())
                    }),
                },
            );
        }
        Graph { nodes }
    }

    /// A graph of containers only, from their `com.docker.compose.depends_on` labels
    /// (`name:condition:restart,…`): what `down` walks when the templates no longer render.
    pub fn from_labels<'a>(containers: impl Iterator<Item = (&'a str, &'a str)>) -> Graph {
        let mut nodes = IndexMap::new();
        let list: Vec<(&str, &str)> = containers.collect();
        for (service, label) in &list {
            let mut deps = IndexMap::new();
            for item in label.split(',') {
                let mut parts = item.split(':');
                let Some(dep) = parts.next().filter(|d| !d.is_empty() && d != service) else {
                    continue;
                };
                let condition = match parts.next() {
                    Some("service_healthy") => Condition::ServiceHealthy,
                    Some("service_completed_successfully") => {
                        Condition::ServiceCompletedSuccessfully
                    }
                    _ => Condition::ServiceStarted,
                };
                let restart = parts.next() == Some("true");
                if list.iter().any(|(s, _)| s == &dep) {
                    deps.insert(
                        dep.to_string(),
                        Dependency {
                            condition,
                            restart,
                            required: true,
                        },
                    );
                }
            }
            nodes.insert(
                service.to_string(),
                Node {
                    name: service.to_string(),
                    kind: Kind::Container,
                    deps,
                    disabled: None,
                },
            );
        }
        Graph { nodes }
    }

    /// Adds a node without dependencies (a host process known only from the supervisor's
    /// state when the templates do not render).
    pub fn add_leaf(&mut self, name: &str, kind: Kind) {
        self.nodes.entry(name.to_string()).or_insert(Node {
            name: name.to_string(),
            kind,
            deps: IndexMap::new(),
            disabled: None,
        });
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    pub fn get(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    pub fn kind(&self, name: &str) -> Option<Kind> {
        self.nodes.get(name).map(|n| n.kind)
    }

    pub fn is_host(&self, name: &str) -> bool {
        self.kind(name) == Some(Kind::Host)
    }

    /// `roots` plus everything they transitively depend on, dependencies first.
    pub fn with_dependencies(&self, roots: &[String]) -> Vec<String> {
        let mut out: IndexSet<String> = IndexSet::new();
        fn add(n: &str, g: &Graph, out: &mut IndexSet<String>) {
            if out.contains(n) {
                return;
            }
            if let Some(node) = g.nodes.get(n) {
                for dep in node.deps.keys() {
                    add(dep, g, out);
                }
                out.insert(n.to_string());
            }
        }
        for r in roots {
            add(r, self, &mut out);
        }
        out.into_iter().collect()
    }

    /// Every node, dependencies first.
    pub fn order(&self) -> Vec<String> {
        self.with_dependencies(&self.nodes.keys().cloned().collect::<Vec<_>>())
    }

    /// Nodes that depend on `name` directly.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.deps.contains_key(name))
            .map(|n| n.name.clone())
            .collect()
    }

    /// Nodes that declare `restart: true` on `name` itself (their own dependents follow from
    /// their restart).
    pub fn direct_restart_dependents(&self, name: &str) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.deps.get(name).is_some_and(|d| d.restart))
            .map(|n| n.name.clone())
            .collect()
    }

    /// Nodes that declare `restart: true` on `name`, transitively, dependencies first.
    pub fn restart_dependents(&self, name: &str) -> Vec<String> {
        let mut out: IndexSet<String> = IndexSet::new();
        let mut queue = vec![name.to_string()];
        while let Some(cur) = queue.pop() {
            for n in self.nodes.values() {
                if n.deps.get(&cur).is_some_and(|d| d.restart) && out.insert(n.name.clone()) {
                    queue.push(n.name.clone());
                }
            }
        }
        self.order()
            .into_iter()
            .filter(|s| out.contains(s))
            .collect()
    }

    /// Services waited on with `service_completed_successfully`: one-shot jobs.
    pub fn one_shot_jobs(&self) -> IndexSet<String> {
        self.nodes
            .values()
            .flat_map(|n| n.deps.iter())
            .filter(|(_, d)| d.condition == Condition::ServiceCompletedSuccessfully)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Checks that every dependency names a service or host process, that no name is both, and
/// that there is no cycle, across kinds (printed as its whole path).
pub fn validate(model: &ComposeModel) -> Result<(), ProjectError> {
    for name in model.x_devstack.host.keys() {
        if model.services.contains_key(name) {
            return Err(ProjectError(format!(
                "x-devstack.host.{name}: `{name}` is also a service; give the host process another name"
            )));
        }
    }
    let graph = Graph::new(model);
    check_references(model, &graph)?;
    check_acyclic(&graph)
}

/// Every dependency names a known service or host process.
fn check_references(model: &ComposeModel, graph: &Graph) -> Result<(), ProjectError> {
    let known = || {
        graph
            .nodes
            .values()
            .map(|n| match n.kind {
                Kind::Container => n.name.clone(),
                Kind::Host => format!("{} (host)", n.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, svc) in &model.services {
        for dep in svc.depends_on.keys() {
            if !model.services.contains_key(dep) {
                let hint = if model.x_devstack.host.contains_key(dep) {
                    format!(
                        " — `{dep}` is a host process: declare it under the service's `x-devstack: {{ depends_on: {{ {dep}: … }} }}`, which Compose ignores"
                    )
                } else {
                    String::new()
                };
                return Err(ProjectError(format!(
                    "service `{name}` depends on unknown service `{dep}`{hint} (services: {})",
                    model
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        for dep in svc.host_depends_on.keys() {
            if graph.get(dep).is_none() {
                return Err(ProjectError(format!(
                    "services.{name}.x-devstack.depends_on: unknown host process or service `{dep}` (known: {})",
                    known()
                )));
            }
        }
    }
    for (name, h) in &model.x_devstack.host {
        for dep in h.depends_on.keys() {
            if graph.get(dep).is_none() {
                return Err(ProjectError(format!(
                    "x-devstack.host.{name}.depends_on: unknown service or host process `{dep}` (known: {})",
                    known()
                )));
            }
        }
    }
    Ok(())
}

/// No dependency cycle: a depth-first search with a stack, so a cycle is named by its path.
fn check_acyclic(graph: &Graph) -> Result<(), ProjectError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: IndexMap<&str, Mark> = graph
        .nodes
        .keys()
        .map(|k| (k.as_str(), Mark::New))
        .collect();
    fn visit<'a>(
        n: &'a str,
        g: &'a Graph,
        marks: &mut IndexMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), ProjectError> {
        match marks[n] {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(n);
                let shown: Vec<String> = cycle
                    .iter()
                    .map(|c| match g.kind(c) {
                        Some(Kind::Host) => format!("{c} (host)"),
                        _ => c.to_string(),
                    })
                    .collect();
                return Err(ProjectError(format!(
                    "dependency cycle: {} (remove one of these depends_on entries)",
                    shown.join(" → ")
                )));
            }
            Mark::New => {}
        }
        marks.insert(n, Mark::Active);
        path.push(n);
        for dep in g.nodes[n].deps.keys() {
            visit(dep, g, marks, path)?;
        }
        path.pop();
        marks.insert(n, Mark::Done);
        Ok(())
    }
    for name in graph.nodes.keys() {
        visit(name, graph, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::model::{HostProcess, Service};

    fn dep(condition: Condition, restart: bool) -> Dependency {
        Dependency {
            condition,
            restart,
            required: true,
        }
    }

    fn host(name: &str, deps: &[(&str, Dependency)]) -> HostProcess {
        HostProcess {
            name: name.into(),
            command: vec!["true".into()],
            environment: IndexMap::new(),
            working_dir: None,
            depends_on: deps
                .iter()
                .map(|(n, d)| (n.to_string(), d.clone()))
                .collect(),
            restart: "no".into(),
            healthcheck: None,
            enabled: true,
            disabled_reason: None,
        }
    }

    /// redis ← camera (host) ← consumer (container, via x-devstack.depends_on).
    fn camera_model() -> ComposeModel {
        let mut m = ComposeModel::default();
        m.services.insert(
            "redis".into(),
            Service {
                name: "redis".into(),
                ..Default::default()
            },
        );
        let mut consumer = Service {
            name: "consumer".into(),
            ..Default::default()
        };
        consumer
            .depends_on
            .insert("redis".into(), dep(Condition::ServiceHealthy, false));
        consumer
            .host_depends_on
            .insert("camera".into(), dep(Condition::ServiceHealthy, true));
        m.services.insert("consumer".into(), consumer);
        m.x_devstack.host.insert(
            "camera".into(),
            host("camera", &[("redis", dep(Condition::ServiceHealthy, true))]),
        );
        m
    }

    #[test]
    fn one_graph_orders_containers_and_host_processes_together() {
        let m = camera_model();
        validate(&m).unwrap();
        let g = Graph::new(&m);
        assert_eq!(g.order(), vec!["redis", "camera", "consumer"]);
        assert_eq!(
            g.with_dependencies(&["consumer".into()]),
            vec!["redis", "camera", "consumer"]
        );
        assert_eq!(g.restart_dependents("redis"), vec!["camera", "consumer"]);
        assert_eq!(g.restart_dependents("camera"), vec!["consumer"]);
        assert_eq!(g.kind("camera"), Some(Kind::Host));
        let mut d = g.dependents("redis");
        d.sort();
        assert_eq!(d, vec!["camera", "consumer"]);
    }

    #[test]
    fn a_cycle_across_kinds_is_printed_as_its_path() {
        let mut m = camera_model();
        m.services
            .get_mut("redis")
            .unwrap()
            .host_depends_on
            .insert("camera".into(), dep(Condition::ServiceStarted, false));
        let e = validate(&m).unwrap_err().0;
        assert!(
            e.contains("redis → camera (host) → redis")
                || e.contains("camera (host) → redis → camera (host)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_host_dependencies_name_what_exists() {
        let mut m = camera_model();
        m.services
            .get_mut("consumer")
            .unwrap()
            .host_depends_on
            .insert("kinect".into(), dep(Condition::ServiceStarted, false));
        let e = validate(&m).unwrap_err().0;
        assert!(e.contains("services.consumer.x-devstack.depends_on"), "{e}");
        assert!(e.contains("`kinect`") && e.contains("camera (host)"), "{e}");
        // A host process named in a service's plain depends_on says where it belongs.
        let mut m = camera_model();
        m.services
            .get_mut("consumer")
            .unwrap()
            .depends_on
            .insert("camera".into(), dep(Condition::ServiceStarted, false));
        let e = validate(&m).unwrap_err().0;
        assert!(e.contains("is a host process"), "{e}");
    }

    #[test]
    fn labels_give_down_an_order_when_templates_do_not_render() {
        let g = Graph::from_labels(
            [
                ("web", "api:service_healthy:false"),
                ("api", "db:service_started:false,gone:service_started:false"),
                ("db", ""),
            ]
            .into_iter(),
        );
        assert_eq!(g.order(), vec!["db", "api", "web"]);
    }
}
