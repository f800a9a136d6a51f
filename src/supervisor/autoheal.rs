//! Auto-heal: Docker restarts a container that exits, never one that turns unhealthy
//! (moby#28400). After `unhealthy_threshold` consecutive failed checks the container is
//! restarted; repeated failures back off exponentially up to `max_backoff`; after
//! `MAX_RESTARTS` restarts without becoming healthy it is recreated once, then reported as
//! crash-looping and left alone. Dependents that declare `restart: true` follow it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::walks::Walks;
use super::{Controls, Shared, SupEvent};
use crate::engine::{build, container, health, observed, Engine};
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

pub async fn run(
    engine: Engine,
    project: Arc<Project>,
    shared: Arc<Shared>,
    controls: Controls,
    walks: Arc<dyn Walks>,
) {
    let mut monitor = health::Monitor::start(&engine, &project.name);
    let mut healer = Healer {
        cfg: project.model.x_devstack.autoheal.clone(),
        jobs: project.graph.one_shot_jobs(),
        engine,
        project,
        shared,
        controls,
        walks,
        trackers: HashMap::new(),
        ever_healthy: Default::default(),
        last_health: HashMap::new(),
    };
    loop {
        monitor.next(Duration::from_secs(2)).await;
        let Ok(list) = observed::list(&healer.engine, &healer.project.name).await else {
            continue;
        };
        for c in list {
            healer.look(&c).await;
        }
    }
}

/// Auto-heal's memory across ticks.
struct Healer {
    engine: Engine,
    project: Arc<Project>,
    shared: Arc<Shared>,
    controls: Controls,
    walks: Arc<dyn Walks>,
    cfg: crate::project::model::Autoheal,
    jobs: indexmap::IndexSet<String>,
    trackers: HashMap<String, Tracker>,
    /// Services seen healthy by this supervisor: healing starts then (before, `up` waits on
    /// them and fails naming them), and only their later recoveries are news.
    ever_healthy: std::collections::HashSet<String>,
    /// Health transitions are reported whether or not healing is enabled.
    last_health: HashMap<String, Option<String>>,
}

impl Healer {
    /// One container at one tick: its health news, then healing when enabled.
    async fn look(&mut self, c: &observed::ContainerState) {
        let svc = &c.service;
        if !self.project.model.services.contains_key(svc) || self.jobs.contains(svc) {
            return;
        }
        let Ok(st) = observed::inspect(&self.engine, &c.id).await else {
            return;
        };
        self.report_health(svc, &st);
        if st.health.as_deref() == Some("healthy") {
            self.ever_healthy.insert(svc.clone());
        }
        if !self.cfg.enabled {
            return;
        }
        if st.health.as_deref() == Some("healthy") {
            return self.recovered(svc, &st).await;
        }
        self.note_exit(svc, &st);
        self.heal(c, &st).await;
    }

    /// A health transition, as news (not the first starting → healthy, which whoever
    /// started it reports, nor a heal's own recovery, which says `healthy again`).
    fn report_health(&mut self, svc: &str, st: &observed::ContainerState) {
        let previous = self.last_health.insert(svc.to_string(), st.health.clone());
        let healing = self.cfg.enabled && self.trackers.get(svc).is_some_and(|t| t.attempts > 0);
        if previous.is_none() || previous.as_ref() == Some(&st.health) {
            return;
        }
        // The supervisor runs from the start of `up`; once it was healthy, coming back (after
        // a restart) is news.
        let first_health = previous
            .as_ref()
            .is_some_and(|p| p.as_deref() == Some("starting"))
            && !self.ever_healthy.contains(svc);
        let Some(h) = st
            .health
            .as_deref()
            .filter(|h| *h != "starting" && !(*h == "healthy" && (healing || first_health)))
        else {
            return;
        };
        let detail = if h == "healthy" {
            since_start(st.started_at.as_deref())
        } else {
            st.last_health_output.clone().unwrap_or_default()
        };
        self.shared
            .emit(SupEvent::Health(svc.to_string(), h.to_string(), detail));
    }

    /// Healthy (again): its healing ends, and its `restart: true` dependents follow a heal.
    async fn recovered(&mut self, svc: &str, st: &observed::ContainerState) {
        let t = self.trackers.entry(svc.to_string()).or_default();
        if t.attempts > 0 {
            let took = since_start(st.started_at.as_deref());
            self.shared.emit(SupEvent::Healed(svc.to_string(), took));
        }
        let follow = std::mem::take(&mut t.dependents_pending);
        t.attempts = 0;
        t.next_allowed = None;
        if follow {
            restart_dependents(
                &self.engine,
                &self.project,
                &self.shared,
                &self.controls,
                self.walks.as_ref(),
                svc,
            )
            .await;
        }
        if self.shared.heal(svc, |h| h.crash_looping) {
            self.shared.heal(svc, |h| h.crash_looping = false);
        }
    }

    /// A failed exit, reported once per run (by its start time).
    fn note_exit(&mut self, svc: &str, st: &observed::ContainerState) {
        let t = self.trackers.entry(svc.to_string()).or_default();
        if !st.exited() || st.exit_code == Some(0) || t.reported_exit == st.started_at {
            return;
        }
        t.reported_exit = st.started_at.clone();
        self.shared.heal(svc, |h| {
            h.last_exit_code = st.exit_code;
            h.oom_killed = st.oom_killed;
        });
        let oom = if st.oom_killed { " (OOM-killed)" } else { "" };
        self.shared.emit(SupEvent::Note(
            svc.to_string(),
            format!("exited with code {}{oom}", st.exit_code.unwrap_or(-1)),
        ));
    }

    /// Unhealthy past its threshold, once it was ready and its backoff passed: restarted,
    /// recreated once after `MAX_RESTARTS`, then reported crash-looping and left alone.
    async fn heal(&mut self, c: &observed::ContainerState, st: &observed::ContainerState) {
        let svc = &c.service;
        let crash_looping = self.shared.heal(svc, |h| h.crash_looping);
        let unhealthy = st.health.as_deref() == Some("unhealthy")
            && st.failing_streak >= i64::from(self.cfg.unhealthy_threshold.max(1));
        let t = self.trackers.entry(svc.clone()).or_default();
        // One that never was ready is still `up`'s (it waits on it, and fails naming it);
        // healing starts once the engine said healthy or `up` found it ready.
        if !unhealthy
            || !(self.ever_healthy.contains(svc) || self.controls.was_ready(svc))
            || crash_looping
            || t.next_allowed.is_some_and(|n| Instant::now() < n)
        {
            return;
        }
        let attempts = t.attempts;
        let reason = format!("unhealthy ×{}", st.failing_streak);
        let (engine, shared) = (&self.engine, &self.shared);
        if attempts < MAX_RESTARTS {
            let grace = self.project.model.services[svc].stop_grace_secs();
            if container::restart(engine, &c.id, grace).await.is_err() {
                return;
            }
            record(shared, svc, &reason);
            shared.emit(SupEvent::Restarted(svc.clone(), reason));
        } else if !shared.heal(svc, |h| h.recreated) {
            // Only the create/start matters here; readiness is judged on later ticks.
            recreate(engine, &self.project, c).await;
            shared.heal(svc, |h| h.recreated = true);
            record(shared, svc, &format!("{reason}, recreated"));
            shared.emit(SupEvent::Restarted(
                svc.clone(),
                format!("{reason}; recreated after {MAX_RESTARTS} restarts"),
            ));
        } else {
            let logs = health::last_log_lines(engine, &c.id, 10).await;
            shared.heal(svc, |h| {
                h.crash_looping = true;
                h.last_exit_code = st.exit_code;
                h.oom_killed = st.oom_killed;
            });
            let out = st.last_health_output.clone().unwrap_or_default();
            shared.emit(SupEvent::CrashLoop(svc.clone(), out, logs));
            return;
        }
        let t = self.trackers.entry(svc.clone()).or_default();
        t.attempts += 1;
        let backoff = Duration::from_secs(1u64 << t.attempts.min(10)).min(self.cfg.max_backoff);
        t.next_allowed = Some(Instant::now() + backoff);
        t.dependents_pending = true;
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

/// `restart: true` dependents of either kind follow a healed service, through the walks above.
async fn restart_dependents(
    engine: &Engine,
    project: &Project,
    shared: &Shared,
    controls: &Controls,
    walks: &dyn Walks,
    service: &str,
) {
    // Dependents are not waited on: auto-heal judges their health on its next ticks.
    let followed = walks
        .restart_dependents(engine, project, controls.clone(), service)
        .await;
    for f in followed {
        if f.skipped {
            shared.emit(SupEvent::Note(f.service, f.state));
            continue;
        }
        let why = match &f.because {
            Some(d) if d == service => {
                format!("{service} is healthy again and it declares restart: true")
            }
            Some(d) => format!("{d} restarted and it declares restart: true"),
            None => String::new(),
        };
        shared.emit(SupEvent::Restarted(f.service, why));
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
