//! Synthetic frames of the real sizes, formats and rate, for tests and benchmarks without a
//! camera. Everything is rendered (and JPEG-encoded) once at start and then cycled, so a
//! frame costs no CPU beyond the camera's own pacing: what is measured is the transport.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::frame::{wall_clock_ns, Frame, Image};
use super::mode::{CaptureMode, ColorFormat};

/// Distinct color frames encoded at start (the motion repeats after this many frames).
const COLOR_VARIANTS: usize = 6;

pub struct SyntheticSource {
    mode: CaptureMode,
    depth: Vec<Bytes>,
    /// IR16 frames, rendered only for recordings (`with_ir`).
    ir: Vec<Bytes>,
    color: Vec<Bytes>,
    period: Duration,
    started: Option<Instant>,
}

/// A small xorshift: texture for the color frames (so JPEG sizes look like a camera's).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u8
    }
}

/// The person-sized blob that crosses the view: its centre at `phase` (0..1) and its radii.
fn blob(w: f64, h: f64, phase: f64) -> (f64, f64, f64, f64) {
    let cx = w * (0.5 + 0.35 * (phase * std::f64::consts::TAU).sin());
    (cx, h * 0.55, w * 0.09, h * 0.30)
}

/// Calls `paint(x, y, d)` for every pixel inside the blob, `d` < 1 its normalised distance
/// from the centre. Only the bounding box is visited: frames are a copy of the static scene
/// with this painted over, which keeps start-up short even in debug builds.
fn for_blob_pixels(width: u32, height: u32, phase: f64, mut paint: impl FnMut(usize, usize, f64)) {
    let (w, h) = (width as f64, height as f64);
    let (cx, cy, rx, ry) = blob(w, h, phase);
    let x0 = (cx - rx).max(0.0) as usize;
    let x1 = ((cx + rx).ceil() as usize).min(width as usize);
    let y0 = (cy - ry).max(0.0) as usize;
    let y1 = ((cy + ry).ceil() as usize).min(height as usize);
    for y in y0..y1 {
        for x in x0..x1 {
            let d = ((x as f64 - cx) / rx).powi(2) + ((y as f64 - cy) / ry).powi(2);
            if d < 1.0 {
                paint(x, y, d);
            }
        }
    }
}

/// `count` depth frames (DEPTH16 little-endian): a wall at 4.5 m, a floor coming nearer
/// towards the bottom rows, no return in the corners (as in the NFOV hexagonal field of
/// view), and the blob at 1.8–1.95 m moving across.
fn render_depth(width: u32, height: u32, count: usize) -> Vec<Bytes> {
    let (w, h) = (width as f64, height as f64);
    let mut scene = Vec::with_capacity((width * height * 2) as usize);
    for y in 0..height {
        let fy = y as f64;
        let floor = if fy > h * 0.6 {
            4500.0 - 3000.0 * (fy - h * 0.6) / (h * 0.4)
        } else {
            4500.0
        };
        for x in 0..width {
            let corner = (x as f64 / w - 0.5).abs() + (fy / h - 0.5).abs() > 0.9;
            let mm: u16 = if corner { 0 } else { floor as u16 };
            scene.extend_from_slice(&mm.to_le_bytes());
        }
    }
    (0..count)
        .map(|i| {
            let mut frame = scene.clone();
            for_blob_pixels(width, height, i as f64 / count as f64, |x, y, d| {
                let at = (y * width as usize + x) * 2;
                let mm = (1800.0 + 150.0 * d) as u16;
                frame[at..at + 2].copy_from_slice(&mm.to_le_bytes());
            });
            Bytes::from(frame)
        })
        .collect()
}

/// IR16 (little-endian) for each depth frame: a time-of-flight camera's active IR falls off
/// with distance; no return stays 0.
fn render_ir(depth: &[Bytes]) -> Vec<Bytes> {
    depth
        .iter()
        .map(|d| {
            let ir: Vec<u8> = d
                .chunks_exact(2)
                .flat_map(|px| {
                    let mm = u16::from_le_bytes([px[0], px[1]]) as u32;
                    let v = if mm == 0 {
                        0
                    } else {
                        (9_000_000 / mm.max(300)).min(30_000)
                    };
                    (v as u16).to_le_bytes()
                })
                .collect();
            Bytes::from(ir)
        })
        .collect()
}

/// The color scene: a gradient with sensor-like noise, which is what makes a camera's JPEGs
/// 100–200 KB at 720p.
fn render_rgb_scene(width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as f64, height as f64);
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let base = [
                60.0 + 120.0 * x as f64 / w,
                80.0 + 100.0 * y as f64 / h,
                140.0,
            ];
            for c in base {
                let n = noise.next() as f64 / 255.0 - 0.5;
                rgb.push((c + 24.0 * n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    rgb
}

/// One color frame: the scene with the blob painted at `phase`, in the asked format.
fn encode_color(
    scene: &[u8],
    width: u32,
    height: u32,
    format: ColorFormat,
    phase: f64,
) -> Result<Bytes, jpeg_encoder::EncodingError> {
    let mut rgb = scene.to_vec();
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    for_blob_pixels(width, height, phase, |x, y, _| {
        let at = (y * width as usize + x) * 3;
        for (c, base) in [200.0, 120.0, 90.0].into_iter().enumerate() {
            let n = noise.next() as f64 / 255.0 - 0.5;
            rgb[at + c] = (base + 24.0 * n) as u8;
        }
    });
    match format {
        ColorFormat::Mjpg => {
            let mut jpeg = Vec::new();
            // CaptureMode sizes are at most 4096x3072, so they fit u16.
            jpeg_encoder::Encoder::new(&mut jpeg, 85).encode(
                &rgb,
                width as u16,
                height as u16,
                jpeg_encoder::ColorType::Rgb,
            )?;
            Ok(Bytes::from(jpeg))
        }
        ColorFormat::Bgra32 => Ok(Bytes::from(
            rgb.chunks_exact(3)
                .flat_map(|p| [p[2], p[1], p[0], 255])
                .collect::<Vec<u8>>(),
        )),
        ColorFormat::Yuy2 => {
            // Y0 U Y1 V for each pair of pixels (BT.601)
            let mut out = Vec::with_capacity(rgb.len() / 3 * 2);
            for pair in rgb.chunks_exact(6) {
                let y = |p: &[u8]| {
                    (0.257 * p[0] as f64 + 0.504 * p[1] as f64 + 0.098 * p[2] as f64 + 16.0) as u8
                };
                let (r, g, b) = (pair[0] as f64, pair[1] as f64, pair[2] as f64);
                out.push(y(&pair[..3]));
                out.push((-0.148 * r - 0.291 * g + 0.439 * b + 128.0) as u8);
                out.push(y(&pair[3..]));
                out.push((0.439 * r - 0.368 * g - 0.071 * b + 128.0) as u8);
            }
            Ok(Bytes::from(out))
        }
        ColorFormat::Nv12 => {
            // Y plane then interleaved UV at quarter resolution (BT.601).
            let (w, h) = (width as usize, height as usize);
            let mut out = Vec::with_capacity(w * h * 3 / 2);
            out.extend(rgb.chunks_exact(3).map(|p| {
                (0.257 * p[0] as f64 + 0.504 * p[1] as f64 + 0.098 * p[2] as f64 + 16.0) as u8
            }));
            for y in (0..h).step_by(2) {
                for x in (0..w).step_by(2) {
                    let p = &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
                    let (r, g, b) = (p[0] as f64, p[1] as f64, p[2] as f64);
                    out.push((-0.148 * r - 0.291 * g + 0.439 * b + 128.0) as u8);
                    out.push((0.439 * r - 0.368 * g - 0.071 * b + 128.0) as u8);
                }
            }
            Ok(Bytes::from(out))
        }
    }
}

impl SyntheticSource {
    /// Renders one second of depth motion and a few color frames (JPEG encoding, the only
    /// costly part, runs in parallel threads, once).
    pub fn new(mode: CaptureMode) -> Result<Self, jpeg_encoder::EncodingError> {
        let depth = mode
            .depth
            .map(|d| render_depth(d.width, d.height, mode.fps as usize))
            .unwrap_or_default();
        let color = match mode.color {
            None => Vec::new(),
            Some(c) => {
                let scene = render_rgb_scene(c.width, c.height);
                std::thread::scope(|s| {
                    let workers: Vec<_> = (0..COLOR_VARIANTS)
                        .map(|i| {
                            let (scene, phase) = (&scene, i as f64 / COLOR_VARIANTS as f64);
                            s.spawn(move || encode_color(scene, c.width, c.height, c.format, phase))
                        })
                        .collect();
                    workers
                        .into_iter()
                        .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                        .collect::<Result<Vec<Bytes>, _>>()
                })?
            }
        };
        Ok(SyntheticSource {
            period: mode.frame_period(),
            mode,
            depth,
            ir: Vec::new(),
            color,
            started: None,
        })
    }

    /// Adds IR frames (a recording's IR track) to every capture that has depth.
    pub fn with_ir(mut self) -> Self {
        self.ir = render_ir(&self.depth);
        self
    }

    /// Average size of the pre-encoded color frames, for the start-up log line.
    pub fn color_frame_bytes(&self) -> usize {
        self.color.iter().map(Bytes::len).sum::<usize>() / self.color.len().max(1)
    }

    /// The next frame at the camera's rate: sleeps until its slot on a fixed schedule (no
    /// drift), like a device whose frames arrive every period whatever the consumer does.
    pub fn next_frame(&mut self, seq: u64) -> Frame {
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + self.period * seq as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let device_ts_usec = self.period.as_micros() as u64 * seq;
        let pick = |frames: &[Bytes]| frames[seq as usize % frames.len()].clone();
        let depth = self.mode.depth.map(|d| Image {
            data: pick(&self.depth),
            width: d.width,
            height: d.height,
            device_ts_usec,
        });
        let ir = self
            .mode
            .depth
            .filter(|_| !self.ir.is_empty())
            .map(|d| Image {
                data: pick(&self.ir),
                width: d.width,
                height: d.height,
                device_ts_usec,
            });
        let color = self.mode.color.map(|c| {
            let image = Image {
                data: pick(&self.color),
                width: c.width,
                height: c.height,
                device_ts_usec,
            };
            (image, c.format)
        });
        Frame {
            seq,
            device_ts_usec,
            host_ts_ns: wall_clock_ns(),
            captured_at: Instant::now(),
            depth,
            color,
            ir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_little_endian_millimetres_of_the_mode_size() {
        let frames = render_depth(640, 576, 4);
        assert_eq!(frames.len(), 4);
        let d = &frames[0];
        assert_eq!(d.len(), 640 * 576 * 2);
        let centre = (288 * 640 + 320) * 2;
        let mm = u16::from_le_bytes([d[centre], d[centre + 1]]);
        assert!((1800..=1950).contains(&mm), "blob at the centre: {mm}");
        assert_eq!(u16::from_le_bytes([d[0], d[1]]), 0, "corner without return");
        assert_ne!(frames[0], frames[1], "the blob moves");
    }

    #[test]
    fn raw_color_formats_have_their_exact_sizes() {
        let scene = render_rgb_scene(1280, 720);
        let size = |f| {
            encode_color(&scene, 1280, 720, f, 0.0)
                .map(|b| b.len())
                .ok()
        };
        assert_eq!(size(ColorFormat::Bgra32), Some(1280 * 720 * 4));
        assert_eq!(size(ColorFormat::Nv12), Some(1280 * 720 * 3 / 2));
    }
}
