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
    let counters = Arc::new(Counters::default());
    let handoff = Arc::new(Handoff::new(opts.queue));
    let stop = Arc::new(AtomicBool::new(false));
    let mut reporter = Reporter::new(label, opts.redis.clone(), opts.stream.clone());
    let health_file = opts.health_file.clone();
    let write_health = |h: &Health| {
        if let Some(path) = &health_file {
            if let Err(e) = h.write(path) {
                tracing::warn!("cannot write the health file {}: {e}", path.display());
            }
        }
    };
    write_health(&reporter.report(&counters, State::Starting, 0));

    let writer = tokio::spawn(
        publisher::run(
            PublishTarget {
                url: opts.redis.clone(),
                stream: opts.stream.clone(),
                maxlen: opts.maxlen,
                source: label,
            },
            handoff.clone(),
            counters.clone(),
        )
        .instrument(span.clone()),
    );

    let (frames, duration) = (opts.frames, opts.duration);
    let camera = source::spawn_camera(
        opts.source,
        handoff.clone(),
        counters.clone(),
        stop.clone(),
        frames,
        span.clone(),
    )?;
    let (ready_rx, mut done_rx) = (camera.ready, camera.done);

    // Ctrl-C / SIGTERM: the camera thread sees the flag within one frame period (or one
    // capture timeout) and stops the cameras itself. A second signal does not wait.
    let signals = {
        let stop = stop.clone();
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
    };
    let died = || Err(anyhow::anyhow!("the camera thread ended without a result"));

    // Wait for the source (the synthetic one pre-encodes its frames; the camera starts its
    // depth engine), then report until the camera thread is done.
    let mut camera_result = None;
    let started = ready_rx.await.is_ok();
    if started {
        reporter.mark_started();
        write_health(&reporter.report(&counters, State::Running, 0));
        status(
            label,
            &format!(
                "publishing to {} stream {}",
                reporter.redis, reporter.stream
            ),
        );
        let deadline = tokio::time::sleep(duration.unwrap_or(Duration::MAX / 4));
        tokio::pin!(deadline);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + STATS_INTERVAL, STATS_INTERVAL);
        loop {
            tokio::select! {
                r = &mut done_rx => {
                    camera_result = Some(r.unwrap_or_else(|_| died()));
                    break;
                }
                _ = ticker.tick() => {
                    let h = reporter.report(&counters, State::Running, handoff.queued());
                    status(label, &h.line(&h.window));
                    write_health(&h);
                }
                _ = &mut deadline, if !stop.load(Relaxed) && duration.is_some() => {
                    stop.store(true, Relaxed);
                }
            }
        }
    }
    signals.abort();
    let camera_result = match camera_result {
        Some(r) => r,
        None => done_rx.await.unwrap_or_else(|_| died()),
    };
    reporter.mark_stopped();

    // The hand-off is closed: let the writer publish what is queued, within limits.
    let mut writer = writer;
    let writer_result = match tokio::time::timeout(DRAIN_TIMEOUT, &mut writer).await {
        Ok(joined) => joined.unwrap_or_else(|e| Err(anyhow::anyhow!("redis writer: {e}"))),
        Err(_) => {
            writer.abort();
            counters.dropped.fetch_add(handoff.queued() as u64, Relaxed);
            Ok(())
        }
    };
    // Captures that all failed to reach Redis make the run a failure too.
    let captures = counters.captures.load(Relaxed);
    let publish_result = if captures > 0 && counters.published.load(Relaxed) == 0 {
        Err(anyhow::Error::from(crate::errors::Failed(format!(
            "none of {captures} captures reached redis {} stream {} (last error: {}); fix: \
             check that redis is up (`devstack ps`) and that the key is a stream or absent",
            reporter.redis,
            reporter.stream,
            counters.last_error().as_deref().unwrap_or("none reported")
        ))))
    } else {
        Ok(())
    };
    let outcome = camera_result.and(writer_result).and(publish_result);
    let state = match &outcome {
        Ok(()) => State::Stopped,
        Err(e) => {
            counters.set_error(format!("{e:#}"));
            State::Failed
        }
    };
    let summary = reporter.report(&counters, state, handoff.queued());
    write_health(&summary);
    // A source that never started has nothing to sum up: its error says it all.
    if started {
        status(
            label,
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
    outcome?;
    Ok(0)
}
