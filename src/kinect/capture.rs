//! `kinect capture`: a camera thread that never waits on anything downstream, a Redis writer
//! task behind a drop-oldest hand-off, and a reporter that logs stats and keeps the health file
//! fresh. Every status line carries the source (`k4a` or `synthetic`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::device::{DeviceError, K4aSource};
use super::frame::Frame;
use super::handoff::Handoff;
use super::mode::CaptureMode;
use super::publisher::{self, PublishTarget};
use super::stats::{Counters, Health, Reporter, State};
use super::synthetic::SyntheticSource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    K4a,
    Synthetic,
}

impl SourceKind {
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::K4a => "k4a",
            SourceKind::Synthetic => "synthetic",
        }
    }
}

pub struct CaptureOptions {
    pub mode: CaptureMode,
    pub source: SourceKind,
    pub k4a_lib: Option<PathBuf>,
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

/// A status line on stdout, stamped and marked with the source.
fn status(source: &str, message: &str) {
    println!(
        "{} kinect[{source}] {message}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
}

enum Source {
    K4a(K4aSource),
    Synthetic(SyntheticSource),
}

impl Source {
    fn open(opts: &CaptureOptions) -> anyhow::Result<Source> {
        let label = opts.source.label();
        match opts.source {
            SourceKind::Synthetic => {
                let s = SyntheticSource::new(opts.mode)
                    .map_err(|e| anyhow::anyhow!("synthetic color frames: {e}"))?;
                status(
                    label,
                    &format!(
                        "SYNTHETIC frames (no camera): {} at {} fps, color frames ~{} KB",
                        describe(&opts.mode),
                        opts.mode.fps,
                        s.color_frame_bytes() / 1024
                    ),
                );
                Ok(Source::Synthetic(s))
            }
            SourceKind::K4a => {
                let k4a = super::ffi::load(opts.k4a_lib.as_deref())?;
                status(label, &format!("libk4a loaded from {}", k4a.path));
                let s = K4aSource::start(k4a, opts.mode)?;
                status(
                    label,
                    &format!(
                        "cameras started: {} at {} fps",
                        describe(&opts.mode),
                        opts.mode.fps
                    ),
                );
                Ok(Source::K4a(s))
            }
        }
    }

    fn next_frame(&mut self, seq: u64) -> Result<Option<Frame>, DeviceError> {
        match self {
            Source::K4a(s) => s.next_frame(seq),
            Source::Synthetic(s) => Ok(Some(s.next_frame(seq))),
        }
    }
}

fn describe(mode: &CaptureMode) -> String {
    let depth = mode.depth.map_or("depth off".into(), |d| {
        format!("depth {}x{} DEPTH16", d.width, d.height)
    });
    let color = mode.color.map_or("color off".into(), |c| {
        format!("color {}x{} {}", c.width, c.height, c.format.name())
    });
    format!("{depth} + {color}")
}

/// The camera thread: pulls captures at the camera's pace and hands them off; it never blocks
/// on the writer. Returns when stopped, after `frames`, or on a camera failure.
fn camera_loop(
    source: &mut Source,
    handoff: &Handoff,
    counters: &Counters,
    stop: &AtomicBool,
    frames: Option<u64>,
) -> Result<(), DeviceError> {
    let mut seq = 0u64;
    while !stop.load(Relaxed) && frames.is_none_or(|n| seq < n) {
        match source.next_frame(seq)? {
            Some(frame) => {
                counters.captures.fetch_add(1, Relaxed);
                if frame.depth.is_some() {
                    counters.depth_frames.fetch_add(1, Relaxed);
                }
                if frame.color.is_some() {
                    counters.color_frames.fetch_add(1, Relaxed);
                }
                counters.dropped.fetch_add(handoff.push(frame), Relaxed);
                seq += 1;
            }
            None => {
                counters.timeouts.fetch_add(1, Relaxed);
                tracing::debug!("capture timed out; retrying");
            }
        }
    }
    Ok(())
}

pub async fn run(opts: CaptureOptions) -> anyhow::Result<u8> {
    let label = opts.source.label();
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

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let (frames, duration) = (opts.frames, opts.duration);
    {
        let (handoff, counters, stop, span) = (
            handoff.clone(),
            counters.clone(),
            stop.clone(),
            span.clone(),
        );
        std::thread::Builder::new()
            .name("kinect-camera".into())
            .spawn(move || {
                let _entered = span.enter();
                let result = Source::open(&opts).and_then(|mut source| {
                    let _ = ready_tx.send(());
                    let r = camera_loop(&mut source, &handoff, &counters, &stop, frames);
                    // dropping the source stops the cameras and closes the device
                    drop(source);
                    r.map_err(anyhow::Error::from)
                });
                handoff.close();
                let _ = done_tx.send(result);
            })?;
    }

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

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
