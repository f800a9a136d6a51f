//! What `kinect info` finds: the cameras on USB and what the Azure Kinect SDK (or Orbbec's
//! wrapper) says of each, with the problems it can name.

use std::path::Path;

use serde::Serialize;

use crate::kinect::device::{self, Device};
use crate::kinect::ffi::{self, K4aVersion};
use crate::kinect::usb::{self, UsbFunction};

#[derive(Debug, Serialize)]
pub struct InfoReport {
    pub usb: Vec<UsbFunction>,
    pub sdk: SdkInfo,
    pub installed_count: Option<u32>,
    pub devices: Vec<DeviceInfo>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SdkInfo {
    pub loaded: bool,
    pub path: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeviceInfo {
    pub index: u32,
    /// `azure-kinect`, or `orbbec` for a camera behind Orbbec's K4A wrapper.
    pub camera: Option<&'static str>,
    pub serial: Option<String>,
    pub firmware: Option<Firmware>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Firmware {
    pub rgb: String,
    pub depth: String,
    pub audio: String,
    pub depth_sensor: String,
    pub build: &'static str,
    pub signature: &'static str,
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

/// Scans USB under `sysroot` and asks the SDK (at `k4a_lib`, or where it is found) about each
/// camera. The report is whole either way; the SDK's load error comes beside it.
pub fn inspect(sysroot: &Path, k4a_lib: Option<&Path>) -> (InfoReport, Option<ffi::LoadError>) {
    let found = usb::scan(sysroot);
    let mut report = InfoReport {
        problems: usb_problems(&found, sysroot),
        usb: found,
        sdk: SdkInfo {
            loaded: false,
            path: None,
            error: None,
        },
        installed_count: None,
        devices: Vec::new(),
    };
    match ffi::load(k4a_lib) {
        Ok(k4a) => {
            device::route_sdk_log(k4a);
            report.sdk.loaded = true;
            report.sdk.path = Some(k4a.path.clone());
            let count = device::installed_count(k4a);
            report.installed_count = Some(count);
            report.devices = (0..count)
                .map(|i| query_device(k4a, i, &report.usb))
                .collect();
            (report, None)
        }
        Err(e) => {
            report.sdk.error = Some(e.to_string());
            (report, Some(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
