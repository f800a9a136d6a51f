//! `up`'s walk (and the engine's return): every node starts the moment its dependencies hold
//! — a container is created, recreated or started, a host process is started by the
//! supervisor — and is then waited on until it is ready; dependents learn of each stage
//! through their gates, so one readiness wait per node serves all of them.

use std::sync::Mutex;
use std::time::Instant;

use super::{forward, Ctx, Gate, Stage};
use crate::engine::container;
use crate::engine::converge::{Action, ConvergeError, Event, Prepared};
use crate::engine::health::{self, Want};
use crate::engine::observed::ContainerState;
use crate::project::graph::{Kind, Node};
use crate::project::model::{Condition, Dependency};
use crate::supervisor::host::HostAction;

/// How `up` treats the containers it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpWalk {
    /// Create what is missing, recreate (as the policy says: what changed, by default),
    /// start what is stopped.
    Converge(container::Recreate),
    /// Only start what exists and is stopped (the engine came back: nothing is recreated).
    StartOnly,
}

/// Walks `nodes` (dependencies first) until each is ready. The root cause outranks the
/// "dependency X failed" follow-ups.
pub async fn up(
    ctx: &Ctx<'_>,
    nodes: &[String],
    prepared: &Prepared,
    how: UpWalk,
    deadline: Instant,
) -> Result<Vec<(String, Action)>, ConvergeError> {
    let results = forward(nodes, |name, gate| async move {
        let node = ctx.graph().get(&name).expect("selected from the graph");
        wait_dependencies(ctx, node, &gate, deadline).await?;
        match node.kind {
            Kind::Container => up_container(ctx, node, &gate, prepared, how, deadline).await,
            Kind::Host => up_host(ctx, node, &gate, deadline).await,
        }
    })
    .await;
    let mut actions = Vec::new();
    let mut errors = Vec::new();
    for (name, r) in results {
        match r {
            Ok(Some(a)) => actions.push((name, a)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if let Some(pos) = errors
        .iter()
        .position(|e| !matches!(e, ConvergeError::Dependency { .. }))
    {
        return Err(errors.swap_remove(pos));
    }
    if let Some(e) = errors.pop() {
        return Err(e);
    }
    Ok(actions)
}

/// Holds until every dependency meets its condition.
async fn wait_dependencies(
    ctx: &Ctx<'_>,
    node: &Node,
    gate: &Gate,
    deadline: Instant,
) -> Result<(), ConvergeError> {
    let failed = |dep: &str| ConvergeError::Dependency {
        service: node.name.clone(),
        dependency: dep.to_string(),
    };
    for (dep, d) in &node.deps {
        let Some(dep_node) = ctx.graph().get(dep) else {
            continue;
        };
        if let Some(reason) = &dep_node.disabled {
            (ctx.report)(Event::Note(format!(
                "{dep} disabled: {reason}; {} starts without it",
                node.name
            )));
            continue;
        }
        match dep_node.kind {
            Kind::Host => {
                let stage = match d.condition {
                    Condition::ServiceStarted => Stage::Started,
                    _ => Stage::Ready,
                };
                if d.condition == Condition::ServiceHealthy && !host_has_healthcheck(ctx, dep) {
                    return Err(ConvergeError::Start {
                        service: node.name.clone(),
                        detail: format!("waits for host process {dep} to be healthy, but it has no healthcheck: add one under x-devstack.host.{dep}, or use condition: service_started"),
                    });
                }
                if stage == Stage::Ready {
                    (ctx.report)(Event::Waiting(node.name.clone(), dep.clone()));
                }
                if gate.reached(dep, stage).await == Some(false) {
                    return Err(failed(dep));
                }
            }
            Kind::Container => {
                wait_container_dependency(ctx, node, gate, dep, d, deadline).await?;
            }
        }
    }
    Ok(())
}

fn host_has_healthcheck(ctx: &Ctx<'_>, name: &str) -> bool {
    ctx.project
        .model
        .x_devstack
        .host
        .get(name)
        .and_then(|h| h.healthcheck.as_ref())
        .is_some_and(|h| h.enabled())
}

async fn wait_container_dependency(
    ctx: &Ctx<'_>,
    node: &Node,
    gate: &Gate,
    dep: &str,
    d: &Dependency,
    deadline: Instant,
) -> Result<(), ConvergeError> {
    let jobs = ctx.graph().one_shot_jobs();
    let dep_svc = &ctx.project.model.services[dep];
    let want = match d.condition {
        Condition::ServiceStarted => None,
        Condition::ServiceHealthy => Some(Want::Healthy),
        Condition::ServiceCompletedSuccessfully => Some(Want::Completed),
    };
    // The dependency's own readiness wait answers when it is the condition: completed for a
    // job, healthy for a service with a healthcheck.
    let own_wait_answers = match want {
        Some(Want::Completed) => true,
        Some(_) => !jobs.contains(dep) && dep_svc.has_healthcheck(),
        None => false,
    };
    if want.is_some() {
        (ctx.report)(Event::Waiting(node.name.clone(), dep.to_string()));
    }
    let stage = if own_wait_answers {
        Stage::Ready
    } else {
        Stage::Started
    };
    match gate.reached(dep, stage).await {
        None => return Ok(()),
        Some(false) => {
            return Err(ConvergeError::Dependency {
                service: node.name.clone(),
                dependency: dep.to_string(),
            })
        }
        Some(true) => {}
    }
    if let (Some(want), false) = (want, own_wait_answers) {
        let name = ctx.project.container_name(dep, 1);
        health::wait_for(
            ctx.engine,
            &ctx.monitor,
            dep,
            &name,
            want,
            dep_svc.healthcheck.as_ref(),
            deadline,
        )
        .await?;
    }
    Ok(())
}

async fn up_container(
    ctx: &Ctx<'_>,
    node: &Node,
    gate: &Gate,
    prepared: &Prepared,
    how: UpWalk,
    deadline: Instant,
) -> Result<Option<Action>, ConvergeError> {
    let name = &node.name;
    let svc = &ctx.project.model.services[name];
    let one_shot = ctx.graph().one_shot_jobs().contains(name);
    let mut ids = Vec::new();
    let mut action: Option<Action> = None;
    for n in 1..=svc.replicas {
        if let Some((id, a)) = up_replica(ctx, svc, n, one_shot, prepared, how).await? {
            ids.push(id);
            action = Some(action.map_or(a.clone(), |b| strongest(b, a)));
        }
    }
    if let UpWalk::Converge(_) = how {
        scale_down(ctx, svc, &prepared.existing).await?;
    }
    let Some(action) = action else {
        if svc.replicas == 0 {
            (ctx.report)(Event::Note(format!("{name}: scaled to 0 containers")));
        }
        gate.started();
        gate.ready();
        return Ok(None);
    };
    (ctx.report)(Event::Container(name.clone(), action.clone()));
    gate.started();
    let since = Instant::now();
    let want = if one_shot {
        Want::Completed
    } else {
        Want::Ready
    };
    let last_said = Mutex::new(String::new());
    let on_state = |st: &ContainerState| {
        let said = st.last_health_output.as_deref().unwrap_or_default();
        let mut last = last_said.lock().unwrap_or_else(|e| e.into_inner());
        if st.health.as_deref() == Some("starting") && !said.is_empty() && *last != said {
            *last = said.to_string();
            (ctx.report)(Event::Starting(name.clone(), said.to_string()));
        }
    };
    let waits = ids.iter().map(|id| {
        health::wait_watching(
            ctx.engine,
            &ctx.monitor,
            name,
            id,
            want,
            svc.healthcheck.as_ref(),
            deadline,
            &on_state,
        )
    });
    let states = futures_util::future::try_join_all(waits).await?;
    let what = if want == Want::Completed {
        "completed".to_string()
    } else {
        states
            .first()
            .and_then(|st| st.health.clone())
            .unwrap_or_else(|| "running".into())
    };
    if want != Want::Completed {
        // What `ps` and `dash` show until the engine's own check agrees.
        crate::engine::readiness::record_healthy(&ctx.project.paths(), &states);
        ctx.hosts.container_ready(name).await;
    }
    (ctx.report)(Event::Ready(name.clone(), what, since.elapsed()));
    gate.ready();
    Ok(Some(action))
}

/// Creates, recreates or starts the service's container number `n` (as the walk says); `None`
/// when the engine's return finds none to start.
async fn up_replica(
    ctx: &Ctx<'_>,
    svc: &crate::project::model::Service,
    n: u32,
    one_shot: bool,
    prepared: &Prepared,
    how: UpWalk,
) -> Result<Option<(String, Action)>, ConvergeError> {
    let spec_name = ctx.project.container_name(&svc.name, n);
    let current: Option<&ContainerState> = prepared.existing.iter().find(|c| c.name == spec_name);
    Ok(Some(match (how, current) {
        (UpWalk::StartOnly, Some(cur)) => {
            container::start_existing(ctx.engine, svc, cur, one_shot).await?
        }
        (UpWalk::StartOnly, None) => return Ok(None),
        (UpWalk::Converge(walk_policy), _) => {
            let recreate = prepared
                .recreate
                .get(&svc.name)
                .copied()
                .unwrap_or(walk_policy);
            let image = &prepared.images[&svc.name];
            let spec =
                crate::engine::remote::container_spec_n(ctx.engine, ctx.project, svc, n, image)
                    .await;
            container::ensure_with(ctx.engine, svc, spec, current, one_shot, recreate).await?
        }
    }))
}

/// Compose's scale-down: the service's containers numbered above its replica count are
/// stopped and removed, highest first.
async fn scale_down(
    ctx: &Ctx<'_>,
    svc: &crate::project::model::Service,
    existing: &[ContainerState],
) -> Result<(), ConvergeError> {
    let mut extra: Vec<&ContainerState> = existing
        .iter()
        .filter(|c| c.service == svc.name && c.number > svc.replicas)
        .collect();
    extra.sort_by_key(|c| std::cmp::Reverse(c.number));
    for c in extra {
        container::stop_service(ctx.engine, svc, &c.id, svc.stop_grace_secs()).await;
        container::remove(ctx.engine, &c.id).await?;
        (ctx.report)(Event::Removed(c.name.clone()));
    }
    Ok(())
}

/// What happened to a service whose replicas fared differently: the biggest change.
fn strongest(a: Action, b: Action) -> Action {
    let rank = |x: &Action| match x {
        Action::Recreated => 3,
        Action::Created => 2,
        Action::Started => 1,
        Action::UpToDate => 0,
    };
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

async fn up_host(
    ctx: &Ctx<'_>,
    node: &Node,
    gate: &Gate,
    deadline: Instant,
) -> Result<Option<Action>, ConvergeError> {
    let name = &node.name;
    let fail = |reason: String| ConvergeError::Host {
        name: name.clone(),
        reason,
        last_logs: ctx.host_log_tail(name, 20),
    };
    let action = match ctx.hosts.start(name).await.map_err(fail)? {
        HostAction::Disabled(why) => {
            (ctx.report)(Event::Skipped(name.clone(), format!("disabled: {why}")));
            gate.ready();
            return Ok(None);
        }
        HostAction::Started => Action::Started,
        HostAction::AlreadyRunning => Action::UpToDate,
    };
    (ctx.report)(Event::Container(name.clone(), action.clone()));
    gate.started();
    let since = Instant::now();
    let what = ctx
        .hosts
        .wait_ready(name, tokio::time::Instant::from_std(deadline))
        .await
        .map_err(|e| ConvergeError::Host {
            name: name.clone(),
            reason: e,
            last_logs: ctx.host_log_tail(name, 20),
        })?;
    (ctx.report)(Event::Ready(name.clone(), what, since.elapsed()));
    gate.ready();
    Ok(Some(action))
}
