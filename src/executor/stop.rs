//! Stopping, the exact reverse of `up`: a node stops once everything that depends on it has
//! stopped (a container that needs a host process stops before it; a host process stops before
//! the container it needs), independent nodes in parallel. `down --dry-run` prints the same
//! walk ([`plan`]), visited without acting.

use std::sync::Mutex;
use std::time::Duration;

use super::{reverse, Ctx};
use crate::engine::container;
use crate::engine::converge::Event;
use crate::engine::observed::ContainerState;
use crate::project::graph::{Graph, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopHow {
    /// Stop, keep the container (`stop`, the attached `up`'s Ctrl-C).
    Stop,
    /// Stop and remove the container (`down`).
    Remove,
}

/// One thing the stop walk stops, in the order it reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopStep {
    Host(String),
    /// A service's container (its name).
    Container(String),
}

/// What the walk stops for one node: its host process, or its containers.
fn steps(graph: &Graph, name: &str, containers: &[ContainerState]) -> Vec<StopStep> {
    match graph.kind(name) {
        Some(Kind::Host) => vec![StopStep::Host(name.to_string())],
        _ => containers
            .iter()
            .filter(|c| c.service == name)
            .map(|c| StopStep::Container(c.name.clone()))
            .collect(),
    }
}

/// The steps of a stop walk over `nodes`, in the order the walk visits them (`--dry-run`).
pub async fn plan(graph: &Graph, nodes: &[String], containers: &[ContainerState]) -> Vec<StopStep> {
    let seen = Mutex::new(Vec::new());
    reverse(graph, nodes, |name| {
        let seen = &seen;
        async move {
            let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
            s.extend(steps(graph, &name, containers));
        }
    })
    .await;
    seen.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Stops `nodes` in reverse dependency order. `containers` are the project's containers as
/// listed (a node may have none; a leftover of an interrupted recreate is stopped with it).
/// `grace` overrides each service's stop grace period (`-t`). Returns the names of the
/// containers removed (or stopped) and errors of removals, if any.
pub async fn stop(
    ctx: &Ctx<'_>,
    nodes: &[String],
    containers: &[ContainerState],
    how: StopHow,
    grace: Option<Duration>,
) -> Result<Vec<String>, bollard::errors::Error> {
    let results = reverse(ctx.graph(), nodes, |name| async move {
        let mut done = Vec::new();
        for step in steps(ctx.graph(), &name, containers) {
            match step {
                StopStep::Host(h) => {
                    if ctx.hosts.stop(&h).await.is_ok() {
                        (ctx.report)(Event::Stopped(h));
                    }
                }
                StopStep::Container(c) => {
                    let Some(c) = containers.iter().find(|x| x.name == c) else {
                        continue;
                    };
                    stop_container(ctx, &name, c, how, grace).await?;
                    done.push(c.name.clone());
                }
            }
        }
        Ok::<_, bollard::errors::Error>(done)
    })
    .await;
    let mut out = Vec::new();
    for (_, r) in results {
        out.extend(r?);
    }
    out.sort();
    Ok(out)
}

async fn stop_container(
    ctx: &Ctx<'_>,
    name: &str,
    c: &ContainerState,
    how: StopHow,
    grace: Option<Duration>,
) -> Result<(), bollard::errors::Error> {
    let svc = ctx.project.model.services.get(name);
    let grace_secs = grace
        .map(|g| g.as_secs() as i32)
        .unwrap_or_else(|| svc.map_or(10, |s| s.stop_grace_secs()));
    match svc {
        Some(svc) => container::stop_service(ctx.engine, svc, &c.id, grace_secs).await,
        None => container::stop(ctx.engine, &c.id, grace_secs).await,
    }
    (ctx.report)(Event::Stopped(name.to_string()));
    if how == StopHow::Remove {
        container::remove(ctx.engine, &c.id).await?;
        (ctx.report)(Event::Removed(c.name.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_plan_visits_dependents_first() {
        let mut g = Graph::from_labels(
            [
                ("db", ""),
                ("api", "db:service_healthy:false"),
                ("web", "api:service_started:false"),
            ]
            .into_iter(),
        );
        g.add_leaf("camera", Kind::Host);
        let c = |service: &str| ContainerState {
            name: format!("p-{service}-1"),
            service: service.into(),
            ..Default::default()
        };
        let containers = vec![c("db"), c("api"), c("web")];
        let nodes = g.order();
        let steps = plan(&g, &nodes, &containers).await;
        let at = |s: &StopStep| steps.iter().position(|x| x == s).unwrap();
        let ct = |n: &str| StopStep::Container(format!("p-{n}-1"));
        assert!(at(&ct("web")) < at(&ct("api")) && at(&ct("api")) < at(&ct("db")));
        assert!(
            steps.contains(&StopStep::Host("camera".into())),
            "{steps:?}"
        );
        assert_eq!(steps.len(), 4, "{steps:?}");
    }
}
