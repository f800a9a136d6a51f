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
    let has_hc = healthcheck.is_some_and(Healthcheck::enabled);
    let want = match want {
        Want::Ready if has_hc => Want::Healthy,
        Want::Ready => Want::Running,
        w => w,
    };
    if want == Want::Healthy && !has_hc {
        return Err(WaitFailure {
            service: service.into(),
            reason: "a dependent waits for it to be healthy, but it has no healthcheck: add one, or use condition: service_started".into(),
            state: None,
            last_logs: vec![],
        });
    }
    let probe_every = Duration::from_millis(100);
    let mut last_probe = Instant::now() - probe_every;
    loop {
        let st = match observed::inspect(engine, id).await {
            Ok(st) => {
                on_state(&st);
                st
            }
            Err(e) => {
                return Err(WaitFailure {
                    service: service.into(),
                    reason: format!("its container disappeared: {e}"),
                    state: None,
                    last_logs: vec![],
                })
            }
        };
        let fail = |reason: String, st: ContainerState| async move {
            let last_logs = last_log_lines(engine, &st.id, 20).await;
            Err(WaitFailure {
                service: service.into(),
                reason,
                state: Some(st),
                last_logs,
            })
        };
        match want {
            Want::Running if st.running() => return Ok(st),
            Want::Healthy if st.health.as_deref() == Some("healthy") => return Ok(st),
            Want::Completed if st.exited() && st.exit_code == Some(0) => return Ok(st),
            Want::Completed if st.exited() => {
                let code = st.exit_code.unwrap_or(-1);
                return fail(
                    format!("exited with code {code}; dependents need it to complete successfully"),
                    st,
                )
                .await;
            }
            Want::Running | Want::Healthy if st.exited() => {
                let code = st.exit_code.unwrap_or(-1);
                return fail(format!("exited with code {code} before it was ready"), st).await;
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            let what = match want {
                Want::Healthy => "healthy",
                Want::Completed => "completed",
                _ => "running",
            };
            return fail(
                format!("not {what} within the timeout (raise it with --wait-timeout)"),
                st,
            )
            .await;
        }
        // Fast readiness: run the test ourselves while the engine still says "starting".
        if want == Want::Healthy
            && st.running()
            && st.health.as_deref() == Some("starting")
            && fast_ready_enabled()
        {
            if let Some(hc) = healthcheck {
                if last_probe.elapsed() >= probe_every {
                    last_probe = Instant::now();
                    if super::container::exec_probe(engine, id, hc).await {
                        return Ok(ContainerState {
                            health: Some("healthy".into()),
                            ..st
                        });
                    }
                }
                monitor
                    .next(probe_every.min(deadline.saturating_duration_since(Instant::now())))
                    .await;
                continue;
            }
        }
        let wait = Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now()));
        monitor.next(wait).await;
    }
}
