//! Frames from a recording, at the recorded timing: capture i is due at
//! `start + (ts_i - ts_0) / speed`. Each frame is read (and depth/IR swapped back to
//! little-endian) before its slot, then handed over at the slot, so the disk read does not
//! show as jitter. With `looped`, the file starts over after a gap of one frame period and the
//! device timestamps keep increasing (a consumer never sees the clock go back).

use std::path::Path;
use std::time::{Duration, Instant};

use super::frame::{wall_clock_ns, Frame, Image};
use super::mode::{CaptureMode, ColorMode, DepthMode};
use super::recording::reader::{BlockRef, ReadError, Recording};

pub struct ReplaySource {
    rec: Recording,
    speed: f64,
    looped: bool,
    with_ir: bool,
    next: usize,
    loops: u64,
    /// One pass through the file in recorded time (first to last capture, plus a period).
    span_ns: u64,
    started: Option<Instant>,
}

/// Below this the wait spins (yielding) instead of sleeping: sleep overshoots by up to a
/// scheduler tick on a busy machine, which would show as jitter.
const SPIN: Duration = Duration::from_millis(1);

impl ReplaySource {
    pub fn open(path: &Path, speed: f64, looped: bool, with_ir: bool) -> Result<Self, ReadError> {
        let rec = Recording::open(path)?;
        let first = rec.captures.first().map_or(0, |c| c.ts_ns());
        let last = rec.captures.last().map_or(0, |c| c.ts_ns());
        let span_ns = last - first + rec.period_ns;
        Ok(ReplaySource {
            rec,
            speed,
            looped,
            with_ir,
            next: 0,
            loops: 0,
            span_ns,
            started: None,
        })
    }

    pub fn recording(&self) -> &Recording {
        &self.rec
    }

    /// The recording's mode, as the capture's own mode type (the k4a enum values are those
    /// of the same sizes; nothing is configured with them).
    pub fn mode(&self) -> CaptureMode {
        let fps = self.rec.summary.fps.unwrap_or(30).max(1);
        let depth = self.rec.depth.map(|(width, height)| DepthMode {
            k4a: CaptureMode::depth_mode_for(width, height),
            width,
            height,
        });
        let color = self.rec.color.map(|(width, height, format)| ColorMode {
            k4a: CaptureMode::color_resolution_for(height),
            width,
            height,
            format,
        });
        CaptureMode { depth, color, fps }
    }

    fn image(
        &self,
        b: Option<BlockRef>,
        size: Option<(u32, u32)>,
        gray16: bool,
        offset_us: u64,
    ) -> Result<Option<Image>, ReadError> {
        let (Some(b), Some((width, height))) = (b, size) else {
            return Ok(None);
        };
        Ok(Some(Image {
            data: self.rec.image(&b, gray16)?,
            width,
            height,
            device_ts_usec: b.ts_ns / 1000 + offset_us,
        }))
    }

    /// The next capture at its time; `None` at the end of the file (unless looping).
    pub fn next_frame(&mut self, seq: u64) -> Result<Option<Frame>, ReadError> {
        if self.next >= self.rec.captures.len() {
            if !self.looped {
                return Ok(None);
            }
            self.next = 0;
            self.loops += 1;
        }
        let c = self.rec.captures[self.next];
        self.next += 1;
        let first = self.rec.captures[0].ts_ns();
        let shift_ns = self.loops * self.span_ns;
        let offset_us = (self.rec.summary.start_offset_ns + shift_ns) / 1000;
        let depth = self.image(c.depth, self.rec.depth, true, offset_us)?;
        let ir = if self.with_ir {
            self.image(c.ir, self.rec.ir, true, offset_us)?
        } else {
            None
        };
        let color_size = self.rec.color.map(|(w, h, _)| (w, h));
        let color = self
            .image(c.color, color_size, false, offset_us)?
            .zip(self.rec.color.map(|(_, _, f)| f));
        let device_ts_usec = c.ts_ns() / 1000 + offset_us;

        let started = *self.started.get_or_insert_with(Instant::now);
        let recorded = (c.ts_ns() - first + shift_ns) as f64 / self.speed;
        wait_until(started + Duration::from_nanos(recorded as u64));
        Ok(Some(Frame {
            seq,
            device_ts_usec,
            host_ts_ns: wall_clock_ns(),
            captured_at: Instant::now(),
            depth,
            color,
            ir,
        }))
    }
}

/// Sleeps until shortly before `due`, then yields until it.
fn wait_until(due: Instant) {
    let now = Instant::now();
    if due > now + SPIN {
        std::thread::sleep(due - now - SPIN);
    }
    while Instant::now() < due {
        std::thread::yield_now();
    }
}
