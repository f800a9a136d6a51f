//! One capture as it travels from the camera thread to the Redis writer.

use std::time::Instant;

use bytes::Bytes;

use super::mode::ColorFormat;

#[derive(Debug, Clone)]
pub struct Image {
    pub data: Bytes,
    pub width: u32,
    pub height: u32,
    /// This image's own device timestamp (color and depth of one capture differ slightly).
    pub device_ts_usec: u64,
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: u64,
    /// The camera's own clock (k4a device timestamp; for synthetic frames, seq × period).
    pub device_ts_usec: u64,
    /// Wall clock (CLOCK_REALTIME, ns since the Unix epoch) when the capture reached this
    /// process: consumers on the same host, containers included, subtract it from their own
    /// clock to get the capture→consume latency.
    pub host_ts_ns: u64,
    /// Monotonic twin of `host_ts_ns`, for the publish latency measured here.
    pub captured_at: Instant,
    /// Raw DEPTH16: little-endian u16 millimetres, rows packed (no stride padding).
    pub depth: Option<Image>,
    pub color: Option<(Image, ColorFormat)>,
    /// IR16 (little-endian), only when a recording asked for it: the stream does not carry IR.
    pub ir: Option<Image>,
}

impl Frame {
    pub fn payload_bytes(&self) -> usize {
        self.depth.as_ref().map_or(0, |d| d.data.len())
            + self.color.as_ref().map_or(0, |(c, _)| c.data.len())
    }
}

pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
