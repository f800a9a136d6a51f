//! `devstack kinect info | capture | record | install-udev`.

use std::path::Path;
use std::time::Duration;

use crate::cli::{
    GlobalOpts, KinectCaptureArgs, KinectInfoArgs, KinectInstallUdevArgs, KinectRecordArgs,
    KinectSourceArgs,
};
use crate::errors::{Failed, UsageError};
use crate::kinect::capture::{self, CaptureOptions};
use crate::kinect::mode::CaptureMode;
use crate::kinect::record::{self, RecordOptions};
use crate::kinect::recording::reader::{Recording, Summary};
use crate::kinect::source::{SourceOptions, SourceSpec};
use crate::ops::kinect::InfoReport;

pub async fn info(_g: &GlobalOpts, a: &KinectInfoArgs) -> anyhow::Result<u8> {
    if let Some(file) = &a.file {
        return recording_info(file, a.json);
    }
    let sysroot = a.sysroot.clone().unwrap_or_else(|| "/".into());
    let (report, load_error) = crate::ops::kinect::inspect(&sysroot, a.k4a_lib.as_deref());
    let device_failed = report.devices.iter().any(|d| d.error.is_some());
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_info(&report)?;
    }
    if let Some(e) = load_error {
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
}
