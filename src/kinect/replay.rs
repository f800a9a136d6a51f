//! Frames from a recording, at the recorded timing: capture i is handed over at
//! `start + (ts_i - ts_0) / speed`. A reader thread reads the images ahead (depth and IR
//! swapped back to little-endian) into a short queue, so neither the disk nor the byte swap
//! can make a frame late; the pacing thread only sleeps until each slot and stamps the frame,
//! at real-time priority when the system allows it, so that other processes do not delay its
//! wake-ups. With `looped`, the file starts over after a gap of one frame period and the
//! device timestamps keep increasing (a consumer never sees the clock go back).

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use super::frame::{wall_clock_ns, Frame, Image};
use super::mode::{CaptureMode, ColorMode, DepthMode};
use super::recording::reader::{BlockRef, ReadError, Recording, Summary};

/// What the recording holds, kept when its reader moves to its thread.
#[derive(Debug, Clone)]
pub struct ReplayInfo {
    pub summary: Summary,
    pub mode: CaptureMode,
    pub ir: Option<(u32, u32)>,
    pub calibration: Option<Vec<u8>>,
}

/// A capture read ahead of its slot.
struct Prepared {
    /// Recorded time since the first capture (loops included), ns.
    offset_ns: u64,
    device_ts_usec: u64,
    depth: Option<Image>,
    color: Option<(Image, super::mode::ColorFormat)>,
    ir: Option<Image>,
}

pub struct ReplaySource {
    info: ReplayInfo,
    frames: Receiver<Result<Prepared, ReadError>>,
    speed: f64,
    started: Option<Instant>,
}

/// Captures read ahead: ~8 × 1.6 MB at the default mode, a quarter second at 30 fps.
const READ_AHEAD: usize = 8;

/// The real-time priority the pacing thread asks for (SCHED_FIFO 1..99; low: it only has to
/// win over ordinary tasks).
const RT_PRIORITY: i32 = 10;

/// Asks for real-time scheduling (SCHED_FIFO at `priority`) for the calling thread. On a busy machine an ordinary thread
/// wakes up to tens of milliseconds late now and then; a SCHED_FIFO thread runs as soon as its
/// sleep ends. Needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO (e.g. via rtkit's limits.conf).
fn realtime(priority: i32) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The recording's mode, as the capture's own mode type (the k4a enum values are those of the
/// same sizes; nothing is configured with them).
fn mode_of(rec: &Recording) -> CaptureMode {
    let fps = rec.summary.fps.unwrap_or(30).max(1);
    let depth = rec.depth.map(|(width, height)| DepthMode {
        k4a: CaptureMode::depth_mode_for(width, height),
        width,
        height,
    });
    let color = rec.color.map(|(width, height, format)| ColorMode {
        k4a: CaptureMode::color_resolution_for(height),
        width,
        height,
        format,
    });
    CaptureMode { depth, color, fps }
}

fn image(
    rec: &Recording,
    b: Option<BlockRef>,
    size: Option<(u32, u32)>,
    gray16: bool,
    offset_us: u64,
) -> Result<Option<Image>, ReadError> {
    let (Some(b), Some((width, height))) = (b, size) else {
        return Ok(None);
    };
    Ok(Some(Image {
        data: rec.image(&b, gray16)?,
        width,
        height,
        device_ts_usec: b.ts_ns / 1000 + offset_us,
    }))
}

/// Capture `i` of pass `pass`, read.
fn prepare(
    rec: &Recording,
    i: usize,
    pass: u64,
    span_ns: u64,
    with_ir: bool,
) -> Result<Prepared, ReadError> {
    let c = rec.captures[i];
    let shift_ns = pass * span_ns;
    let offset_us = (rec.summary.start_offset_ns + shift_ns) / 1000;
    let color_size = rec.color.map(|(w, h, _)| (w, h));
    Ok(Prepared {
        offset_ns: c.ts_ns() - rec.captures[0].ts_ns() + shift_ns,
        device_ts_usec: c.ts_ns() / 1000 + offset_us,
        depth: image(rec, c.depth, rec.depth, true, offset_us)?,
        color: image(rec, c.color, color_size, false, offset_us)?.zip(rec.color.map(|(_, _, f)| f)),
        ir: if with_ir {
            image(rec, c.ir, rec.ir, true, offset_us)?
        } else {
            None
        },
    })
}

/// Reads every capture (again and again when looping) until the receiver is gone. With
/// `realtime_reader`, just below the pacing thread: a starved reader would empty the queue.
fn read_ahead(
    rec: Recording,
    looped: bool,
    with_ir: bool,
    realtime_reader: bool,
    tx: SyncSender<Result<Prepared, ReadError>>,
) {
    if realtime_reader {
        // its failure is the pacing thread's to report
        let _ = realtime(RT_PRIORITY - 1);
    }
    let first = rec.captures.first().map_or(0, |c| c.ts_ns());
    let last = rec.captures.last().map_or(0, |c| c.ts_ns());
    let span_ns = last - first + rec.period_ns;
    for pass in 0.. {
        for i in 0..rec.captures.len() {
            let item = prepare(&rec, i, pass, span_ns, with_ir);
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
        }
        if !looped {
            return;
        }
    }
}

impl ReplaySource {
    pub fn open(path: &Path, speed: f64, looped: bool, with_ir: bool) -> Result<Self, ReadError> {
        let rec = Recording::open(path)?;
        let info = ReplayInfo {
            summary: rec.summary.clone(),
            mode: mode_of(&rec),
            ir: rec.ir,
            calibration: rec.calibration.clone(),
        };
        let (tx, frames) = sync_channel(READ_AHEAD);
        std::thread::Builder::new()
            .name("kinect-replay-read".into())
            .spawn(move || read_ahead(rec, looped, with_ir, speed <= 1.0, tx))
            .map_err(|e| ReadError::Io {
                path: path.to_path_buf(),
                err: e.to_string(),
            })?;
        Ok(ReplaySource {
            info,
            frames,
            speed,
            started: None,
        })
    }

    pub fn info(&self) -> &ReplayInfo {
        &self.info
    }

    fn start(&mut self) -> Instant {
        *self.started.get_or_insert_with(|| {
            // At recorded speed or slower the thread sleeps most of each period, so real-time
            // priority cannot starve the rest (faster replays run as ordinary threads).
            if self.speed <= 1.0 {
                match realtime(RT_PRIORITY) {
                    Ok(()) => tracing::info!(
                        "replay pacing at real-time priority (SCHED_FIFO {RT_PRIORITY})"
                    ),
                    Err(e) => tracing::warn!(
                        "replay pacing at normal priority ({e}); frames may be late under CPU \
                         load: grant CAP_SYS_NICE or an rtprio limit for tighter timing"
                    ),
                }
            }
            Instant::now()
        })
    }

    /// The next capture at its time; `None` at the end of the file (unless looping).
    pub fn next_frame(&mut self, seq: u64) -> Result<Option<Frame>, ReadError> {
        let Ok(item) = self.frames.recv() else {
            return Ok(None);
        };
        let p = item?;
        let started = self.start();
        wait_until(started + Duration::from_nanos((p.offset_ns as f64 / self.speed) as u64));
        Ok(Some(Frame {
            seq,
            device_ts_usec: p.device_ts_usec,
            host_ts_ns: wall_clock_ns(),
            captured_at: Instant::now(),
            depth: p.depth,
            color: p.color,
            ir: p.ir,
        }))
    }
}

/// Sleeps until `due` (a sleep, not a spin: a spinning thread loses its core to the
/// scheduler's fairness; a sleeping one is woken first).
fn wait_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}
