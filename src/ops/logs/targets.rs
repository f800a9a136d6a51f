//! Which nodes `devstack logs NAME…` reads: names resolved against everything the project
//! knows (its containers, its host processes, devstack's copies, the rendered model), each
//! container by its log name (`svc`, `svc-2` for further replicas).

use std::collections::BTreeSet;

use super::{Node, PickUp};
use crate::engine::labels;
use crate::engine::observed::ContainerState;
use crate::errors::{ProjectError, UsageError};
use crate::project::model::ComposeModel;
use crate::project::paths::Paths;

/// Why names could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// Nothing ran and the configuration does not load: its error is the cause.
    #[error("no such service: `{name}`: project {project} has no containers and no devstack log copies, and its configuration does not load")]
    Unloadable {
        name: String,
        project: String,
        #[source]
        cause: ProjectError,
    },
    #[error(transparent)]
    Usage(#[from] UsageError),
}

/// What the project knows of, to resolve names against.
pub struct Known<'a> {
    /// The project's containers, as the engine lists them (empty without an engine).
    pub containers: &'a [ContainerState],
    /// The rendered model, when the configuration loads.
    pub model: Option<&'a ComposeModel>,
    /// Why it does not load, when it does not.
    pub load_error: Option<ProjectError>,
}

/// A named service or host process with nothing to show yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    pub host: bool,
}

/// The nodes to read, and what to say about the names that have none.
#[derive(Debug)]
pub struct Targets {
    pub nodes: Vec<Node>,
    /// The services and host processes shown (for the prefix width).
    pub wanted: Vec<String>,
    /// Named, with no container and no copy yet.
    pub missing: Vec<Missing>,
    /// Whose containers the follow picks up as they appear.
    pub pick_up: PickUp,
}

impl Targets {
    /// Resolves `names` (all when empty; unique prefixes and aliases as everywhere).
    /// `follow` adds what the model has that has not run yet: followed from its first line.
    pub fn resolve(
        project: &str,
        paths: &Paths,
        known: Known<'_>,
        names: &[String],
        follow: bool,
    ) -> Result<Targets, TargetsError> {
        let hosts = ran_hosts(paths);
        let copies = copies(paths);
        let model_hosts: Vec<String> = known
            .model
            .map(|m| m.x_devstack.host.keys().cloned().collect())
            .unwrap_or_default();
        let model_services: Vec<String> = known
            .model
            .map(|m| m.services.keys().cloned().collect())
            .unwrap_or_default();
        let from_model = |v: &[String]| if follow { v.to_vec() } else { Vec::new() };
        let all = sorted(
            known
                .containers
                .iter()
                .map(|c| c.service.clone())
                .chain(hosts.iter().cloned())
                .chain(copies)
                .chain(from_model(&model_services))
                .chain(from_model(&model_hosts)),
        );
        // A named service that has not started yet is still a service.
        let resolvable = sorted(
            all.iter()
                .chain(&model_services)
                .chain(&model_hosts)
                .cloned(),
        );
        let wanted = if names.is_empty() {
            all
        } else if resolvable.is_empty() {
            let name = names[0].clone();
            let project = project.to_string();
            return Err(match known.load_error {
                Some(cause) => TargetsError::Unloadable { name, project, cause },
                None => UsageError(format!(
                    "no such service: `{name}`: project {project} has no containers and no devstack log copies"
                ))
                .into(),
            });
        } else {
            let aliases = known
                .model
                .map(|m| m.x_devstack.aliases.clone())
                .unwrap_or_default();
            names
                .iter()
                .map(|n| crate::project::resolve_name(n, resolvable.iter(), &aliases))
                .collect::<Result<_, _>>()?
        };
        let is_host = |n: &str| hosts.iter().chain(&model_hosts).any(|h| h == n);
        let nodes = nodes(known.containers, &wanted, &is_host);
        let has_container = |w: &str| known.containers.iter().any(|c| c.service == w);
        let missing = if names.is_empty() {
            Vec::new()
        } else {
            wanted
                .iter()
                .filter(|w| !has_container(w) && !paths.log(w).exists())
                .map(|w| Missing {
                    name: w.clone(),
                    host: is_host(w),
                })
                .collect()
        };
        let pick_up = match names.is_empty() {
            true => PickUp::All,
            false => PickUp::Services(wanted.iter().filter(|w| !is_host(w)).cloned().collect()),
        };
        Ok(Targets {
            nodes,
            wanted,
            missing,
            pick_up,
        })
    }

    /// Whether every name given has nothing to show (`logs` then exits 1 unless following).
    pub fn nothing_to_show(&self) -> bool {
        !self.missing.is_empty() && self.missing.len() == self.wanted.len()
    }
}

/// The wanted names as nodes: each container by its log name, host processes, and services
/// whose containers are gone (their copy remains).
fn nodes(
    containers: &[ContainerState],
    wanted: &[String],
    is_host: &dyn Fn(&str) -> bool,
) -> Vec<Node> {
    let mut nodes: Vec<Node> = containers
        .iter()
        .filter(|c| wanted.contains(&c.service))
        .map(|c| Node::Container {
            key: labels::log_name(&c.service, c.number),
            container: c.name.clone(),
        })
        .collect();
    for w in wanted {
        // A replica's copy (`svc-2`) is read with its container when it still has one.
        let read = nodes.iter().any(|n| n.key() == w);
        if is_host(w) {
            nodes.push(Node::Host { name: w.clone() });
        } else if !read && !containers.iter().any(|c| &c.service == w) {
            nodes.push(Node::Gone { key: w.clone() });
        }
    }
    nodes
}

/// Host processes a supervisor has run (its state file).
fn ran_hosts(paths: &Paths) -> Vec<String> {
    crate::supervisor::state::State::load(paths)
        .host
        .into_keys()
        .collect()
}

/// devstack's own copies (.devstack/logs/<name>.log): host processes, and containers'
/// history kept by the supervisor, readable after recreation and `down`.
pub fn copies(paths: &Paths) -> Vec<String> {
    std::fs::read_dir(paths.logs_dir())
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".log")
                        .map(str::to_string)
                })
                .filter(|n| n != "supervisor")
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(names: impl Iterator<Item = String>) -> Vec<String> {
    names.collect::<BTreeSet<_>>().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, number: u32) -> ContainerState {
        ContainerState {
            service: service.into(),
            number,
            name: format!("p-{service}-{number}"),
            ..Default::default()
        }
    }

    /// A project directory whose `.devstack/logs/` holds copies of `copies`.
    fn project_with_copies(tag: &str, copies: &[&str]) -> (std::path::PathBuf, Paths) {
        let dir =
            std::env::temp_dir().join(format!("devstack-targets-{tag}-{}", std::process::id()));
        let paths = Paths::new(&dir);
        std::fs::create_dir_all(paths.logs_dir()).unwrap();
        for c in copies {
            std::fs::write(paths.log(c), "").unwrap();
        }
        (dir, paths)
    }

    fn known(containers: &[ContainerState]) -> Known<'_> {
        Known {
            containers,
            model: None,
            load_error: None,
        }
    }

    #[test]
    fn every_replica_once_and_gone_services_by_their_copy() {
        let (dir, paths) = project_with_copies("all", &["api", "api-2", "old", "supervisor"]);
        let containers = [container("api", 1), container("api", 2)];
        let t = Targets::resolve("p", &paths, known(&containers), &[], false).unwrap();
        let keys: Vec<&str> = t.nodes.iter().map(Node::key).collect();
        // `api-2`'s copy is read with its container, not a second time; `old` has only its copy.
        assert_eq!(keys, ["api", "api-2", "old"]);
        assert_eq!(t.nodes[2], Node::Gone { key: "old".into() });
        assert_eq!(t.pick_up, PickUp::All);
        assert!(t.missing.is_empty() && !t.nothing_to_show());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_resolve_by_prefix_and_unknown_ones_are_usage_errors() {
        let (dir, paths) = project_with_copies("names", &["worker"]);
        let containers = [container("api", 1)];
        let t = Targets::resolve("p", &paths, known(&containers), &["wor".into()], true).unwrap();
        assert_eq!(
            t.nodes,
            [Node::Gone {
                key: "worker".into()
            }]
        );
        assert_eq!(t.pick_up, PickUp::Services(["worker".to_string()].into()));
        let err = Targets::resolve("p", &paths, known(&containers), &["nope".into()], false);
        assert!(matches!(err, Err(TargetsError::Usage(_))), "{err:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_host_process_of_the_model_that_has_not_run_is_missing() {
        let (dir, paths) = project_with_copies("missing", &[]);
        let mut model = ComposeModel::default();
        let camera = crate::project::model::HostProcess {
            name: "camera".into(),
            command: vec!["capture".into()],
            environment: Default::default(),
            working_dir: None,
            depends_on: Default::default(),
            restart: "no".into(),
            healthcheck: None,
            enabled: true,
            disabled_reason: None,
        };
        model.x_devstack.host.insert("camera".into(), camera);
        let k = Known {
            containers: &[],
            model: Some(&model),
            load_error: None,
        };
        let t = Targets::resolve("p", &paths, k, &["camera".into()], false).unwrap();
        assert_eq!(
            t.nodes,
            [Node::Host {
                name: "camera".into()
            }]
        );
        assert_eq!(
            t.missing,
            [Missing {
                name: "camera".into(),
                host: true
            }]
        );
        assert!(t.nothing_to_show());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
