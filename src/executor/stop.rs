//! Stopping, the exact reverse of `up`: a node stops once everything that depends on it has
//! stopped (a container that needs a host process stops before it; a host process stops before
//! the container it needs), independent nodes in parallel.

use std::time::Duration;

use super::{reverse, Ctx};
use crate::engine::container;
use crate::engine::converge::Event;
use crate::engine::observed::ContainerState;
use crate::project::graph::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopHow {
    /// Stop, keep the container (`stop`, the attached `up`'s Ctrl-C).
    Stop,
    /// Stop and remove the container (`down`).
    Remove,
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
        match ctx.graph().kind(&name) {
            Some(Kind::Host) => {
                if ctx.hosts.stop(&name).await.is_ok() {
                    (ctx.report)(Event::Stopped(name.clone()));
                }
            }
            _ => {
                let grace_secs = grace.map(|g| g.as_secs() as i32).unwrap_or_else(|| {
                    ctx.project
                        .model
                        .services
                        .get(&name)
                        .map_or(10, |s| s.stop_grace_secs())
                });
                let svc = ctx.project.model.services.get(&name);
                for c in containers.iter().filter(|c| c.service == name) {
                    match svc {
                        Some(svc) => {
                            container::stop_service(ctx.engine, svc, &c.id, grace_secs).await
                        }
                        None => container::stop(ctx.engine, &c.id, grace_secs).await,
                    }
                    (ctx.report)(Event::Stopped(name.clone()));
                    if how == StopHow::Remove {
                        container::remove(ctx.engine, &c.id).await?;
                        (ctx.report)(Event::Removed(c.name.clone()));
                    }
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
