//! The camera's host state: USB (sysfs), device-node permissions, the udev rule, usbfs
//! memory, the SDK and depth engine, and what the depth engine needs to get its OpenGL context.
//! Two cameras speak libk4a's API, and need different things:
//! - the Azure Kinect (045e:097c/097d) through Microsoft's SDK, whose depth engine opens a GLX
//!   context: an X display with OpenGL ≥ 4.4 (research/kinect.md §1–4, §8);
//! - Orbbec's Femto Bolt/Mega/Mega I (2bc5:066b/0669/06c0) through Orbbec's K4A wrapper, the
//!   same `libk4a.so.1.4` name next to `libOrbbecSDK.so`, whose depth engine creates its context
//!   through EGL (OrbbecSDK-K4A-Wrapper #98: `GlContext::Initialize eglMakeCurrent`; error 204
//!   when it cannot): no X display, but a GPU driver with EGL and access to the GPU's device
//!   nodes. Orbbec's udev rule (OrbbecSDK `99-obsensor-libusb.rules`) gives its cameras
//!   `MODE="0666"`; Orbbec raises usbfs memory to 128 MB for several cameras (OrbbecSDK_ROS2
//!   FAQ). The wrapper does not open an Azure Kinect, and Microsoft's SDK not a Femto.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::json;

use super::{Check, Facts, Status};

use crate::kinect::usb::{
    function_name, Family, UsbFunction, COLOR_PID as COLOR, DEPTH_PID as DEPTH,
    MICROSOFT_VID as VENDOR, ORBBEC_VID,
};

fn product_name(pid: &str) -> &'static str {
    function_name(pid).unwrap_or("unknown")
}

pub fn scan_usb(f: &Facts) -> Vec<UsbFunction> {
    crate::kinect::usb::scan(&f.root.0)
}

/// The functions of one family.
fn of(fns: &[UsbFunction], family: Family) -> Vec<UsbFunction> {
    fns.iter().filter(|u| u.family == family).cloned().collect()
}

/// The worst of several checks of one id: summaries and fixes joined.
fn combine(id: &'static str, mut checks: Vec<Check>) -> Check {
    if checks.len() == 1 {
        return checks.remove(0);
    }
    let rank = |s: Status| match s {
        Status::Fail => 3,
        Status::Warn => 2,
        Status::Ok => 1,
        Status::Skip => 0,
    };
    let status = checks
        .iter()
        .map(|c| c.status)
        .max_by_key(|s| rank(*s))
        .unwrap_or(Status::Skip);
    let summary = checks
        .iter()
        .map(|c| c.summary.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let fixes: Vec<String> = checks.iter().filter_map(|c| c.fix.clone()).collect();
    let details = json!(checks.iter().map(|c| c.details.clone()).collect::<Vec<_>>());
    let mut c = Check::new(id, status, summary).details(details);
    if !fixes.is_empty() {
        c = c.fix(fixes.join("\n"));
    }
    c
}

const USB3_FIX: &str = "plug the camera straight into a USB 3 port (SuperSpeed, usually blue) with the supplied cable, not through a hub or dock; if it still enumerates at USB 2, unplug power and USB, wait 10 s, reconnect power first";

pub fn usb(f: &Facts) -> Check {
    let fns = scan_usb(f);
    let details = json!(fns
        .iter()
        .map(|u| json!({"id": u.id(), "camera": u.family, "function": u.function, "speed_mbps": u.speed_mbps, "bus": u.bus, "dev": u.device}))
        .collect::<Vec<_>>());
    if fns.is_empty() {
        return Check::new(
            "kinect.usb",
            Status::Skip,
            "no Azure Kinect or Orbbec Femto on USB (the stack runs without the camera)",
        )
        .details(details);
    }
    let mut checks = Vec::new();
    let ak = of(&fns, Family::AzureKinect);
    if !ak.is_empty() {
        checks.push(azure_kinect_usb(&ak));
    }
    let femto = of(&fns, Family::Femto);
    let other = of(&fns, Family::FemtoOther);
    if !femto.is_empty() || !other.is_empty() {
        checks.push(femto_usb(&femto, &other));
    }
    combine("kinect.usb", checks).details(details)
}

fn azure_kinect_usb(fns: &[UsbFunction]) -> Check {
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
        .fix(USB3_FIX);
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
        .fix(USB3_FIX);
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
}

fn femto_usb(femto: &[UsbFunction], other: &[UsbFunction]) -> Check {
    let mut checks = Vec::new();
    for u in other {
        checks.push(
            Check::new(
                "kinect.usb",
                Status::Warn,
                format!(
                    "Orbbec {} ({}) is on USB, but Orbbec's K4A wrapper serves only the Femto Bolt, Femto Mega and Femto Mega I: the capture cannot open it",
                    u.function,
                    u.id()
                ),
            )
            .fix("use a Femto Bolt, Femto Mega or Femto Mega I, or the Orbbec SDK directly (not through libk4a)"),
        );
    }
    for u in femto {
        let speed = u.speed_mbps.unwrap_or(0);
        checks.push(if u.is_usb3() {
            Check::new(
                "kinect.usb",
                Status::Ok,
                format!("Orbbec {} ({}) on USB 3 ({speed} Mb/s): a camera for Orbbec's K4A wrapper", u.function, u.id()),
            )
        } else {
            Check::new(
                "kinect.usb",
                Status::Fail,
                format!(
                    "Orbbec {} ({}) is on USB 2 ({speed} Mb/s, bus {} device {}): its depth and color streams need USB 3",
                    u.function,
                    u.id(),
                    u.bus.unwrap_or(0),
                    u.device.unwrap_or(0)
                ),
            )
            .fix("plug it into a USB 3 port with a USB 3 (data) Type-C cable, as Orbbec specifies, not through a hub or dock")
        });
    }
    combine("kinect.usb", checks)
}

/// An Azure Kinect's cameras or a Femto the wrapper serves are on USB.
pub fn kinect_present(f: &Facts) -> bool {
    scan_usb(f).iter().any(UsbFunction::is_camera)
}

fn family_present(f: &Facts, family: Family) -> bool {
    scan_usb(f)
        .iter()
        .any(|u| u.family == family && u.is_camera())
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        ["1", "true", "yes", "on"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(v.trim()))
    })
}

/// `KINECT_SOURCE` when it is not the camera (a replay or synthetic frames).
fn source_without_camera(f: &Facts) -> Option<&str> {
    f.env("KINECT_SOURCE").filter(|s| {
        let s = s.trim();
        !(s.eq_ignore_ascii_case("k4a") || s.eq_ignore_ascii_case("camera"))
    })
}

/// Whether the capture needs a camera and will run: one on USB, or KINECT_FORCE set (as the
/// template reads it), and no KINECT_SOURCE that replaces the camera.
fn capture_wanted(f: &Facts) -> bool {
    source_without_camera(f).is_none() && (kinect_present(f) || truthy(f.env("KINECT_FORCE")))
}

/// Without a camera (and without KINECT_FORCE) the capture is disabled, so what only it needs
/// (udev rule, usbfs memory, SDK, display) is skipped with that reason, not a warning; what
/// was found stays in the summary and the fix for when a camera is plugged in.
fn with_the_camera(f: &Facts, c: Check) -> Check {
    if capture_wanted(f) || !matches!(c.status, Status::Warn | Status::Fail) {
        return c;
    }
    let reason = match source_without_camera(f) {
        Some(s) => format!(
            "KINECT_SOURCE={s} needs no camera, so not needed now; once you capture from one: "
        ),
        None => "no Azure Kinect on USB, so not needed now; once one is plugged in: ".into(),
    };
    Check {
        status: Status::Skip,
        summary: format!("{reason}{}", c.summary),
        ..c
    }
}

/// The usbfs nodes libk4a opens must be read/write for this user.
pub fn permissions(f: &Facts) -> Check {
    let cams: Vec<UsbFunction> = scan_usb(f)
        .into_iter()
        .filter(UsbFunction::is_camera)
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
            bad.push(format!("{node} ({}) does not exist", u.function));
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
                u.function,
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
    let mut checks = Vec::new();
    let femto = family_present(f, Family::Femto);
    if femto {
        checks.push(udev_rules(
            f,
            ORBBEC_VID,
            &["066b", "0669", "06c0"],
            "Orbbec Femto",
        ));
    }
    if !femto || family_present(f, Family::AzureKinect) {
        checks.push(udev_rules(f, VENDOR, &[DEPTH], "Kinect"));
    }
    with_the_camera(f, combine("kinect.udev", checks))
}

/// Rule files under the udev directories that mention `vendor` and one of `pids`.
fn rule_files(f: &Facts, vendor: &str, pids: &[&str]) -> Vec<(String, String)> {
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
            if text.contains(vendor) && pids.iter().any(|p| text.contains(p)) {
                rules.push((format!("{dir}/{}", e.file_name().to_string_lossy()), text));
            }
        }
    }
    rules
}

/// Problems of rule files that udev rejects or half-applies.
fn rule_problems(f: &Facts, rules: &[(String, String)]) -> Vec<String> {
    let plugdev_exists = f
        .root
        .read("/etc/group")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("plugdev:"));
    let mut problems = Vec::new();
    for (path, text) in rules {
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
    problems
}

fn udev_rules(f: &Facts, vendor: &str, pids: &[&str], camera: &str) -> Check {
    let present = kinect_present(f);
    let rules = rule_files(f, vendor, pids);
    let install = "sudo devstack kinect install-udev   # installs devstack's udev/99-k4a.rules, reloads udev, triggers add events\nthen unplug and replug the camera";
    if rules.is_empty() {
        let status = if present { Status::Fail } else { Status::Warn };
        return Check::new(
            "kinect.udev",
            status,
            format!(
                "no udev rule grants access to the {camera} ({vendor}:{})",
                pids[0]
            ),
        )
        .fix(install);
    }
    let problems = rule_problems(f, &rules);
    let grants = rules.iter().any(|(_, t)| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| {
                (pids.iter().any(|p| l.contains(p)) || l.contains("097["))
                    && (l.contains("MODE=\"0666\"")
                        || l.contains("MODE:=\"0666\"")
                        || l.contains("uaccess"))
            })
    });
    let names: Vec<&str> = rules.iter().map(|(p, _)| p.as_str()).collect();
    let details = json!({ "rules": names, "problems": problems });
    if !grants {
        return Check::new(
            "kinect.udev",
            Status::Fail,
            format!(
                "{} mention the {camera} but grant no access (no MODE=\"0666\" or uaccess)",
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

/// usbfs buffers: the kernel's 16 MB default starves libusb/libuvc for an Azure Kinect (≥ 32 MB
/// per camera); Orbbec asks for 128 MB when several cameras stream.
pub fn usbfs(f: &Facts) -> Check {
    with_the_camera(f, usbfs_memory(f))
}

/// (MB needed, what needs it).
fn usbfs_need(f: &Facts) -> (u64, String) {
    let fns = scan_usb(f);
    let kinects = fns
        .iter()
        .filter(|u| u.family == Family::AzureKinect && u.product_id == DEPTH)
        .count() as u64;
    let femtos = fns.iter().filter(|u| u.family == Family::Femto).count() as u64;
    let kinect_need = 32 * kinects.max(u64::from(femtos == 0));
    if femtos > 0 && kinects + femtos > 1 {
        let need = kinect_need.max(128);
        return (
            need,
            format!("{} cameras (Orbbec: 128 MB for several)", kinects + femtos),
        );
    }
    if femtos > 0 && kinects == 0 {
        return (0, "one Femto".into());
    }
    (kinect_need, format!("{} camera(s)", kinects.max(1)))
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
    let (need, what) = usbfs_need(f);
    let details = json!({ "usbfs_memory_mb": mb, "needed_mb": need, "for": what });
    if mb == 0 {
        return Check::new(
            "kinect.usbfs",
            Status::Ok,
            "usbfs memory is unlimited (usbfs_memory_mb=0)",
        )
        .details(details);
    }
    if mb >= need {
        let summary = if need == 0 {
            format!("usbfs memory {mb} MB: enough for one Femto (Orbbec raises it to 128 MB for several cameras)")
        } else {
            format!("usbfs memory {mb} MB (≥ {need} MB for {what})")
        };
        return Check::new("kinect.usbfs", Status::Ok, summary).details(details);
    }
    let status = if kinect_present(f) {
        Status::Fail
    } else {
        Status::Warn
    };
    let size = if need >= 128 { need } else { 1000 };
    Check::new("kinect.usbfs", status, format!("usbfs memory is {mb} MB; {what} need ≥ {need} MB (libusb ENOMEM, dropped frames)"))
        .fix(format!("now: echo {size} | sudo tee /sys/module/usbcore/parameters/usbfs_memory_mb\npersistent: add usbcore.usbfs_memory_mb={size} to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then `sudo update-grub` and reboot"))
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

/// Which libk4a a file is: Orbbec's K4A wrapper ships `libOrbbecSDK.so*` next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sdk {
    Microsoft,
    OrbbecWrapper,
}

impl Sdk {
    fn of(dir: &Path) -> Sdk {
        let orbbec = std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("libOrbbecSDK.so")
            })
        });
        if orbbec {
            Sdk::OrbbecWrapper
        } else {
            Sdk::Microsoft
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sdk::Microsoft => "Microsoft's Azure Kinect SDK",
            Sdk::OrbbecWrapper => "Orbbec's K4A wrapper (libOrbbecSDK next to it)",
        }
    }

    /// Where this SDK's libk4a looks for the depth engine, relative to its directory.
    fn engine_paths(self) -> &'static [&'static str] {
        match self {
            // libk4a's RUNPATH is $ORIGIN/libk4a1.4; copies often put it flat
            Sdk::Microsoft => &["libk4a1.4/libdepthengine.so.2.0", "libdepthengine.so.2.0"],
            // wrapper v1.x: lib/ flat; v2.x (Orbbec SDK v2): lib/extensions/depthengine/
            Sdk::OrbbecWrapper => &[
                "extensions/depthengine/libdepthengine.so.2.0",
                "libdepthengine.so.2.0",
            ],
        }
    }
}

const MICROSOFT_SDK_FIX: &str = "install Microsoft's Azure Kinect SDK packages libk4a1.4 and libk4a1.4-dev (packages.microsoft.com, Ubuntu 18.04 repository; not in Debian), or point DEVSTACK_K4A_LIB at libk4a.so.1.4";
const WRAPPER_FIX: &str = "install Orbbec's K4A wrapper (github.com/orbbec/OrbbecSDK-K4A-Wrapper releases: v2.0.x, or v1.10.x) and point DEVSTACK_K4A_LIB at the libk4a.so.1.4 in its lib/ directory (keep that directory whole: libOrbbecSDK and the depth engine live beside it)";

/// libk4a and the depth engine where that libk4a looks for it.
pub fn sdk(f: &Facts) -> Check {
    let femto = family_present(f, Family::Femto);
    let kinect = family_present(f, Family::AzureKinect);
    let mut checks = Vec::new();
    if femto {
        checks.push(sdk_files(f, Some(Sdk::OrbbecWrapper)));
    }
    if kinect {
        checks.push(sdk_files(f, Some(Sdk::Microsoft)));
    }
    if checks.is_empty() {
        checks.push(sdk_files(f, None));
    }
    with_the_camera(f, combine("kinect.sdk", checks))
}

/// The libk4a the loader would find (file, its directory), and where it looked.
fn find_libk4a(
    f: &Facts,
) -> (
    Option<(std::path::PathBuf, std::path::PathBuf)>,
    Vec<String>,
) {
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
    (found, dirs)
}

/// `want`: the SDK the camera on USB needs (None: no camera, report what is there).
fn sdk_files(f: &Facts, want: Option<Sdk>) -> Check {
    let present = kinect_present(f);
    let bad = if present { Status::Fail } else { Status::Warn };
    let (found, dirs) = find_libk4a(f);
    let Some((lib, dir)) = found else {
        let (fix, who) = match want {
            Some(Sdk::OrbbecWrapper) => (WRAPPER_FIX, " (the Femto needs Orbbec's K4A wrapper)"),
            _ => (MICROSOFT_SDK_FIX, ""),
        };
        return Check::new(
            "kinect.sdk",
            bad,
            format!(
                "libk4a not found{who} (looked for {} in {})",
                LIB_NAMES.join(", "),
                dirs.join(", ")
            ),
        )
        .fix(fix)
        .details(json!({ "searched": dirs }));
    };
    let sdk = Sdk::of(&dir);
    let details = json!({ "libk4a": lib, "sdk": sdk.name() });
    match (want, sdk) {
        (Some(Sdk::OrbbecWrapper), Sdk::Microsoft) => {
            return Check::new("kinect.sdk", Status::Fail, format!("libk4a at {} is {}, which does not know Orbbec's cameras: the Femto needs Orbbec's K4A wrapper", lib.display(), sdk.name()))
                .fix(WRAPPER_FIX)
                .details(details)
        }
        (Some(Sdk::Microsoft), Sdk::OrbbecWrapper) => {
            return Check::new("kinect.sdk", Status::Fail, format!("libk4a at {} is {}, which does not open an Azure Kinect (its README, Q&A 1)", lib.display(), sdk.name()))
                .fix(format!("{MICROSOFT_SDK_FIX}, so that it is found before the wrapper"))
                .details(details)
        }
        _ => {}
    }
    let engine = sdk
        .engine_paths()
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists());
    match engine {
        Some(e) => Check::new(
            "kinect.sdk",
            Status::Ok,
            format!(
                "libk4a at {}: {}; depth engine at {}",
                lib.display(),
                sdk.name(),
                e.display()
            ),
        )
        .details(json!({ "libk4a": lib, "sdk": sdk.name(), "depthengine": e })),
        None => {
            let fix = match sdk {
                Sdk::Microsoft => format!("reinstall libk4a1.4 (it ships the depth engine), or copy libdepthengine.so.2.0 to {}/libk4a1.4/", dir.display()),
                Sdk::OrbbecWrapper => format!("use the wrapper's release package whole: it ships libdepthengine.so.2.0 in lib/ (v1.x) or lib/extensions/depthengine/ (v2.x); copy it to {}/", dir.display()),
            };
            Check::new(
                "kinect.sdk",
                bad,
                format!(
                    "libk4a at {} ({}) but no libdepthengine.so.2.0 where it looks ({}): depth would fail with error 108",
                    lib.display(),
                    sdk.name(),
                    sdk.engine_paths().iter().map(|p| dir.join(p).display().to_string()).collect::<Vec<_>>().join(" or ")
                ),
            )
            .fix(fix)
            .details(details)
        }
    }
}

/// What the depth engine needs for its OpenGL context: an X display with GL 4.4 for the Azure
/// Kinect (errors 204/207), a GPU with EGL for a Femto (error 204).
pub fn display(f: &Facts) -> Check {
    let femto = family_present(f, Family::Femto);
    let mut checks = Vec::new();
    if femto {
        checks.push(femto_gpu(f));
    }
    if !femto || family_present(f, Family::AzureKinect) {
        checks.push(display_gl(f));
    }
    with_the_camera(f, combine("kinect.display", checks))
}

/// NVIDIA's EGL driver (GLVND vendor file) or a Mesa render node the user can open.
fn femto_gpu(f: &Facts) -> Check {
    let egl_lib = LIB_DIRS
        .iter()
        .any(|d| f.root.path(d).join("libEGL.so.1").exists());
    if !egl_lib {
        return Check::new("kinect.display", Status::Fail, "libEGL.so.1 is missing: Orbbec's depth engine creates its OpenGL context through EGL (error 204 without it)")
            .fix("sudo apt-get install libegl1 (with the GPU driver's EGL: NVIDIA's driver ships libEGL_nvidia, Mesa's is libegl-mesa0)");
    }
    let nvidia = f.root.path("/dev/nvidiactl").exists()
        && f.root
            .path("/usr/share/glvnd/egl_vendor.d/10_nvidia.json")
            .exists();
    if nvidia {
        return Check::new("kinect.display", Status::Ok, "NVIDIA GPU with its EGL driver: Orbbec's depth engine gets its OpenGL context through EGL (no X display needed)");
    }
    let nodes: Vec<String> = std::fs::read_dir(f.root.path("/dev/dri"))
        .map(|es| {
            es.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("renderD"))
                .collect()
        })
        .unwrap_or_default();
    let Some(node) = nodes.iter().min().map(|n| format!("/dev/dri/{n}")) else {
        return Check::new("kinect.display", Status::Fail, "no GPU for Orbbec's depth engine: no /dev/dri/renderD* node and no NVIDIA EGL driver, so it cannot create its EGL context (error 204)")
            .fix("install the GPU driver: NVIDIA's proprietary driver (it ships the EGL vendor library), or Mesa for Intel/AMD (libegl-mesa0, libgl1-mesa-dri); Orbbec's answer to error 204 is a dedicated GPU with an up-to-date driver");
    };
    let usable = std::fs::metadata(f.root.path(&node)).is_ok_and(|m| {
        let mode = m.mode();
        f.user.uid == 0
            || mode & 0o006 == 0o006
            || (m.uid() == f.user.uid && mode & 0o600 == 0o600)
            || (f.user.gids.contains(&m.gid()) && mode & 0o060 == 0o060)
    });
    if !usable {
        return Check::new("kinect.display", Status::Fail, format!("{node} is not read/write for {}: EGL cannot open the GPU (\"libEGL warning: failed to open {node}: Permission denied\", then error 204)", f.user.name))
            .fix(format!("sudo usermod -aG render {} (then log out and in again)", f.user.name));
    }
    Check::new("kinect.display", Status::Ok, format!("GPU render node {node} is usable: Orbbec's depth engine gets its OpenGL context through EGL (no X display needed)"))
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
    glx_version(display, missing_status)
}

/// `glxinfo -B` on the display: core profile ≥ 4.4 on a real GPU.
fn glx_version(display: &str, missing_status: Status) -> Check {
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

/// `KINECT_SOURCE`: a replay's file must be a readable recording (paths relative to the
/// project directory, where the host process runs).
pub fn source(f: &Facts, project_dir: Option<&Path>) -> Check {
    let Some(raw) = f.env("KINECT_SOURCE") else {
        return Check::new(
            "kinect.source",
            Status::Ok,
            "the capture reads the camera (KINECT_SOURCE unset: k4a)",
        );
    };
    let spec = match crate::kinect::source::SourceSpec::parse(raw.trim()) {
        Ok(s) => s,
        Err(e) => {
            return Check::new(
                "kinect.source",
                Status::Fail,
                format!("KINECT_SOURCE={raw}: {}", e.replace("--source ", "")),
            )
            .fix("set KINECT_SOURCE in .env to k4a, synthetic or replay:FILE.mkv")
        }
    };
    let crate::kinect::source::SourceSpec::Replay(file) = spec else {
        return Check::new(
            "kinect.source",
            Status::Ok,
            format!("the capture's source: {}", spec.label()),
        );
    };
    let path = match project_dir {
        Some(dir) if file.is_relative() => dir.join(&file),
        _ => file.clone(),
    };
    match crate::kinect::recording::reader::Recording::open(&path) {
        Ok(rec) => {
            let s = &rec.summary;
            Check::new(
                "kinect.source",
                Status::Ok,
                format!(
                    "the capture replays {}: {} captures, {:.1} s at {} fps ({} + {})",
                    file.display(),
                    s.captures,
                    s.duration_s,
                    s.fps.unwrap_or(0),
                    s.depth_mode.as_deref().unwrap_or("no depth"),
                    s.color_mode.as_deref().unwrap_or("no color")
                ),
            )
            .details(serde_json::to_value(s).unwrap_or_default())
        }
        Err(e) => {
            // the reader's own fix speaks of the current directory; doctor's names the project's
            let e = e.to_string();
            let what = e.split("; fix: ").next().unwrap_or(&e);
            Check::new("kinect.source", Status::Fail, format!("KINECT_SOURCE={raw}: {what}"))
            .fix("point KINECT_SOURCE at a recording (relative paths start at the project directory), e.g. replay:recordings/desk.mkv; make one with `devstack kinect record recordings/desk.mkv`")
        }
    }
}
