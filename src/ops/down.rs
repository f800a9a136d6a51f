//! `down`: the graph stopped in exact reverse order (host processes included: a
//! container that needs a host process stops before it, a host process before the container
//! it needs), containers removed, then networks; named volumes kept unless `--volumes`.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::build_record::BuildRecord;
use crate::engine::converge::{self, Event};
use crate::engine::lifecycle::{self, RemoveImages};
use crate::engine::observed;
use crate::executor::{self, Ctx, Selection, StopHow, StopStep};
use crate::project::graph::{Graph, Kind};
use crate::project::{Project, ProjectSource};
use crate::supervisor::hosts::Hosts;
use crate::supervisor::state::State;
use crate::ui::color;

/// `down`'s flags.
#[derive(Debug, Clone)]
pub struct DownOptions {
    /// Named volumes removed too (`--volumes`); never otherwise.
    pub volumes: bool,
    /// `-t`: the stop grace period instead of each service's own.
    pub grace: Option<Duration>,
    /// `--rmi`: which images go.
    pub images: RemoveImages,
    /// One-off containers and containers of services no longer in the file.
    pub remove_orphans: bool,
    /// Say what would be done, change nothing.
    pub dry_run: bool,
}

/// Takes the project down. Only its name is needed: `down` works even when the templates no
/// longer render.
pub async fn down(source: &ProjectSource, a: &DownOptions) -> anyhow::Result<()> {
    let paths = source.paths();
    if !a.dry_run {
        // An attached `up` in another terminal stops as on Ctrl-C (the graph in reverse order).
        crate::supervisor::stop_attached(&paths).await;
    }
    let engine = super::session::connect().await?;
    // One-off containers of `devstack run` (kept without --rm) go with --remove-orphans.
    let containers = if a.remove_orphans {
        observed::list_with_oneoffs(&engine, &source.name).await?
    } else {
        observed::list(&engine, &source.name).await?
    };
    let project = project_of(source, &containers);
    let hosts = if crate::supervisor::running_pid(&paths).is_some() {
        Hosts::Socket(paths.clone())
    } else {
        Hosts::Absent("no supervisor runs".into())
    };
    let said: converge::Reporter = Arc::new(|ev| {
        if let Event::Stopped(n) = &ev {
            crate::say!("{} {n} stopped", color::ok("✓"));
        }
        if let Event::Removed(n) = &ev {
            crate::say!("{} container {n} removed", color::ok("✓"));
        }
    });
    let ctx = Ctx::new(&engine, &project, hosts, said);
    let nodes = executor::present(
        &project.graph,
        Selection::exactly(&[]).nodes_of(&project.graph),
        &containers,
    );
    if a.dry_run {
        print_plan(&engine, &project, &nodes, &containers, a).await?;
        return Ok(());
    }
    let removed = executor::stop(&ctx, &nodes, &containers, StopHow::Remove, a.grace)
        .await
        .map_err(converge::ConvergeError::from)?;
    // Host processes are stopped; the supervisor itself (and any orphan a killed one left) goes.
    crate::supervisor::stop_background(source).await?;
    let report = lifecycle::remove_resources(
        &engine,
        &source.name,
        a.volumes,
        a.images,
        containers.iter().map(|c| c.image.clone()).collect(),
        BuildRecord::load(&source.paths()).local_tags_of(&source.name),
    )
    .await?;
    if let Err(e) = BuildRecord::forget(&source.paths(), &report.images_removed) {
        tracing::warn!("cannot update the build record: {e}");
    }
    crate::supervisor::forget_autoheal(source);
    print_removed(&report, removed.is_empty(), &source.name);
    Ok(())
}

/// The project as far as it loads, with every listed container as a node: those that are
/// not in its graph (leftovers of an interrupted recreate, an older configuration's
/// services) stop with no order among them.
fn project_of(source: &ProjectSource, containers: &[observed::ContainerState]) -> Project {
    let mut project = match super::session::load_quietly(source) {
        Some(p) => p,
        None => fallback_project(source, containers),
    };
    for c in containers {
        project.graph.add_leaf(&c.service, Kind::Container);
    }
    project
}

/// `--dry-run`: the stop walk's steps in its order (one node after another; the walk runs
/// independent nodes at once), then the networks and volumes.
async fn print_plan(
    engine: &crate::engine::Engine,
    project: &Project,
    nodes: &[String],
    containers: &[observed::ContainerState],
    a: &DownOptions,
) -> anyhow::Result<()> {
    crate::outln!(
        "devstack down --dry-run: the plan for project {}; nothing is changed",
        project.name
    )?;
    for step in executor::stop_plan(&project.graph, nodes, containers).await {
        match step {
            StopStep::Host(n) => crate::outln!("  host process {n}: would be stopped")?,
            StopStep::Container(c) => {
                crate::outln!("  container  {c}: would be stopped and removed")?
            }
        }
    }
    let (networks, volumes) = lifecycle::resources(engine, &project.name).await?;
    for n in networks {
        crate::outln!("  network    {n}: would be removed")?;
    }
    for v in volumes {
        let what = if a.volumes {
            "would be removed"
        } else {
            "kept (`--volumes` removes it)"
        };
        crate::outln!("  volume     {v}: {what}")?;
    }
    Ok(())
}

fn print_removed(report: &lifecycle::DownReport, no_containers: bool, project: &str) {
    for n in &report.networks {
        crate::say!("{} network {n} removed", color::ok("✓"));
    }
    for v in &report.volumes_removed {
        crate::say!("{} volume {v} removed", color::ok("✓"));
    }
    for i in &report.images_removed {
        crate::say!("{} image {i} removed", color::ok("✓"));
    }
    for (i, why) in &report.images_kept {
        crate::say!("{} kept image {i}: {why}", color::warn("!"));
    }
    if !report.volumes_kept.is_empty() {
        crate::say!(
            "{} kept volumes {} (data is safe; `devstack down --volumes` removes them)",
            color::dim("•"),
            report.volumes_kept.join(", ")
        );
    }
    if no_containers && report.networks.is_empty() && report.images_removed.is_empty() {
        crate::say!("nothing to remove for project {project}");
    }
}

/// The templates do not render: the containers' `depends_on` labels give the order, and the
/// supervisor's state names the host processes (stopped first; nothing says what they need).
fn fallback_project(source: &ProjectSource, containers: &[observed::ContainerState]) -> Project {
    let labels: Vec<(String, String)> = containers
        .iter()
        .map(|c| {
            (
                c.service.clone(),
                c.labels
                    .get(crate::engine::labels::DEPENDS_ON)
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    let mut graph = Graph::from_labels(labels.iter().map(|(s, l)| (s.as_str(), l.as_str())));
    for name in State::load(&source.paths()).host.keys() {
        graph.add_leaf(name, Kind::Host);
    }
    Project::bare(source.clone(), graph)
}
