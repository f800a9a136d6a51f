//! `devstack kinect info | capture | record | install-udev`.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{
    GlobalOpts, KinectCaptureArgs, KinectInfoArgs, KinectInstallUdevArgs, KinectRecordArgs,
    KinectSourceArgs,
};
use crate::errors::{Failed, UsageError};
use crate::kinect::capture::{self, CaptureOptions};
use crate::kinect::device::{self, Device};
use crate::kinect::ffi::{self, K4aVersion};
use crate::kinect::mode::CaptureMode;
use crate::kinect::record::{self, RecordOptions};
use crate::kinect::recording::reader::{Recording, Summary};
use crate::kinect::source::{SourceOptions, SourceSpec};
use crate::kinect::usb::{self, UsbFunction};

#[derive(Debug, Serialize)]
struct InfoReport {
    usb: Vec<UsbFunction>,
    sdk: SdkInfo,
    installed_count: Option<u32>,
    devices: Vec<DeviceInfo>,
    problems: Vec<String>,
}

#[derive(Debug, Serialize)]
struct SdkInfo {
    loaded: bool,
    path: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeviceInfo {
    index: u32,
    /// `azure-kinect`, or `orbbec` for a camera behind Orbbec's K4A wrapper.
    camera: Option<&'static str>,
    serial: Option<String>,
    firmware: Option<Firmware>,
    warnings: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Firmware {
    rgb: String,
    depth: String,
    audio: String,
    depth_sensor: String,
    build: &'static str,
    signature: &'static str,
}

fn dotted(v: &K4aVersion) -> String {
    format!("{}.{}.{}", v.major, v.minor, v.iteration)
}

/// The SDK's firmware checks (src/depth/depth.c): below the minimum the SDK refuses the
/// device; below the suggested version it warns.
fn firmware_warnings(v: &ffi::K4aHardwareVersion) -> Vec<String> {
    let version = |major, minor, iteration| K4aVersion {
        major,
        minor,
        iteration,
    };
    // (part, installed, minimum, suggested)
    let parts = [
        ("RGB", v.rgb, version(1, 5, 92), version(1, 6, 110)),
        ("depth", v.depth, version(1, 5, 66), version(1, 6, 79)),
        ("audio", v.audio, version(1, 5, 14), version(1, 6, 14)),
        (
            "depth sensor config",
            v.depth_sensor,
            version(5006, 27, 0),
            version(6109, 7, 0),
        ),
    ];
    let update = "update with AzureKinectFirmwareTool (k4a-tools) and \
                  AzureKinectDK_Fw_1.6.110080014.bin";
    let mut warnings = Vec::new();
    for (name, have, minimum, suggested) in parts {
        if have < minimum {
            warnings.push(format!(
                "{name} firmware {} is below the SDK's minimum {}: the SDK will refuse the \
                 device; {update}",
                dotted(&have),
                dotted(&minimum)
            ));
        } else if have < suggested {
            warnings.push(format!(
                "{name} firmware {} is older than the suggested {}; {update}",
                dotted(&have),
                dotted(&suggested)
            ));
        }
    }
    warnings
}

/// Orbbec's K4A wrapper reports its camera's one firmware version as `depth` and zeroes the
/// rest (`k4a_device_get_version` in ob_k4a_impl.cpp); the Azure Kinect has four.
fn behind_orbbec_wrapper(v: &ffi::K4aHardwareVersion) -> bool {
    let zero = K4aVersion::default();
    v.rgb == zero && v.audio == zero && v.depth_sensor == zero && v.depth != zero
}

/// The minimum firmware Orbbec's K4A wrapper (v2) lists per model, for the one Femto model on
/// USB (with several models the device index cannot be matched to one).
fn orbbec_firmware_warnings(v: &K4aVersion, usb: &[UsbFunction]) -> Vec<String> {
    let mut models: Vec<&UsbFunction> = usb
        .iter()
        .filter(|u| u.family == crate::kinect::usb::Family::Femto)
        .collect();
    models.dedup_by(|a, b| a.product_id == b.product_id);
    let [model] = models[..] else {
        return Vec::new();
    };
    let minimum = match model.product_id.as_str() {
        "066b" => (1, 1, 2),
        "0669" => (1, 3, 0),
        _ => (2, 0, 4),
    };
    let minimum = K4aVersion {
        major: minimum.0,
        minor: minimum.1,
        iteration: minimum.2,
    };
    if *v >= minimum {
        return Vec::new();
    }
    vec![format!(
        "{} firmware {} is older than the {} Orbbec's K4A wrapper v2 needs; update it with \
         Orbbec's firmware tool (github.com/orbbec/OrbbecFirmware)",
        model.function,
        dotted(v),
        dotted(&minimum)
    )]
}

fn query_device(k4a: &'static ffi::K4a, index: u32, usb: &[UsbFunction]) -> DeviceInfo {
    let mut info = DeviceInfo {
        index,
        camera: None,
        serial: None,
        firmware: None,
        warnings: Vec::new(),
        error: None,
    };
    match Device::open(k4a, index) {
        Err(e) => info.error = Some(e.to_string()),
        Ok(dev) => {
            info.serial = dev.serial().ok();
            match dev.version() {
                Ok(v) if behind_orbbec_wrapper(&v) => {
                    info.camera = Some("orbbec");
                    info.warnings = orbbec_firmware_warnings(&v.depth, usb);
                    info.firmware = Some(Firmware {
                        rgb: "-".into(),
                        depth: dotted(&v.depth),
                        audio: "-".into(),
                        depth_sensor: "-".into(),
                        build: "release",
                        signature: "orbbec",
                    });
                }
                Ok(v) => {
                    info.camera = Some("azure-kinect");
                    info.warnings = firmware_warnings(&v);
                    info.firmware = Some(Firmware {
                        rgb: dotted(&v.rgb),
                        depth: dotted(&v.depth),
                        audio: dotted(&v.audio),
                        depth_sensor: format!("{}.{}", v.depth_sensor.major, v.depth_sensor.minor),
                        build: match v.firmware_build {
                            ffi::K4A_FIRMWARE_BUILD_RELEASE => "release",
                            _ => "debug",
                        },
                        signature: match v.firmware_signature {
                            ffi::K4A_FIRMWARE_SIGNATURE_MSFT => "msft",
                            ffi::K4A_FIRMWARE_SIGNATURE_TEST => "test",
                            _ => "unsigned",
                        },
                    });
                }
                Err(e) => info.error = Some(e.to_string()),
            }
        }
    }
    info
}

fn usb_problems(found: &[UsbFunction], sysroot: &Path) -> Vec<String> {
    use crate::kinect::usb::Family;
    let kinect: Vec<&UsbFunction> = found
        .iter()
        .filter(|f| f.family == Family::AzureKinect)
        .collect();
    let mut problems = Vec::new();
    if found.is_empty() {
        problems.push(format!(
            "no camera on USB ({}/sys/bus/usb/devices has no Azure Kinect 045e:097a-097e and no \
             Orbbec Femto 2bc5:066b/0669/06c0); plug it into a USB3 port directly, with its \
             power supply",
            sysroot.display().to_string().trim_end_matches('/')
        ));
    } else if !kinect.is_empty() && !kinect.iter().any(|f| f.is_camera()) {
        problems.push(
            "the Kinect's hub or microphone is on USB but not its cameras (045e:097c/097d): it \
             is probably on a USB 2 port or not powered; use a USB3 port directly and the power \
             supply"
                .into(),
        );
    }
    for f in found.iter().filter(|f| f.family == Family::FemtoOther) {
        problems.push(format!(
            "Orbbec {} ({}) is not served by Orbbec's K4A wrapper (only the Femto Bolt, Mega and \
             Mega I are): libk4a cannot open it",
            f.function,
            f.id()
        ));
    }
    for f in found.iter().filter(|f| f.is_camera() && !f.is_usb3()) {
        problems.push(format!(
            "{} ({}) runs at {} Mbit/s, not USB 3 (5000): use a USB3 port directly, no hub or dock",
            f.function,
            f.port,
            f.speed_mbps.map_or("unknown".into(), |s| s.to_string())
        ));
    }
    problems
}

pub async fn info(_g: &GlobalOpts, a: &KinectInfoArgs) -> anyhow::Result<u8> {
    if let Some(file) = &a.file {
        return recording_info(file, a.json);
    }
    let sysroot = a.sysroot.clone().unwrap_or_else(|| "/".into());
    let found = usb::scan(&sysroot);
    let mut report = InfoReport {
        problems: usb_problems(&found, &sysroot),
        usb: found,
        sdk: SdkInfo {
            loaded: false,
            path: None,
            error: None,
        },
        installed_count: None,
        devices: Vec::new(),
    };
    let load = ffi::load(a.k4a_lib.as_deref());
    match &load {
        Ok(k4a) => {
            device::route_sdk_log(k4a);
            report.sdk.loaded = true;
            report.sdk.path = Some(k4a.path.clone());
            let count = device::installed_count(k4a);
            report.installed_count = Some(count);
            report.devices = (0..count)
                .map(|i| query_device(k4a, i, &report.usb))
                .collect();
        }
        Err(e) => report.sdk.error = Some(e.to_string()),
    }
    let device_failed = report.devices.iter().any(|d| d.error.is_some());
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_info(&report)?;
    }
    if let Err(e) = load {
        return Err(e.into());
    }
    Ok(u8::from(device_failed))
}

fn print_info(r: &InfoReport) -> Result<(), crate::ui::out::StdoutError> {
    use console::style;
    if !r.usb.is_empty() {
        let rows: Vec<Vec<String>> = r
            .usb
            .iter()
            .map(|f| {
                let speed = f.speed_mbps.map_or("?".into(), |s| format!("{s} Mbit/s"));
                vec![
                    f.port.clone(),
                    f.id(),
                    f.function.to_string(),
                    if f.is_usb3() {
                        style(speed).green().to_string()
                    } else {
                        style(speed).yellow().to_string()
                    },
                ]
            })
            .collect();
        crate::out!(
            "{}",
            crate::ui::table::render(&["USB PORT", "ID", "FUNCTION", "SPEED"], &rows)
        )?;
    }
    for p in &r.problems {
        crate::outln!("{} {p}", style("warning:").yellow().bold())?;
    }
    if let Some(path) = &r.sdk.path {
        crate::outln!("libk4a: {path}")?;
    }
    if let Some(count) = r.installed_count {
        crate::outln!("devices: {count}")?;
    }
    for d in &r.devices {
        match (&d.error, &d.firmware) {
            (Some(e), _) => crate::outln!("  #{}: {} {e}", d.index, style("error:").red().bold())?,
            (None, Some(f)) if d.camera == Some("orbbec") => crate::outln!(
                "  #{}: Orbbec camera (through Orbbec's K4A wrapper), serial {}, firmware {}",
                d.index,
                d.serial.as_deref().unwrap_or("?"),
                f.depth
            )?,
            (None, Some(f)) => crate::outln!(
                "  #{}: serial {}, firmware rgb {} depth {} audio {} sensor {} ({}, {})",
                d.index,
                d.serial.as_deref().unwrap_or("?"),
                f.rgb,
                f.depth,
                f.audio,
                f.depth_sensor,
                f.build,
                f.signature
            )?,
            (None, None) => {}
        }
        for w in &d.warnings {
            crate::outln!("    {} {w}", style("warning:").yellow().bold())?;
        }
    }
    Ok(())
}

/// `60s`, `5m`, `1h`, `250ms`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("--duration {text:?} is not a duration; use e.g. 60s, 5m, 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "--duration {text:?}: unknown unit {unit:?}; use ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("--duration {text:?}: {e}"))
}

/// The source and mode flags, checked; a replay's file is opened once here so that a missing,
/// foreign or truncated recording is a usage error before anything starts.
fn source_options(
    a: &KinectSourceArgs,
    recording: bool,
) -> Result<(SourceOptions, Option<Duration>), UsageError> {
    let mode =
        CaptureMode::parse(&a.depth_mode, &a.color, &a.color_format, a.fps).map_err(UsageError)?;
    let spec = SourceSpec::parse(&a.source).map_err(UsageError)?;
    let duration = a
        .duration
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(UsageError)?;
    if !(a.speed.is_finite() && a.speed > 0.0 && a.speed <= 100.0) {
        return Err(UsageError(format!(
            "--speed {} is not a replay speed; use a factor above 0 and up to 100 (1 = as recorded)",
            a.speed
        )));
    }
    match &spec {
        SourceSpec::Replay(path) => {
            Recording::open(path).map_err(|e| UsageError(e.to_string()))?;
        }
        _ if a.looped || a.speed != 1.0 => {
            return Err(UsageError(format!(
                "--loop and --speed apply to recordings; --source {} is live (use --source \
                 replay:FILE.mkv)",
                spec.label()
            )))
        }
        _ => {}
    }
    let opts = SourceOptions {
        spec,
        mode,
        k4a_lib: a.k4a_lib.clone(),
        speed: a.speed,
        looped: a.looped,
        recording,
    };
    Ok((opts, duration))
}

pub async fn capture(_g: &GlobalOpts, a: &KinectCaptureArgs) -> anyhow::Result<u8> {
    let (source, duration) = source_options(&a.src, false)?;
    if a.queue == 0 {
        return Err(
            UsageError("--queue 0: the hand-off needs room for at least 1 frame".into()).into(),
        );
    }
    if let Err(e) = redis::Client::open(a.redis.as_str()) {
        return Err(UsageError(format!(
            "--redis {:?} is not a Redis URL ({e}); use redis://HOST:PORT[/DB]",
            a.redis
        ))
        .into());
    }
    capture::run(CaptureOptions {
        source,
        redis: a.redis.clone(),
        stream: a.stream.clone(),
        maxlen: a.maxlen,
        queue: a.queue,
        frames: a.src.frames,
        duration,
        health_file: a.health_file.clone(),
    })
    .await
}

pub async fn record(_g: &GlobalOpts, a: &KinectRecordArgs) -> anyhow::Result<u8> {
    crate::kinect::source::status_on_stderr();
    let (source, duration) = source_options(&a.src, true)?;
    if a.queue == 0 {
        return Err(UsageError("--queue 0: the disk queue needs room for 1 capture".into()).into());
    }
    if a.file.extension().and_then(|e| e.to_str()) != Some("mkv") {
        return Err(UsageError(format!(
            "{}: recordings are Matroska files; name it FILE.mkv",
            a.file.display()
        ))
        .into());
    }
    record::run(RecordOptions {
        source,
        path: a.file.clone(),
        overwrite: a.overwrite,
        queue: a.queue,
        frames: a.src.frames,
        duration,
        json: a.json,
    })
    .await
}

/// `kinect info FILE.mkv`: what a recording holds.
fn recording_info(path: &Path, json: bool) -> anyhow::Result<u8> {
    let rec = Recording::open(path).map_err(|e| UsageError(e.to_string()))?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&rec.summary)?)?;
    } else {
        crate::out!("{}", describe_recording(&rec.summary))?;
    }
    Ok(0)
}

fn describe_recording(s: &Summary) -> String {
    let mut out = format!(
        "{}: {:.1} MB{}\n",
        s.path.display(),
        s.bytes as f64 / 1e6,
        s.writing_app
            .as_deref()
            .map_or(String::new(), |a| format!(", written by {a}"))
    );
    let rows: Vec<Vec<String>> = s
        .tracks
        .iter()
        .map(|t| {
            let mode = match t.role {
                Some(crate::kinect::recording::Role::Color) => s.color_mode.clone(),
                Some(crate::kinect::recording::Role::Depth) => s.depth_mode.clone(),
                Some(crate::kinect::recording::Role::Ir) => s.ir_mode.clone(),
                Some(crate::kinect::recording::Role::Imu) => Some("ON".into()),
                None => None,
            };
            vec![
                t.name.clone(),
                mode.unwrap_or_else(|| "-".into()),
                if t.width > 0 {
                    format!("{}x{}", t.width, t.height)
                } else {
                    "-".into()
                },
                t.format.clone().unwrap_or_else(|| t.codec.clone()),
                t.frames.to_string(),
            ]
        })
        .collect();
    out.push_str(&crate::ui::table::render(
        &["TRACK", "MODE", "SIZE", "FORMAT", "FRAMES"],
        &rows,
    ));
    out.push_str(&format!(
        "captures: {} at {} fps, {:.2} s (device clock starts at {} ns)\n",
        s.captures,
        s.fps.map_or("?".into(), |f| f.to_string()),
        s.duration_s,
        s.start_offset_ns
    ));
    out.push_str(&match &s.calibration {
        Some(c) => format!(
            "calibration: {} ({} bytes{})\n",
            c.file_name,
            c.bytes,
            if c.synthetic {
                ", synthetic: nominal values"
            } else {
                ""
            }
        ),
        None => "calibration: absent (k4abt and the SDK's transformations need it)\n".into(),
    });
    if let Some(serial) = &s.serial {
        out.push_str(&format!("serial: {serial}\n"));
    }
    if let Some(source) = &s.source {
        out.push_str(&format!("recorded by devstack from: {source}\n"));
    }
    out
}

/// The rule devstack installs (research/kinect.md §2.3).
pub const UDEV_RULE: &str = include_str!("../../udev/99-k4a.rules");

pub async fn install_udev(_g: &GlobalOpts, a: &KinectInstallUdevArgs) -> anyhow::Result<u8> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Failed(format!(
            "installing {} and reloading udev needs root; run: sudo devstack kinect install-udev",
            a.target.display()
        ))
        .into());
    }
    if let Some(dir) = a.target.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let unchanged = std::fs::read_to_string(&a.target).is_ok_and(|old| old == UDEV_RULE);
    if !unchanged {
        std::fs::write(&a.target, UDEV_RULE)
            .map_err(|e| Failed(format!("cannot write {}: {e}", a.target.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a.target, std::fs::Permissions::from_mode(0o644))?;
    }
    crate::outln!(
        "{} {}",
        a.target.display(),
        if unchanged {
            "is already up to date"
        } else {
            "installed"
        }
    )?;
    // add events for the Azure Kinect's functions and Orbbec's cameras
    for args in [
        &["control", "--reload-rules"][..],
        &[
            "trigger",
            "--subsystem-match=usb",
            "--attr-match=idVendor=045e",
            "--action=add",
        ][..],
        &[
            "trigger",
            "--subsystem-match=usb",
            "--attr-match=idVendor=2bc5",
            "--action=add",
        ][..],
    ] {
        let shown = format!("udevadm {}", args.join(" "));
        match std::process::Command::new("udevadm").args(args).output() {
            Ok(out) if out.status.success() => crate::outln!("ran {shown}")?,
            Ok(out) => {
                return Err(Failed(format!(
                    "{shown} failed ({}): {}; the rule is installed and applies after a replug \
                     or reboot",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
                .into())
            }
            Err(e) => {
                crate::outln!(
                    "{} cannot run udevadm ({e}); the rule applies once udev reloads (reboot)",
                    console::style("warning:").yellow().bold()
                )?;
                return Ok(0);
            }
        }
    }
    crate::outln!(
        "If the camera (Azure Kinect or Orbbec Femto) was plugged in, unplug and replug it so \
         the new permissions apply."
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn the_rule_avoids_the_official_files_mistakes() {
        let rules: Vec<&str> = UDEV_RULE
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        for line in &rules {
            assert!(
                !line.contains("BUS") && !line.contains("!==") && !line.contains("GROUP="),
                "{line}"
            );
        }
        assert_eq!(rules.iter().filter(|l| l.contains("GOTO=")).count(), 1);
        for pid in ["097a", "097b", "097c", "097d", "097e"] {
            assert!(
                UDEV_RULE.contains(&format!(
                    "ATTR{{idVendor}}==\"045e\", ATTR{{idProduct}}==\"{pid}\", MODE=\"0666\""
                )),
                "{pid}"
            );
        }
        // every Femto the K4A wrapper serves, by the ids usb.rs recognises
        for (pid, _, wrapper) in crate::kinect::usb::FEMTO_MODELS {
            let line =
                format!("ATTR{{idVendor}}==\"2bc5\", ATTR{{idProduct}}==\"{pid}\", MODE=\"0666\"");
            assert_eq!(UDEV_RULE.contains(&line), wrapper, "{pid}");
        }
    }

    #[test]
    fn a_femto_behind_the_wrapper_is_checked_against_orbbecs_minimum() {
        let fw = |major, minor, iteration| ffi::K4aHardwareVersion {
            depth: K4aVersion {
                major,
                minor,
                iteration,
            },
            ..Default::default()
        };
        assert!(behind_orbbec_wrapper(&fw(1, 1, 2)));
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sys/bus/usb/devices/2-3");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("idVendor"), "2bc5\n").unwrap();
        std::fs::write(dir.join("idProduct"), "066b\n").unwrap();
        let usb = usb::scan(root.path());
        let w = orbbec_firmware_warnings(&fw(1, 0, 9).depth, &usb);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("Femto Bolt firmware 1.0.9 is older than the 1.1.2"),
            "{w:?}"
        );
        assert!(orbbec_firmware_warnings(&fw(1, 1, 2).depth, &usb).is_empty());
        assert!(orbbec_firmware_warnings(&fw(1, 0, 9).depth, &[]).is_empty());
    }

    #[test]
    fn old_firmware_is_flagged_against_the_sdk_versions() {
        let v = |major, minor, iteration| K4aVersion {
            major,
            minor,
            iteration,
        };
        let current = ffi::K4aHardwareVersion {
            rgb: v(1, 6, 110),
            depth: v(1, 6, 79),
            audio: v(1, 6, 14),
            depth_sensor: v(6109, 7, 0),
            ..Default::default()
        };
        assert!(firmware_warnings(&current).is_empty());
        let old = ffi::K4aHardwareVersion {
            rgb: v(1, 6, 98),
            depth: v(1, 5, 60),
            ..current
        };
        let w = firmware_warnings(&old);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("RGB") && w[0].contains("suggested 1.6.110"));
        assert!(w[1].contains("depth") && w[1].contains("minimum"));
    }
}
