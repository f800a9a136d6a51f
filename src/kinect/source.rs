//! Where frames come from — the camera through libk4a, synthetic frames, or a recording — and
//! the camera thread that pulls them at the source's pace into the drop-oldest hand-off. The
//! capture (Redis) and the recorder (file) share both.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use super::device::{DeviceFacts, K4aSource};
use super::frame::Frame;
use super::handoff::Handoff;
use super::mode::CaptureMode;
use super::replay::ReplaySource;
use super::stats::Counters;
use super::synthetic::SyntheticSource;

/// The `--source` value.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    K4a,
    Synthetic,
    Replay(PathBuf),
}

impl SourceSpec {
    /// `k4a` (or `camera`), `synthetic`, `replay:FILE.mkv`; the error is the usage message.
    pub fn parse(text: &str) -> Result<SourceSpec, String> {
        if let Some(file) = text.strip_prefix("replay:") {
            if file.trim().is_empty() {
                return Err(
                    "--source replay: needs a file: replay:FILE.mkv (a recording made by \
                     k4arecorder, k4aviewer or `devstack kinect record`)"
                        .into(),
                );
            }
            return Ok(SourceSpec::Replay(PathBuf::from(file)));
        }
        match text.to_ascii_lowercase().as_str() {
            "k4a" | "camera" => Ok(SourceSpec::K4a),
            "synthetic" => Ok(SourceSpec::Synthetic),
            other => Err(format!(
                "--source {other:?} is not a frame source; use k4a (the camera), synthetic, or \
                 replay:FILE.mkv"
            )),
        }
    }

    /// The `source` field of every stream entry and status line.
    pub fn label(&self) -> &'static str {
        match self {
            SourceSpec::K4a => "k4a",
            SourceSpec::Synthetic => "synthetic",
            SourceSpec::Replay(_) => "replay",
        }
    }
}

/// How a source is opened.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub spec: SourceSpec,
    /// The asked mode (a replay has its own: the recording's).
    pub mode: CaptureMode,
    pub k4a_lib: Option<PathBuf>,
    /// Replay speed factor (1 = recorded timing).
    pub speed: f64,
    /// Replay: start over at the end.
    pub looped: bool,
    /// For a recording: IR images, and the camera's calibration.
    pub recording: bool,
}

/// What the open source is, for the status line and a recording's header.
#[derive(Debug, Clone)]
pub struct Started {
    pub mode: CaptureMode,
    pub ir: bool,
    pub facts: DeviceFacts,
}

pub enum Source {
    K4a(K4aSource),
    Synthetic(SyntheticSource),
    Replay(Box<ReplaySource>),
}

/// The next thing a source has.
pub enum Next {
    Frame(Frame),
    /// The camera had nothing within its timeout (counted, retried).
    Timeout,
    /// The recording ended.
    End,
}

static STATUS_ON_STDERR: AtomicBool = AtomicBool::new(false);

/// Status lines go to stderr from now on (`record`: stdout is for its result).
pub fn status_on_stderr() {
    STATUS_ON_STDERR.store(true, Relaxed);
}

/// A status line on stdout (or stderr), stamped and marked with the source.
pub fn status(source: &str, message: &str) {
    let line = format!(
        "{} kinect[{source}] {message}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    if STATUS_ON_STDERR.load(Relaxed) {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

pub fn describe(mode: &CaptureMode) -> String {
    let depth = mode.depth.map_or("depth off".into(), |d| {
        format!("depth {}x{} DEPTH16", d.width, d.height)
    });
    let color = mode.color.map_or("color off".into(), |c| {
        format!("color {}x{} {}", c.width, c.height, c.format.name())
    });
    format!("{depth} + {color}")
}

impl Source {
    pub fn open(opts: &SourceOptions) -> anyhow::Result<(Source, Started)> {
        let label = opts.spec.label();
        let mut started = Started {
            mode: opts.mode,
            ir: false,
            facts: DeviceFacts::default(),
        };
        let source = match &opts.spec {
            SourceSpec::Synthetic => {
                let mut s = SyntheticSource::new(opts.mode)
                    .map_err(|e| anyhow::anyhow!("synthetic color frames: {e}"))?;
                if opts.recording {
                    s = s.with_ir();
                    started.ir = opts.mode.depth.is_some();
                    started.facts.calibration = Some(super::recording::calibration::synthetic());
                }
                status(
                    label,
                    &format!(
                        "SYNTHETIC frames (no camera): {} at {} fps, color frames ~{} KB",
                        describe(&opts.mode),
                        opts.mode.fps,
                        s.color_frame_bytes() / 1024
                    ),
                );
                Source::Synthetic(s)
            }
            SourceSpec::K4a => {
                let k4a = super::ffi::load(opts.k4a_lib.as_deref())?;
                status(label, &format!("libk4a loaded from {}", k4a.path));
                let s = K4aSource::start(k4a, opts.mode, opts.recording)?;
                status(
                    label,
                    &format!(
                        "cameras started: {} at {} fps",
                        describe(&opts.mode),
                        opts.mode.fps
                    ),
                );
                started.ir = opts.recording && opts.mode.depth.is_some();
                started.facts = s.facts.clone();
                Source::K4a(s)
            }
            SourceSpec::Replay(path) => {
                Source::Replay(Box::new(open_replay(path, opts, &mut started)?))
            }
        };
        Ok((source, started))
    }

    pub fn next(&mut self, seq: u64) -> anyhow::Result<Next> {
        Ok(match self {
            Source::K4a(s) => s.next_frame(seq)?.map_or(Next::Timeout, Next::Frame),
            Source::Synthetic(s) => Next::Frame(s.next_frame(seq)),
            Source::Replay(s) => s.next_frame(seq)?.map_or(Next::End, Next::Frame),
        })
    }
}

fn open_replay(
    path: &std::path::Path,
    opts: &SourceOptions,
    started: &mut Started,
) -> anyhow::Result<ReplaySource> {
    let s = ReplaySource::open(path, opts.speed, opts.looped, opts.recording)
        .map_err(|e| crate::errors::UsageError(e.to_string()))?;
    let rec = s.info();
    started.mode = rec.mode;
    started.ir = opts.recording && rec.ir.is_some();
    started.facts = DeviceFacts {
        serial: rec.summary.serial.clone(),
        firmware: {
            let tag = |name: &str| {
                rec.summary
                    .tags
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            tag("K4A_COLOR_FIRMWARE_VERSION").zip(tag("K4A_DEPTH_FIRMWARE_VERSION"))
        },
        calibration: rec.calibration.clone(),
    };
    status(
        "replay",
        &format!(
            "REPLAY of {} ({} captures, {:.1} s): {} at {} fps{}{}",
            path.display(),
            rec.summary.captures,
            rec.summary.duration_s,
            describe(&started.mode),
            started.mode.fps,
            if opts.speed != 1.0 {
                format!(", speed {}x", opts.speed)
            } else {
                String::new()
            },
            if opts.looped { ", looping" } else { "" }
        ),
    );
    Ok(s)
}

/// Pulls frames at the source's pace and hands them off; it never blocks on the consumer.
/// Returns when stopped, after `frames`, at the end of a recording, or on a camera failure.
pub fn camera_loop(
    source: &mut Source,
    handoff: &Handoff,
    counters: &Counters,
    stop: &AtomicBool,
    frames: Option<u64>,
) -> anyhow::Result<()> {
    let mut seq = 0u64;
    while !stop.load(Relaxed) && frames.is_none_or(|n| seq < n) {
        match source.next(seq)? {
            Next::Frame(frame) => {
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
            Next::Timeout => {
                counters.timeouts.fetch_add(1, Relaxed);
                tracing::debug!("capture timed out; retrying");
            }
            Next::End => break,
        }
    }
    Ok(())
}

/// The camera thread's two answers: the source opened (with what it is), then its result.
pub struct CameraThread {
    pub ready: tokio::sync::oneshot::Receiver<Started>,
    pub done: tokio::sync::oneshot::Receiver<anyhow::Result<()>>,
}

/// Opens the source on its own thread (a camera's depth engine start can take seconds) and
/// runs the loop there; the hand-off is closed when it ends.
pub fn spawn_camera(
    opts: SourceOptions,
    handoff: Arc<Handoff>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    frames: Option<u64>,
    span: tracing::Span,
) -> std::io::Result<CameraThread> {
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<Started>();
    let (done_tx, done) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    std::thread::Builder::new()
        .name("kinect-camera".into())
        .spawn(move || {
            let _entered = span.enter();
            let result = Source::open(&opts).and_then(|(mut source, started)| {
                let _ = ready_tx.send(started);
                let r = camera_loop(&mut source, &handoff, &counters, &stop, frames);
                // dropping the source stops the cameras and closes the device
                drop(source);
                r
            });
            handoff.close();
            let _ = done_tx.send(result);
        })?;
    Ok(CameraThread { ready, done })
}

pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_with_clear_errors() {
        assert_eq!(SourceSpec::parse("k4a"), Ok(SourceSpec::K4a));
        assert_eq!(SourceSpec::parse("Camera"), Ok(SourceSpec::K4a));
        assert_eq!(SourceSpec::parse("synthetic"), Ok(SourceSpec::Synthetic));
        assert_eq!(
            SourceSpec::parse("replay:rec/a b.mkv"),
            Ok(SourceSpec::Replay("rec/a b.mkv".into()))
        );
        assert!(SourceSpec::parse("replay:")
            .unwrap_err()
            .contains("replay:FILE.mkv"));
        assert!(SourceSpec::parse("webcam")
            .unwrap_err()
            .contains("replay:FILE.mkv"));
        assert_eq!(SourceSpec::Replay("x".into()).label(), "replay");
    }
}
