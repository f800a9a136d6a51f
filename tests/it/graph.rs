//! Issue 14: one graph of containers and host processes — the camera on the host feeding a
//! consumer in a container through Redis in a container; start and stop orders across kinds;
//! restart cascades across kinds; cycles; a disabled host dependency; a killed supervisor.
//! Real engine, real redis-server (in a container), real processes.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{bin, docker, docker_available, free_port, text, Stack, Streaming};
use crate::images;

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// redis (container) ← camera (host: the synthetic Kinect capture) and consumer (container,
/// healthy only while frames arrive at ≥ 25 fps). With `consumer_needs_camera`, the consumer
/// also declares `x-devstack.depends_on: camera` (healthy, restart: true).
pub fn camera_stack(consumer_needs_camera: bool) -> Stack {
    let s = Stack::new("graphed");
    let image = images::redis_image();
    let port = free_port();
    std::fs::write(s.path().join("consumer.sh"), images::CONSUMER_SH).unwrap();
    let healthy = images::CONSUMER_HEALTHY
        .replace('$', "$$")
        .replace('"', "\\\"");
    let needs = if consumer_needs_camera {
        "    x-devstack:\n      depends_on: { camera: { condition: service_healthy, restart: true } }\n"
    } else {
        ""
    };
    s.set_template(&format!(
        r#"services:
  redis:
    image: {image}
    init: true
    stop_grace_period: 2s
    command: ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
    ports: ["127.0.0.1:{port}:6379"]
    healthcheck: {{ test: ["CMD", "redis-cli", "ping"], interval: 1s, timeout: 1s, retries: 30 }}
  consumer:
    image: {image}
    init: true
    stop_grace_period: 1s
    command: ["sh", "/consumer.sh"]
    volumes: ["./consumer.sh:/consumer.sh:ro"]
    environment: {{ REDIS_HOST: redis }}
    depends_on: {{ redis: {{ condition: service_healthy }} }}
    healthcheck: {{ test: ["CMD-SHELL", "{healthy}"], interval: 1s, timeout: 1s, retries: 120 }}
{needs}
x-devstack:
  autoheal: {{ enabled: false }}
  host:
    camera:
      command: ["{bin}", "kinect", "capture", "--source", "synthetic", "--redis", "redis://127.0.0.1:{port}", "--health-file", ".devstack/camera-health.json"]
      depends_on: {{ redis: {{ condition: service_healthy, restart: true }} }}
      restart: on-failure
      healthcheck: {{ test: ["CMD-SHELL", "grep -q '\"state\": \"running\"' .devstack/camera-health.json"], interval: 1s }}
"#,
        bin = bin(),
    ));
    s
}

fn consumer_fps(s: &Stack) -> i64 {
    docker(&["exec", &format!("{}-consumer-1", s.name), "cat", "/tmp/fps"])
        .trim()
        .parse()
        .unwrap_or(-1)
}

fn ps_json(s: &Stack) -> serde_json::Value {
    let out = s.run(&["ps", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ps --json: {e}: {}", text(&out)))
}

fn row(ps: &serde_json::Value, name: &str) -> serde_json::Value {
    ps.as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no row {name} in {ps}"))
}

#[test]
fn the_camera_feeds_the_consumer_with_up_d_and_with_attached_up() {
    if !docker_available() {
        return;
    }
    let s = camera_stack(false);
    // up -d: the capture starts once redis is healthy, while the consumer still converges;
    // up returns only when the consumer (≥ 25 fps) and the camera are healthy.
    let out = s.ok(&["up", "-d", "--wait-timeout", "90"]);
    assert!(out.contains("camera"), "{out}");
    let fps = consumer_fps(&s);
    assert!(fps >= 25, "consumer sees {fps} fps\n{out}");
    let ps = ps_json(&s);
    assert_eq!(row(&ps, "camera")["state"], "running", "{ps}");
    assert_eq!(row(&ps, "camera")["health"], "healthy", "{ps}");
    // (The consumer's engine health may still say "starting": up trusts its own probe.)
    s.ok(&["down"]);

    // Attached: the same graph, then the merged logs; Ctrl-C stops it all.
    let mut up = Streaming::start(s.command(&["up", "--wait-timeout", "90"]));
    up.next_matching("consumer at >= 25 fps", Duration::from_secs(90), |l| {
        l.split("consumer fps ")
            .nth(1)
            .and_then(|n| n.trim().parse::<i64>().ok())
            .is_some_and(|n| n >= 25)
    });
    nix::sys::signal::kill(up.pid(), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = up.wait_exit(Duration::from_secs(60));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
    assert_eq!(s.inspect("consumer", "{{.State.Running}}"), "false");
    assert_eq!(s.inspect("redis", "{{.State.Running}}"), "false");
    let ps = ps_json(&s);
    assert_eq!(row(&ps, "camera")["state"], "stopped", "{ps}");
}

/// "name event uptime" lines from the fixture's marks/log.
fn marks(dir: &Path) -> Vec<(String, String, f64)> {
    std::fs::read_to_string(dir.join("marks/log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((
                p.next()?.to_string(),
                p.next()?.to_string(),
                p.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// The marks once `name event` is among them: a container without a healthcheck counts as
/// started when it runs, which can be a moment before its shell has written its mark.
fn marks_once(dir: &Path, name: &str, event: &str) -> Vec<(String, String, f64)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = marks(dir);
        if m.iter().any(|(n, e, _)| n == name && e == event) || Instant::now() > deadline {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn at(m: &[(String, String, f64)], name: &str, event: &str) -> f64 {
    m.iter()
        .rev()
        .find(|(n, e, _)| n == name && e == event)
        .map(|x| x.2)
        .unwrap_or_else(|| panic!("no `{name} {event}` in {m:?}"))
}

#[test]
fn a_container_waits_for_its_host_process_and_down_stops_in_reverse() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("graphed");
    let out = s.ok(&["up", "-d", "--wait-timeout", "60"]);
    let m = marks_once(s.path(), "top", "start");
    // base (container) → gate (host, healthy a second after it starts) → top (container).
    assert!(
        at(&m, "base", "start") <= at(&m, "gate", "start"),
        "{m:?}\n{out}"
    );
    assert!(
        at(&m, "gate", "ready") <= at(&m, "top", "start"),
        "{m:?}\n{out}"
    );
    let graph = s.ok(&["graph"]);
    assert!(
        graph.contains("top [container] running")
            && graph.contains("gate [host] healthy ← service_healthy"),
        "{graph}"
    );
    let dot = s.ok(&["graph", "--format", "dot"]);
    assert!(
        dot.contains("\"top\" -> \"gate\" [label=\"service_healthy\"]"),
        "{dot}"
    );
    let down = s.ok(&["down"]);
    let m = marks(s.path());
    // The container that needs the host process stops before it; the host process before
    // the container it needs.
    assert!(
        at(&m, "top", "stop") <= at(&m, "gate", "stop"),
        "{m:?}\n{down}"
    );
    assert!(
        at(&m, "gate", "stop") <= at(&m, "base", "stop"),
        "{m:?}\n{down}"
    );
    assert!(s.containers().is_empty());
}

#[test]
fn restart_cascades_across_kinds() {
    if !docker_available() {
        return;
    }
    let s = camera_stack(true);
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let consumer_started = s.inspect("consumer", "{{.State.StartedAt}}");
    // redis restarts → camera (restart: true on redis) → consumer (restart: true on camera).
    let out = s.ok(&["restart", "redis", "--wait-timeout", "90"]);
    assert!(out.contains("redis restarted"), "{out}");
    assert!(
        out.contains("camera restarted (host process)") && out.contains("(depends on redis"),
        "{out}"
    );
    assert!(
        out.contains("consumer restarted") && out.contains("(depends on camera"),
        "{out}"
    );
    let order: Vec<usize> = ["redis restarted", "camera restarted", "consumer restarted"]
        .iter()
        .map(|w| out.find(w).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert_eq!(row(&ps_json(&s), "camera")["restarts"], 1);
    assert_ne!(
        s.inspect("consumer", "{{.State.StartedAt}}"),
        consumer_started
    );
    // Restarting the host process alone brings its dependent container along.
    let consumer_started = s.inspect("consumer", "{{.State.StartedAt}}");
    let out = s.ok(&["restart", "camera", "--wait-timeout", "90"]);
    assert!(out.contains("consumer restarted"), "{out}");
    assert_ne!(
        s.inspect("consumer", "{{.State.StartedAt}}"),
        consumer_started
    );
    assert!(consumer_fps(&s) >= 25);
}

#[test]
fn cycles_across_kinds_fail_and_a_disabled_host_dependency_is_noted() {
    if !docker_available() {
        return;
    }
    let mut s = Stack::new("graphed");
    s.set_env("WITH_CAMERA", "1");
    let out = s.ok(&["up", "-d", "--wait-timeout", "60", "viewer"]);
    assert!(
        out.contains("camera disabled: no Azure Kinect on USB; viewer starts without it"),
        "{out}"
    );
    assert_eq!(s.inspect("viewer", "{{.State.Running}}"), "true");
    let graph = s.ok(&["graph", "--format", "mermaid"]);
    assert!(
        graph.contains("viewer -->|service_started| camera"),
        "{graph}"
    );
    assert!(graph.contains("disabled: no Azure Kinect"), "{graph}");
    s.ok(&["down"]);

    let template = std::fs::read_to_string(s.path().join("templates/compose.yaml.j2")).unwrap();
    s.set_template(&template.replace(
        "    healthcheck: { test: [\"CMD\", \"true\"], interval: 1s, timeout: 1s, retries: 3 }",
        "    healthcheck: { test: [\"CMD\", \"true\"], interval: 1s, timeout: 1s, retries: 3 }\n    x-devstack:\n      depends_on: { gate: { condition: service_started } }",
    ));
    let out = s.run(&["up", "-d"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("dependency cycle: base → gate (host) → base"),
        "{}",
        text(&out)
    );
    assert!(s.containers().is_empty(), "a bad graph creates nothing");
}

/// Processes running this stack's capture (its own health file names it).
fn captures(s: &Stack) -> Vec<i32> {
    let needle = format!("{}", s.path().display());
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(e.path().join("cwd")) else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // The capture itself, not the relay that logs its output (`supervise --relay-log`).
        if cmd.contains("kinect capture")
            && !cmd.contains("--relay-log")
            && cwd.display().to_string() == needle
        {
            found.push(pid);
        }
    }
    found
}

fn supervisor_pid(s: &Stack) -> Option<i32> {
    std::fs::read_to_string(s.path().join(".devstack/supervisor.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[test]
fn a_supervisor_killed_mid_up_leaves_one_camera_after_the_next_up() {
    if !docker_available() {
        return;
    }
    let s = camera_stack(false);
    let mut first = s
        .command(&["up", "-d", "--wait-timeout", "20"])
        .spawn()
        .unwrap();
    wait_until("the camera capture", Duration::from_secs(60), || {
        captures(&s).len() == 1
    });
    let capture = captures(&s)[0];
    let pid = supervisor_pid(&s).expect("supervisor pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = first.wait();
    // Nothing supervises now, and ps says so; the camera keeps running (its output does not
    // go through the supervisor).
    let ps = s.run(&["ps"]);
    assert!(
        text(&ps).contains("no supervisor runs for project"),
        "{}",
        text(&ps)
    );
    let camera = row(&ps_json(&s), "camera");
    assert_eq!(camera["state"], "running (unsupervised)", "{camera}");
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    std::thread::sleep(Duration::from_secs(1));
    // The next `up` adopted it: the same capture, one of it.
    assert_eq!(captures(&s), [capture]);
    let new_pid = supervisor_pid(&s).unwrap();
    assert_ne!(new_pid, pid);
    let supervisors = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(" supervise") && !cmd.contains("--relay-log") && cmd.contains(&s.name)
        })
        .count();
    assert_eq!(supervisors, 1);
    assert!(consumer_fps(&s) >= 25);
    s.ok(&["down"]);
    assert!(captures(&s).is_empty());
}

#[test]
fn the_stack_comes_back_by_itself_when_its_engine_restarts() {
    if !docker_available() {
        return;
    }
    // An engine of this test's own: the tests beside it never see theirs go.
    let engine = crate::private_engine::PrivateEngine::start();
    let mut s = Stack::new("graphed");
    engine.load_image("devstack-test-bb:latest");
    s.set_env("DOCKER_HOST", &engine.host());
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    let running = |svc: &str| {
        String::from_utf8_lossy(
            &engine
                .docker(&[
                    "inspect",
                    "--format",
                    "{{.State.Running}}",
                    &format!("{}-{svc}-1", s.name),
                ])
                .stdout,
        )
        .trim()
            == "true"
    };
    assert!(running("base") && running("top"));
    let before = marks(s.path()).len();
    engine.stop();
    engine.restart();
    // No command: the supervisor sees the engine come back and walks the graph again.
    // Running, and their commands have begun (each writes its start mark first thing).
    let started_again = |name: &str| {
        marks(s.path())[before..]
            .iter()
            .any(|(n, e, _)| n == name && e == "start")
    };
    wait_until(
        "base and top running again",
        Duration::from_secs(60),
        || running("base") && running("top") && started_again("base") && started_again("top"),
    );
    let m = marks(s.path());
    let again: Vec<_> = m[before..].to_vec();
    let base = at(&again, "base", "start");
    let top = at(&again, "top", "start");
    assert!(base <= top, "in dependency order: {again:?}");
    let log = std::fs::read_to_string(s.path().join(".devstack/logs/supervisor.log")).unwrap();
    assert!(log.contains("the Docker engine is back"), "{log}");
    // The host process was not touched: still the one gate.
    assert_eq!(
        m.iter()
            .filter(|(n, e, _)| n == "gate" && e == "start")
            .count(),
        1,
        "{m:?}"
    );
    s.ok(&["down"]);
}
