//! Every check against fixture sysroots, one per state (built here with tempfile, so each
//! state is spelled out next to its assertions).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use indexmap::IndexMap;

use super::*;

struct Root(tempfile::TempDir);

impl Root {
    fn new() -> Root {
        Root(tempfile::tempdir().unwrap())
    }

    fn file(&self, abs: &str, text: &str) -> &Root {
        let p = self.0.path().join(abs.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    fn mode(&self, abs: &str, mode: u32) -> &Root {
        let p = self.0.path().join(abs.trim_start_matches('/'));
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// A Kinect USB function in sysfs (and its usbfs node).
    fn usb(&self, name: &str, pid: &str, speed: &str, bus: u32, dev: u32) -> &Root {
        let d = format!("/sys/bus/usb/devices/{name}");
        self.file(&format!("{d}/idVendor"), "045e\n")
            .file(&format!("{d}/idProduct"), &format!("{pid}\n"))
            .file(&format!("{d}/speed"), &format!("{speed}\n"))
            .file(&format!("{d}/busnum"), &format!("{bus}\n"))
            .file(&format!("{d}/devnum"), &format!("{dev}\n"))
            .file(&format!("/dev/bus/usb/{bus:03}/{dev:03}"), "")
            .mode(&format!("/dev/bus/usb/{bus:03}/{dev:03}"), 0o664)
    }

    /// An Orbbec Femto (one USB device) and its usbfs node.
    fn femto(&self, name: &str, pid: &str, speed: &str, bus: u32, dev: u32) -> &Root {
        let d = format!("/sys/bus/usb/devices/{name}");
        self.file(&format!("{d}/idVendor"), "2bc5\n")
            .file(&format!("{d}/idProduct"), &format!("{pid}\n"))
            .file(&format!("{d}/speed"), &format!("{speed}\n"))
            .file(&format!("{d}/busnum"), &format!("{bus}\n"))
            .file(&format!("{d}/devnum"), &format!("{dev}\n"))
            .file(&format!("/dev/bus/usb/{bus:03}/{dev:03}"), "")
            .mode(&format!("/dev/bus/usb/{bus:03}/{dev:03}"), 0o664)
    }

    fn femto_bolt(&self) -> &Root {
        self.femto("2-3", "066b", "5000", 2, 9)
    }

    /// Orbbec's K4A wrapper as its release package lays out lib/ (v2.x: the depth engine under
    /// extensions/), in a directory DEVSTACK_K4A_LIB points at.
    fn orbbec_wrapper(&self, with_engine: bool) -> &Root {
        self.file("/opt/k4a-wrapper/lib/libk4a.so.1.4", "")
            .file("/opt/k4a-wrapper/lib/libOrbbecSDK.so.2", "");
        if with_engine {
            self.file(
                "/opt/k4a-wrapper/lib/extensions/depthengine/libdepthengine.so.2.0",
                "",
            );
        }
        self
    }

    /// Microsoft's SDK as libk4a1.4 installs it.
    fn microsoft_sdk(&self) -> &Root {
        self.file("/usr/lib/x86_64-linux-gnu/libk4a.so.1.4", "")
            .file(
                "/usr/lib/x86_64-linux-gnu/libk4a1.4/libdepthengine.so.2.0",
                "",
            )
    }

    fn kinect_usb3(&self) -> &Root {
        self.usb("2-1", "097a", "5000", 2, 2)
            .usb("2-1.1", "097c", "5000", 2, 3)
            .usb("2-1.2", "097d", "5000", 2, 4)
            .usb("1-1", "097b", "480", 1, 5)
            .usb("1-1.1", "097e", "480", 1, 6)
    }

    fn facts(&self, uid: u32, env: &[(&str, &str)]) -> Facts {
        Facts {
            root: Sysroot(self.0.path().to_path_buf()),
            user: User {
                uid,
                name: "dev".into(),
                gids: vec![1000],
            },
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<IndexMap<_, _>>(),
        }
    }
}

const OFFICIAL_RULE: &str = "BUS!=\"usb\", ACTION!=\"add\", SUBSYSTEM!==\"usb_device\", GOTO=\"k4a_logic_rules_end\"\n\
ATTRS{idVendor}==\"045e\", ATTRS{idProduct}==\"097c\", MODE=\"0666\", GROUP=\"plugdev\"\nLABEL=\"k4a_logic_rules_end\"\n";
const OUR_RULE: &str = "SUBSYSTEM!=\"usb\", GOTO=\"k4a_end\"\nATTR{idVendor}==\"045e\", ATTR{idProduct}==\"097c\", MODE=\"0666\", TAG+=\"uaccess\"\nLABEL=\"k4a_end\"\n";

#[test]
fn kinect_usb_states() {
    let r = Root::new();
    r.kinect_usb3();
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("USB 3"));

    let r = Root::new();
    r.usb("1-1", "097c", "480", 1, 3)
        .usb("1-2", "097d", "480", 1, 4);
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("on USB 2 (480 Mb/s"), "{}", c.summary);
    assert!(c.fix.unwrap().contains("USB 3 port"));

    // Only the USB 2 side (hub + microphone): the camera thinks it is on a USB 2 host.
    let r = Root::new();
    r.usb("1-1", "097b", "480", 1, 5)
        .usb("1-1.1", "097e", "480", 1, 6);
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary.contains("only the USB 2 side enumerated"),
        "{}",
        c.summary
    );
    assert!(
        c.summary
            .contains("missing 045e:097c depth camera, 045e:097d color camera"),
        "{}",
        c.summary
    );

    // Partially enumerated: the depth camera is missing.
    let r = Root::new();
    r.usb("2-1", "097a", "5000", 2, 2)
        .usb("2-1.2", "097d", "5000", 2, 4);
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary.contains("partially enumerated") && c.summary.contains("missing 045e:097c"),
        "{}",
        c.summary
    );

    let c = kinect::usb(&Root::new().facts(1000, &[]));
    assert_eq!(c.status, Status::Skip);
    assert!(c.summary.contains("runs without the camera"));
}

#[test]
fn kinect_permissions_states() {
    let r = Root::new();
    r.kinect_usb3();
    // 0664 root-owned nodes: not writable for uid 1000 outside the group.
    let c = kinect::permissions(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(c.summary.contains("/dev/bus/usb/002/003"), "{}", c.summary);
    assert!(c.fix.unwrap().contains("install-udev"));
    r.mode("/dev/bus/usb/002/003", 0o666)
        .mode("/dev/bus/usb/002/004", 0o666);
    assert_eq!(kinect::permissions(&r.facts(1000, &[])).status, Status::Ok);
    assert_eq!(
        kinect::permissions(&Root::new().facts(1000, &[])).status,
        Status::Skip
    );
}

#[test]
fn kinect_udev_states() {
    // Missing, with the camera plugged in: fail.
    let r = Root::new();
    r.kinect_usb3();
    let c = kinect::udev(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(c.fix.unwrap().contains("sudo devstack kinect install-udev"));
    // Missing without a camera: skipped with the camera, the finding kept for when it comes.
    let c = kinect::udev(&Root::new().facts(1000, &[]));
    assert_eq!(c.status, Status::Skip, "{}", c.summary);
    assert!(
        c.summary.starts_with(
            "no Azure Kinect on USB, so not needed now; once one is plugged in: no udev rule"
        ),
        "{}",
        c.summary
    );
    assert!(c.fix.unwrap().contains("install-udev"));
    // KINECT_FORCE=1 runs the capture without a camera: then it is a warning again.
    let c = kinect::udev(&Root::new().facts(1000, &[("KINECT_FORCE", "1")]));
    assert_eq!(c.status, Status::Warn, "{}", c.summary);

    // The SDK's stale official file, on Debian (plugdev exists): warn about the broken guard.
    let r = Root::new();
    r.kinect_usb3()
        .file("/etc/udev/rules.d/99-k4a.rules", OFFICIAL_RULE)
        .file("/etc/group", "plugdev:x:46:\n");
    let c = kinect::udev(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Warn, "{}", c.summary);
    assert!(
        c.summary.contains("removed BUS key") && c.summary.contains("!=="),
        "{}",
        c.summary
    );
    assert!(c
        .fix
        .unwrap()
        .contains("sudo rm /etc/udev/rules.d/99-k4a.rules"));
    // …and where no plugdev group exists, udev drops the lines: fail.
    let r = Root::new();
    r.kinect_usb3()
        .file("/lib/udev/rules.d/99-k4a.rules", OFFICIAL_RULE)
        .file("/etc/group", "video:x:44:\n");
    let c = kinect::udev(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(c.summary.contains("no plugdev group"), "{}", c.summary);

    let r = Root::new();
    r.file("/etc/udev/rules.d/99-k4a.rules", OUR_RULE);
    assert_eq!(kinect::udev(&r.facts(1000, &[])).status, Status::Ok);
}

#[test]
fn kinect_usbfs_states() {
    let with = |mb: &str, camera: bool| {
        let r = Root::new();
        r.file(
            "/sys/module/usbcore/parameters/usbfs_memory_mb",
            &format!("{mb}\n"),
        );
        if camera {
            r.kinect_usb3();
        }
        kinect::usbfs(&r.facts(1000, &[]))
    };
    let c = with("16", true);
    assert_eq!(c.status, Status::Fail);
    let fix = c.fix.unwrap();
    assert!(fix.contains("echo 1000 | sudo tee /sys/module/usbcore/parameters/usbfs_memory_mb"));
    assert!(fix.contains("GRUB_CMDLINE_LINUX_DEFAULT"));
    let c = with("16", false);
    assert_eq!(c.status, Status::Skip, "{}", c.summary);
    assert!(c.summary.contains("usbfs memory is 16 MB"), "{}", c.summary);
    assert_eq!(with("1000", true).status, Status::Ok);
    let c = with("0", true);
    assert_eq!(c.status, Status::Ok);
    assert!(c.summary.contains("unlimited"));
    assert_eq!(
        kinect::usbfs(&Root::new().facts(1000, &[])).status,
        Status::Skip
    );
}

#[test]
fn kinect_sdk_states() {
    let c = kinect::sdk(&Root::new().facts(1000, &[]));
    assert_eq!(c.status, Status::Skip, "no camera: {}", c.summary);
    assert!(c.summary.contains("libk4a not found"), "{}", c.summary);
    assert!(c.fix.unwrap().contains("libk4a1.4"));
    let c = kinect::sdk(&Root::new().facts(1000, &[("KINECT_FORCE", "yes")]));
    assert_eq!(c.status, Status::Warn, "forced capture: {}", c.summary);
    let r = Root::new();
    r.file("/usr/lib/x86_64-linux-gnu/libk4a.so.1.4", "");
    let c = kinect::sdk(&r.facts(1000, &[("KINECT_FORCE", "1")]));
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.summary.contains("no libdepthengine.so.2.0") && c.summary.contains("108"),
        "{}",
        c.summary
    );
    r.file(
        "/usr/lib/x86_64-linux-gnu/libk4a1.4/libdepthengine.so.2.0",
        "",
    );
    assert_eq!(kinect::sdk(&r.facts(1000, &[])).status, Status::Ok);
    // With the camera plugged in, a missing SDK fails.
    let r = Root::new();
    r.kinect_usb3();
    assert_eq!(kinect::sdk(&r.facts(1000, &[])).status, Status::Fail);
}

#[test]
fn kinect_display_states() {
    let c = kinect::display(&Root::new().facts(1000, &[]));
    assert_eq!(c.status, Status::Skip, "no camera: {}", c.summary);
    assert!(c.summary.contains("DISPLAY is not set"), "{}", c.summary);
    let r = Root::new();
    r.kinect_usb3();
    let c = kinect::display(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("error 204"));
    let c = kinect::display(&r.facts(1000, &[("DISPLAY", ":1")]));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary.contains("/tmp/.X11-unix/X1 does not exist"),
        "{}",
        c.summary
    );
    r.file("/tmp/.X11-unix/X1", "");
    let c = kinect::display(&r.facts(1000, &[("DISPLAY", ":1.0")]));
    assert_eq!(
        c.status,
        Status::Warn,
        "OpenGL cannot be verified under a sysroot: {}",
        c.summary
    );
}

#[test]
fn wsl_states() {
    let wsl = |release: &str| {
        let r = Root::new();
        r.file("/proc/sys/kernel/osrelease", release);
        host::wsl(&r.facts(1000, &[]))
    };
    let c = wsl("5.15.153.1-microsoft-standard-WSL2");
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.summary.contains("WSL 2") && c.summary.contains("E_UNEXPECTED"),
        "{}",
        c.summary
    );
    let c = wsl("4.4.0-19041-Microsoft");
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("WSL 1"));
    assert_eq!(wsl("6.1.0-13-amd64").status, Status::Ok);
}

#[test]
fn group_states() {
    let r = Root::new();
    r.file("/etc/group", "docker:x:999:dev\n");
    assert_eq!(host::groups(&r.facts(0, &[])).status, Status::Ok);
    let c = host::groups(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Warn, "configured but not effective");
    assert!(c.fix.unwrap().contains("newgrp docker"));
    let mut f = r.facts(1000, &[]);
    f.user.gids.push(999);
    assert_eq!(host::groups(&f).status, Status::Ok);
    let r = Root::new();
    r.file("/etc/group", "docker:x:999:someone\n");
    let c = host::groups(&r.facts(1000, &[]));
    assert!(c.fix.unwrap().contains("usermod -aG docker dev"));
}

#[test]
fn gpu_states_without_nvidia() {
    use crate::gpu::{GpuDevice, GpuInventory, GpuSelection};
    let none = GpuInventory {
        unavailable_reason: Some("NVML unavailable: libnvidia-ml.so.1: cannot open".into()),
        ..Default::default()
    };
    let c = gpu::driver(&none);
    assert_eq!(c.status, Status::Skip);
    assert!(c.summary.contains("libnvidia-ml.so.1"));
    assert_eq!(
        gpu::devices(&none, &Err("no NVML".into())).status,
        Status::Skip
    );
    assert_eq!(
        gpu::selection(&none, &GpuSelection::None, None).status,
        Status::Ok
    );
    let old = GpuInventory {
        available: true,
        driver_version: Some("470.1".into()),
        cuda_driver_version: Some("11.4".into()),
        devices: vec![GpuDevice {
            index: 0,
            uuid: "GPU-abc".into(),
            name: "T4".into(),
            memory_mib: 15000,
        }],
        ..Default::default()
    };
    assert_eq!(gpu::driver(&old).status, Status::Fail);
    let ids = GpuSelection::Ids(vec!["1".into()]);
    let c = gpu::selection(&old, &ids, Some("DEVSTACK_GPU=1"));
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("0 (GPU-abc)"), "{}", c.summary);
    assert_eq!(
        gpu::selection(&old, &GpuSelection::Ids(vec!["GPU-abc".into()]), None).status,
        Status::Ok
    );
}

#[test]
fn a_fixture_path_is_a_sysroot() {
    let s = Sysroot(Path::new("/x").to_path_buf());
    assert_eq!(s.path("/sys/bus"), Path::new("/x/sys/bus"));
    assert!(!s.is_real());
}

/// The pose-service part of templates/compose.yaml.j2 that `stack.models` reads.
const POSE_TEMPLATE: &str = r#"services:
  pose-service:
    image: pose
    environment:
      POSE_DETECTOR: "${POSE_DETECTOR:-vitdet}"
      HMR2_DATA_URL: "${HMR2_DATA_URL:-https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz}"
    volumes:
      - model-cache:/home/app/.cache
volumes:
  model-cache:
"#;

const HMR2: &str = "4DHumans/hmr2_data.tar.gz";
const VITDET: &str = "iopath_cache/detectron2/ViTDet/COCO/cascade_mask_rcnn_vitdet_h/f328730692/model_final_f05665.pkl";

/// A project named `demo` with the pose service, SMPL downloaded (or not), rendered with
/// `env`, of which `from_env_file` came from `.env`.
fn pose_project(
    smpl: bool,
    env: &[(&str, &str)],
    from_env_file: &[&str],
) -> (
    tempfile::TempDir,
    Result<crate::project::Project, crate::project::ProjectError>,
) {
    use crate::project::{Project, ProjectSource};
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/compose.yaml.j2"), POSE_TEMPLATE).unwrap();
    if smpl {
        std::fs::create_dir_all(dir.path().join("data/smpl")).unwrap();
        std::fs::write(dir.path().join("data/smpl/SMPL_NEUTRAL.pkl"), "smpl").unwrap();
    }
    let source = ProjectSource {
        dir: dir.path().to_path_buf(),
        name: "demo".into(),
        env_file: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        env_file_keys: from_env_file.iter().map(|k| k.to_string()).collect(),
        env_files: Vec::new(),
        env_warnings: Vec::new(),
        profiles: Vec::new(),
        files: Vec::new(),
    };
    let here = crate::engine::remote::Site {
        host: "127.0.0.1".into(),
        remote: false,
        reason: "a test".into(),
    };
    let project = Project::load(source, &Default::default(), &here);
    assert!(project.is_ok(), "{:?}", project.err());
    (dir, project)
}

/// A model-cache volume's contents: `files` (below /home/app/.cache) with `bytes` each.
fn cache(files: &[(&str, usize)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, bytes) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![0u8; *bytes]).unwrap();
    }
    dir
}

#[test]
fn the_template_and_the_service_default_to_one_hmr2_url() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join("templates/compose.yaml.j2")).unwrap();
    assert!(
        template.contains(&format!(
            "HMR2_DATA_URL: \"${{HMR2_DATA_URL:-{}}}\"",
            stack::DEFAULT_HMR2_DATA_URL
        )),
        "templates/compose.yaml.j2 no longer defaults HMR2_DATA_URL to {}",
        stack::DEFAULT_HMR2_DATA_URL
    );
    let config =
        std::fs::read_to_string(root.join("services/pose-service/pose_service/config.py")).unwrap();
    assert!(config.contains(stack::DEFAULT_HMR2_DATA_URL));
    assert!(POSE_TEMPLATE.contains(stack::DEFAULT_HMR2_DATA_URL));
}

#[test]
fn models_weights_present() {
    let r = Root::new();
    let (_d, p) = pose_project(true, &[], &[]);
    let vol = cache(&[(HMR2, 10), (VITDET, 10)]);
    let c = stack::models_with(
        &r.facts(0, &[]),
        &p,
        &stack::ModelCache::Readable(vol.path().into()),
    );
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("SMPL model present"), "{}", c.summary);
    assert!(
        c.summary
            .contains("weights in demo_model-cache: hmr2_data.tar.gz, ViTDet-H detector"),
        "{}",
        c.summary
    );
    assert!(
        c.summary.contains(&format!(
            "HMR2 data from {} (the template's default)",
            stack::DEFAULT_HMR2_DATA_URL
        )),
        "{}",
        c.summary
    );
    assert_eq!(c.details["cache"], "present");
    assert_eq!(c.details["files"][0]["bytes"], 10);
    assert!(c.fix.is_none());

    // The converted SMPL model in the cache serves when SMPL_DIR has none.
    let (_d, p) = pose_project(false, &[], &[]);
    let vol = cache(&[
        (HMR2, 10),
        (VITDET, 10),
        ("4DHumans/data/smpl/SMPL_NEUTRAL.pkl", 1),
        ("phalp/3D/models/smpl/SMPL_NEUTRAL.pkl", 1),
    ]);
    let c = stack::models_with(
        &r.facts(0, &[]),
        &p,
        &stack::ModelCache::Readable(vol.path().into()),
    );
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("in the model cache"), "{}", c.summary);

    // Without the ViTDet detector only the HMR 2.0 data is needed.
    let (_d, p) = pose_project(true, &[("POSE_DETECTOR", "maskrcnn")], &["POSE_DETECTOR"]);
    let vol = cache(&[(HMR2, 10)]);
    let c = stack::models_with(
        &r.facts(0, &[]),
        &p,
        &stack::ModelCache::Readable(vol.path().into()),
    );
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(!c.summary.contains("ViTDet"), "{}", c.summary);
}

#[test]
fn models_weights_absent() {
    let r = Root::new();
    let (_d, p) = pose_project(true, &[], &[]);
    // An empty file is an interrupted copy, not the weights.
    let vol = cache(&[(HMR2, 0)]);
    let c = stack::models_with(
        &r.facts(0, &[]),
        &p,
        &stack::ModelCache::Readable(vol.path().into()),
    );
    assert_eq!(c.status, Status::Warn, "{}", c.summary);
    assert!(
        c.summary.contains("weights not in demo_model-cache yet: hmr2_data.tar.gz (~2.7 GB), ViTDet-H detector (~2.8 GB); the first `devstack up` downloads ~6 GB"),
        "{}",
        c.summary
    );
    assert!(
        c.summary.contains(stack::DEFAULT_HMR2_DATA_URL),
        "{}",
        c.summary
    );
    let fix = c.fix.unwrap();
    assert!(fix.contains(&format!("hmr2_data.tar.gz: set HMR2_DATA_URL in .env to a reachable copy of hmr2_data.tar.gz and run `devstack up`, or download {} on the host and copy it into the model cache: docker cp hmr2_data.tar.gz demo-pose-service-1:/home/app/.cache/4DHumans/hmr2_data.tar.gz", stack::DEFAULT_HMR2_DATA_URL)), "{fix}");
    assert!(fix.contains("ViTDet-H detector: download https://dl.fbaipublicfiles.com/detectron2/ViTDet/COCO/cascade_mask_rcnn_vitdet_h/f328730692/model_final_f05665.pkl on the host and copy it into the model cache: docker cp model_final_f05665.pkl demo-pose-service-1:/home/app/.cache/iopath_cache/detectron2/ViTDet/COCO/cascade_mask_rcnn_vitdet_h/f328730692/model_final_f05665.pkl"), "{fix}");
    assert_eq!(c.details["cache"], "absent");

    // Half there: the detector is downloading.
    let vol = cache(&[(HMR2, 10), (&format!("{VITDET}.part"), 140_000_000)]);
    let c = stack::models_with(
        &r.facts(0, &[]),
        &p,
        &stack::ModelCache::Readable(vol.path().into()),
    );
    assert_eq!(c.status, Status::Warn, "{}", c.summary);
    assert!(
        c.summary.contains(
            "ViTDet-H detector (140 MB of ~2.8 GB downloaded); `devstack up` downloads them"
        ),
        "{}",
        c.summary
    );
    assert!(!c.fix.unwrap().contains("hmr2_data.tar.gz:"));
}

#[test]
fn models_volume_missing_or_unknown() {
    let r = Root::new();
    let (_d, p) = pose_project(true, &[], &[]);
    let c = stack::models_with(&r.facts(0, &[]), &p, &stack::ModelCache::NotCreated);
    assert_eq!(c.status, Status::Warn, "{}", c.summary);
    assert!(
        c.summary.contains("model-cache volume demo_model-cache not created yet: the first `devstack up` downloads the weights (~6 GB)"),
        "{}",
        c.summary
    );
    let fix = c.fix.unwrap();
    assert!(
        fix.contains("`docker cp` needs the container, which `devstack up` creates"),
        "{fix}"
    );
    assert!(fix.contains("docker cp hmr2_data.tar.gz demo-pose-service-1:/home/app/.cache/4DHumans/hmr2_data.tar.gz"), "{fix}");
    assert_eq!(c.details["cache"], "not created");

    // Unreadable (not root) or not asked: unknown, and no warning for it.
    let unreadable = stack::ModelCache::Unreadable {
        mountpoint: "/var/lib/docker/volumes/demo_model-cache/_data".into(),
        why: "/var/lib/docker/volumes/demo_model-cache/_data is readable only by root: `sudo devstack doctor` looks inside".into(),
    };
    let c = stack::models_with(&r.facts(1000, &[]), &p, &unreadable);
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(
        c.summary
            .contains("weights in demo_model-cache: unknown (/var/lib/docker/volumes/demo_model-cache/_data is readable only by root"),
        "{}",
        c.summary
    );
    assert_eq!(c.details["cache"], "unknown");
    // Under a fixture sysroot the engine is not asked.
    let c = stack::models(&r.facts(0, &[]), &p);
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(
        c.summary.contains("unknown (not probed under --sysroot)"),
        "{}",
        c.summary
    );

    // SMPL missing still warns, with its fix, whatever the cache holds.
    let (_d, p) = pose_project(false, &[], &[]);
    let c = stack::models_with(&r.facts(0, &[]), &p, &unreadable);
    assert_eq!(c.status, Status::Warn, "{}", c.summary);
    assert!(
        c.summary.contains("the SMPL model is missing"),
        "{}",
        c.summary
    );
    assert!(c.fix.unwrap().contains("smplify.is.tue.mpg.de"));
}

#[test]
fn models_custom_hmr2_data_url() {
    let r = Root::new();
    let url = "http://mirror.lan/hmr2_data.tar.gz";
    let (_d, p) = pose_project(true, &[("HMR2_DATA_URL", url)], &["HMR2_DATA_URL"]);
    let facts = r.facts(0, &[("HMR2_DATA_URL", url)]);
    let vol = cache(&[(VITDET, 10)]);
    let c = stack::models_with(&facts, &p, &stack::ModelCache::Readable(vol.path().into()));
    assert_eq!(c.status, Status::Warn, "{}", c.summary);
    assert!(
        c.summary
            .contains(&format!("HMR2 data from {url} (HMR2_DATA_URL in .env)")),
        "{}",
        c.summary
    );
    assert!(
        c.fix
            .unwrap()
            .contains(&format!("download {url} on the host")),
        "by hand names the custom URL"
    );
    assert_eq!(c.details["hmr2_data_url"], url);

    // From the process environment rather than .env.
    let (_d, p) = pose_project(true, &[("HMR2_DATA_URL", url)], &[]);
    let c = stack::models_with(&facts, &p, &stack::ModelCache::NotCreated);
    assert!(
        c.summary.contains(&format!(
            "HMR2 data from {url} (HMR2_DATA_URL in the environment)"
        )),
        "{}",
        c.summary
    );

    // Set but empty: the template's default, as compose's `:-` says.
    let (_d, p) = pose_project(true, &[("HMR2_DATA_URL", "")], &["HMR2_DATA_URL"]);
    let c = stack::models_with(
        &r.facts(0, &[("HMR2_DATA_URL", "")]),
        &p,
        &stack::ModelCache::NotCreated,
    );
    assert!(
        c.summary.contains(&format!(
            "HMR2 data from {} (the template's default)",
            stack::DEFAULT_HMR2_DATA_URL
        )),
        "{}",
        c.summary
    );
}

const WRAPPER: (&str, &str) = ("DEVSTACK_K4A_LIB", "/opt/k4a-wrapper/lib");

#[test]
fn femto_usb_states() {
    let r = Root::new();
    r.femto_bolt();
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(
        c.summary.contains("Orbbec Femto Bolt (2bc5:066b) on USB 3")
            && c.summary.contains("K4A wrapper"),
        "{}",
        c.summary
    );
    let r = Root::new();
    r.femto("1-4", "0669", "480", 1, 4);
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary.contains("Femto Mega (2bc5:0669) is on USB 2"),
        "{}",
        c.summary
    );
    assert!(c.fix.unwrap().contains("USB 3"));
    // a Femto W: Orbbec SDK only, not the K4A wrapper
    let r = Root::new();
    r.femto("1-4", "0638", "5000", 1, 4);
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.summary.contains("Femto W") && c.summary.contains("cannot open it"),
        "{}",
        c.summary
    );
    // both cameras: one line each
    let r = Root::new();
    r.kinect_usb3().femto_bolt();
    let c = kinect::usb(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok);
    assert!(
        c.summary.contains("Azure Kinect") && c.summary.contains("Femto Bolt"),
        "{}",
        c.summary
    );
}

#[test]
fn femto_permissions_and_udev_states() {
    let r = Root::new();
    r.femto_bolt();
    let c = kinect::permissions(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("/dev/bus/usb/002/009 (Femto Bolt)"),
        "{}",
        c.summary
    );
    r.mode("/dev/bus/usb/002/009", 0o666);
    assert_eq!(kinect::permissions(&r.facts(1000, &[])).status, Status::Ok);

    // no rule: fail, naming the Femto's id
    let c = kinect::udev(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("Orbbec Femto (2bc5:066b)"),
        "{}",
        c.summary
    );
    assert!(c.fix.unwrap().contains("install-udev"));
    // an Azure Kinect rule does not cover it
    r.file("/etc/udev/rules.d/99-k4a.rules", OUR_RULE);
    assert_eq!(kinect::udev(&r.facts(1000, &[])).status, Status::Fail);
    // Orbbec's own rule (MODE:="0666") does
    r.file(
        "/etc/udev/rules.d/99-obsensor-libusb.rules",
        "SUBSYSTEMS==\"usb\", ATTRS{idVendor}==\"2bc5\", ATTRS{idProduct}==\"066b\", MODE:=\"0666\",  OWNER:=\"root\", GROUP:=\"video\", SYMLINK+=\"Femto Bolt\"\n",
    );
    let c = kinect::udev(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(
        c.summary.contains("99-obsensor-libusb.rules"),
        "{}",
        c.summary
    );
    // and so does devstack's own rule
    let r = Root::new();
    r.femto_bolt().file(
        "/etc/udev/rules.d/99-k4a.rules",
        include_str!("../../udev/99-k4a.rules"),
    );
    assert_eq!(kinect::udev(&r.facts(1000, &[])).status, Status::Ok);
}

#[test]
fn femto_sdk_states() {
    // Microsoft's SDK does not know the Femto
    let r = Root::new();
    r.femto_bolt().microsoft_sdk();
    let c = kinect::sdk(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("Microsoft's Azure Kinect SDK")
            && c.summary.contains("Orbbec's K4A wrapper"),
        "{}",
        c.summary
    );
    assert!(c.fix.unwrap().contains("OrbbecSDK-K4A-Wrapper"));
    // nothing installed: the wrapper is what to install
    let r = Root::new();
    r.femto_bolt();
    let c = kinect::sdk(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary
            .contains("libk4a not found (the Femto needs Orbbec's K4A wrapper)"),
        "{}",
        c.summary
    );
    // the wrapper without its depth engine: error 108
    let r = Root::new();
    r.femto_bolt().orbbec_wrapper(false);
    let c = kinect::sdk(&r.facts(1000, &[WRAPPER]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("108") && c.summary.contains("extensions/depthengine"),
        "{}",
        c.summary
    );
    // the wrapper with it: which library serves the camera
    r.orbbec_wrapper(true);
    let c = kinect::sdk(&r.facts(1000, &[WRAPPER]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(
        c.summary.contains("Orbbec's K4A wrapper")
            && c.summary
                .contains("extensions/depthengine/libdepthengine.so.2.0"),
        "{}",
        c.summary
    );
    // the wrapper does not open an Azure Kinect
    let r = Root::new();
    r.kinect_usb3().orbbec_wrapper(true);
    let c = kinect::sdk(&r.facts(1000, &[WRAPPER]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("does not open an Azure Kinect"),
        "{}",
        c.summary
    );
}

#[test]
fn femto_gpu_states() {
    // no X display needed: a usable render node and libEGL are what counts
    let r = Root::new();
    r.femto_bolt();
    let c = kinect::display(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("libEGL.so.1 is missing"),
        "{}",
        c.summary
    );
    r.file("/usr/lib/x86_64-linux-gnu/libEGL.so.1", "");
    let c = kinect::display(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary.contains("no /dev/dri/renderD* node") && c.summary.contains("204"),
        "{}",
        c.summary
    );
    r.file("/dev/dri/renderD128", "")
        .mode("/dev/dri/renderD128", 0o660);
    let c = kinect::display(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary
            .contains("/dev/dri/renderD128 is not read/write for dev"),
        "{}",
        c.summary
    );
    assert_eq!(
        c.fix.unwrap(),
        "sudo usermod -aG render dev (then log out and in again)"
    );
    r.mode("/dev/dri/renderD128", 0o666);
    let c = kinect::display(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(
        c.summary.contains("EGL (no X display needed)"),
        "{}",
        c.summary
    );
    // NVIDIA's EGL driver without Mesa's render node
    let r = Root::new();
    r.femto_bolt()
        .file("/usr/lib/x86_64-linux-gnu/libEGL.so.1", "")
        .file("/dev/nvidiactl", "")
        .file("/usr/share/glvnd/egl_vendor.d/10_nvidia.json", "{}");
    let c = kinect::display(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("NVIDIA"), "{}", c.summary);
}

#[test]
fn femto_usbfs_follows_orbbec() {
    let r = Root::new();
    r.femto_bolt()
        .file("/sys/module/usbcore/parameters/usbfs_memory_mb", "16\n");
    let c = kinect::usbfs(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Ok, "{}", c.summary);
    assert!(c.summary.contains("enough for one Femto"), "{}", c.summary);
    r.femto("2-4", "066b", "5000", 2, 10);
    let c = kinect::usbfs(&r.facts(1000, &[]));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(c.summary.contains("≥ 128 MB"), "{}", c.summary);
    assert!(c.fix.unwrap().contains("echo 128 | sudo tee"));
}

#[test]
fn a_replay_source_needs_no_camera() {
    let replay = [("KINECT_SOURCE", "replay:recordings/desk.mkv")];
    // camera checks are skipped with the reason, even with KINECT_FORCE
    for env in [&replay[..], &[replay[0], ("KINECT_FORCE", "1")][..]] {
        let c = kinect::sdk(&Root::new().facts(1000, env));
        assert_eq!(c.status, Status::Skip, "{}", c.summary);
        assert!(
            c.summary
                .starts_with("KINECT_SOURCE=replay:recordings/desk.mkv needs no camera"),
            "{}",
            c.summary
        );
    }
    // the file itself is checked, relative to the project directory
    let dir = tempfile::tempdir().unwrap();
    let c = kinect::source(&Root::new().facts(1000, &replay), Some(dir.path()));
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(
        c.summary.contains("cannot open") && c.summary.contains("recordings/desk.mkv"),
        "{}",
        c.summary
    );
    std::fs::create_dir_all(dir.path().join("recordings")).unwrap();
    std::fs::write(dir.path().join("recordings/desk.mkv"), "not a video").unwrap();
    let c = kinect::source(&Root::new().facts(1000, &replay), Some(dir.path()));
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("not a Matroska file"), "{}", c.summary);
    let c = kinect::source(
        &Root::new().facts(1000, &[("KINECT_SOURCE", "webcam")]),
        None,
    );
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.summary
            .starts_with("KINECT_SOURCE=webcam: \"webcam\" is not a frame source"),
        "{}",
        c.summary
    );
    assert_eq!(
        kinect::source(&Root::new().facts(1000, &[]), None).status,
        Status::Ok
    );
}
