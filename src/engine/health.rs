//! Waiting for `depends_on` conditions: one engine event subscription per command
//! (`start`, `die`, `oom`, `health_status`) wakes the waiters, which then inspect; a periodic
//! inspect is the fallback when an event is missed. During start-up devstack also runs the
//! service's own healthcheck test itself (exec) at a short interval, so dependents start as soon
//! as a dependency is really ready instead of at the engine's next health tick
//! (`DEVSTACK_FAST_READY=0` turns it off; the engine's status is the truth after start-up).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::{EventsOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::observed::{self, ContainerState};
use super::{labels, Engine};
use crate::project::model::Healthcheck;

/// Wakes waiters whenever the engine reports something about the project's containers.
#[derive(Clone)]
pub struct Monitor {
    rx: watch::Receiver<u64>,
}

impl Monitor {
    /// Subscribes now (the stream is polled at once, so no event after this call is missed).
    pub fn start(engine: &Engine, project: &str) -> Monitor {
        let (tx, rx) = watch::channel(0u64);
        let docker = engine.docker.clone();
        let label = labels::project_filter(project);
        tokio::spawn(async move {
            loop {
                let since = chrono::Utc::now().timestamp().to_string();
                let filters = HashMap::from([
                    ("type", vec!["container"]),
                    (
                        "event",
                        vec!["start", "die", "oom", "health_status", "destroy", "restart"],
                    ),
                    ("label", vec![label.as_str()]),
                ]);
                let opts = EventsOptionsBuilder::default()
                    .since(&since)
                    .filters(&filters)
                    .build();
                let mut events = docker.events(Some(opts));
                while let Some(ev) = events.next().await {
                    if ev.is_err() {
                        break;
                    }
                    tx.send_modify(|g| *g += 1);
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Monitor { rx }
    }

    /// Returns after the next event or `max`, whichever comes first.
    pub async fn next(&mut self, max: Duration) {
        let _ = tokio::time::timeout(max, self.rx.changed()).await;
    }
}

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Running,
    Healthy,
    Completed,
    /// Healthy when it has a healthcheck, else running (what `up -d` returns on).
    Ready,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct WaitFailure {
    pub service: String,
    pub reason: String,
    pub state: Option<ContainerState>,
    pub last_logs: Vec<String>,
}

impl WaitFailure {
    fn describe(&self) -> String {
        let mut s = format!("service {}: {}", self.service, self.reason);
        if let Some(st) = &self.state {
            s.push_str(&format!("\n  state: {}", st.status));
            if let Some(h) = &st.health {
                s.push_str(&format!(", health: {h}"));
            }
            if let Some(code) = st.exit_code.filter(|_| !st.running()) {
                s.push_str(&format!(", exit code: {code}"));
            }
            if st.oom_killed {
                s.push_str(" (OOM-killed: raise its memory limit)");
            }
            if let Some(out) = st.last_health_output.as_deref().filter(|o| !o.is_empty()) {
                s.push_str(&format!("\n  last health check output: {out}"));
            }
        }
        if !self.last_logs.is_empty() {
            s.push_str(&format!("\n  last {} log lines:", self.last_logs.len()));
            for l in &self.last_logs {
                s.push_str(&format!("\n    {l}"));
            }
        }
        s
    }
}

pub async fn last_log_lines(engine: &Engine, id: &str, n: usize) -> Vec<String> {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&n.to_string())
        .build();
    let mut stream = engine.docker.logs(id, Some(opts));
    let mut buf = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    buf.lines().map(str::to_string).collect()
}

fn fast_ready_enabled() -> bool {
    std::env::var("DEVSTACK_FAST_READY")
        .map(|v| v != "0")
        .unwrap_or(true)
}

/// Waits until `id` (service `service`) satisfies `want`, or fails with the story.
pub async fn wait_for(
    engine: &Engine,
    monitor: &Monitor,
    service: &str,
    id: &str,
    want: Want,
    healthcheck: Option<&Healthcheck>,
    deadline: Instant,
) -> Result<ContainerState, WaitFailure> {
    wait_watching(
        engine,
        monitor,
        service,
        id,
        want,
        healthcheck,
        deadline,
        &|_| {},
    )
    .await
}

/// [`wait_for`], showing each state it sees to `on_state` (progress: the last health output
/// of a service that takes minutes to start, such as a model download).
#[allow(clippy::too_many_arguments)]
pub async fn wait_watching(
    engine: &Engine,
    monitor: &Monitor,
    service: &str,
    id: &str,
    want: Want,
    healthcheck: Option<&Healthcheck>,
    deadline: Instant,
    on_state: &(dyn Fn(&ContainerState) + Sync),
) -> Result<ContainerState, WaitFailure> {
    let mut monitor = monitor.clone();
    let want = resolve(want, healthcheck).ok_or_else(|| WaitFailure {
        service: service.into(),
        reason: "a dependent waits for it to be healthy, but it has no healthcheck: add one, or use condition: service_started".into(),
        state: None,
        last_logs: vec![],
    })?;
    let probe_every = PROBE_EVERY;
    let mut last_probe = Instant::now() - probe_every;
    let fast = healthcheck.filter(|_| fast_ready_enabled());
    loop {
        let st = observed::inspect(engine, id)
            .await
            .map_err(|e| WaitFailure {
                service: service.into(),
                reason: format!("its container disappeared: {e}"),
                state: None,
                last_logs: vec![],
            })?;
        on_state(&st);
        let left = deadline.saturating_duration_since(Instant::now());
        match judge(want, &st, left.is_zero(), fast.is_some()) {
            Verdict::Ready => return Ok(st),
            Verdict::Failed(reason) => {
                let last_logs = last_log_lines(engine, &st.id, 20).await;
                return Err(WaitFailure {
                    service: service.into(),
                    reason,
                    state: Some(st),
                    last_logs,
                });
            }
            // Fast readiness: run the test ourselves while the engine still says "starting".
            // Probes start `probe_every` apart (the exec's own time counts toward the wait).
            Verdict::Probe => {
                if let Some(hc) = fast.filter(|_| last_probe.elapsed() >= probe_every) {
                    last_probe = Instant::now();
                    if super::container::exec_probe(engine, id, hc).await {
                        return Ok(ContainerState {
                            health: Some("healthy".into()),
                            ..st
                        });
                    }
                }
                let next_probe = probe_every.saturating_sub(last_probe.elapsed());
                monitor.next(next_probe.min(left)).await;
            }
            Verdict::Wait => monitor.next(Duration::from_secs(1).min(left)).await,
        }
    }
}

/// How often devstack runs a starting service's healthcheck itself: a ready service is seen
/// within this (plus the exec's own time).
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// `Ready` made precise by the healthcheck; `None`: `Healthy` without one, which cannot be
/// waited for.
fn resolve(want: Want, healthcheck: Option<&Healthcheck>) -> Option<Want> {
    let has_hc = healthcheck.is_some_and(Healthcheck::enabled);
    match want {
        Want::Ready if has_hc => Some(Want::Healthy),
        Want::Ready => Some(Want::Running),
        Want::Healthy if !has_hc => None,
        w => Some(w),
    }
}

/// What one look at a container tells a waiter.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Ready,
    Failed(String),
    /// Running and starting under its healthcheck: devstack may run the test itself.
    Probe,
    /// Not yet: look again after the next event (or a second).
    Wait,
}

/// The waiter's state machine: `want` against one inspect, `timed_out` when the deadline
/// passed, `fast` when devstack runs the healthcheck itself during start-up.
fn judge(want: Want, st: &ContainerState, timed_out: bool, fast: bool) -> Verdict {
    let code = st.exit_code.unwrap_or(-1);
    match want {
        Want::Running if st.running() => return Verdict::Ready,
        Want::Healthy if st.health.as_deref() == Some("healthy") => return Verdict::Ready,
        Want::Completed if st.exited() && st.exit_code == Some(0) => return Verdict::Ready,
        Want::Completed if st.exited() => {
            return Verdict::Failed(format!(
                "exited with code {code}; dependents need it to complete successfully"
            ))
        }
        Want::Running | Want::Healthy if st.exited() => {
            return Verdict::Failed(format!("exited with code {code} before it was ready"))
        }
        _ => {}
    }
    if timed_out {
        let what = match want {
            Want::Healthy => "healthy",
            Want::Completed => "completed",
            _ => "running",
        };
        return Verdict::Failed(format!(
            "not {what} within the timeout (raise it with --wait-timeout)"
        ));
    }
    if want == Want::Healthy && fast && st.running() && st.health.as_deref() == Some("starting") {
        return Verdict::Probe;
    }
    Verdict::Wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str, health: Option<&str>, exit: Option<i64>) -> ContainerState {
        ContainerState {
            status: status.into(),
            health: health.map(str::to_string),
            exit_code: exit,
            ..Default::default()
        }
    }

    fn hc() -> Healthcheck {
        Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }
    }

    #[test]
    fn ready_means_healthy_with_a_healthcheck_and_running_without() {
        assert_eq!(resolve(Want::Ready, Some(&hc())), Some(Want::Healthy));
        assert_eq!(resolve(Want::Ready, None), Some(Want::Running));
        assert_eq!(resolve(Want::Completed, None), Some(Want::Completed));
        assert_eq!(resolve(Want::Healthy, None), None);
        assert_eq!(resolve(Want::Healthy, Some(&hc())), Some(Want::Healthy));
    }

    #[test]
    fn a_waiter_answers_on_the_state_it_wants() {
        let running = state("running", None, None);
        assert_eq!(judge(Want::Running, &running, false, true), Verdict::Ready);
        let healthy = state("running", Some("healthy"), None);
        assert_eq!(judge(Want::Healthy, &healthy, false, true), Verdict::Ready);
        let done = state("exited", None, Some(0));
        assert_eq!(judge(Want::Completed, &done, false, false), Verdict::Ready);
        // A job still running is not done, and not late before the deadline.
        assert_eq!(
            judge(Want::Completed, &running, false, false),
            Verdict::Wait
        );
    }

    #[test]
    fn an_exit_fails_the_wait_with_its_code() {
        let crashed = state("exited", None, Some(3));
        for want in [Want::Running, Want::Healthy] {
            assert_eq!(
                judge(want, &crashed, false, true),
                Verdict::Failed("exited with code 3 before it was ready".into())
            );
        }
        assert_eq!(
            judge(Want::Completed, &crashed, false, true),
            Verdict::Failed(
                "exited with code 3; dependents need it to complete successfully".into()
            )
        );
    }

    #[test]
    fn starting_is_probed_when_fast_readiness_is_on_and_times_out_at_the_deadline() {
        let starting = state("running", Some("starting"), None);
        assert_eq!(judge(Want::Healthy, &starting, false, true), Verdict::Probe);
        assert_eq!(judge(Want::Healthy, &starting, false, false), Verdict::Wait);
        assert_eq!(
            judge(Want::Healthy, &starting, true, true),
            Verdict::Failed("not healthy within the timeout (raise it with --wait-timeout)".into())
        );
        let unhealthy = state("running", Some("unhealthy"), None);
        assert_eq!(judge(Want::Healthy, &unhealthy, false, true), Verdict::Wait);
    }
}
