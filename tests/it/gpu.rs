//! NVML end to end against a stand-in `libnvidia-ml.so.1` (tests/it/fixtures/fake_nvml.c: two
//! GPUs, one compute process whose host pid the test chooses), found the way the real one is:
//! nvml-wrapper dlopens "libnvidia-ml.so.1", and LD_LIBRARY_PATH comes first in that search.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{docker, docker_available, text, Stack};

const GPU0_UUID: &str = "GPU-0fa4e000-0000-4000-8000-000000000000";
const GPU1_UUID: &str = "GPU-1fa4e111-1111-4111-8111-111111111111";

/// Builds the stand-in into `dir`/libnvidia-ml.so.1 and returns `dir`.
pub fn fake_nvml(dir: &Path) -> PathBuf {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/fake_nvml.c");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(dir.join("libnvidia-ml.so.1"))
        .arg(source)
        .status()
        .expect("cc (the C compiler Rust links with) builds the stand-in NVML");
    assert!(status.success(), "compiling {source} failed");
    dir.to_path_buf()
}

/// A devstack command of `s` that loads the stand-in NVML, with `pid` using `mib` MiB on GPU 1.
fn with_nvml(s: &Stack, lib_dir: &Path, pid: u32, mib: u64, args: &[&str]) -> Command {
    let mut c = s.command(args);
    let mut path = lib_dir.as_os_str().to_owned();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|p| !p.is_empty()) {
        path.push(":");
        path.push(old);
    }
    c.env_remove("DEVSTACK_NO_NVML")
        .env("LD_LIBRARY_PATH", path)
        .env("FAKE_NVML_PID", pid.to_string())
        .env("FAKE_NVML_MIB", mib.to_string());
    c
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

fn check(checks: &Value, id: &str) -> Value {
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {checks}"))
        .clone()
}

#[test]
fn doctor_reads_the_driver_and_both_gpus_from_nvml() {
    let s = Stack::new("stack5");
    let tmp = tempfile::tempdir().unwrap();
    let lib = fake_nvml(tmp.path());
    let me = std::process::id();
    let doctor = |envs: &[(&str, &str)]| {
        let mut c = with_nvml(&s, &lib, me, 1536, &["doctor", "--json"]);
        c.envs(envs.iter().copied());
        let out = c.output().unwrap();
        (out.status.code(), json(&out))
    };

    let (_, cs) = doctor(&[]);
    let c = check(&cs, "gpu.driver");
    assert_eq!(c["status"], "ok", "{c}");
    assert_eq!(c["summary"], "NVIDIA driver 550.54.15, CUDA 12.4", "{c}");
    let c = check(&cs, "gpu.devices");
    assert_eq!(c["status"], "ok", "{c}");
    let devs = c["details"].as_array().unwrap();
    assert_eq!(devs.len(), 2, "{c}");
    let d0 = &devs[0];
    assert_eq!(
        (&d0["index"], &d0["name"], &d0["uuid"]),
        (
            &Value::from(0),
            &Value::from("NVIDIA GeForce RTX 4090 (stand-in)"),
            &Value::from(GPU0_UUID)
        )
    );
    assert_eq!(
        (&d0["memory_total_mib"], &d0["memory_used_mib"]),
        (&Value::from(24564), &Value::from(512))
    );
    assert_eq!(d0["processes"], serde_json::json!([]));
    let d1 = &devs[1];
    assert_eq!(d1["name"], "NVIDIA RTX A5000 (stand-in)");
    assert_eq!(d1["uuid"], GPU1_UUID);
    // 256 MiB of its own plus the process's 1536
    assert_eq!(
        (&d1["memory_total_mib"], &d1["memory_used_mib"]),
        (&Value::from(24256), &Value::from(1792))
    );
    assert_eq!(
        (&d1["utilization_pct"], &d1["temperature_c"], &d1["power_w"]),
        (&Value::from(87), &Value::from(64), &Value::from(182.25))
    );
    // a host process (this test) is listed but belongs to no container
    assert_eq!(
        d1["processes"],
        serde_json::json!([{ "pid": me, "used_mib": 1536, "container_id": null }])
    );
    let c = check(&cs, "gpu.selection");
    assert_eq!(
        (&c["status"], &c["summary"]),
        (&"ok".into(), &"all 2 GPUs".into()),
        "{c}"
    );

    // selections are checked against the devices NVML lists, by index or UUID prefix
    for ok in ["1", "GPU-1fa4e111"] {
        let c = check(&doctor(&[("DEVSTACK_GPU", ok)]).1, "gpu.selection");
        assert_eq!(c["status"], "ok", "{ok}: {c}");
    }
    let (code, cs) = doctor(&[("DEVSTACK_GPU", "2")]);
    assert_eq!(code, Some(1));
    let c = check(&cs, "gpu.selection");
    assert_eq!(c["status"], "fail", "{c}");
    let summary = c["summary"].as_str().unwrap();
    assert!(
        summary.contains("selected GPU 2 does not exist")
            && summary.contains(&format!("0 ({GPU0_UUID}), 1 ({GPU1_UUID})")),
        "{c}"
    );

    // a driver too old for the pose image's CUDA 12.1
    let (code, cs) = doctor(&[("FAKE_NVML_CUDA", "11080")]);
    assert_eq!(code, Some(1));
    let c = check(&cs, "gpu.driver");
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("supports CUDA 11.8"),
        "{c}"
    );
}

/// NVML reports a host pid on GPU 1; that pid is the main process of `pose` (a plain container:
/// this engine has no NVIDIA runtime), so its cgroup names pose's container.
#[test]
fn top_and_ps_attribute_gpu_memory_to_the_service_by_pid() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.set_template(
        "services:\n  pose:\n    image: devstack-test-bb:latest\n    init: true\n    command: [\"sleep\", \"600\"]\n    environment:\n      POSE_GPU_MEMORY_FRACTION: \"0.05\"\n  idle:\n    image: devstack-test-bb:latest\n    init: true\n    command: [\"sleep\", \"600\"]\n",
    );
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    let pid: u32 = s.inspect("pose", "{{.State.Pid}}").parse().unwrap();
    let pose_id = s.inspect("pose", "{{.Id}}");
    let tmp = tempfile::tempdir().unwrap();
    let lib = fake_nvml(tmp.path());

    let out = with_nvml(&s, &lib, pid, 1536, &["top", "--once", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let top = json(&out);
    assert_eq!(top["devices"].as_array().unwrap().len(), 2, "{top}");
    assert_eq!(
        top["devices"][1]["processes"],
        serde_json::json!([{ "pid": pid, "used_mib": 1536, "container_id": pose_id }])
    );
    // only pose uses a GPU; its budget is 5% of GPU 1's 24256 MiB
    assert_eq!(
        top["containers"],
        serde_json::json!([{
            "service": "pose",
            "container": format!("{}-pose-1", s.name),
            "gpus": [1],
            "memory_mib": 1536,
            "budget_mib": 1212,
            "over_budget": true,
        }])
    );
    let human = text(
        &with_nvml(&s, &lib, pid, 1536, &["top", "--once"])
            .output()
            .unwrap(),
    );
    assert!(
        human.contains("NVIDIA RTX A5000 (stand-in)") && human.contains("1536 MiB (over budget)"),
        "{human}"
    );

    // `ps` asks NVML only when one of the project's containers has a GPU device request. This
    // engine cannot start one (no NVIDIA runtime), but can create one: a stopped sibling service.
    docker(&[
        "create",
        "--gpus",
        "all",
        "--name",
        &format!("{}-cuda-1", s.name),
        "--label",
        &format!("com.docker.compose.project={}", s.name),
        "--label",
        "com.docker.compose.service=cuda",
        "--label",
        "com.docker.compose.container-number=1",
        "--label",
        "com.docker.compose.oneoff=False",
        "devstack-test-bb:latest",
        "true",
    ]);
    let out = with_nvml(&s, &lib, pid, 1536, &["ps", "-a", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ps = json(&out);
    let row = |svc: &str| {
        ps.as_array()
            .unwrap()
            .iter()
            .find(|r| r["service"] == svc)
            .unwrap_or_else(|| panic!("no {svc} in {ps}"))
            .clone()
    };
    assert_eq!(row("pose")["gpu_memory_mib"], 1536, "{ps}");
    assert_eq!(row("idle").get("gpu_memory_mib"), None, "{ps}");
    let cuda = row("cuda");
    assert_eq!(
        (&cuda["gpu"], &cuda["state"]),
        (&"all".into(), &"created".into()),
        "{ps}"
    );
    assert_eq!(cuda.get("gpu_memory_mib"), None, "{ps}");
}
