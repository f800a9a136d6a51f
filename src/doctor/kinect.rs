//! The Azure Kinect's host state: USB (sysfs), device-node permissions, the udev rule, usbfs
//! memory, the SDK and depth engine, and the X display / OpenGL 4.4 the depth engine needs.
//! Facts: research/kinect.md §1–4, §8.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use super::{Check, Facts, Status};

use crate::kinect::usb::{
    function_name, UsbFunction, COLOR_PID as COLOR, DEPTH_PID as DEPTH, MICROSOFT_VID as VENDOR,
};

fn product_name(pid: &str) -> &'static str {
    function_name(pid).unwrap_or("unknown")
}

pub fn scan_usb(f: &Facts) -> Vec<UsbFunction> {
    crate::kinect::usb::scan(&f.root.0)
}

const USB3_FIX: &str = "plug the camera straight into a USB 3 port (SuperSpeed, usually blue) with the supplied cable, not through a hub or dock; if it still enumerates at USB 2, unplug power and USB, wait 10 s, reconnect power first";

pub fn usb(f: &Facts) -> Check {
    let fns = scan_usb(f);
    let details = json!(fns
        .iter()
        .map(|u| json!({"id": format!("{VENDOR}:{}", u.product_id), "function": product_name(&u.product_id), "speed_mbps": u.speed_mbps, "bus": u.bus, "dev": u.device}))
        .collect::<Vec<_>>());
    if fns.is_empty() {
        return Check::new(
            "kinect.usb",
            Status::Skip,
            "no Azure Kinect on USB (the stack runs without the camera)",
        )
        .details(details);
    }
    let cams: Vec<&UsbFunction> = fns
        .iter()
        .filter(|u| u.product_id == DEPTH || u.product_id == COLOR)
        .collect();
    let has = |p: &str| fns.iter().any(|u| u.product_id == p);
    if !has(DEPTH) || !has(COLOR) {
        let found: Vec<String> = fns
            .iter()
            .map(|u| format!("{} ({})", u.product_id, product_name(&u.product_id)))
            .collect();
        let missing: Vec<&str> = [DEPTH, COLOR].into_iter().filter(|p| !has(p)).collect();
        let only_usb2_side = !has(DEPTH)
            && !has(COLOR)
            && fns
                .iter()
                .all(|u| u.product_id == "097b" || u.product_id == "097e");
        let cause = if only_usb2_side {
            "only the USB 2 side enumerated: the camera thinks it is on a USB 2 host (white light)"
        } else {
            "partially enumerated (a known failure after power or cable glitches)"
        };
        return Check::new(
            "kinect.usb",
            Status::Fail,
            format!(
                "Kinect {cause}: found {}; missing {}",
                found.join(", "),
                missing
                    .iter()
                    .map(|p| format!("{VENDOR}:{p} {}", product_name(p)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .fix(USB3_FIX)
        .details(details);
    }
    if let Some(slow) = cams.iter().find(|u| !u.is_usb3()) {
        return Check::new(
            "kinect.usb",
            Status::Fail,
            format!(
                "Kinect {} is on USB 2 ({} Mb/s, bus {} device {}): depth and color need a 5000 Mb/s USB 3 link",
                product_name(&slow.product_id),
                slow.speed_mbps.unwrap_or(0),
                slow.bus.unwrap_or(0),
                slow.device.unwrap_or(0)
            ),
        )
        .fix(USB3_FIX)
        .details(details);
    }
    let n = fns.iter().filter(|u| u.product_id == DEPTH).count();
    Check::new(
        "kinect.usb",
        Status::Ok,
        format!(
            "{n} Azure Kinect on USB 3 (depth and color at {} Mb/s)",
            cams[0].speed_mbps.unwrap_or(0)
        ),
    )
    .details(details)
}

pub fn kinect_present(f: &Facts) -> bool {
    scan_usb(f)
        .iter()
        .any(|u| u.product_id == DEPTH || u.product_id == COLOR)
}

/// Whether the capture will run: a camera on USB, or KINECT_FORCE set (as the template reads it).
fn capture_wanted(f: &Facts) -> bool {
    kinect_present(f)
        || f.env("KINECT_FORCE").is_some_and(|v| {
            ["1", "true", "yes", "on"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(v.trim()))
        })
}

/// Without a camera (and without KINECT_FORCE) the capture is disabled, so what only it needs
/// (udev rule, usbfs memory, SDK, display) is skipped with that reason, not a warning; what
/// was found stays in the summary and the fix for when a camera is plugged in.
fn with_the_camera(f: &Facts, c: Check) -> Check {
    if capture_wanted(f) || !matches!(c.status, Status::Warn | Status::Fail) {
        return c;
    }
    Check {
        status: Status::Skip,
        summary: format!(
            "no Azure Kinect on USB, so not needed now; once one is plugged in: {}",
            c.summary
        ),
        ..c
    }
}

/// The usbfs nodes libk4a opens must be read/write for this user.
pub fn permissions(f: &Facts) -> Check {
    let cams: Vec<UsbFunction> = scan_usb(f)
        .into_iter()
        .filter(|u| u.product_id == DEPTH || u.product_id == COLOR)
        .collect();
    if cams.is_empty() {
        return Check::new("kinect.permissions", Status::Skip, "no Kinect on USB");
    }
    let mut bad = Vec::new();
    let mut nodes = Vec::new();
    for u in &cams {
        let node = format!(
            "/dev/bus/usb/{:03}/{:03}",
            u.bus.unwrap_or(0),
            u.device.unwrap_or(0)
        );
        let Ok(meta) = std::fs::metadata(f.root.path(&node)) else {
            bad.push(format!(
                "{node} ({}) does not exist",
                product_name(&u.product_id)
            ));
            continue;
        };
        let mode = meta.mode();
        let usable = f.user.uid == 0
            || mode & 0o006 == 0o006
            || (meta.uid() == f.user.uid && mode & 0o600 == 0o600)
            || (f.user.gids.contains(&meta.gid()) && mode & 0o060 == 0o060);
        nodes.push(json!({"node": node, "mode": format!("{:o}", mode & 0o777), "uid": meta.uid(), "gid": meta.gid(), "usable": usable}));
        if !usable {
            bad.push(format!(
                "{node} ({}) is mode {:o} owned by {}:{}",
                product_name(&u.product_id),
                mode & 0o777,
                meta.uid(),
                meta.gid()
            ));
        }
    }
    if bad.is_empty() {
        Check::new(
            "kinect.permissions",
            Status::Ok,
            format!("{} usbfs nodes are read/write for you", nodes.len()),
        )
        .details(json!(nodes))
    } else {
        Check::new(
            "kinect.permissions",
            Status::Fail,
            format!("not read/write for {}: {}", f.user.name, bad.join("; ")),
        )
        .fix("sudo devstack kinect install-udev, then unplug and replug the camera")
        .details(json!(nodes))
    }
}

/// A udev rule must grant access; the SDK's own file is stale (research/kinect.md §2.3).
pub fn udev(f: &Facts) -> Check {
    with_the_camera(f, udev_rules(f))
}

fn udev_rules(f: &Facts) -> Check {
    let present = kinect_present(f);
    let mut rules = Vec::new();
    for dir in [
        "/etc/udev/rules.d",
        "/lib/udev/rules.d",
        "/usr/lib/udev/rules.d",
    ] {
        let Ok(entries) = std::fs::read_dir(f.root.path(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            if text.contains(VENDOR) && text.contains(DEPTH) {
                rules.push((format!("{dir}/{}", e.file_name().to_string_lossy()), text));
            }
        }
    }
    let install = "sudo devstack kinect install-udev   # installs devstack's udev/99-k4a.rules, reloads udev, triggers add events\nthen unplug and replug the camera";
    if rules.is_empty() {
        let status = if present { Status::Fail } else { Status::Warn };
        return Check::new(
            "kinect.udev",
            status,
            "no udev rule grants access to the Kinect (045e:097c)",
        )
        .fix(install);
    }
    let plugdev_exists = f
        .root
        .read("/etc/group")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("plugdev:"));
    let mut problems = Vec::new();
    for (path, text) in &rules {
        let active: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        if active
            .iter()
            .any(|l| l.contains("BUS!=") || l.contains("!=="))
        {
            problems.push(format!("{path} is the SDK's stale rule: its guard uses the removed BUS key and the invalid operator !=="));
        }
        if active.iter().any(|l| l.contains("GROUP=\"plugdev\"")) && !plugdev_exists {
            problems.push(format!("{path} sets GROUP=\"plugdev\" but there is no plugdev group, so udev ignores each whole line (MODE included)"));
        }
    }
    let grants = rules.iter().any(|(_, t)| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| {
                (l.contains(DEPTH) || l.contains("097["))
                    && (l.contains("MODE=\"0666\"") || l.contains("uaccess"))
            })
    });
    let names: Vec<&str> = rules.iter().map(|(p, _)| p.as_str()).collect();
    let details = json!({ "rules": names, "problems": problems });
    if !grants {
        return Check::new(
            "kinect.udev",
            Status::Fail,
            format!(
                "{} mention the Kinect but grant no access (no MODE=\"0666\" or uaccess)",
                names.join(", ")
            ),
        )
        .fix(install)
        .details(details);
    }
    if !problems.is_empty() {
        let status = if problems.iter().any(|p| p.contains("ignores")) {
            Status::Fail
        } else {
            Status::Warn
        };
        return Check::new("kinect.udev", status, problems.join("; "))
            .fix(format!(
                "{install}\nand remove the old file: sudo rm {}",
                names.join(" ")
            ))
            .details(details);
    }
    Check::new(
        "kinect.udev",
        Status::Ok,
        format!("udev rule present: {}", names.join(", ")),
    )
    .details(details)
}

/// usbfs buffers: the kernel's 16 MB default starves libusb/libuvc (need ≥ 32 MB per camera).
pub fn usbfs(f: &Facts) -> Check {
    with_the_camera(f, usbfs_memory(f))
}

fn usbfs_memory(f: &Facts) -> Check {
    let Some(raw) = f
        .root
        .read("/sys/module/usbcore/parameters/usbfs_memory_mb")
    else {
        return Check::new(
            "kinect.usbfs",
            Status::Skip,
            "usbcore parameters not readable (no USB core in this root)",
        );
    };
    let Ok(mb) = raw.parse::<u64>() else {
        return Check::new(
            "kinect.usbfs",
            Status::Warn,
            format!("usbfs_memory_mb has an unexpected value {raw:?}"),
        );
    };
    let cameras = scan_usb(f)
        .iter()
        .filter(|u| u.product_id == DEPTH)
        .count()
        .max(1) as u64;
    let need = 32 * cameras;
    let details = json!({ "usbfs_memory_mb": mb, "needed_mb": need, "cameras": cameras });
    if mb == 0 {
        return Check::new(
            "kinect.usbfs",
            Status::Ok,
            "usbfs memory is unlimited (usbfs_memory_mb=0)",
        )
        .details(details);
    }
    if mb >= need {
        return Check::new(
            "kinect.usbfs",
            Status::Ok,
            format!("usbfs memory {mb} MB (≥ {need} MB for {cameras} camera(s))"),
        )
        .details(details);
    }
    let status = if kinect_present(f) {
        Status::Fail
    } else {
        Status::Warn
    };
    Check::new("kinect.usbfs", status, format!("usbfs memory is {mb} MB; the Kinect needs ≥ {need} MB (libusb ENOMEM, dropped frames)"))
        .fix("now: echo 1000 | sudo tee /sys/module/usbcore/parameters/usbfs_memory_mb\npersistent: add usbcore.usbfs_memory_mb=1000 to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then `sudo update-grub` and reboot")
        .details(details)
}

const LIB_DIRS: [&str; 5] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
    "/opt/libk4a/lib",
];
const LIB_NAMES: [&str; 3] = ["libk4a.so.1.4", "libk4a.so.1", "libk4a.so"];

/// libk4a and the depth engine where libk4a looks for it (`<libdir>/libk4a1.4/`).
pub fn sdk(f: &Facts) -> Check {
    with_the_camera(f, sdk_files(f))
}

fn sdk_files(f: &Facts) -> Check {
    let mut dirs: Vec<String> = Vec::new();
    if let Some(explicit) = f.env("DEVSTACK_K4A_LIB") {
        dirs.push(explicit.to_string());
    }
    if let Some(ld) = f.env("LD_LIBRARY_PATH") {
        dirs.extend(ld.split(':').filter(|d| !d.is_empty()).map(str::to_string));
    }
    dirs.extend(LIB_DIRS.iter().map(|d| d.to_string()));
    let found = dirs.iter().find_map(|d| {
        let p = f.root.path(d);
        if p.is_file() {
            return Some((
                p.clone(),
                p.parent().map(|x| x.to_path_buf()).unwrap_or_default(),
            ));
        }
        LIB_NAMES
            .iter()
            .map(|n| p.join(n))
            .find(|c| c.exists())
            .map(|c| (c, p.clone()))
    });
    let present = kinect_present(f);
    let Some((lib, dir)) = found else {
        let status = if present { Status::Fail } else { Status::Warn };
        return Check::new("kinect.sdk", status, format!("libk4a not found (looked for {} in {})", LIB_NAMES.join(", "), dirs.join(", ")))
            .fix("install Microsoft's Azure Kinect SDK packages libk4a1.4 and libk4a1.4-dev (packages.microsoft.com, Ubuntu 18.04 repository; not in Debian), or point DEVSTACK_K4A_LIB at libk4a.so.1.4")
            .details(json!({ "searched": dirs }));
    };
    let engine = ["libk4a1.4/libdepthengine.so.2.0", "libdepthengine.so.2.0"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists());
    match engine {
        Some(e) => Check::new("kinect.sdk", Status::Ok, format!("libk4a at {}; depth engine at {}", lib.display(), e.display()))
            .details(json!({ "libk4a": lib, "depthengine": e })),
        None => Check::new(
            "kinect.sdk",
            if present { Status::Fail } else { Status::Warn },
            format!("libk4a at {} but no libdepthengine.so.2.0 in {}/libk4a1.4/ (depth would fail with error 108)", lib.display(), dir.display()),
        )
        .fix(format!("reinstall libk4a1.4 (it ships the depth engine), or copy libdepthengine.so.2.0 to {}/libk4a1.4/", dir.display()))
        .details(json!({ "libk4a": lib })),
    }
}

/// The depth engine needs a GLX OpenGL ≥ 4.4 context on an X display (errors 204/207).
pub fn display(f: &Facts) -> Check {
    with_the_camera(f, display_gl(f))
}

fn display_gl(f: &Facts) -> Check {
    let present = kinect_present(f);
    let missing_status = if present { Status::Fail } else { Status::Warn };
    let Some(display) = f.env("DISPLAY") else {
        return Check::new("kinect.display", missing_status, "DISPLAY is not set: the depth engine cannot get its OpenGL context (error 204)")
            .fix("run devstack from the desktop session, or set DISPLAY=:0 and XAUTHORITY=/run/user/$UID/gdm/Xauthority (x-devstack.host.kinect.environment)");
    };
    // ":0", ":1.0" use the local socket; "host:0" is TCP and has none to check.
    if let Some(num) = display.strip_prefix(':') {
        let n = num.split('.').next().unwrap_or("0");
        let sock = format!("/tmp/.X11-unix/X{n}");
        if !f.root.path(&sock).exists() {
            return Check::new("kinect.display", missing_status, format!("DISPLAY={display} but {sock} does not exist: no X server on that display"))
                .fix("start the desktop session (or Xorg) on that display, or set DISPLAY to the running one (`ls /tmp/.X11-unix`)");
        }
    }
    if !f.root.is_real() {
        return Check::new(
            "kinect.display",
            Status::Warn,
            format!("DISPLAY={display}; OpenGL not verified under a sysroot"),
        );
    }
    let out = std::process::Command::new("glxinfo")
        .arg("-B")
        .env("DISPLAY", display)
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return Check::new("kinect.display", Status::Warn, format!("DISPLAY={display}, but OpenGL 4.4 could not be verified (glxinfo missing or failed)"))
            .fix("sudo apt-get install mesa-utils, then run `glxinfo -B` and look for a core profile version ≥ 4.4");
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find(|l| l.contains("core profile version string"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("");
    let renderer = text
        .lines()
        .find(|l| l.contains("renderer string"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    let (major, minor) = version
        .split_once('.')
        .map(|(a, b)| (a.parse().unwrap_or(0), b.parse().unwrap_or(0)))
        .unwrap_or((0, 0));
    let details = json!({ "display": display, "gl_core": version, "renderer": renderer });
    if (major, minor) < (4, 4) {
        return Check::new("kinect.display", missing_status, format!("OpenGL core {version} on {renderer}: the depth engine needs ≥ 4.4 (error 207)"))
            .fix("install the proprietary NVIDIA driver (or a Mesa with GL 4.4+) and run on that GPU's X screen")
            .details(details);
    }
    if renderer.contains("llvmpipe") {
        return Check::new("kinect.display", Status::Warn, format!("OpenGL {version} but software rendering ({renderer}): depth will be slow"))
            .fix("run the X session on the NVIDIA GPU (prime-select nvidia, or __GLX_VENDOR_LIBRARY_NAME=nvidia)")
            .details(details);
    }
    Check::new(
        "kinect.display",
        Status::Ok,
        format!("DISPLAY={display}, OpenGL core {version} on {renderer}"),
    )
    .details(details)
}
