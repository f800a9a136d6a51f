//! The default stack: `devstack init` writes it, `devstack render` turns it into compose YAML
//! that `docker-compose config` accepts, with the GPU request the selection asks for.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const UUID: &str = "GPU-3f5a1c2e-9b7d-4e21-8c6f-0a1b2c3d4e5f";

fn devstack(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devstack"));
    cmd.arg("-C").arg(dir).env("NO_COLOR", "1");
    cmd
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run devstack");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh project made by `devstack init`.
fn init_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run_ok(devstack(dir.path()).arg("init"));
    dir
}

/// Renders the project with `DEVSTACK_GPU=gpu` and returns the file and its parsed content.
fn render(dir: &Path, gpu: &str) -> (PathBuf, Value) {
    let out = dir.join(format!(".devstack/render-{}.yaml", gpu.replace(',', "_")));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    run_ok(
        devstack(dir)
            .args(["render", "-o"])
            .arg(&out)
            .env("DEVSTACK_GPU", gpu)
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env_remove("KINECT_FORCE"),
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let yaml: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("rendered file is not YAML: {e}\n{text}"));
    (out, yaml)
}

/// `docker-compose config -q` on the rendered file; skipped loudly without docker-compose
/// (a failure in CI, where it must be installed).
fn assert_compose_accepts(file: &Path) {
    let Ok(out) = Command::new("docker-compose")
        .arg("-f")
        .arg(file)
        .args(["config", "-q"])
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "docker-compose is not installed (required in CI)"
        );
        eprintln!(
            "SKIPPED: docker-compose is not installed; {} was not checked with it",
            file.display()
        );
        return;
    };
    assert!(
        out.status.success(),
        "docker-compose rejects {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pose(yaml: &Value) -> &Value {
    &yaml["services"]["pose-service"]
}

fn pose_env<'a>(yaml: &'a Value, key: &str) -> &'a Value {
    &pose(yaml)["environment"][key]
}

/// The single NVIDIA device request of pose-service.
fn device_request(yaml: &Value) -> &Value {
    let devices = pose(yaml)["deploy"]["resources"]["reservations"]["devices"]
        .as_array()
        .expect("pose-service has a device reservation");
    assert_eq!(devices.len(), 1, "one device request: {devices:?}");
    let d = &devices[0];
    assert_eq!(d["driver"], "nvidia");
    let caps: Vec<&str> = d["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for cap in ["gpu", "compute", "utility", "graphics"] {
        assert!(caps.contains(&cap), "capability {cap} missing: {caps:?}");
    }
    d
}

#[test]
fn gpu_all_requests_every_device() {
    let dir = init_project();
    let (file, yaml) = render(dir.path(), "all");
    let d = device_request(&yaml);
    assert_eq!(d["count"], "all");
    assert!(
        d.get("device_ids").is_none(),
        "count and device_ids are exclusive: {d}"
    );
    assert_eq!(pose_env(&yaml, "DEVSTACK_GPU"), "all");
    assert_eq!(pose_env(&yaml, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
    assert_compose_accepts(&file);
}

#[test]
fn gpu_index_requests_that_device() {
    let dir = init_project();
    let (file, yaml) = render(dir.path(), "0");
    let d = device_request(&yaml);
    assert_eq!(d["device_ids"], serde_json::json!(["0"]));
    assert!(
        d.get("count").is_none(),
        "count and device_ids are exclusive: {d}"
    );
    assert_eq!(pose_env(&yaml, "DEVSTACK_GPU"), "0");
    assert_compose_accepts(&file);
}

#[test]
fn gpu_uuid_requests_that_device() {
    let dir = init_project();
    let (file, yaml) = render(dir.path(), UUID);
    let d = device_request(&yaml);
    assert_eq!(d["device_ids"], serde_json::json!([UUID]));
    assert!(
        d.get("count").is_none(),
        "count and device_ids are exclusive: {d}"
    );
    assert_compose_accepts(&file);
}

#[test]
fn gpu_none_has_no_device_request_and_tells_the_service() {
    let dir = init_project();
    let (file, yaml) = render(dir.path(), "none");
    assert!(
        pose(&yaml).get("deploy").is_none(),
        "no device request with none: {}",
        pose(&yaml)
    );
    assert_eq!(pose_env(&yaml, "DEVSTACK_GPU"), "none");
    assert_eq!(pose_env(&yaml, "NVIDIA_VISIBLE_DEVICES"), "void");
    assert_compose_accepts(&file);
}

#[test]
fn every_service_is_healthchecked_logged_and_local_only() {
    let dir = init_project();
    std::fs::write(
        dir.path().join(".env"),
        "LOG_LEVEL=warn\nLOG_LEVEL_BACKEND=debug\nBACKEND_PORT=3100\n",
    )
    .unwrap();
    let (_, yaml) = render(dir.path(), "none");
    let services = yaml["services"].as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    for want in [
        "pose-service",
        "backend-api",
        "frontend",
        "redis",
        "mongodb",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for (name, svc) in services {
        assert!(
            svc["healthcheck"]["test"].is_array(),
            "{name} has no healthcheck"
        );
        assert_eq!(svc["logging"]["driver"], "json-file", "{name} logging");
        assert!(
            svc["logging"]["options"]["max-size"].is_string(),
            "{name} log rotation"
        );
        for port in svc["ports"].as_array().into_iter().flatten() {
            assert!(
                port.as_str().unwrap().starts_with("127.0.0.1:"),
                "{name} publishes {port} beyond localhost"
            );
        }
    }
    assert_eq!(services["backend-api"]["environment"]["LOG_LEVEL"], "debug");
    assert_eq!(services["pose-service"]["environment"]["LOG_LEVEL"], "warn");
    // Redis's own level names: LOG_LEVEL=warn is its `warning`.
    let redis_cmd = services["redis"]["command"].as_array().unwrap();
    assert_eq!(redis_cmd.last().unwrap(), "warning", "{redis_cmd:?}");
    assert_eq!(services["backend-api"]["ports"][0], "127.0.0.1:3100:3000");
    assert_eq!(
        services["backend-api"]["depends_on"]["mongodb"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        services["pose-service"]["depends_on"]["redis"]["condition"],
        "service_healthy"
    );
    assert_eq!(yaml["x-devstack"]["aliases"]["pose"], "pose-service");
    // No Kinect on USB and KINECT_FORCE unset: the host capture is off.
    assert_eq!(yaml["x-devstack"]["host"]["kinect"]["enabled"], false);
}

#[test]
fn kinect_force_in_env_file_enables_the_host_capture() {
    let dir = init_project();
    std::fs::write(dir.path().join(".env"), "KINECT_FORCE=1\nREDIS_PORT=6400\n").unwrap();
    let (_, yaml) = render(dir.path(), "none");
    let kinect = &yaml["x-devstack"]["host"]["kinect"];
    assert_eq!(kinect["enabled"], true);
    let command: Vec<&str> = kinect["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(command.contains(&"redis://127.0.0.1:6400"), "{command:?}");
    assert_eq!(yaml["services"]["redis"]["ports"][0], "127.0.0.1:6400:6379");
}

/// Variables the template reads: `env.NAME` (minijinja) and `${NAME…}` (interpolation).
fn template_variables(template: &str) -> Vec<String> {
    let re = regex::Regex::new(r"env\.([A-Z][A-Z0-9_]*)|\$\{([A-Z][A-Z0-9_]*)").unwrap();
    let mut vars: Vec<String> = re
        .captures_iter(template)
        .map(|c| c.get(1).or(c.get(2)).unwrap().as_str().to_owned())
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

#[test]
fn env_example_documents_every_template_variable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(root.join("templates/compose.yaml.j2")).unwrap();
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let vars = template_variables(&template);
    assert!(vars.len() > 10, "found too few variables: {vars:?}");
    for var in vars {
        let documented = example
            .lines()
            .any(|l| l.trim_start_matches('#').starts_with(&format!("{var}=")));
        assert!(
            documented,
            "{var} is read by the template but not documented in .env.example"
        );
    }
}

#[test]
fn init_writes_the_stack_and_keeps_local_changes_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run_ok(devstack(dir.path()).arg("init"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for rel in [
        "templates/compose.yaml.j2",
        ".env.example",
        "services/pose-service/Dockerfile",
        "services/backend-api/package-lock.json",
        "services/frontend/package.json",
    ] {
        let written = std::fs::read(dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            written,
            std::fs::read(root.join(rel)).unwrap(),
            "{rel} differs from the source tree"
        );
        assert!(
            stdout.contains(rel),
            "init does not mention {rel}:\n{stdout}"
        );
    }
    assert!(!dir.path().join("services/frontend/node_modules").exists());

    let template = dir.path().join("templates/compose.yaml.j2");
    std::fs::write(&template, "# mine\n").unwrap();
    let out = run_ok(devstack(dir.path()).arg("init"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped   templates/compose.yaml.j2"));
    assert_eq!(std::fs::read_to_string(&template).unwrap(), "# mine\n");

    // An explicit DIR wins over -C, and --force replaces local changes.
    let other = tempfile::tempdir().unwrap();
    run_ok(
        devstack(other.path())
            .arg("init")
            .arg(dir.path())
            .arg("--force"),
    );
    assert_ne!(std::fs::read_to_string(&template).unwrap(), "# mine\n");
    assert!(
        std::fs::read_dir(other.path()).unwrap().next().is_none(),
        "-C dir was written to"
    );
}
