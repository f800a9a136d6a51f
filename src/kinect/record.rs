//! `kinect record FILE.mkv`: the capture's camera thread and drop-oldest hand-off, with a file
//! writer instead of the Redis writer. The camera never waits on the disk: a slow disk drops
//! the oldest queued captures and counts them. Ctrl-C (or `--frames`/`--duration`) ends the
//! recording cleanly: queued captures are written, then the Cues, SeekHead and sizes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::handoff::Handoff;
use super::recording::writer::{Recorder, Setup, WriteError};
use super::source::{self, shutdown_signal, status, SourceOptions, SourceSpec, Started};
use super::stats::Counters;
use crate::errors::{Failed, UsageError};

pub struct RecordOptions {
    pub source: SourceOptions,
    pub path: PathBuf,
    pub overwrite: bool,
    pub queue: usize,
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
    pub json: bool,
}

/// The end-of-recording summary (`--json` prints it).
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub file: PathBuf,
    pub source: &'static str,
    pub captures: u64,
    pub written: u64,
    /// Dropped oldest-first while the disk was behind, plus captures whose timestamps went
    /// back (they cannot be appended).
    pub dropped: u64,
    pub bytes: u64,
    pub recorded_s: f64,
    pub wall_s: f64,
    pub written_per_s: f64,
}

fn setup(started: &Started, label: &str) -> Setup {
    let m = &started.mode;
    Setup {
        depth: m.depth.map(|d| (d.width, d.height)),
        ir: started.ir,
        color: m.color.map(|c| (c.width, c.height, c.format)),
        fps: m.fps,
        serial: started.facts.serial.clone(),
        firmware: started.facts.firmware.clone(),
        calibration: started.facts.calibration.clone(),
        source: label.to_string(),
    }
}

/// Writes frames until the hand-off is closed and drained; a disk error stops the camera.
async fn write_frames(
    mut rec: Recorder,
    handoff: Arc<Handoff>,
    written: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    skipped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<Option<super::recording::writer::Summary>, WriteError> {
    while let Some(frame) = handoff.pop().await {
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = rec.write(&frame);
            (rec, r)
        })
        .await
        .map_err(|e| WriteError::Write {
            path: PathBuf::new(),
            err: std::io::Error::other(e.to_string()),
        })?;
        rec = back;
        match result {
            Ok(true) => {
                written.fetch_add(1, Relaxed);
                bytes.store(rec.summary().bytes, Relaxed);
            }
            Ok(false) => {
                skipped.fetch_add(1, Relaxed);
            }
            Err(e) => {
                stop.store(true, Relaxed);
                return Err(e);
            }
        }
    }
    tokio::task::spawn_blocking(move || rec.finish())
        .await
        .map_err(|e| WriteError::Write {
            path: PathBuf::new(),
            err: std::io::Error::other(e.to_string()),
        })?
}

/// The live progress line: on a terminal a redrawn line on stderr, elsewhere a status line
/// every 5 s.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
}

impl Progress {
    fn new() -> Progress {
        let live = crate::ui::stderr_is_tty() && std::env::var_os("CI").is_none();
        let bar = live.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            last_line: Instant::now(),
        }
    }

    fn show(&mut self, label: &str, line: String) {
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                status(label, &line);
            }
            None => {}
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub async fn run(opts: RecordOptions) -> anyhow::Result<u8> {
    let label = opts.source.spec.label();
    if let SourceSpec::Replay(input) = &opts.source.spec {
        let same = std::fs::canonicalize(input).ok() == std::fs::canonicalize(&opts.path).ok();
        if same && opts.path.exists() {
            return Err(UsageError(format!(
                "{} is both the replayed recording and the output; record to another file",
                opts.path.display()
            ))
            .into());
        }
    }
    // Fail on the path before a camera starts.
    let file =
        Recorder::open_file(&opts.path, opts.overwrite).map_err(|e| UsageError(e.to_string()))?;
    let span = tracing::warn_span!("kinect", source = label);
    let counters = Arc::new(Counters::default());
    let handoff = Arc::new(Handoff::new(opts.queue));
    let stop = Arc::new(AtomicBool::new(false));
    let camera = source::spawn_camera(
        opts.source.clone(),
        handoff.clone(),
        counters.clone(),
        stop.clone(),
        opts.frames,
        span,
    )?;
    let signals = {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            status(
                label,
                "stopping: finishing the file (another signal exits at once)",
            );
            stop.store(true, Relaxed);
            shutdown_signal().await;
            std::process::exit(1);
        })
    };
    let Ok(started) = camera.ready.await else {
        signals.abort();
        drop(file);
        let _ = std::fs::remove_file(&opts.path);
        let err = camera
            .done
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the camera thread ended without a result")));
        return Err(err
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("the source did not start")));
    };
    let outcome = record(
        opts,
        label,
        file,
        started,
        camera.done,
        counters,
        handoff,
        stop,
    )
    .await;
    signals.abort();
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn record(
    opts: RecordOptions,
    label: &'static str,
    file: std::fs::File,
    started: Started,
    mut done: tokio::sync::oneshot::Receiver<anyhow::Result<()>>,
    counters: Arc<Counters>,
    handoff: Arc<Handoff>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<u8> {
    let rec = Recorder::new(file, &opts.path, setup(&started, label));
    status(
        label,
        &format!(
            "recording to {}{}",
            opts.path.display(),
            if started.ir {
                " (color, depth and IR)"
            } else {
                ""
            }
        ),
    );
    let (written, bytes, skipped) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut writer = tokio::spawn(write_frames(
        rec,
        handoff.clone(),
        written.clone(),
        bytes.clone(),
        skipped.clone(),
        stop.clone(),
    ));
    let begin = Instant::now();
    let mut progress = Progress::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let deadline = tokio::time::sleep(opts.duration.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    let camera_result = loop {
        tokio::select! {
            r = &mut done => break r.unwrap_or_else(|_| Err(anyhow::anyhow!("the camera thread ended without a result"))),
            _ = tick.tick() => progress.show(label, format!(
                "{} frames · {:.1} MB · {} dropped · {:.1} s",
                written.load(Relaxed),
                bytes.load(Relaxed) as f64 / 1e6,
                counters.dropped.load(Relaxed) + skipped.load(Relaxed),
                begin.elapsed().as_secs_f64()
            )),
            _ = &mut deadline, if opts.duration.is_some() && !stop.load(Relaxed) => stop.store(true, Relaxed),
        }
    };
    let summary = (&mut writer)
        .await
        .map_err(|e| anyhow::anyhow!("recording writer: {e}"))?;
    progress.done();
    let summary = summary.map_err(|e| Failed(e.to_string()))?;
    camera_result?;
    let Some(summary) = summary else {
        return Err(Failed(format!(
            "no capture arrived, so nothing was recorded ({} was not kept)",
            opts.path.display()
        ))
        .into());
    };
    let wall_s = begin.elapsed().as_secs_f64();
    let outcome = Outcome {
        file: opts.path.clone(),
        source: label,
        captures: counters.captures.load(Relaxed),
        written: summary.captures,
        dropped: counters.dropped.load(Relaxed) + skipped.load(Relaxed),
        bytes: summary.bytes,
        recorded_s: summary.duration_ns as f64 / 1e9,
        wall_s,
        written_per_s: summary.captures as f64 / wall_s.max(1e-9),
    };
    report(&outcome, opts.json)?;
    Ok(0)
}

/// The summary: JSON on stdout with `--json`, else a status line.
fn report(o: &Outcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(o)?);
    } else {
        status(
            o.source,
            &format!(
                "recorded {} captures to {} ({:.1} MB, {:.1} s of recording; {} dropped; {:.1} written/s)",
                o.written,
                o.file.display(),
                o.bytes as f64 / 1e6,
                o.recorded_s,
                o.dropped,
                o.written_per_s
            ),
        );
    }
    Ok(())
}
