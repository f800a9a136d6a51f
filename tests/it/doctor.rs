//! `devstack doctor` end to end: JSON shape, exit codes, --sysroot, and the truth about this
//! machine in well under a second.

use std::time::{Duration, Instant};

use crate::common::{text, Stack};

fn write(root: &std::path::Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn checks(out: &std::process::Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e}): {}", text(out)))
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(cs: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    cs.iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn a_kinect_on_usb2_with_small_usbfs_fails_with_fixes() {
    let s = Stack::new("stack5");
    let root = tempfile::tempdir().unwrap();
    for (name, pid, dev) in [("1-1", "097c", 3), ("1-2", "097d", 4)] {
        for (f, v) in [
            ("idVendor", "045e".to_string()),
            ("idProduct", pid.to_string()),
            ("speed", "480".into()),
            ("busnum", "1".into()),
            ("devnum", dev.to_string()),
        ] {
            write(root.path(), &format!("sys/bus/usb/devices/{name}/{f}"), &v);
        }
    }
    write(
        root.path(),
        "sys/module/usbcore/parameters/usbfs_memory_mb",
        "16\n",
    );
    write(
        root.path(),
        "proc/sys/kernel/osrelease",
        "5.15.153.1-microsoft-standard-WSL2\n",
    );
    let out = s.run(&[
        "doctor",
        "--json",
        "--sysroot",
        root.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let cs = checks(&out);
    for c in &cs {
        for key in ["id", "status", "summary", "fix", "details"] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
        assert!(
            ["ok", "warn", "fail", "skip"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
    }
    assert_eq!(find(&cs, "kinect.usb")["status"], "fail");
    assert!(find(&cs, "kinect.usb")["summary"]
        .as_str()
        .unwrap()
        .contains("USB 2"));
    assert_eq!(find(&cs, "kinect.usbfs")["status"], "fail");
    assert_eq!(find(&cs, "host.wsl")["status"], "warn");
    assert!(find(&cs, "kinect.usbfs")["fix"]
        .as_str()
        .unwrap()
        .contains("usbfs_memory_mb"));
}

#[test]
fn doctor_on_this_machine_is_fast_and_truthful() {
    let s = Stack::new("stack5");
    let t0 = Instant::now();
    let mut cmd = s.command(&["doctor", "--json"]);
    cmd.env_remove("DEVSTACK_NO_NVML");
    let out = cmd.output().unwrap();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(1), "doctor took {took:?}");
    let cs = checks(&out);
    let nvml_present = [
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        "/usr/lib64/libnvidia-ml.so.1",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists());
    if !nvml_present {
        assert_eq!(find(&cs, "gpu.driver")["status"], "skip");
        assert!(find(&cs, "gpu.driver")["summary"]
            .as_str()
            .unwrap()
            .contains("libnvidia-ml.so.1"));
    }
    let docker_up = std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    assert_eq!(
        find(&cs, "docker.engine")["status"],
        if docker_up { "ok" } else { "fail" }
    );
    assert_eq!(
        find(&cs, "stack.env")["status"],
        "ok",
        "{}",
        find(&cs, "stack.env")
    );
    // The human report groups the same checks.
    let human = s.run(&["doctor"]);
    let t = text(&human);
    for group in ["docker", "gpu", "host", "kinect", "stack"] {
        assert!(t.lines().any(|l| l == group), "group {group} missing:\n{t}");
    }
}

#[test]
fn a_missing_sysroot_is_a_usage_error() {
    let s = Stack::new("stack5");
    let out = s.run(&["doctor", "--sysroot", "/nonexistent/root"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--sysroot /nonexistent/root: not a directory"));
}

#[test]
fn a_port_held_by_another_process_fails_stack_ports() {
    let mut s = Stack::new("stack5");
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    s.set_env("WEB_PORT", &port);
    let out = s.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let cs = checks(&out);
    let c = find(&cs, "stack.ports");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["summary"].as_str().unwrap().contains(&port), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("ss -ltnp"), "{c}");
    drop(holder);
    let c = find(&checks(&s.run(&["doctor", "--json"])), "stack.ports").clone();
    assert_eq!(c["status"], "ok", "{c}");
}

#[test]
fn an_unreachable_engine_fails_docker_engine_with_the_fix() {
    let s = Stack::new("stack5");
    let sock = s.path().join("missing.sock");
    let out = s
        .command(&["doctor", "--json"])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let cs = checks(&out);
    let c = find(&cs, "docker.engine");
    assert_eq!(c["status"], "fail", "{c}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains(&sock.display().to_string()) && summary.contains("does not exist"),
        "{c}"
    );
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("systemctl start docker"),
        "{c}"
    );
}

#[test]
fn an_env_key_missing_from_the_example_warns() {
    let s = Stack::new("stack5");
    write(
        s.path(),
        ".env.example",
        "GREETING=hello\n#WEB_PORT=18080\n",
    );
    write(s.path(), ".env", "GREETING=hi\nWEB_PROT=9000\n");
    let c = find(&checks(&s.run(&["doctor", "--json"])), "stack.env").clone();
    assert_eq!(c["status"], "warn", "{c}");
    assert!(c["summary"].as_str().unwrap().contains("WEB_PROT"), "{c}");
    assert_eq!(c["details"]["unknown"], serde_json::json!(["WEB_PROT"]));
    write(s.path(), ".env", "GREETING=hi\nWEB_PORT=9000\n");
    let c = find(&checks(&s.run(&["doctor", "--json"])), "stack.env").clone();
    assert_eq!(c["status"], "ok", "{c}");
}

/// The repository's own stack with every GPU requested: an engine without the NVIDIA runtime (or
/// a CDI spec) must fail the check, with the toolkit install as the fix.
#[test]
fn a_gpu_stack_on_an_engine_without_the_nvidia_runtime_fails() {
    if !crate::common::docker_available() {
        return;
    }
    let has_gpu_runtime = crate::common::docker(&["info", "--format", "{{json .Runtimes}}"])
        .contains("nvidia")
        || ["/etc/cdi", "/var/run/cdi"]
            .iter()
            .any(|d| std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()));
    if has_gpu_runtime {
        eprintln!("skipped: this engine has an NVIDIA runtime or CDI spec");
        return;
    }
    let run = |gpu: &str| {
        std::process::Command::new(crate::common::bin())
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "-p"])
            .arg(format!("dgpu{}", std::process::id()))
            .args(["doctor", "--json"])
            .env("DEVSTACK_NO_NVML", "1")
            .env("DEVSTACK_GPU", gpu)
            .output()
            .unwrap()
    };
    let out = run("all");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let c = find(&checks(&out), "docker.gpu-runtime").clone();
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("nvidia-ctk runtime configure"),
        "{c}"
    );
    let c = find(&checks(&run("none")), "docker.gpu-runtime").clone();
    assert_eq!(c["status"], "skip", "{c}");
}

/// Without a camera the capture does not run: its udev rule, usbfs memory, SDK and display are
/// skipped with that reason (what was found kept in the summary), not warnings; with
/// KINECT_FORCE=1 the capture runs anyway and they are warnings again.
#[test]
fn without_a_camera_the_camera_checks_are_skipped_not_warned() {
    let s = Stack::new("stack5");
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "sys/module/usbcore/parameters/usbfs_memory_mb",
        "16\n",
    );
    let run = |force: bool| {
        let mut cmd = s.command(&[
            "doctor",
            "--json",
            "--sysroot",
            root.path().to_str().unwrap(),
        ]);
        cmd.env_remove("DISPLAY").env_remove("KINECT_FORCE");
        if force {
            cmd.env("KINECT_FORCE", "1");
        }
        checks(&cmd.output().unwrap())
    };
    let cs = run(false);
    assert_eq!(find(&cs, "kinect.usb")["status"], "skip");
    for id in [
        "kinect.udev",
        "kinect.usbfs",
        "kinect.sdk",
        "kinect.display",
    ] {
        let c = find(&cs, id);
        assert_eq!(c["status"], "skip", "{c}");
        assert!(
            c["summary"]
                .as_str()
                .unwrap()
                .starts_with("no Azure Kinect on USB, so not needed now; once one is plugged in: "),
            "{c}"
        );
        assert!(c["fix"].is_string(), "the fix stays for later: {c}");
    }
    assert!(find(&cs, "kinect.sdk")["summary"]
        .as_str()
        .unwrap()
        .contains("libk4a not found"));
    let human = s.run(&["doctor", "--sysroot", root.path().to_str().unwrap()]);
    let t = text(&human);
    assert!(
        !t.lines()
            .any(|l| l.contains("warn") && l.contains("kinect.")),
        "{t}"
    );
    let cs = run(true);
    for id in [
        "kinect.udev",
        "kinect.usbfs",
        "kinect.sdk",
        "kinect.display",
    ] {
        assert_eq!(find(&cs, id)["status"], "warn", "{}", find(&cs, id));
    }
}
