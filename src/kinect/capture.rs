//! `kinect capture`: a camera thread that never waits on anything downstream, a Redis writer
//! task behind a drop-oldest hand-off, and a reporter that logs stats and keeps the health file
//! fresh. Every status line carries the source (`k4a`, `synthetic` or `replay`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::handoff::Handoff;
use super::publisher::{self, PublishTarget};
use super::source::{self, shutdown_signal, status, SourceOptions};
use super::stats::{Counters, Health, Reporter, State};

pub struct CaptureOptions {
    pub source: SourceOptions,
    pub redis: String,
    pub stream: String,
    pub maxlen: usize,
    pub queue: usize,
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
    pub health_file: Option<PathBuf>,
}

const STATS_INTERVAL: Duration = Duration::from_secs(5);
/// At the end, queued frames get this long to reach Redis before they count as dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(opts: CaptureOptions) -> anyhow::Result<u8> {
    let label = opts.source.spec.label();
    // WARN level, so that the source label shows on every line the default filter prints.
    let span = tracing::warn_span!("kinect", source = label);
    let mut run = Capture {
        label,
        counters: Arc::new(Counters::default()),
        handoff: Arc::new(Handoff::new(opts.queue)),
        stop: Arc::new(AtomicBool::new(false)),
        reporter: Reporter::new(label, opts.redis.clone(), opts.stream.clone()),
        health_file: opts.health_file.clone(),
    };
    let h = run.reporter.report(&run.counters, State::Starting, 0);
    run.write_health(&h);
    let writer = tokio::spawn(
        publisher::run(
            PublishTarget {
                url: opts.redis.clone(),
                stream: opts.stream.clone(),
                maxlen: opts.maxlen,
                source: label,
            },
            run.handoff.clone(),
            run.counters.clone(),
        )
        .instrument(span.clone()),
    );
    let (frames, duration) = (opts.frames, opts.duration);
    let camera = source::spawn_camera(
        opts.source,
        run.handoff.clone(),
        run.counters.clone(),
        run.stop.clone(),
        frames,
        span.clone(),
    )?;
    let (ready_rx, mut done_rx) = (camera.ready, camera.done);
    let signals = on_signals(label, run.stop.clone());
    // Wait for the source (the synthetic one pre-encodes its frames; the camera starts its
    // depth engine), then report until the camera thread is done.
    let started = ready_rx.await.is_ok();
    let camera_result = if started {
        run.report_until_done(&mut done_rx, duration).await
    } else {
        None
    };
    signals.abort();
    let camera_result = match camera_result {
        Some(r) => r,
        None => done_rx.await.unwrap_or_else(|_| died()),
    };
    run.reporter.mark_stopped();
    let writer_result = run.drain(writer).await;
    let outcome = camera_result.and(writer_result).and(run.publish_outcome());
    run.finish(&outcome, started);
    outcome?;
    Ok(0)
}

fn died() -> anyhow::Result<()> {
    Err(anyhow::anyhow!("the camera thread ended without a result"))
}

/// Ctrl-C / SIGTERM: the camera thread sees the flag within one frame period (or one capture
/// timeout) and stops the cameras itself. A second signal does not wait.
fn on_signals(label: &'static str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        shutdown_signal().await;
        status(label, "stopping (signal; another one exits at once)");
        stop.store(true, Relaxed);
        shutdown_signal().await;
        status(
            label,
            "second signal: exiting without waiting for the camera",
        );
        std::process::exit(1);
    })
}

/// One capture run's shared state: the counters, the hand-off to the writer, the stop flag,
/// and the reporter with its health file.
struct Capture {
    label: &'static str,
    counters: Arc<Counters>,
    handoff: Arc<Handoff>,
    stop: Arc<AtomicBool>,
    reporter: Reporter,
    health_file: Option<PathBuf>,
}

impl Capture {
    fn write_health(&self, h: &Health) {
        if let Some(path) = &self.health_file {
            if let Err(e) = h.write(path) {
                tracing::warn!("cannot write the health file {}: {e}", path.display());
            }
        }
    }

    /// Reports every [`STATS_INTERVAL`] until the camera thread ends (its result) or the
    /// `--duration` is over (the camera is then told to stop, and its result comes later).
    async fn report_until_done(
        &mut self,
        done_rx: &mut tokio::sync::oneshot::Receiver<anyhow::Result<()>>,
        duration: Option<Duration>,
    ) -> Option<anyhow::Result<()>> {
        let label = self.label;
        self.reporter.mark_started();
        let h = self.reporter.report(&self.counters, State::Running, 0);
        self.write_health(&h);
        status(
            label,
            &format!(
                "publishing to {} stream {}",
                self.reporter.redis, self.reporter.stream
            ),
        );
        let deadline = tokio::time::sleep(duration.unwrap_or(Duration::MAX / 4));
        tokio::pin!(deadline);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + STATS_INTERVAL, STATS_INTERVAL);
        loop {
            tokio::select! {
                r = &mut *done_rx => return Some(r.unwrap_or_else(|_| died())),
                _ = ticker.tick() => {
                    let h = self.reporter.report(&self.counters, State::Running, self.handoff.queued());
                    status(label, &h.line(&h.window));
                    self.write_health(&h);
                }
                _ = &mut deadline, if !self.stop.load(Relaxed) && duration.is_some() => {
                    self.stop.store(true, Relaxed);
                }
            }
        }
    }

    /// The hand-off is closed: the writer publishes what is queued, within [`DRAIN_TIMEOUT`];
    /// what is left then counts as dropped.
    async fn drain(
        &self,
        mut writer: tokio::task::JoinHandle<anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        match tokio::time::timeout(DRAIN_TIMEOUT, &mut writer).await {
            Ok(joined) => joined.unwrap_or_else(|e| Err(anyhow::anyhow!("redis writer: {e}"))),
            Err(_) => {
                writer.abort();
                self.counters
                    .dropped
                    .fetch_add(self.handoff.queued() as u64, Relaxed);
                Ok(())
            }
        }
    }

    /// Captures that all failed to reach Redis make the run a failure too.
    fn publish_outcome(&self) -> anyhow::Result<()> {
        let captures = self.counters.captures.load(Relaxed);
        if captures == 0 || self.counters.published.load(Relaxed) > 0 {
            return Ok(());
        }
        Err(anyhow::Error::from(crate::errors::Failed(format!(
            "none of {captures} captures reached redis {} stream {} (last error: {}); fix: \
             check that redis is up (`devstack ps`) and that the key is a stream or absent",
            self.reporter.redis,
            self.reporter.stream,
            self.counters
                .last_error()
                .as_deref()
                .unwrap_or("none reported")
        ))))
    }

    /// The last health file, and the run's summary line (a source that never started has
    /// nothing to sum up: its error says it all).
    fn finish(&mut self, outcome: &anyhow::Result<()>, started: bool) {
        let state = match outcome {
            Ok(()) => State::Stopped,
            Err(e) => {
                self.counters.set_error(format!("{e:#}"));
                State::Failed
            }
        };
        let summary = self
            .reporter
            .report(&self.counters, state, self.handoff.queued());
        self.write_health(&summary);
        if !started {
            return;
        }
        status(
            self.label,
            &format!(
                "{}: {} captures, {} published, {} dropped, {} publish errors, {} timeouts, \
                 {} reconnects; run: {}",
                if state == State::Stopped {
                    "stopped"
                } else {
                    "FAILED"
                },
                summary.captures,
                summary.published,
                summary.dropped,
                summary.publish_errors,
                summary.timeouts,
                summary.reconnects,
                summary.line(&summary.run)
            ),
        );
    }
}
