//! Auto-heal: Docker restarts a container that exits, never one that turns unhealthy
//! (moby#28400). After `unhealthy_threshold` consecutive failed checks the container is
//! restarted; repeated failures back off exponentially up to `max_backoff`; after
//! `MAX_RESTARTS` restarts without becoming healthy it is recreated once, then reported as
//! crash-looping and left alone. Dependents that declare `restart: true` follow it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Shared, SupEvent};
use crate::engine::{converge, health, observed, Engine};
use crate::project::{graph, Project};

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

pub async fn run(engine: Engine, project: Arc<Project>, shared: Arc<Shared>) {
    let cfg = project.model.x_devstack.autoheal.clone();
    let jobs: Vec<String> = project
        .model
        .services
        .values()
        .flat_map(|s| s.depends_on.iter())
        .filter(|(_, d)| {
            d.condition == crate::project::model::Condition::ServiceCompletedSuccessfully
        })
        .map(|(n, _)| n.clone())
        .collect();
    let mut monitor = health::Monitor::start(&engine, &project.name);
    let mut trackers: HashMap<String, Tracker> = HashMap::new();
    // Health transitions are reported whether or not healing is enabled.
    let mut last_health: HashMap<String, Option<String>> = HashMap::new();
    // Containers started before us were reported ready by the `up` that started us (it
    // trusts its own probe, and the engine catches up later): that is no news.
    let began = chrono::Utc::now();
    let started_before_us = |started_at: Option<&str>| {
        started_at
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t < began)
    };
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
                let first_health = previous
                    .as_ref()
                    .is_some_and(|p| p.as_deref() == Some("starting"))
                    && started_before_us(st.started_at.as_deref());
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
                    restart_dependents(&engine, &project, &shared, &c.service).await;
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
            if !unhealthy || crash_looping || t.next_allowed.is_some_and(|n| Instant::now() < n) {
                continue;
            }
            let reason = format!("unhealthy ×{}", st.failing_streak);
            if t.attempts < MAX_RESTARTS {
                let grace = project.model.services[&c.service].stop_grace_secs();
                if converge::restart_container(&engine, &c.id, grace)
                    .await
                    .is_err()
                {
                    continue;
                }
                t.attempts += 1;
                record(&shared, &c.service, &reason);
                shared.emit(SupEvent::Restarted(c.service.clone(), reason));
            } else if !shared.heal(&c.service, |h| h.recreated) {
                let _ = converge::remove_container(&engine, &c.id).await;
                let opts = converge::UpOptions {
                    services: vec![c.service.clone()],
                    force_build: false,
                    no_build: true,
                    timeout: Duration::from_secs(1),
                    skip_preflight: false,
                };
                // Only the create/start matters here; readiness is judged on later ticks.
                let _ = converge::up(&engine, &project, opts, Arc::new(|_| {})).await;
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

async fn restart_dependents(engine: &Engine, project: &Project, shared: &Shared, service: &str) {
    let Ok(containers) = observed::list(engine, &project.name).await else {
        return;
    };
    for dep in graph::restart_dependents(&project.model, service) {
        let Some(d) = containers.iter().find(|x| x.service == dep) else {
            continue;
        };
        let grace = project.model.services[&dep].stop_grace_secs();
        if converge::restart_container(engine, &d.id, grace)
            .await
            .is_ok()
        {
            shared.emit(SupEvent::Restarted(
                dep.clone(),
                format!("{service} is healthy again and it declares restart: true"),
            ));
        }
    }
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
