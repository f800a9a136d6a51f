//! `devstack kinect`: the libk4a loader's failure path, and the synthetic source through a real
//! `redis-server` (started here on a free loopback port) to a consumer, with Redis restarted
//! and paused under it.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::Commands;

const BIN: &str = env!("CARGO_BIN_EXE_devstack");
pub const STREAM: &str = "kinect:frames";

fn devstack(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DEVSTACK_K4A_LIB")
        .env("NO_COLOR", "1")
        .output()
        .expect("run devstack")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A throwaway redis-server, killed when dropped.
pub struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        let mut r = Redis {
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the kinect tests");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(mut con) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return;
                }
            }
            sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("redis url")
    }

    fn stream_len(&self) -> usize {
        self.client()
            .get_connection()
            .and_then(|mut c| c.xlen(STREAM))
            .unwrap_or(0)
    }

    /// Waits until the stream holds at least `n` entries.
    fn wait_for_entries(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.stream_len() >= n {
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `kinect capture --source synthetic`, killed if the test fails early.
struct Capture(Option<Child>);

impl Capture {
    fn start(redis: &Redis, health: &Path, extra: &[&str]) -> Capture {
        let child = Command::new(BIN)
            .args(["kinect", "capture", "--source", "synthetic", "--redis"])
            .arg(redis.url())
            .arg("--health-file")
            .arg(health)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start capture");
        Capture(Some(child))
    }

    fn finish(mut self) -> Output {
        let child = self.0.take().expect("running");
        child.wait_with_output().expect("capture output")
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn health(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("health file written");
    serde_json::from_str(&text).expect("health file is JSON")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn field<T: redis::FromRedisValue>(entry: &redis::streams::StreamId, name: &str) -> T {
    entry
        .get(name)
        .unwrap_or_else(|| panic!("entry {} has no field {name}", entry.id))
}

#[test]
fn missing_library_is_one_precise_error_for_info_and_capture() {
    let out = devstack(&["kinect", "info", "--k4a-lib", "/nonexistent/libk4a.so.1.4"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/libk4a.so.1.4"), "{err}");
    assert!(err.contains("no such file"), "{err}");
    assert!(
        err.contains("libk4a1.4") && err.contains("packages.microsoft.com"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_library = dir.path().join("libk4a.so.1.4");
    std::fs::File::create(&not_a_library)
        .and_then(|mut f| f.write_all(b"this is not an ELF file\n"))
        .expect("write");
    let lib = not_a_library.to_str().expect("utf-8 path");
    let out = devstack(&["kinect", "capture", "--k4a-lib", lib, "--frames", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(lib), "{err}");
    // the loader's own reason (libloading 0.9 keeps it in source(), not in Display)
    assert!(
        err.contains("invalid ELF header") || err.contains("file too short"),
        "{err}"
    );
    assert!(err.contains("libk4a1.4"), "{err}");

    // a real shared library that is not libk4a: the first missing entry point is named
    let c_file = dir.path().join("other.c");
    std::fs::write(&c_file, "int unrelated_symbol = 1;\n").expect("write");
    let other = dir.path().join("libother.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&other)
        .arg(&c_file)
        .status()
        .expect("cc");
    assert!(built.success());
    let out = devstack(&[
        "kinect",
        "info",
        "--k4a-lib",
        other.to_str().expect("utf-8"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a usable libk4a"), "{err}");
    assert!(
        err.contains("`k4a_device_get_installed_count` is missing"),
        "{err}"
    );

    // JSON output stays parseable and says why
    let out = devstack(&[
        "kinect",
        "info",
        "--json",
        "--k4a-lib",
        "/nonexistent/k4a.so",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("info --json prints JSON");
    assert_eq!(report["sdk"]["loaded"], false);
    assert!(report["sdk"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("/nonexistent/k4a.so")));
}

#[test]
fn default_library_names_are_all_tried() {
    let out = devstack(&["kinect", "info"]);
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("libk4a is installed here; the missing-library path cannot be checked");
        return;
    }
    for name in ["libk4a.so.1.4", "libk4a.so.1", "libk4a.so"] {
        assert!(
            err.contains(&format!("  - {name}:")),
            "{name} not tried: {err}"
        );
    }
}

#[test]
fn info_reads_usb_speed_from_the_sysroot() {
    let root = tempfile::tempdir().expect("tempdir");
    for (port, pid, speed) in [("2-1", "097c", "5000"), ("1-1.1", "097d", "480")] {
        let dir = root.path().join("sys/bus/usb/devices").join(port);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, value) in [("idVendor", "045e"), ("idProduct", pid), ("speed", speed)] {
            std::fs::write(dir.join(name), format!("{value}\n")).expect("write");
        }
    }
    let sysroot = root.path().to_str().expect("utf-8");
    let out = devstack(&[
        "kinect",
        "info",
        "--json",
        "--sysroot",
        sysroot,
        "--k4a-lib",
        "/nonexistent/libk4a.so",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let usb = report["usb"].as_array().expect("usb list");
    assert_eq!(usb.len(), 2, "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("color camera (1-1.1) runs at 480 Mbit/s"),
        "{problems}"
    );
    assert!(!problems.contains("depth camera"), "{problems}");
}

#[test]
fn synthetic_frames_reach_a_consumer_with_their_header() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let health_path = dir.path().join("health.json");
    let frames = 45;
    let capture = Capture::start(&redis, &health_path, &["--frames", "45"]);

    // A consumer reading as a container service would: XREAD BLOCK from the start.
    let mut con = redis.client().get_connection().expect("connect");
    let mut entries = Vec::new();
    let mut last_id = "0".to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while entries.len() < frames && Instant::now() < deadline {
        let reply: StreamReadReply = con
            .xread_options(
                &[STREAM],
                &[&last_id],
                &StreamReadOptions::default().block(1000),
            )
            .expect("XREAD");
        for key in reply.keys {
            for entry in key.ids {
                last_id = entry.id.clone();
                entries.push(entry);
            }
        }
    }
    let out = capture.finish();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert_eq!(entries.len(), frames, "{log}");

    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let mut previous: Option<(u64, u64)> = None;
    for entry in &entries {
        let seq: u64 = field(entry, "seq");
        let device_ts: u64 = field(entry, "device_ts_usec");
        let host_ts: u64 = field(entry, "host_ts_ns");
        assert!(
            host_ts <= now_ns && now_ns - host_ts < 60_000_000_000,
            "host_ts_ns {host_ts}"
        );
        if let Some((prev_seq, prev_ts)) = previous {
            assert_eq!(seq, prev_seq + 1, "seq must increase by one");
            assert_eq!(device_ts - prev_ts, 33_333, "30 fps device clock");
        }
        previous = Some((seq, device_ts));
        assert_eq!(field::<String>(entry, "source"), "synthetic");
        assert_eq!(field::<u32>(entry, "depth_w"), 640);
        assert_eq!(field::<u32>(entry, "depth_h"), 576);
        assert_eq!(field::<Vec<u8>>(entry, "depth").len(), 640 * 576 * 2);
        assert_eq!(field::<String>(entry, "color_format"), "mjpg");
        assert_eq!(field::<u32>(entry, "color_w"), 1280);
        assert_eq!(field::<u32>(entry, "color_h"), 720);
    }
    assert_eq!(previous.map(|p| p.0), Some(frames as u64 - 1));

    // Color is a real JPEG of the announced size, of a camera-like size.
    let jpeg: Vec<u8> = field(&entries[3], "color");
    assert!(
        (60_000..=250_000).contains(&jpeg.len()),
        "{} bytes",
        jpeg.len()
    );
    let mut decoder = jpeg_decoder::Decoder::new(&jpeg[..]);
    let pixels = decoder.decode().expect("color decodes as JPEG");
    let info = decoder.info().expect("JPEG info");
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(pixels.len(), 1280 * 720 * 3);

    // Depth is millimetres in a plausible range, and moves between frames.
    let depth: Vec<u8> = field(&entries[0], "depth");
    let centre = (288 * 640 + 320) * 2;
    let mm = u16::from_le_bytes([depth[centre], depth[centre + 1]]);
    assert!((500..6000).contains(&mm), "{mm} mm");
    assert_ne!(depth, field::<Vec<u8>>(&entries[7], "depth"));

    let h = health(&health_path);
    assert_eq!(h["state"], "stopped", "{h}");
    assert_eq!(h["source"], "synthetic");
    assert_eq!(h["published"], frames as u64);
    assert_eq!(h["dropped"], 0);
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.contains("synthetic"),
            "log line not marked synthetic: {line}"
        );
    }
}

#[test]
fn capture_survives_a_redis_restart() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let health_path = dir.path().join("health.json");
    let capture = Capture::start(&redis, &health_path, &["--duration", "5s"]);
    assert!(
        redis.wait_for_entries(10, Duration::from_secs(15)),
        "no frames published"
    );
    redis.kill();
    sleep(Duration::from_millis(1200));
    redis.restart();
    // The restarted server is empty (no persistence): anything there was published after it.
    assert!(
        redis.wait_for_entries(5, Duration::from_secs(4)),
        "publishing did not resume after Redis came back"
    );
    let resumed: StreamRangeReply = redis
        .client()
        .get_connection()
        .and_then(|mut c| c.xrange_count(STREAM, "-", "+", 1))
        .expect("XRANGE");
    let first_seq: u64 = field(&resumed.ids[0], "seq");
    assert!(
        first_seq >= 30,
        "seq {first_seq} should continue, not restart"
    );

    let out = capture.finish();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let h = health(&health_path);
    assert!(h["reconnects"].as_u64() >= Some(1), "{h}");
    // The camera kept its rate through the outage: ~5 s × 30 fps.
    let captures = h["captures"].as_u64().unwrap_or(0);
    assert!((140..=155).contains(&captures), "captures {captures}: {h}");
    assert!(h["published"].as_u64() < Some(captures), "{h}");
    assert!(log.contains("redis") && log.contains("back"), "{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.contains("synthetic"),
            "log line not marked synthetic: {line}"
        );
    }
}

#[test]
fn slow_redis_drops_oldest_frames_without_slowing_the_camera() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let health_path = dir.path().join("health.json");
    let capture = Capture::start(
        &redis,
        &health_path,
        &["--duration", "4s", "--queue", "2", "--maxlen", "10000"],
    );
    assert!(
        redis.wait_for_entries(5, Duration::from_secs(15)),
        "no frames published"
    );
    // The writer's XADDs now wait 1.5 s: the consumer side is slower than the camera.
    let mut con = redis.client().get_connection().expect("connect");
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "1500", "WRITE"][..])
        .query(&mut con)
        .expect("CLIENT PAUSE");
    let out = capture.finish();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let h = health(&health_path);
    let captures = h["captures"].as_u64().unwrap_or(0);
    let dropped = h["dropped"].as_u64().unwrap_or(0);
    let published = h["published"].as_u64().unwrap_or(0);
    // never blocked: the camera kept ~30 fps for 4 s
    assert!((112..=125).contains(&captures), "captures {captures}: {h}");
    assert!(h["run"]["depth_fps"].as_f64() > Some(28.0), "{h}");
    // 1.5 s at 30 fps with room for 2 queued + 1 in flight: at least ~42 dropped (more when
    // a loaded machine slows the writer further)
    assert!((35..=90).contains(&dropped), "dropped {dropped}: {h}");
    assert_eq!(published + dropped, captures, "{h}");
    assert_eq!(redis.stream_len() as u64, published);
}

/// Builds tests/it/fixtures/fake_libk4a.c into a shared library (cc is there wherever Rust links).
pub fn fake_libk4a(dir: &Path) -> std::path::PathBuf {
    let lib = dir.join("libk4a.so.1.4");
    let source = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fixtures/fake_libk4a.c"
    );
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(source)
        .status()
        .expect("cc (the C compiler Rust links with) builds the stand-in libk4a");
    assert!(status.success(), "compiling {source} failed");
    lib
}

fn fake_capture(lib: &Path, fake_mode: &str, trace: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["kinect", "capture", "--source", "k4a", "--k4a-lib"])
        .arg(lib)
        .args(args)
        .env("FAKE_K4A_MODE", fake_mode)
        .env("FAKE_K4A_TRACE", trace)
        .env("NO_COLOR", "1")
        .output()
        .expect("run capture")
}

#[test]
fn camera_path_runs_against_a_stand_in_libk4a() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = fake_libk4a(dir.path());
    let redis = Redis::start();
    let trace = dir.path().join("trace.txt");
    let url = redis.url();
    let out = fake_capture(&lib, "ok", &trace, &["--redis", &url, "--frames", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let entries: StreamRangeReply = redis
        .client()
        .get_connection()
        .and_then(|mut c| c.xrange_all(STREAM))
        .expect("XRANGE");
    assert_eq!(entries.ids.len(), 10);
    let e = &entries.ids[9];
    assert_eq!(field::<String>(e, "source"), "k4a");
    assert_eq!(field::<u64>(e, "seq"), 9);
    assert_eq!(field::<u64>(e, "device_ts_usec"), 1_000_000 + 9 * 33_333);
    // padded rows (stride 1344) arrive packed: 640×576 DEPTH16, no padding bytes
    let depth: Vec<u8> = field(e, "depth");
    assert_eq!(depth.len(), 640 * 576 * 2);
    // every pixel of row y is 1000 + y mm: any padding byte would shift the rows
    let mismatched = depth
        .chunks_exact(2)
        .enumerate()
        .filter(|(i, px)| u16::from_le_bytes([px[0], px[1]]) != 1000 + (i / 640) as u16)
        .count();
    assert_eq!(mismatched, 0, "row padding leaked into the depth payload");
    assert_eq!(field::<Vec<u8>>(e, "color").len(), 4096);
    assert_eq!(
        (field::<u32>(e, "color_w"), field::<u32>(e, "color_h")),
        (1280, 720)
    );

    // the device got the documented configuration, and every capture and image was released
    // before the cameras were stopped and the device closed
    let calls = std::fs::read_to_string(&trace).expect("trace");
    assert!(
        calls.contains("start color_format=0 color_resolution=1 depth_mode=2 fps=2 sync=1"),
        "{calls}"
    );
    let tail: Vec<&str> = calls.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        ["close captures=0 images=0", "stop captures=0 images=0"],
        "{calls}"
    );

    let info = devstack(&[
        "kinect",
        "info",
        "--json",
        "--k4a-lib",
        lib.to_str().expect("utf-8"),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert_eq!(report["installed_count"], 1, "{report}");
    assert_eq!(report["devices"][0]["serial"], "000123456789");
    assert_eq!(report["devices"][0]["firmware"]["rgb"], "1.6.98");
    assert!(report["devices"][0]["warnings"][0]
        .as_str()
        .is_some_and(|w| w.contains("suggested 1.6.110")));
}

#[test]
fn depth_engine_failures_end_the_capture_with_cause_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lib = fake_libk4a(dir.path());
    let redis = Redis::start();
    let url = redis.url();

    let trace = dir.path().join("no-display.txt");
    let out = fake_capture(&lib, "no-display", &trace, &["--redis", &url]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    // the SDK's own message, routed into our log, and the decoded cause and fix
    assert!(
        log.contains("libk4a: Depth engine create and initialize failed with error code: 204"),
        "{log}"
    );
    assert!(
        log.contains(
            "k4a_device_start_cameras failed: depth engine error 204: no usable X display"
        ),
        "{log}"
    );
    assert!(
        log.contains("DISPLAY") && log.contains("XAUTHORITY"),
        "{log}"
    );
    let calls = std::fs::read_to_string(&trace).expect("trace");
    assert!(calls.ends_with("close captures=0 images=0\n"), "{calls}");

    let trace = dir.path().join("gpu-timeout.txt");
    let health_path = dir.path().join("health.json");
    let hp = health_path.to_str().expect("utf-8");
    let out = fake_capture(
        &lib,
        "gpu-timeout",
        &trace,
        &["--redis", &url, "--health-file", hp],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("depth engine error 208: GPU processing of a depth frame timed out"),
        "{log}"
    );
    let calls = std::fs::read_to_string(&trace).expect("trace");
    let tail: Vec<&str> = calls.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        ["close captures=0 images=0", "stop captures=0 images=0"],
        "{calls}"
    );
    let h = health(&health_path);
    assert_eq!(h["state"], "failed", "{h}");
    assert_eq!(h["captures"], 5);
    assert!(
        h["last_error"].as_str().is_some_and(|e| e.contains("208")),
        "{h}"
    );
}

#[test]
fn install_udev_copies_the_rule_reloads_and_triggers_or_asks_for_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("rules.d/99-k4a.rules");
    let target_arg = target.to_str().expect("utf-8");
    let is_root = nix::unistd::geteuid().is_root();

    // not root: one clear message, exit 1, nothing written
    let mut unprivileged = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = unprivileged
        .args(["kinect", "install-udev", "--target", target_arg])
        .env("NO_COLOR", "1")
        .output()
        .expect("run install-udev");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs root") && err.contains("sudo devstack kinect install-udev"),
        "{err}"
    );
    assert!(!target.exists());
    if !is_root {
        return;
    }

    // root: the rule lands at the target and udevadm is called as documented (a recording
    // udevadm first on PATH, so the test machine's udev is left alone)
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let calls = dir.path().join("udevadm-calls");
    let udevadm = bin.join("udevadm");
    std::fs::write(
        &udevadm,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", calls.display()),
    )
    .expect("write stub");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&udevadm, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(BIN)
        .args(["kinect", "install-udev", "--target", target_arg])
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run install-udev");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let installed = std::fs::read_to_string(&target).expect("rule installed");
    assert!(installed.contains("ATTR{idProduct}==\"097c\", MODE=\"0666\""));
    assert!(
        installed.contains("ATTR{idVendor}==\"2bc5\", ATTR{idProduct}==\"066b\", MODE=\"0666\"")
    );
    assert_eq!(
        std::fs::read_to_string(&calls).expect("udevadm called"),
        "control --reload-rules\n\
         trigger --subsystem-match=usb --attr-match=idVendor=045e --action=add\n\
         trigger --subsystem-match=usb --attr-match=idVendor=2bc5 --action=add\n"
    );
    assert!(stdout.contains("replug"), "{stdout}");
}

#[test]
fn redis_never_reachable_keeps_the_camera_running_and_fails_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let health_path = dir.path().join("health.json");
    let nobody = format!("redis://127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args([
            "kinect",
            "capture",
            "--source",
            "synthetic",
            "--frames",
            "20",
        ])
        .args(["--redis", &nobody, "--health-file"])
        .arg(&health_path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run capture");
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("none of 20 captures reached redis"), "{log}");
    assert!(log.contains("Connection refused"), "{log}");
    let h = health(&health_path);
    assert_eq!(h["state"], "failed", "{h}");
    assert_eq!(
        (h["captures"].as_u64(), h["dropped"].as_u64()),
        (Some(20), Some(20)),
        "{h}"
    );
}
