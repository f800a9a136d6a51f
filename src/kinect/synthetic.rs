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

/// A floor plane receding with the rows, a wall, and a person-sized blob crossing the view.
fn render_depth(width: u32, height: u32, phase: f64) -> Bytes {
    let (w, h) = (width as f64, height as f64);
    let cx = w * (0.5 + 0.35 * (phase * std::f64::consts::TAU).sin());
    let cy = h * 0.55;
    let (rx, ry) = (w * 0.09, h * 0.30);
    let mut out = Vec::with_capacity((width * height * 2) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f64, y as f64);
            let background = if fy > h * 0.6 {
                // floor: nearer towards the bottom rows
                4500.0 - 3000.0 * (fy - h * 0.6) / (h * 0.4)
            } else {
                4500.0
            };
            let d = ((fx - cx) / rx).powi(2) + ((fy - cy) / ry).powi(2);
            let mm = if d < 1.0 {
                1800.0 + 150.0 * d
            } else {
                background
            };
            // no return at the corners, as with the real NFOV hexagonal field of view
            let corner = (fx / w - 0.5).abs() + (fy / h - 0.5).abs() > 0.9;
            let v: u16 = if corner { 0 } else { mm as u16 };
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Bytes::from(out)
}

fn render_rgb(width: u32, height: u32, phase: f64, noise: &mut Noise) -> Vec<u8> {
    let (w, h) = (width as f64, height as f64);
    let cx = w * (0.5 + 0.35 * (phase * std::f64::consts::TAU).sin());
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f64, y as f64);
            let inside = ((fx - cx) / (w * 0.08)).powi(2) + ((fy - h * 0.55) / (h * 0.3)).powi(2);
            let base = if inside < 1.0 {
                [200.0, 120.0, 90.0]
            } else {
                [60.0 + 120.0 * fx / w, 80.0 + 100.0 * fy / h, 140.0]
            };
            // sensor-like noise: what makes a camera's JPEGs 100–200 KB at 720p
            for c in base {
                let n = noise.next() as f64 / 255.0 - 0.5;
                rgb.push((c + 24.0 * n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    rgb
}

fn encode_color(
    mode_w: u32,
    mode_h: u32,
    format: ColorFormat,
    phase: f64,
    seed: u64,
) -> Result<Bytes, jpeg_encoder::EncodingError> {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let rgb = render_rgb(mode_w, mode_h, phase, &mut noise);
    match format {
        ColorFormat::Mjpg => {
            let mut jpeg = Vec::new();
            // CaptureMode sizes are at most 4096x3072, so they fit u16.
            jpeg_encoder::Encoder::new(&mut jpeg, 85).encode(
                &rgb,
                mode_w as u16,
                mode_h as u16,
                jpeg_encoder::ColorType::Rgb,
            )?;
            Ok(Bytes::from(jpeg))
        }
        ColorFormat::Bgra32 => Ok(Bytes::from(
            rgb.chunks_exact(3)
                .flat_map(|p| [p[2], p[1], p[0], 255])
                .collect::<Vec<u8>>(),
        )),
        ColorFormat::Nv12 => {
            // Y plane then interleaved UV at quarter resolution (BT.601).
            let (w, h) = (mode_w as usize, mode_h as usize);
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
    /// Renders one second of depth motion and a few color frames (in parallel threads: JPEG
    /// encoding is the only costly part, and it happens here, once).
    pub fn new(mode: CaptureMode) -> Result<Self, jpeg_encoder::EncodingError> {
        let depth_frames = mode.fps as usize;
        let (depth, color) = std::thread::scope(|s| {
            let color: Vec<_> = mode
                .color
                .map(|c| {
                    (0..COLOR_VARIANTS)
                        .map(|i| {
                            let phase = i as f64 / COLOR_VARIANTS as f64;
                            s.spawn(move || {
                                encode_color(c.width, c.height, c.format, phase, i as u64)
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let depth = mode
                .depth
                .map(|d| {
                    (0..depth_frames)
                        .map(|i| render_depth(d.width, d.height, i as f64 / depth_frames as f64))
                        .collect()
                })
                .unwrap_or_default();
            let color: Result<Vec<Bytes>, _> = color
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect();
            (depth, color)
        });
        Ok(SyntheticSource {
            period: mode.frame_period(),
            mode,
            depth,
            color: color?,
            started: None,
        })
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
        let depth = self.mode.depth.map(|d| Image {
            data: self.depth[seq as usize % self.depth.len()].clone(),
            width: d.width,
            height: d.height,
        });
        let color = self.mode.color.map(|c| {
            let image = Image {
                data: self.color[seq as usize % self.color.len()].clone(),
                width: c.width,
                height: c.height,
            };
            (image, c.format)
        });
        Frame {
            seq,
            device_ts_usec: self.period.as_micros() as u64 * seq,
            host_ts_ns: wall_clock_ns(),
            captured_at: Instant::now(),
            depth,
            color,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_little_endian_millimetres_of_the_mode_size() {
        let d = render_depth(640, 576, 0.0);
        assert_eq!(d.len(), 640 * 576 * 2);
        let centre = (288 * 640 + 320) * 2;
        let mm = u16::from_le_bytes([d[centre], d[centre + 1]]);
        assert!((1000..5000).contains(&mm), "{mm}");
        assert_ne!(render_depth(640, 576, 0.0), render_depth(640, 576, 0.25));
    }

    #[test]
    fn raw_color_formats_have_their_exact_sizes() {
        assert_eq!(
            encode_color(1280, 720, ColorFormat::Bgra32, 0.0, 1)
                .map(|b| b.len())
                .ok(),
            Some(1280 * 720 * 4)
        );
        assert_eq!(
            encode_color(1280, 720, ColorFormat::Nv12, 0.0, 1)
                .map(|b| b.len())
                .ok(),
            Some(1280 * 720 * 3 / 2)
        );
    }
}
