//! Issue 5: host processes, the background supervisor, auto-heal — real processes, signals
//! and engine.

use std::time::{Duration, Instant};

use crate::common::{docker, docker_available, text, Stack, Streaming};

fn stack() -> Stack {
    let mut s = Stack::new("supervised");
    let mark = format!(
        "{}{}",
        std::process::id(),
        s.name.len() + s.name.bytes().map(usize::from).sum::<usize>()
    );
    s.set_env("MARK", &mark);
    s
}

fn mark(s: &Stack) -> String {
    s.env.iter().find(|(k, _)| k == "MARK").unwrap().1.clone()
}

/// Processes whose command line carries this stack's marker.
fn marked_processes(s: &Stack) -> Vec<String> {
    let needle = format!(".{}", mark(s));
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.starts_with("sleep 77") && cmd.trim_end().ends_with(&needle) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

fn ps_json(s: &Stack) -> serde_json::Value {
    // -a: a container auto-heal is restarting is briefly not running.
    let out = s.run(&["ps", "-a", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ps --json: {e}: {}", text(&out)))
}

fn row<'a>(ps: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ps.as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {ps}"))
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn supervisor_pid(s: &Stack) -> Option<i32> {
    std::fs::read_to_string(s.path().join(".devstack/supervisor.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn log_lines(s: &Stack, name: &str) -> Vec<String> {
    std::fs::read_to_string(s.path().join(format!(".devstack/logs/{name}.log")))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn host_processes_restart_policies_restart_and_cleanup() {
    if !docker_available() {
        return;
    }
    let s = stack();
    let out = s.ok(&["up", "-d", "--wait-timeout", "60"]);
    assert!(
        out.contains("supervisor running in the background"),
        "{out}"
    );
    let pid = supervisor_pid(&s).expect("pid file");

    // `flaky` exits 1: restarted with growing delays (1 s, 2 s, 4 s, …).
    wait_until("4 runs of flaky", Duration::from_secs(20), || {
        log_lines(&s, "flaky").len() >= 4
    });
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = log_lines(&s, "flaky")
        .iter()
        .map(|l| chrono::DateTime::parse_from_rfc3339(l.split(' ').next().unwrap()).unwrap())
        .collect();
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    assert!(gaps[0] >= 900, "first retry after ~1 s: {gaps:?}");
    assert!(
        gaps[1] >= gaps[0] + 700 && gaps[2] >= gaps[1] + 1500,
        "delays must grow: {gaps:?}"
    );

    // `once` exits 0 under on-failure: not restarted.
    assert_eq!(log_lines(&s, "once").len(), 1);
    let ps = ps_json(&s);
    assert_eq!(row(&ps, "once")["state"], "exited");
    assert_eq!(row(&ps, "once")["exit_code"], 0);
    assert_eq!(row(&ps, "once")["kind"], "host");
    assert!(
        row(&ps, "off")["state"]
            .as_str()
            .unwrap()
            .starts_with("disabled: no Kinect"),
        "{ps}"
    );

    // `tree` (waits for app healthy) runs with a grandchild; restart it by name.
    wait_until("tree running", Duration::from_secs(30), || {
        row(&ps_json(&s), "tree")["state"] == "running"
    });
    wait_until(
        "tree healthy (its host healthcheck)",
        Duration::from_secs(10),
        || row(&ps_json(&s), "tree")["health"] == "healthy",
    );
    let old_pid = row(&ps_json(&s), "tree")["pid"].as_i64().unwrap();
    wait_until("tree's grandchild", Duration::from_secs(5), || {
        marked_processes(&s).len() == 2
    });
    // `logs -f` of a host process: its history, then what the restarted process prints.
    let follow = Streaming::start(s.command(&["logs", "-f", "tree", "--no-prefix"]));
    let tree_line = |what: &str| {
        follow.next_matching(what, Duration::from_secs(10), |l| l.starts_with("tree "))
    };
    tree_line("history line of tree");
    let out = s.ok(&["restart", "tree"]);
    assert!(out.contains("tree restarted (host process)"), "{out}");
    tree_line("line of the restarted tree");
    drop(follow);
    let ps = ps_json(&s);
    assert_eq!(row(&ps, "tree")["restarts"], 1);
    assert_ne!(row(&ps, "tree")["pid"].as_i64().unwrap(), old_pid);
    wait_until("one tree after restart", Duration::from_secs(5), || {
        marked_processes(&s).len() == 2
    });

    // Logs of host processes come through `devstack logs`.
    let logs = s.ok(&["logs", "tree", "--no-prefix"]);
    assert!(
        logs.lines().filter(|l| l.starts_with("tree ")).count() >= 2,
        "{logs}"
    );

    // `up -d` again keeps the one supervisor.
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    assert_eq!(supervisor_pid(&s), Some(pid));

    // down: nothing left — supervisor, host processes, grandchildren.
    s.ok(&["down"]);
    assert!(
        marked_processes(&s).is_empty(),
        "left behind: {:?}",
        marked_processes(&s)
    );
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "supervisor still alive"
    );
}

#[test]
fn sigkill_of_the_supervisor_then_down_cleans_everything() {
    if !docker_available() {
        return;
    }
    let s = stack();
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    wait_until("tree's processes", Duration::from_secs(30), || {
        marked_processes(&s).len() == 2
    });
    let pid = supervisor_pid(&s).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // The orphaned grandchild is still there: only the state file tells where.
    assert!(!marked_processes(&s).is_empty());
    let ps = s.ok(&["ps"]);
    assert!(ps.contains("tree"), "{ps}");
    s.ok(&["down"]);
    assert!(
        marked_processes(&s).is_empty(),
        "left behind: {:?}",
        marked_processes(&s)
    );
    assert!(s.containers().is_empty());
}

#[test]
fn a_service_that_breaks_before_the_engines_first_health_check_is_still_healed() {
    if !docker_available() {
        return;
    }
    // `up -d` trusts its own probe: it returns long before the engine's first check (3s).
    let s = stack();
    s.set_template(
        "services:\n  early:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n    \
         init: true\n    stop_grace_period: 1s\n    \
         command: [\"sh\", \"-c\", \"touch /tmp/healthy; exec sleep 100000\"]\n    \
         healthcheck: { test: [\"CMD\", \"test\", \"-f\", \"/tmp/healthy\"], interval: 3s, timeout: 1s, retries: 1 }\n\
         x-devstack:\n  autoheal: { unhealthy_threshold: 1 }\n",
    );
    s.ok(&["build"]);
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    let early = format!("{}-early-1", s.name);
    docker(&["exec", &early, "rm", "/tmp/healthy"]);
    let engine_said = docker(&["inspect", "--format", "{{.State.Health.Status}}", &early])
        .trim()
        .to_string();
    // The supervisor in the background was told by `up` that it is ready, so it heals it.
    wait_until("early healed", Duration::from_secs(40), || {
        row(&ps_json(&s), "early")["restarts"].as_i64().unwrap_or(0) >= 1
            && docker(&["inspect", "--format", "{{.State.Health.Status}}", &early]).trim()
                == "healthy"
    });
    eprintln!("broken while the engine said {engine_said:?}; healed");
}

#[test]
fn autoheal_restarts_an_unhealthy_container_and_gives_up_on_a_crash_loop() {
    if !docker_available() {
        return;
    }
    let s = stack();
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    let app = format!("{}-app-1", s.name);
    wait_until("app healthy", Duration::from_secs(20), || {
        docker(&["inspect", "--format", "{{.State.Health.Status}}", &app]).trim() == "healthy"
    });
    // Break app's health from outside; a restart re-creates the file, so it can heal.
    docker(&["exec", &app, "rm", "/tmp/healthy"]);
    let broken = Instant::now();
    wait_until("app healed", Duration::from_secs(40), || {
        row(&ps_json(&s), "app")["restarts"].as_i64().unwrap_or(0) >= 1
            && docker(&["inspect", "--format", "{{.State.Health.Status}}", &app]).trim()
                == "healthy"
    });
    eprintln!(
        "autoheal: health broken → healthy again in {:.1}s",
        broken.elapsed().as_secs_f64()
    );
    let ps = ps_json(&s);
    assert!(row(&ps, "app")["restarts"].as_i64().unwrap() >= 1, "{ps}");
    assert!(
        row(&ps, "app")["last_reason"]
            .as_str()
            .unwrap()
            .starts_with("unhealthy ×"),
        "{ps}"
    );

    // `stuck` stays broken across restarts (the flag lives in its volume): after 3 restarts and
    // one recreate it is reported as crash-looping and left alone.
    let stuck = format!("{}-stuck-1", s.name);
    docker(&["exec", &stuck, "touch", "/data/broken"]);
    wait_until("stuck crash-looping", Duration::from_secs(90), || {
        // No row while auto-heal recreates it (removed, not yet created again).
        ps_json(&s)
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service"] == "stuck" && r["state"] == "crash-looping")
    });
    let restarts = row(&ps_json(&s), "stuck")["restarts"].as_i64().unwrap();
    assert_eq!(restarts, 4, "3 restarts + 1 recreate");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        row(&ps_json(&s), "stuck")["restarts"].as_i64().unwrap(),
        restarts,
        "kept restarting"
    );
    let log = std::fs::read_to_string(s.path().join(".devstack/logs/supervisor.log")).unwrap();
    assert!(log.contains("⟳ app restarted: unhealthy ×"), "{log}");
    assert!(log.contains("stuck is crash-looping"), "{log}");

    // After down, the next up's containers start with a clean record.
    s.ok(&["down", "--volumes"]);
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    let ps = ps_json(&s);
    for svc in ["app", "stuck"] {
        assert_eq!(row(&ps, svc)["restarts"], 0, "{ps}");
        assert_eq!(row(&ps, svc)["state"], "running", "{ps}");
    }
    s.ok(&["down", "--volumes"]);
}

/// `devstack up` (attached, output piped), once its host process `tree` runs.
fn attached_up_with_tree(s: &Stack) -> Streaming {
    let up = Streaming::start(s.command(&["up", "--wait-timeout", "60"]));
    up.next_matching("tree's first line", Duration::from_secs(60), |l| {
        l.starts_with("tree") && l.contains("| tree ")
    });
    wait_until("tree's processes", Duration::from_secs(30), || {
        marked_processes(s).len() == 2
    });
    up
}

#[test]
fn attached_up_stops_everything_when_its_terminal_goes_away() {
    if !docker_available() {
        return;
    }
    let s = stack();
    // A closed terminal sends SIGHUP: host processes (grandchildren too) and containers stop,
    // as on Ctrl-C, instead of devstack dying and leaving the host processes orphaned.
    let mut up = attached_up_with_tree(&s);
    nix::sys::signal::kill(up.pid(), nix::sys::signal::Signal::SIGHUP).unwrap();
    let status = up.wait_exit(Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
    assert!(
        marked_processes(&s).is_empty(),
        "left behind: {:?}",
        marked_processes(&s)
    );
    for svc in ["app", "stuck"] {
        assert_eq!(s.inspect(svc, "{{.State.Running}}"), "false", "{svc}");
    }
}

#[test]
fn an_attached_up_is_the_projects_one_supervisor() {
    if !docker_available() {
        return;
    }
    let s = stack();
    let mut up = attached_up_with_tree(&s);
    // From another terminal: restart a host process through the attached session.
    let out = s.ok(&["restart", "tree"]);
    assert!(out.contains("tree restarted (host process)"), "{out}");
    up.next_matching("the restarted tree's line", Duration::from_secs(30), |l| {
        l.starts_with("tree") && l.contains("| tree ")
    });
    // `up -d` converges but starts no second supervisor (host processes would run twice).
    let out = s.ok(&["up", "-d", "--wait-timeout", "60"]);
    assert!(
        out.contains("stay with the attached `devstack up`"),
        "{out}"
    );
    assert_eq!(
        supervisor_pid(&s),
        None,
        "a background supervisor was started"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(marked_processes(&s).len(), 2, "{:?}", marked_processes(&s));
    // A second attached `up` is refused before it changes anything.
    let second = s.run(&["up"]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    assert!(
        text(&second).contains("already runs project"),
        "{}",
        text(&second)
    );
    // `down` stops the attached session as Ctrl-C would, then removes everything.
    s.ok(&["down"]);
    let status = up.wait_exit(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{status:?}");
    assert!(
        marked_processes(&s).is_empty(),
        "left behind: {:?}",
        marked_processes(&s)
    );
    assert!(s.containers().is_empty(), "{:?}", s.containers());
}
