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
        let name = crate::engine::labels::container_name(&ctx.project.name, dep);
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
    let spec_name = crate::engine::labels::container_name(&ctx.project.name, name);
    let current: Option<&ContainerState> = prepared.existing.iter().find(|c| c.name == spec_name);
    let (id, action) = match (how, current) {
        (UpWalk::StartOnly, Some(cur)) => {
            container::start_existing(ctx.engine, svc, cur, one_shot).await?
        }
        (UpWalk::StartOnly, None) => return Ok(None),
        (UpWalk::Converge(walk_policy), _) => {
            let recreate = prepared.recreate.get(name).copied().unwrap_or(walk_policy);
            let image = &prepared.images[name];
            let spec = crate::engine::remote::container_spec(ctx.engine, ctx.project, svc, image);
            container::ensure_with(ctx.engine, svc, spec, current, one_shot, recreate).await?
        }
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
    let st = health::wait_watching(
        ctx.engine,
        &ctx.monitor,
        name,
        &id,
        want,
        svc.healthcheck.as_ref(),
        deadline,
        &on_state,
    )
    .await?;
    let what = if want == Want::Completed {
        "completed".to_string()
    } else {
        st.health.clone().unwrap_or_else(|| "running".into())
    };
    if want != Want::Completed {
        ctx.hosts.container_ready(name).await;
    }
    (ctx.report)(Event::Ready(name.clone(), what, since.elapsed()));
    gate.ready();
    Ok(Some(action))
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
