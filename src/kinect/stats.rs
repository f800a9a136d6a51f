//! Counters shared by the camera thread and the writer, the periodic stats line, and the
//! health file a supervisor's healthcheck reads.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Latencies in 10 µs buckets up to 100 ms (the last bucket holds everything slower).
#[derive(Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

const BUCKET_US: u64 = 10;
const BUCKETS: usize = 10_001;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS],
            count: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let i = (latency.as_micros() as u64 / BUCKET_US).min(BUCKETS as u64 - 1) as usize;
        self.buckets[i] += 1;
        self.count += 1;
    }

    /// The upper edge of the bucket holding quantile `q`, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(((i as u64 + 1) * BUCKET_US) as f64 / 1000.0);
            }
        }
        None
    }

    pub fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = 0);
        self.count = 0;
    }
}

#[derive(Default)]
pub struct Counters {
    pub captures: AtomicU64,
    pub depth_frames: AtomicU64,
    pub color_frames: AtomicU64,
    pub timeouts: AtomicU64,
    pub dropped: AtomicU64,
    pub published: AtomicU64,
    pub publish_errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub bytes_published: AtomicU64,
    pub redis_connected: AtomicBool,
    /// Capture → XADD acknowledged, this stats window and whole run.
    latency: Mutex<(Histogram, Histogram)>,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn record_publish(&self, latency: Duration, bytes: usize) {
        self.published.fetch_add(1, Relaxed);
        self.bytes_published.fetch_add(bytes as u64, Relaxed);
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        h.0.record(latency);
        h.1.record(latency);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_error(&self, error: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Starting,
    Running,
    Stopped,
    Failed,
}

impl State {
    /// As the health file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyMs {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub seconds: f64,
    pub depth_fps: f64,
    pub color_fps: f64,
    pub publish_fps: f64,
    pub bytes_per_sec: f64,
    pub dropped: u64,
    pub publish_latency_ms: LatencyMs,
}

/// The health file's content (also the final summary). Written by the capture
/// ([`Health::write`]) and read by whoever shows it ([`Health::read`]): this type is the
/// file's one definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub state: State,
    pub source: String,
    pub pid: u32,
    pub updated_unix_ms: u64,
    pub started_unix_ms: u64,
    pub redis: String,
    pub stream: String,
    pub redis_connected: bool,
    pub captures: u64,
    pub published: u64,
    pub dropped: u64,
    pub timeouts: u64,
    pub publish_errors: u64,
    pub reconnects: u64,
    pub queued: usize,
    pub window: Window,
    pub run: Window,
    pub last_error: Option<String>,
}

/// Why a health file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HealthFileError {
    #[error("cannot read the capture's health file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the capture's health file {path} is not what `devstack kinect capture` writes: {source}"
    )]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

/// Turns counter snapshots into per-window rates.
pub struct Reporter {
    pub source: &'static str,
    pub redis: String,
    pub stream: String,
    started: Instant,
    started_unix_ms: u64,
    last: Snapshot,
    last_at: Instant,
    /// When the camera stopped: rates are over capture time, not the final drain.
    stopped: Option<Instant>,
}

#[derive(Clone, Copy, Default)]
struct Snapshot {
    depth: u64,
    color: u64,
    published: u64,
    bytes: u64,
    dropped: u64,
}

impl Snapshot {
    fn take(c: &Counters) -> Self {
        Snapshot {
            depth: c.depth_frames.load(Relaxed),
            color: c.color_frames.load(Relaxed),
            published: c.published.load(Relaxed),
            bytes: c.bytes_published.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
        }
    }

    fn window(&self, since: &Snapshot, seconds: f64, latency: &Histogram) -> Window {
        let rate = |now: u64, then: u64| (now - then) as f64 / seconds.max(1e-9);
        Window {
            seconds,
            depth_fps: rate(self.depth, since.depth),
            color_fps: rate(self.color, since.color),
            publish_fps: rate(self.published, since.published),
            bytes_per_sec: rate(self.bytes, since.bytes),
            dropped: self.dropped - since.dropped,
            publish_latency_ms: LatencyMs {
                p50: latency.quantile_ms(0.50),
                p99: latency.quantile_ms(0.99),
            },
        }
    }
}

impl Reporter {
    pub fn new(source: &'static str, redis: String, stream: String) -> Self {
        Reporter {
            source,
            redis,
            stream,
            started: Instant::now(),
            started_unix_ms: super::frame::wall_clock_ns() / 1_000_000,
            last: Snapshot::default(),
            last_at: Instant::now(),
            stopped: None,
        }
    }

    /// Starts the clock when frames start flowing (source start-up is not capture time).
    pub fn mark_started(&mut self) {
        self.started = Instant::now();
        self.last_at = self.started;
    }

    pub fn mark_stopped(&mut self) {
        self.stopped.get_or_insert_with(Instant::now);
    }

    /// Closes the current window and describes it and the whole run.
    pub fn report(&mut self, c: &Counters, state: State, queued: usize) -> Health {
        let end = self.stopped.unwrap_or_else(Instant::now);
        let now = Snapshot::take(c);
        let (window_latency, run_latency) = {
            let mut h = c.latency.lock().unwrap_or_else(|p| p.into_inner());
            let copy = h.clone();
            h.0.clear();
            copy
        };
        let window = now.window(
            &self.last,
            end.saturating_duration_since(self.last_at).as_secs_f64(),
            &window_latency,
        );
        let run = now.window(
            &Snapshot::default(),
            end.saturating_duration_since(self.started).as_secs_f64(),
            &run_latency,
        );
        self.last = now;
        self.last_at = end;
        Health {
            state,
            source: self.source.to_string(),
            pid: std::process::id(),
            updated_unix_ms: super::frame::wall_clock_ns() / 1_000_000,
            started_unix_ms: self.started_unix_ms,
            redis: self.redis.clone(),
            stream: self.stream.clone(),
            redis_connected: c.redis_connected.load(Relaxed),
            captures: c.captures.load(Relaxed),
            published: now.published,
            dropped: now.dropped,
            timeouts: c.timeouts.load(Relaxed),
            publish_errors: c.publish_errors.load(Relaxed),
            reconnects: c.reconnects.load(Relaxed),
            queued,
            window,
            run,
            last_error: c.last_error(),
        }
    }
}

impl Health {
    /// One log line: fps per stream, drops, publish latency, throughput.
    pub fn line(&self, w: &Window) -> String {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        format!(
            "depth {:.1} fps, color {:.1} fps, published {:.1}/s, dropped {} ({} total), \
             publish latency p50 {} ms p99 {} ms, {:.1} MB/s, redis {}",
            w.depth_fps,
            w.color_fps,
            w.publish_fps,
            w.dropped,
            self.dropped,
            ms(w.publish_latency_ms.p50),
            ms(w.publish_latency_ms.p99),
            w.bytes_per_sec / 1e6,
            if self.redis_connected { "up" } else { "DOWN" }
        )
    }

    /// Reads a health file (the capture's `--health-file`).
    pub fn read(path: &Path) -> Result<Health, HealthFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| HealthFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| HealthFileError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Writes the file atomically (temp file + rename) so a healthcheck never reads half of it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_recorded_latencies() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us * 100));
        }
        assert_eq!(h.quantile_ms(0.50), Some(5.01));
        assert_eq!(h.quantile_ms(0.99), Some(9.91));
        h.record(Duration::from_secs(5));
        assert_eq!(h.quantile_ms(1.0), Some(100.01));
    }

    #[test]
    fn the_health_file_reads_back_what_the_capture_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health.json");
        let c = Counters::default();
        c.record_publish(Duration::from_millis(2), 1000);
        let mut r = Reporter::new("synthetic", "redis://x".into(), "frames".into());
        r.report(&c, State::Running, 3).write(&path).unwrap();
        let h = Health::read(&path).unwrap();
        assert_eq!(h.state, State::Running);
        assert_eq!(h.state.as_str(), "running");
        assert_eq!(
            (h.source.as_str(), h.published, h.queued),
            ("synthetic", 1, 3)
        );
        assert!(h.window.publish_latency_ms.p50.is_some());
        std::fs::write(&path, "{\"state\": \"running\"}").unwrap();
        let e = Health::read(&path).unwrap_err().to_string();
        assert!(e.contains("health.json is not what"), "{e}");
        assert!(Health::read(&dir.path().join("none.json")).is_err());
    }
}
