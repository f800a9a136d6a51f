//! `up`'s plan, computed once: what would be built or pulled and why, which orphans go, which
//! networks and volumes are made, and per node whether it is created, recreated (and why),
//! started or left as it is. `up --dry-run` prints it and touches nothing; `up` itself
//! executes the same decisions (the walk recreates exactly what the plan says).

use std::collections::HashMap;

use crate::engine::build::{self, ImageOptions};
use crate::engine::container::{self, Recreate};
use crate::engine::converge::{self, ConvergeError, UpOptions};
use crate::engine::{observed, spec, Engine};
use crate::project::graph::Kind;
use crate::project::Project;
use crate::supervisor::state::{HostPhase, State};

/// Why a container is recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `--force-recreate`.
    Forced,
    /// Its image is rebuilt (or pulled again, with `--pull always`).
    ImageRebuilt { pulled: bool },
    /// Its image is not in the engine.
    ImageMissing,
    /// Its image is another than the one it runs.
    ImageChanged,
    /// Its configuration hash changed.
    ConfigChanged,
}

impl Why {
    /// The recreate policy the walk follows for it.
    pub fn policy(self) -> Recreate {
        match self {
            // An image still to be built or pulled may come out as the one it runs: the walk
            // compares after the build.
            Why::ImageRebuilt { .. } | Why::ImageMissing | Why::ImageChanged => Recreate::IfChanged,
            Why::Forced | Why::ConfigChanged => Recreate::Always,
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Why::Forced => "--force-recreate",
            Why::ImageRebuilt { pulled: true } => "its image is pulled again (--pull always)",
            Why::ImageRebuilt { pulled: false } => "its image is rebuilt",
            Why::ImageMissing => "its image is missing",
            Why::ImageChanged => "its image changed",
            Why::ConfigChanged => "its configuration changed",
        })
    }
}

/// What happens to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Create,
    /// Recreated, and why.
    Recreate(Why),
    /// Exists but is stopped: started.
    Start,
    /// Runs as configured.
    UpToDate,
    /// A host process the supervisor starts.
    StartHost,
    HostRunning,
    /// A disabled host process, and why.
    Disabled(String),
}

#[derive(Debug, Default)]
pub struct UpPlan {
    /// (service, what and why) for images built or pulled.
    pub images: Vec<(String, String)>,
    /// Orphan containers, and whether they are removed (`--remove-orphans`).
    pub orphans: Vec<String>,
    pub remove_orphans: bool,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub nodes: Vec<(String, Step)>,
}

impl UpPlan {
    /// The recreate policy per container that the walk must follow.
    pub fn recreate_policies(&self) -> HashMap<String, Recreate> {
        self.nodes
            .iter()
            .filter_map(|(n, s)| {
                let p = match s {
                    Step::Create => Recreate::IfChanged,
                    Step::Recreate(why) => why.policy(),
                    Step::Start | Step::UpToDate => Recreate::Never,
                    _ => return None,
                };
                Some((n.clone(), p))
            })
            .collect()
    }

    /// The plan as lines a person reads (`up --dry-run`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (svc, what) in &self.images {
            out.push(format!("image      {svc}: would {what}"));
        }
        for o in &self.orphans {
            if self.remove_orphans {
                out.push(format!("orphan     {o}: would be stopped and removed"));
            } else {
                out.push(format!(
                    "orphan     {o}: left alone (`--remove-orphans` removes it)"
                ));
            }
        }
        for n in &self.networks {
            out.push(format!("network    {n}: would be created"));
        }
        for v in &self.volumes {
            out.push(format!("volume     {v}: would be created"));
        }
        for (name, step) in &self.nodes {
            let what = match step {
                Step::Create => "would be created and started".to_string(),
                Step::Recreate(why) => format!("would be recreated: {why}"),
                Step::Start => "exists, stopped: would be started".to_string(),
                Step::UpToDate => "up to date: left as it is".to_string(),
                Step::StartHost => "host process: would be started by the supervisor".to_string(),
                Step::HostRunning => "host process: runs already".to_string(),
                Step::Disabled(why) => format!("host process: disabled ({why})"),
            };
            out.push(format!("node       {name}: {what}"));
        }
        out
    }
}

/// Computes the plan for `nodes` (dependencies first) without changing anything.
pub async fn plan_up(
    engine: &Engine,
    project: &Project,
    nodes: &[String],
    opts: &UpOptions,
) -> Result<UpPlan, ConvergeError> {
    let mut plan = UpPlan {
        remove_orphans: opts.remove_orphans,
        ..Default::default()
    };
    let existing = observed::list(engine, &project.name).await?;
    plan.orphans = converge::orphans(project, &existing)
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut rebuilt = Vec::new();
    for name in &opts.services {
        let svc = &project.model.services[name];
        if let Some(why) = build::image_plan(engine, project, svc, &opts.image).await? {
            plan.images.push((name.clone(), why));
            rebuilt.push(name.clone());
        }
    }
    let (networks, volumes) = converge::missing_resources(engine, project, &opts.services).await;
    plan.networks = networks;
    plan.volumes = volumes;
    let state = State::load(&project.paths());
    let supervised = crate::supervisor::any_running(&project.paths());
    for name in nodes {
        let Some(node) = project.graph.get(name) else {
            continue;
        };
        let step = match node.kind {
            Kind::Host => match &node.disabled {
                Some(why) => Step::Disabled(why.clone()),
                None if supervised
                    && state
                        .host
                        .get(name)
                        .is_some_and(|h| h.state == HostPhase::Running) =>
                {
                    Step::HostRunning
                }
                None => Step::StartHost,
            },
            Kind::Container => {
                container_step(
                    engine,
                    project,
                    name,
                    &existing,
                    &rebuilt,
                    &opts.image,
                    opts.recreate,
                )
                .await
            }
        };
        plan.nodes.push((name.clone(), step));
    }
    Ok(plan)
}

async fn container_step(
    engine: &Engine,
    project: &Project,
    name: &str,
    existing: &[observed::ContainerState],
    rebuilt: &[String],
    image: &ImageOptions,
    recreate: Recreate,
) -> Step {
    let wanted = project.container_name(name, 1);
    let Some(cur) = existing.iter().find(|c| c.name == wanted) else {
        return Step::Create;
    };
    let stopped_or_ok = if cur.running() {
        Step::UpToDate
    } else {
        Step::Start
    };
    match recreate {
        Recreate::Always => return Step::Recreate(Why::Forced),
        Recreate::Never => return stopped_or_ok,
        Recreate::IfChanged => {}
    }
    if rebuilt.iter().any(|r| r == name) {
        return Step::Recreate(Why::ImageRebuilt {
            pulled: image.pull_always,
        });
    }
    let svc = &project.model.services[name];
    let tag = spec::image_ref(&project.name, svc);
    let Some(image_id) = engine
        .docker
        .inspect_image(&tag)
        .await
        .ok()
        .and_then(|i| i.id)
    else {
        return Step::Recreate(Why::ImageMissing);
    };
    let spec = crate::engine::remote::container_spec(engine, project, svc, &image_id).await;
    if container::changed(cur, &spec) {
        let why = if cur.image_label.as_deref() != Some(image_id.as_str()) {
            Why::ImageChanged
        } else {
            Why::ConfigChanged
        };
        return Step::Recreate(why);
    }
    stopped_or_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(nodes: Vec<(&str, Step)>) -> UpPlan {
        UpPlan {
            nodes: nodes.into_iter().map(|(n, s)| (n.to_string(), s)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_walk_compares_again_only_where_the_image_may_come_out_the_same() {
        let p = plan(vec![
            ("new", Step::Create),
            ("forced", Step::Recreate(Why::Forced)),
            ("conf", Step::Recreate(Why::ConfigChanged)),
            ("built", Step::Recreate(Why::ImageRebuilt { pulled: false })),
            ("pulled", Step::Recreate(Why::ImageRebuilt { pulled: true })),
            ("gone", Step::Recreate(Why::ImageMissing)),
            ("other", Step::Recreate(Why::ImageChanged)),
            ("stopped", Step::Start),
            ("fine", Step::UpToDate),
            ("cam", Step::StartHost),
            ("off", Step::Disabled("no camera".into())),
        ]);
        let p = p.recreate_policies();
        let want = [
            ("new", Recreate::IfChanged),
            ("forced", Recreate::Always),
            ("conf", Recreate::Always),
            ("built", Recreate::IfChanged),
            ("pulled", Recreate::IfChanged),
            ("gone", Recreate::IfChanged),
            ("other", Recreate::IfChanged),
            ("stopped", Recreate::Never),
            ("fine", Recreate::Never),
        ];
        for (n, policy) in want {
            assert_eq!(p.get(n), Some(&policy), "{n}");
        }
        assert!(
            !p.contains_key("cam") && !p.contains_key("off"),
            "host processes"
        );
    }

    #[test]
    fn lines_say_each_decision_and_its_reason() {
        let mut p = plan(vec![
            ("api", Step::Recreate(Why::ImageRebuilt { pulled: true })),
            ("db", Step::UpToDate),
            ("cam", Step::Disabled("no camera".into())),
        ]);
        p.orphans = vec!["old".into()];
        p.networks = vec!["proj_default".into()];
        let lines = p.lines();
        assert_eq!(
            lines,
            vec![
                "orphan     old: left alone (`--remove-orphans` removes it)",
                "network    proj_default: would be created",
                "node       api: would be recreated: its image is pulled again (--pull always)",
                "node       db: up to date: left as it is",
                "node       cam: host process: disabled (no camera)",
            ]
        );
        p.remove_orphans = true;
        assert_eq!(p.lines()[0], "orphan     old: would be stopped and removed");
    }
}
