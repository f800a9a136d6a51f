//! The compose-spec applied to real containers: a file of every key Debian's docker-compose
//! (1.29) can apply, brought up by docker-compose and by devstack, `docker inspect` compared
//! field by field; and the keys docker-compose cannot apply (secrets from variables, owners
//! and modes, replicas, hooks, shared namespaces…) checked on devstack's containers.

use std::process::Command;

use serde_json::Value;

use crate::common::{docker, docker_available, free_port, text, Stack};

/// A project brought up by Debian's docker-compose, taken down (volumes too) on drop.
struct Compose1 {
    dir: std::path::PathBuf,
    project: String,
}

impl Compose1 {
    fn run(&self, args: &[&str], port: u16) -> std::process::Output {
        Command::new("docker-compose")
            .current_dir(&self.dir)
            .env("PORT", port.to_string())
            .args(["-p", &self.project])
            .args(args)
            .output()
            .expect("docker-compose runs")
    }
}

impl Drop for Compose1 {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "-t", "1"], 1);
    }
}

fn have_docker_compose() -> bool {
    let ok = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but docker-compose is missing: .ci/run installs Debian's docker-compose"
        );
        eprintln!("\n!!! SKIPPED: docker-compose (Debian's, v1) is not installed !!!\n");
    }
    ok
}

fn inspect(name: &str) -> Value {
    let out = docker(&["inspect", name]);
    let all: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}: {out}"));
    all[0].clone()
}

/// The project's container ids (full), so they can be told apart from real differences.
fn ids(project: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ])
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

/// The inspect output with the project's own names and ids replaced by placeholders:
/// `{p}_base_1` and `{p}-base-1` become BASE, ids ID, `{p}_`/`{p}-` P_ and P-.
fn normalized(v: &Value, project: &str) -> Value {
    let mut s = v.to_string();
    for id in ids(project) {
        s = s.replace(&id, "ID");
    }
    s = s
        .replace(&format!("{project}_base_1"), "BASE")
        .replace(&format!("{project}-base-1"), "BASE")
        .replace(&format!("{project}_"), "P_")
        .replace(&format!("{project}-"), "P-");
    serde_json::from_str(&s).unwrap()
}

/// Fields that name this run (ids, times, paths the engine chose) or that only one tool sets
/// for reasons of its age: `Config.Volumes` is docker-compose 1's declaration of mount points,
/// which Compose v2 (the authority) does not send.
const SKIP: &[&str] = &[
    "Id",
    "Created",
    "Path",
    "Args",
    "State",
    "Image",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "Name",
    "RestartCount",
    "MountLabel",
    "ProcessLabel",
    "GraphDriver",
    "NetworkSettings",
    "Platform",
    "Driver",
    "AppArmorProfile",
    "ExecIDs",
    "Config.Volumes",
];

/// Compares two inspect documents two levels deep (`HostConfig.CapAdd`), counting the fields
/// that agree and describing the ones that do not.
fn compare(a: &Value, b: &Value, path: &str, same: &mut usize, diffs: &mut Vec<String>) {
    if SKIP.contains(&path) {
        return;
    }
    if let (Value::Object(x), Value::Object(y)) = (a, b) {
        if path.matches('.').count() < 1 {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if p == "Config.Labels" {
                    compare_labels(va, vb, same, diffs);
                } else {
                    compare(va, vb, &p, same, diffs);
                }
            }
            return;
        }
    }
    let (a, b) = (canonical(a, path), canonical(b, path));
    if a == b {
        *same += 1;
    } else {
        diffs.push(format!(
            "{path}:\n  docker-compose: {a}\n  devstack:       {b}"
        ));
    }
}

/// The user's labels (not the tools' own bookkeeping) agree one by one.
fn compare_labels(a: &Value, b: &Value, same: &mut usize, diffs: &mut Vec<String>) {
    let user = |v: &Value| -> serde_json::Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !k.starts_with("com.docker.compose") && !k.starts_with("dev.devstack")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    compare(
        &Value::Object(user(a)),
        &Value::Object(user(b)),
        "Config.Labels.",
        same,
        diffs,
    );
}

/// What two equal configurations may still differ in: empty vs absent, list order, the
/// published port (each project its own), a hostname the engine made up.
fn canonical(v: &Value, path: &str) -> Value {
    let empty = match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if empty {
        return Value::Null;
    }
    match (path, v) {
        ("Config.Hostname", Value::String(s)) if s.len() == 12 => Value::String("ID".into()),
        ("HostConfig.PortBindings", Value::Object(m)) => {
            let mut m = m.clone();
            for bindings in m.values_mut() {
                for b in bindings.as_array_mut().into_iter().flatten() {
                    b["HostPort"] = Value::String("PORT".into());
                }
            }
            Value::Object(m)
        }
        // Compose v2 keeps mounts in a map: their order means nothing.
        ("Mounts", Value::Array(items)) | ("HostConfig.Mounts", Value::Array(items)) => {
            let mut items = items.clone();
            items.sort_by_key(|m| {
                m.get("Destination")
                    .or_else(|| m.get("Target"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            });
            Value::Array(items)
        }
        (_, Value::Array(items)) if items.iter().all(Value::is_string) => {
            let mut items = items.clone();
            items.sort_by_key(|s| s.as_str().unwrap_or_default().to_string());
            Value::Array(items)
        }
        _ => v.clone(),
    }
}

/// The aliases a container has on each of its networks (the engine's short-id alias left
/// out), by network key.
fn aliases(v: &Value, project: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    if let Some(nets) = v["NetworkSettings"]["Networks"].as_object() {
        for (name, ep) in nets {
            let mut a: Vec<String> = ep["Aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|a| a.len() != 12)
                .map(str::to_string)
                .collect();
            a.sort();
            let key = name
                .strip_prefix(&format!("{project}_"))
                .unwrap_or(name)
                .to_string();
            out.push((key, a));
        }
    }
    out.sort();
    out
}

#[test]
fn docker_compose_and_devstack_make_the_same_containers() {
    if !docker_available() || !have_docker_compose() {
        return;
    }
    let mut s = Stack::new("stack5");
    crate::common::copy_fixture("parity", s.path());
    let cf = s.path().join("compose.yaml").display().to_string();
    let v1 = Compose1 {
        dir: s.path().to_path_buf(),
        project: format!("{}v1", s.name),
    };
    let out = v1.run(&["up", "-d"], free_port());
    assert!(out.status.success(), "docker-compose up: {}", text(&out));
    s.set_env("PORT", &free_port().to_string());
    s.ok(&["-f", &cf, "up", "-d", "--wait-timeout", "60"]);
    let mut same = 0;
    let mut diffs = Vec::new();
    for svc in ["base", "side", "app"] {
        let a = normalized(&inspect(&format!("{}_{svc}_1", v1.project)), &v1.project);
        let b = normalized(&inspect(&format!("{}-{svc}-1", s.name)), &s.name);
        let before = diffs.len();
        compare(&a, &b, "", &mut same, &mut diffs);
        let (aa, ab) = (aliases(&a, "P"), aliases(&b, "P"));
        if aa == ab {
            same += 1;
        } else {
            diffs.push(format!(
                "network aliases:\n  docker-compose: {aa:?}\n  devstack:       {ab:?}"
            ));
        }
        for d in &mut diffs[before..] {
            *d = format!("{svc}: {d}");
        }
    }
    // The networks and the volume they made.
    for (kind, keys) in [
        ("network", vec!["default", "front", "back", "quiet"]),
        ("volume", vec!["data"]),
    ] {
        for key in keys {
            let a = resource(kind, &format!("{}_{key}", v1.project));
            let b = resource(kind, &format!("{}_{key}", s.name));
            let before = diffs.len();
            compare(&a, &b, "", &mut same, &mut diffs);
            for d in &mut diffs[before..] {
                *d = format!("{kind} {key}: {d}");
            }
        }
    }
    let total = same + diffs.len();
    println!(
        "parity: {same} of {total} container, network and volume fields agree with docker-compose"
    );
    assert!(
        diffs.is_empty(),
        "{} of {total} fields differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(
        total > 250,
        "the comparison covers the file's keys ({total} fields)"
    );
}

/// What a network or volume was made with (not what names this run): driver, options, the
/// user's labels, a network's settings.
fn resource(kind: &str, name: &str) -> Value {
    let v = &serde_json::from_str::<Value>(&docker(&[kind, "inspect", name])).unwrap()[0];
    let labels: serde_json::Map<String, Value> = v["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("com.docker.compose") && !k.starts_with("dev.devstack"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out = serde_json::json!({
        "Driver": v["Driver"],
        "Options": v["Options"],
        "Labels": labels,
    });
    // Not `Attachable`: docker-compose 1 makes every network attachable; Compose v2 (the
    // authority) only when the file says so.
    if kind == "network" {
        for k in ["Internal", "EnableIPv6", "Scope"] {
            out[k] = v[k].clone();
        }
    }
    out
}

/// Runs `sh -c CMD` in a container of the stack and returns its output.
fn sh(container: &str, cmd: &str) -> String {
    docker(&["exec", container, "sh", "-c", cmd])
        .trim()
        .to_string()
}

#[test]
fn what_docker_compose_cannot_apply_reaches_devstacks_containers() {
    if !docker_available() {
        return;
    }
    let mut s = Stack::new("stack5");
    let cf = s.path().join("compose.yaml").display().to_string();
    s.set_env("API_TOKEN", "t0ken");
    std::fs::write(s.path().join("cert.pem"), "CERT").unwrap();
    std::fs::write(s.path().join("labels.txt"), "from.label.file=yes\n").unwrap();
    let hooks = s.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        s.path().join("compose.yaml"),
        format!(
            r#"services:
  base:
    image: devstack-test-bb:latest
    command: ["httpd", "-f", "-p", "8081", "-h", "/www"]
    ipc: shareable
    init: true
  web:
    image: devstack-test-bb:latest
    command: ["sh", "-c", "exec sleep 100000"]
    init: true
    scale: 3
    label_file: labels.txt
    network_mode: "service:base"
    ipc: "service:base"
    uts: host
    secrets:
      - api_token
      - source: cert
        target: tls/cert.pem
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - source: app_conf
        target: /etc/app.conf
    volumes: ["{hooks}:/hooks"]
    post_start:
      - command: ["sh", "-c", "hostname > /tmp/post_start_ran"]
    pre_stop:
      - command: ["sh", "-c", "echo stopping >> /hooks/pre_stop"]
secrets:
  api_token: {{environment: API_TOKEN}}
  cert: {{file: ./cert.pem}}
configs:
  app_conf: {{content: "level=debug"}}
"#,
            hooks = hooks.display()
        ),
    )
    .unwrap();
    s.ok(&["-f", &cf, "up", "-d", "--wait-timeout", "60"]);
    let web = |n: u32| format!("{}-web-{n}", s.name);
    // Replicas: three containers, numbered as Compose numbers them.
    let names: Vec<String> = s.containers().into_iter().map(|(n, _)| n).collect();
    for n in 1..=3 {
        assert!(names.contains(&web(n)), "{names:?}");
    }
    for n in 1..=3 {
        let c = web(n);
        assert_eq!(sh(&c, "cat /run/secrets/api_token"), "t0ken");
        assert_eq!(
            sh(
                &c,
                "stat -c '%u:%g %a' /run/secrets/tls/cert.pem; cat /run/secrets/tls/cert.pem"
            ),
            "1000:1001 400\nCERT"
        );
        assert_eq!(sh(&c, "cat /etc/app.conf"), "level=debug");
        assert!(
            !sh(&c, "cat /tmp/post_start_ran").is_empty(),
            "post_start ran in {c}"
        );
    }
    let host = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.NetworkMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}} {{index .Config.Labels \"from.label.file\"}}",
        &web(2),
    ]);
    // `service:base` is base's container, by id (as Compose resolves it).
    let base = format!(
        "container:{}",
        docker(&[
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{}-base-1", s.name)
        ])
        .trim()
    );
    assert_eq!(host.trim(), format!("{base} {base} host yes"));
    // They share base's network namespace: its listener is on their loopback.
    assert_eq!(sh(&web(3), "wget -q -O - http://127.0.0.1:8081/"), "ok");
    // ps and logs show each replica; exec picks one by --index.
    let ps = s.ok(&["-f", &cf, "ps"]);
    assert!(ps.contains("web-3"), "{ps}");
    let out = s.ok(&[
        "-f",
        &cf,
        "exec",
        "-T",
        "--index",
        "2",
        "web",
        "cat",
        "/proc/1/cmdline",
    ]);
    assert!(out.contains("sleep") || out.contains("init"), "{out}");
    // Scaling down removes the highest-numbered containers; pre_stop runs before each stop.
    std::fs::write(
        s.path().join("compose.yaml"),
        std::fs::read_to_string(s.path().join("compose.yaml"))
            .unwrap()
            .replace("scale: 3", "scale: 1"),
    )
    .unwrap();
    s.ok(&["-f", &cf, "up", "-d", "--wait-timeout", "60"]);
    let names: Vec<String> = s.containers().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&web(1)) && !names.contains(&web(2)) && !names.contains(&web(3)),
        "{names:?}"
    );
    let stops = std::fs::read_to_string(hooks.join("pre_stop")).unwrap_or_default();
    assert_eq!(
        stops.lines().count(),
        2,
        "pre_stop ran in each removed replica: {stops}"
    );
    // A secret whose variable is unset fails before anything changes, naming it.
    s.env.retain(|(k, _)| k != "API_TOKEN");
    let out = s.run(&["-f", &cf, "up", "-d"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("is read from the variable API_TOKEN, which is not set"),
        "{}",
        text(&out)
    );
}

#[test]
fn keys_newer_than_the_engine_are_refused_before_anything_is_created() {
    if !docker_available() {
        return;
    }
    let api = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    let minor: u32 = api
        .trim()
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if minor >= 44 {
        eprintln!("engine API {api} has annotations and endpoint MAC addresses; nothing to refuse");
        return;
    }
    let s = Stack::new("stack5");
    let cf = s.path().join("compose.yaml").display().to_string();
    std::fs::write(
        s.path().join("compose.yaml"),
        "services:\n  a:\n    image: devstack-test-bb:latest\n    annotations: {com.example.a: \"1\"}\n    mac_address: 02:42:ac:11:00:09\n",
    )
    .unwrap();
    let out = s.run(&["-f", &cf, "up", "-d"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("service a: `annotations` needs Docker Engine API 1.43 (Engine 24) or newer; this engine speaks 1."),
        "{t}"
    );
    assert!(
        t.contains("`mac_address` needs Docker Engine API 1.44"),
        "{t}"
    );
    assert!(s.containers().is_empty(), "nothing was created");
}

#[test]
fn binds_create_a_missing_host_path_unless_told_not_to() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    let cf = s.path().join("compose.yaml").display().to_string();
    std::fs::write(
        s.path().join("compose.yaml"),
        "services:\n  a:\n    image: devstack-test-bb:latest\n    command: [sleep, \"100000\"]\n    volumes:\n      - ./made-by-the-engine:/m\n      - type: bind\n        source: ./missing\n        target: /x\n        bind: {create_host_path: false}\n",
    )
    .unwrap();
    let out = s.run(&["-f", &cf, "up", "-d"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("missing"), "{}", text(&out));
    std::fs::write(
        s.path().join("compose.yaml"),
        "services:\n  a:\n    image: devstack-test-bb:latest\n    command: [sleep, \"100000\"]\n    volumes: [\"./made-by-the-engine:/m\"]\n",
    )
    .unwrap();
    s.ok(&["-f", &cf, "up", "-d"]);
    assert!(s.path().join("made-by-the-engine").is_dir());
}
