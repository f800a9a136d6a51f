//! Restart, either kind: a container is restarted with its grace period, or recreated alone
//! when its configuration changed; a host process is restarted by the supervisor. Each waits
//! until ready, then its `restart: true` dependents of either kind follow, the same way.

use std::time::{Duration, Instant};

use super::Ctx;
use crate::engine::converge::ConvergeError;
use crate::engine::health::{self, Want};
use crate::engine::{build, container, observed};
use crate::project::graph::Kind;
use crate::supervisor::host::HostAction;

/// How one node's restart went.
#[derive(Debug, Clone)]
pub struct Restarted {
    pub service: String,
    pub kind: Kind,
    pub recreated: bool,
    pub took: Duration,
    /// healthy / running / restarted (not waited for) / why it was left alone.
    pub state: String,
    /// Restarted because it declares `restart: true` on this restarted node.
    pub as_dependent_of: Option<String>,
    /// Not restarted (a dependent host process with no supervisor, a disabled one).
    pub skipped: bool,
}

/// Restarts `start` (name, because-of) and then, once each is ready, its `restart: true`
/// dependents. `wait`: wait until each is ready (always done before its dependents follow).
pub async fn restart(
    ctx: &Ctx<'_>,
    start: Vec<(String, Option<String>)>,
    wait: bool,
    timeout: Duration,
    grace: Option<Duration>,
    on_done: &(dyn Fn(&Restarted) + Sync),
) -> Result<Vec<Restarted>, ConvergeError> {
    let mut queue = std::collections::VecDeque::from(start);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    while let Some((name, because)) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let begin = Instant::now();
        let r = match ctx.graph().kind(&name) {
            Some(Kind::Host) => {
                restart_host(ctx, &name, because.clone(), wait, timeout, begin).await?
            }
            _ => {
                restart_container(ctx, &name, because.clone(), wait, timeout, grace, begin).await?
            }
        };
        on_done(&r);
        let skipped = r.skipped;
        out.push(r);
        if skipped {
            continue;
        }
        // Direct dependents; theirs follow from their own restart, once they are ready.
        for dep in ctx.graph().direct_restart_dependents(&name) {
            queue.push_back((dep, Some(name.clone())));
        }
    }
    Ok(out)
}

async fn restart_container(
    ctx: &Ctx<'_>,
    name: &str,
    because: Option<String>,
    wait: bool,
    timeout: Duration,
    grace: Option<Duration>,
    begin: Instant,
) -> Result<Restarted, ConvergeError> {
    let project = ctx.project;
    let svc = &project.model.services[name];
    let containers = observed::list(ctx.engine, &project.name).await?;
    let mine: Vec<&observed::ContainerState> = (1..=svc.replicas)
        .filter_map(|n| {
            let wanted = project.container_name(name, n);
            containers.iter().find(|c| c.name == wanted)
        })
        .collect();
    if mine.is_empty() {
        return Err(ConvergeError::Start {
            service: name.to_string(),
            detail: "has no container yet: run `devstack up` first".into(),
        });
    }
    let (image_id, _) = build::ensure_image(ctx.engine, project, svc, false, true, &|_| {}).await?;
    let mut ids = Vec::new();
    let mut changed = false;
    for cur in mine {
        let spec = crate::engine::remote::container_spec_n(
            ctx.engine, project, svc, cur.number, &image_id,
        )
        .await;
        if container::changed(cur, &spec) {
            // Only this node is recreated: its dependencies are up already.
            ids.push(container::recreate(ctx.engine, svc, spec, cur).await?);
            changed = true;
        } else {
            let grace = grace.map_or(svc.stop_grace_secs(), |g| g.as_secs() as i32);
            container::restart(ctx.engine, &cur.id, grace).await?;
            ids.push(cur.id.clone());
        }
    }
    let state = if wait {
        let deadline = Instant::now() + timeout;
        let waits = ids.iter().map(|id| {
            health::wait_for(
                ctx.engine,
                &ctx.monitor,
                name,
                id,
                Want::Ready,
                svc.healthcheck.as_ref(),
                deadline,
            )
        });
        let states = futures_util::future::try_join_all(waits).await?;
        crate::engine::readiness::record_healthy(&project.paths(), &states);
        states
            .first()
            .map(|st| st.health.clone().unwrap_or_else(|| st.status.clone()))
            .unwrap_or_default()
    } else {
        "restarted".into()
    };
    Ok(Restarted {
        service: name.to_string(),
        kind: Kind::Container,
        recreated: changed,
        took: begin.elapsed(),
        state,
        as_dependent_of: because,
        skipped: false,
    })
}

async fn restart_host(
    ctx: &Ctx<'_>,
    name: &str,
    because: Option<String>,
    wait: bool,
    timeout: Duration,
    begin: Instant,
) -> Result<Restarted, ConvergeError> {
    let skipped = |state: String| Restarted {
        service: name.to_string(),
        kind: Kind::Host,
        recreated: false,
        took: begin.elapsed(),
        state,
        as_dependent_of: because.clone(),
        skipped: true,
    };
    let fail = |reason: String| ConvergeError::Host {
        name: name.to_string(),
        reason,
        last_logs: ctx.host_log_tail(name, 20),
    };
    match ctx.hosts.restart(name).await {
        Ok(HostAction::Disabled(why)) => return Ok(skipped(format!("disabled: {why}"))),
        Ok(_) => {}
        // A dependent that cannot be reached is reported, not fatal: what was asked for
        // was restarted.
        Err(e) if because.is_some() => return Ok(skipped(format!("not restarted: {e}"))),
        Err(e) => return Err(fail(e)),
    }
    let state = if wait {
        let deadline = tokio::time::Instant::now() + timeout;
        ctx.hosts.wait_ready(name, deadline).await.map_err(fail)?
    } else {
        "restarted".into()
    };
    Ok(Restarted {
        service: name.to_string(),
        kind: Kind::Host,
        recreated: false,
        took: begin.elapsed(),
        state,
        as_dependent_of: because,
        skipped: false,
    })
}
