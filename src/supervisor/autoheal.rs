//! Auto-heal: Docker restarts a container that exits, never one that turns unhealthy
//! (moby#28400). After `unhealthy_threshold` consecutive failed checks the container is
//! restarted; repeated failures back off exponentially up to `max_backoff`; after
//! `MAX_RESTARTS` restarts without becoming healthy it is recreated once, then reported as
//! crash-looping and left alone. Dependents that declare `restart: true` follow it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hosts::Hosts;
use super::{Controls, Shared, SupEvent};
use crate::engine::{build, container, health, observed, Engine};
use crate::executor::Ctx;
use crate::project::Project;

pub const MAX_RESTARTS: u32 = 3;

#[derive(Default)]
struct Tracker {
    /// Restarts since the container was last healthy.
    attempts: u32,
    next_allowed: Option<Instant>,
    /// Exits already reported (by container start time).
    reported_exit: Option<String>,
    /// Its `restart: true` dependents are restarted once it is healthy again, as
    /// `devstack restart` does: restarting them against a dependency still down helps nobody.
    dependents_pending: bool,
}

pub async fn run(engine: Engine, project: Arc<Project>, shared: Arc<Shared>, controls: Controls) {
    let cfg = project.model.x_devstack.autoheal.clone();
    let jobs = project.graph.one_shot_jobs();
    let mut monitor = health::Monitor::start(&engine, &project.name);
    let mut trackers: HashMap<String, Tracker> = HashMap::new();
    // Services seen healthy by this supervisor: healing starts then (before, `up` waits on
    // them and fails naming them), and only their later recoveries are news.
    let mut ever_healthy: std::collections::HashSet<String> = Default::default();
    // Health transitions are reported whether or not healing is enabled.
    let mut last_health: HashMap<String, Option<String>> = HashMap::new();
    // Containers started before us were reported ready by the `up` that started us (it
    // trusts its own probe, and the engine catches up later): that is no news.
    loop {
        monitor.next(Duration::from_secs(2)).await;
        let Ok(list) = observed::list(&engine, &project.name).await else {
            continue;
        };
        for c in list {
            if !project.model.services.contains_key(&c.service) || jobs.contains(&c.service) {
                continue;
            }
            let Ok(st) = observed::inspect(&engine, &c.id).await else {
                continue;
            };
            let previous = last_health.insert(c.service.clone(), st.health.clone());
            // A heal reports its own recovery (`healthy again`), once.
            let healing = cfg.enabled && trackers.get(&c.service).is_some_and(|t| t.attempts > 0);
            if previous.is_some() && previous.as_ref() != Some(&st.health) {
                // A first starting → healthy is reported by whoever started it (`up`'s
                // progress): the supervisor runs from the start of `up`, so it is no news. Once
                // it was healthy, coming back (after a restart) is.
                let first_health = previous
                    .as_ref()
                    .is_some_and(|p| p.as_deref() == Some("starting"))
                    && !ever_healthy.contains(&c.service);
                if let Some(h) = st
                    .health
                    .as_deref()
                    .filter(|h| *h != "starting" && !(*h == "healthy" && (healing || first_health)))
                {
                    let detail = if h == "healthy" {
                        since_start(st.started_at.as_deref())
                    } else {
                        st.last_health_output.clone().unwrap_or_default()
                    };
                    shared.emit(SupEvent::Health(c.service.clone(), h.to_string(), detail));
                }
            }
            if st.health.as_deref() == Some("healthy") {
                ever_healthy.insert(c.service.clone());
            }
            if !cfg.enabled {
                continue;
            }
            let t = trackers.entry(c.service.clone()).or_default();
            let crash_looping = shared.heal(&c.service, |h| h.crash_looping);
            if st.health.as_deref() == Some("healthy") {
                if t.attempts > 0 {
                    let took = since_start(st.started_at.as_deref());
                    shared.emit(SupEvent::Healed(c.service.clone(), took));
                }
                if std::mem::take(&mut t.dependents_pending) {
                    restart_dependents(&engine, &project, &shared, &controls, &c.service).await;
                }
                t.attempts = 0;
                t.next_allowed = None;
                if crash_looping {
                    shared.heal(&c.service, |h| h.crash_looping = false);
                }
                continue;
            }
            if st.exited() && st.exit_code != Some(0) && t.reported_exit != st.started_at {
                t.reported_exit = st.started_at.clone();
                shared.heal(&c.service, |h| {
                    h.last_exit_code = st.exit_code;
                    h.oom_killed = st.oom_killed;
                });
                let oom = if st.oom_killed { " (OOM-killed)" } else { "" };
                shared.emit(SupEvent::Note(
                    c.service.clone(),
                    format!("exited with code {}{oom}", st.exit_code.unwrap_or(-1)),
                ));
            }
            let unhealthy = st.health.as_deref() == Some("unhealthy")
                && st.failing_streak >= i64::from(cfg.unhealthy_threshold.max(1));
            // One that never was ready is still `up`'s (it waits on it, and fails naming it);
            // healing starts once the engine said healthy or `up` found it ready.
            if !unhealthy
                || !(ever_healthy.contains(&c.service) || controls.was_ready(&c.service))
                || crash_looping
                || t.next_allowed.is_some_and(|n| Instant::now() < n)
            {
                continue;
            }
            let reason = format!("unhealthy ×{}", st.failing_streak);
            if t.attempts < MAX_RESTARTS {
                let grace = project.model.services[&c.service].stop_grace_secs();
                if container::restart(&engine, &c.id, grace).await.is_err() {
                    continue;
                }
                t.attempts += 1;
                record(&shared, &c.service, &reason);
                shared.emit(SupEvent::Restarted(c.service.clone(), reason));
            } else if !shared.heal(&c.service, |h| h.recreated) {
                // Only the create/start matters here; readiness is judged on later ticks.
                recreate(&engine, &project, &c).await;
                shared.heal(&c.service, |h| h.recreated = true);
                record(&shared, &c.service, &format!("{reason}, recreated"));
                shared.emit(SupEvent::Restarted(
                    c.service.clone(),
                    format!("{reason}; recreated after {MAX_RESTARTS} restarts"),
                ));
                t.attempts += 1;
            } else {
                let logs = health::last_log_lines(&engine, &c.id, 10).await;
                shared.heal(&c.service, |h| {
                    h.crash_looping = true;
                    h.last_exit_code = st.exit_code;
                    h.oom_killed = st.oom_killed;
                });
                shared.emit(SupEvent::CrashLoop(
                    c.service.clone(),
                    st.last_health_output.clone().unwrap_or_default(),
                    logs,
                ));
                continue;
            }
            let backoff = Duration::from_secs(1u64 << t.attempts.min(10)).min(cfg.max_backoff);
            t.next_allowed = Some(Instant::now() + backoff);
            t.dependents_pending = true;
        }
    }
}

/// Removes a container and creates it afresh from the service's current spec.
async fn recreate(engine: &Engine, project: &Project, c: &observed::ContainerState) {
    let svc = &project.model.services[&c.service];
    let Ok((image, _)) = build::ensure_image(engine, project, svc, false, true, &|_| {}).await
    else {
        return;
    };
    let _ = container::remove(engine, &c.id).await;
    let spec =
        crate::engine::remote::container_spec_n(engine, project, svc, c.number, &image).await;
    let _ = container::ensure(engine, svc, spec, None, false).await;
}

/// `restart: true` dependents of either kind follow a healed service, through the executor.
async fn restart_dependents(
    engine: &Engine,
    project: &Project,
    shared: &Shared,
    controls: &Controls,
    service: &str,
) {
    let quiet: crate::engine::converge::Reporter = Arc::new(|_| {});
    let ctx = Ctx::new(engine, project, Hosts::Local(controls.clone()), quiet);
    let direct: Vec<(String, Option<String>)> = project
        .graph
        .direct_restart_dependents(service)
        .into_iter()
        .map(|d| (d, Some(service.to_string())))
        .collect();
    let said = |r: &crate::executor::Restarted| {
        if r.skipped {
            shared.emit(SupEvent::Note(r.service.clone(), r.state.clone()));
            return;
        }
        let why = match &r.as_dependent_of {
            Some(d) if d == service => {
                format!("{service} is healthy again and it declares restart: true")
            }
            Some(d) => format!("{d} restarted and it declares restart: true"),
            None => String::new(),
        };
        shared.emit(SupEvent::Restarted(r.service.clone(), why));
    };
    // Dependents are not waited on: auto-heal judges their health on its next ticks.
    let _ =
        crate::executor::restart(&ctx, direct, false, Duration::from_secs(120), None, &said).await;
}

fn since_start(started_at: Option<&str>) -> String {
    started_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            let ms = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds();
            format!("after {:.1}s", ms as f64 / 1000.0)
        })
        .unwrap_or_default()
}

fn record(shared: &Shared, service: &str, reason: &str) {
    shared.heal(service, |h| {
        h.restarts += 1;
        h.last_reason = Some(reason.to_string());
        h.last_action_at = Some(chrono::Utc::now().to_rfc3339());
    });
}
