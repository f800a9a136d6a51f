//! The cameras' USB functions as sysfs shows them, read under a sysroot so tests and
//! `--sysroot` can point elsewhere: the Azure Kinect's five Microsoft functions
//! (research/kinect.md §1) and Orbbec's Femto cameras, one USB device each. Orbbec's K4A
//! wrapper (OrbbecSDK-K4A-Wrapper, `src/orbbec/ob_k4a_impl.cpp`) opens the Femto Bolt
//! (2bc5:066b), Femto Mega (2bc5:0669) and Femto Mega I (2bc5:06c0); Orbbec's udev rules
//! (OrbbecSDK `99-obsensor-libusb.rules`) name the older Femto, Femto W and Femto Live, which
//! only the Orbbec SDK itself serves.

use std::path::Path;

use serde::Serialize;

pub const MICROSOFT_VID: &str = "045e";
pub const ORBBEC_VID: &str = "2bc5";
pub const DEPTH_PID: &str = "097c";
pub const COLOR_PID: &str = "097d";

/// Which camera family a USB function belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    AzureKinect,
    /// An Orbbec Femto that Orbbec's K4A wrapper serves (libk4a's API).
    Femto,
    /// An Orbbec Femto the K4A wrapper does not open (Orbbec SDK only).
    FemtoOther,
}

/// The Orbbec Femto models: (product id, name, served by the K4A wrapper).
pub const FEMTO_MODELS: [(&str, &str, bool); 6] = [
    ("066b", "Femto Bolt", true),
    ("0669", "Femto Mega", true),
    ("06c0", "Femto Mega I", true),
    ("0635", "Femto", false),
    ("0638", "Femto W", false),
    ("0668", "Femto Live", false),
];

/// What a (vendor, product) is: its family and the function's name.
pub fn identify(vid: &str, pid: &str) -> Option<(Family, &'static str)> {
    match vid {
        MICROSOFT_VID => function_name(pid).map(|f| (Family::AzureKinect, f)),
        ORBBEC_VID => FEMTO_MODELS.iter().find(|m| m.0 == pid).map(|m| {
            let family = if m.2 {
                Family::Femto
            } else {
                Family::FemtoOther
            };
            (family, m.1)
        }),
        _ => None,
    }
}

/// What each Microsoft product id of the Azure Kinect is.
pub fn function_name(pid: &str) -> Option<&'static str> {
    Some(match pid {
        "097a" => "SuperSpeed hub",
        "097b" => "USB 2.0 hub",
        DEPTH_PID => "depth camera",
        COLOR_PID => "color camera",
        "097e" => "microphone array",
        _ => return None,
    })
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UsbFunction {
    /// sysfs name, e.g. `2-1.2`.
    pub port: String,
    pub vendor_id: String,
    pub product_id: String,
    pub family: Family,
    /// The Azure Kinect function (`depth camera`, …) or the Femto model (`Femto Bolt`).
    pub function: &'static str,
    /// Link speed in Mbit/s (5000 = USB 3 SuperSpeed, 480 = USB 2).
    pub speed_mbps: Option<u32>,
    pub bus: Option<u32>,
    pub device: Option<u32>,
    pub serial: Option<String>,
}

impl UsbFunction {
    pub fn is_usb3(&self) -> bool {
        self.speed_mbps.is_some_and(|s| s >= 5000)
    }

    /// A function that streams frames: the Azure Kinect's depth or color camera, or a Femto
    /// the K4A wrapper serves.
    pub fn is_camera(&self) -> bool {
        match self.family {
            Family::AzureKinect => self.product_id == DEPTH_PID || self.product_id == COLOR_PID,
            Family::Femto => true,
            Family::FemtoOther => false,
        }
    }

    /// `045e:097c`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.vendor_id, self.product_id)
    }
}

fn read(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Every Azure Kinect and Femto USB function under `sysroot`/sys/bus/usb/devices, by port.
pub fn scan(sysroot: &Path) -> Vec<UsbFunction> {
    let Ok(entries) = std::fs::read_dir(sysroot.join("sys/bus/usb/devices")) else {
        return Vec::new();
    };
    let mut found: Vec<UsbFunction> = entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let vid = read(&dir, "idVendor")?.to_ascii_lowercase();
            let pid = read(&dir, "idProduct")?.to_ascii_lowercase();
            let (family, function) = identify(&vid, &pid)?;
            Some(UsbFunction {
                port: e.file_name().to_string_lossy().into_owned(),
                vendor_id: vid,
                product_id: pid,
                family,
                function,
                speed_mbps: read(&dir, "speed")
                    .and_then(|s| s.parse::<f64>().ok().map(|v| v as u32)),
                bus: read(&dir, "busnum").and_then(|s| s.parse().ok()),
                device: read(&dir, "devnum").and_then(|s| s.parse().ok()),
                serial: read(&dir, "serial"),
            })
        })
        .collect();
    found.sort_by(|a, b| a.port.cmp(&b.port));
    found
}

/// Whether a camera the capture can open is on USB under `sysroot`.
pub fn camera_present(sysroot: &Path) -> bool {
    scan(sysroot).iter().any(UsbFunction::is_camera)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(root: &Path, port: &str, vid: &str, pid: &str, speed: &str) {
        let dir = root.join("sys/bus/usb/devices").join(port);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, value) in [
            ("idVendor", vid),
            ("idProduct", pid),
            ("speed", speed),
            ("busnum", "2"),
            ("devnum", "7"),
        ] {
            std::fs::write(dir.join(name), format!("{value}\n")).expect("write");
        }
    }

    #[test]
    fn finds_the_camera_functions_and_their_speed() {
        let root = tempfile::tempdir().expect("tempdir");
        device(root.path(), "2-1.2", "045e", "097c", "5000");
        device(root.path(), "1-1.1", "045e", "097e", "480");
        device(root.path(), "3-1", "046d", "097c", "5000");
        let found = scan(root.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].function, "microphone array");
        assert!(!found[0].is_usb3() && !found[0].is_camera());
        assert_eq!(found[1].function, "depth camera");
        assert!(found[1].is_usb3() && found[1].is_camera());
        assert_eq!((found[1].bus, found[1].device), (Some(2), Some(7)));
        assert!(scan(&root.path().join("missing")).is_empty());
    }

    #[test]
    fn femto_models_are_told_apart_by_what_the_k4a_wrapper_serves() {
        let root = tempfile::tempdir().expect("tempdir");
        device(root.path(), "4-1", "2bc5", "066B", "5000");
        device(root.path(), "4-2", "2bc5", "0638", "5000");
        device(root.path(), "4-3", "2bc5", "0401", "480"); // an Astra: not a Femto
        let found = scan(root.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            (found[0].family, found[0].function),
            (Family::Femto, "Femto Bolt")
        );
        assert_eq!(found[0].id(), "2bc5:066b");
        assert!(found[0].is_camera());
        assert_eq!(found[1].family, Family::FemtoOther);
        assert!(!found[1].is_camera());
        assert!(camera_present(root.path()));
    }
}
