//! Attached `up` in a real terminal (tmux): progress, then the merged logs, then a clean
//! stop on Ctrl-C with nothing left running.

use std::time::{Duration, Instant};

use crate::common::{bin, docker_available, Stack, Tmux};

/// Where `needle` is on the screen; panics with the screen when it is not there.
fn at_in(screen: &str, needle: &str) -> usize {
    screen
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not shown:\n{screen}"))
}

/// `devstack up` (attached) of a stack in a 160x50 tmux session, as a person would run it:
/// colours allowed, not CI. The session is killed however the test ends.
fn attached_up(s: &Stack) -> Tmux {
    let env: String = s.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    let script = format!(
        "env -u NO_COLOR -u CI {env} DEVSTACK_NO_NVML=1 {} -C {} -p {} up; echo EXITED:$?; sleep 60",
        bin(),
        s.path().display(),
        s.name
    );
    Tmux::start(&format!("devstack-{}", s.name), &script, 160, 50)
}

#[test]
fn attached_up_shows_progress_then_logs_and_stops_cleanly_on_ctrl_c() {
    if !docker_available() || !Tmux::available() {
        return;
    }
    let mut s = Stack::new("stack5");
    s.set_env("DB_DELAY", "2");
    s.set_env("API_DELAY", "0");
    s.set_env("WEB_DELAY", "0");
    s.ok(&["build"]); // keep the terminal part about up itself
    let term = attached_up(&s);
    let screen = || term.screen();
    let mut saw_progress = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = screen();
        saw_progress |= last.contains("waiting for db") || last.contains("pending");
        if last.contains("services ready") && last.contains("worker up") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_progress, "no live progress lines were seen:\n{last}");
    assert!(last.contains("5 services ready"), "{last}");
    assert!(
        last.lines()
            .any(|l| l.starts_with("db") && l.contains("| db ready")),
        "merged, prefixed logs:\n{last}"
    );

    // What was printed before the logs were attached is merged by timestamp too: each of
    // these started only once the one before was healthy.
    let at = |needle: &str| at_in(&last, needle);
    assert!(
        at("| db ready") < at("| api ready")
            && at("| api ready") < at("| web ready")
            && at("| web ready") < at("| worker up"),
        "in timestamp order:\n{last}"
    );
    // JSON lines read as text, like `devstack logs`.
    assert!(
        last.lines()
            .any(|l| l.starts_with("worker") && l.contains("| WARN  queue slow depth=3")),
        "{last}"
    );

    // Health transitions join the stream: api turns unhealthy, auto-heal restarts it, it is
    // healthy again (its command makes /tmp/ready anew), and only then is web, which declares
    // `restart: true` on api, restarted.
    crate::common::docker(&["exec", &format!("{}-api-1", s.name), "rm", "/tmp/ready"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    while !(last.contains("✗ api unhealthy: health check exited with code 1")
        && last.contains("✓ api healthy again after")
        && last.contains("✓ web healthy after"))
    {
        assert!(
            Instant::now() < deadline,
            "no health transitions of api and web:\n{last}"
        );
        std::thread::sleep(Duration::from_millis(200));
        last = screen();
    }
    assert!(last.contains("⟳ api restarted: unhealthy"), "{last}");
    let web_restarted = "⟳ web restarted: api is healthy again";
    assert!(
        at_in(&last, "✓ api healthy again") < at_in(&last, web_restarted)
            && at_in(&last, web_restarted) < at_in(&last, "✓ web healthy after"),
        "{last}"
    );
    assert_eq!(
        last.matches("✓ api healthy").count(),
        1,
        "reported once:\n{last}"
    );
    // worker's start was reported by the progress; the engine agreeing later is no news.
    assert!(!last.contains("✓ worker healthy"), "{last}");

    term.keys("C-c");
    let end = term.wait_for("EXITED:0", Duration::from_secs(30));
    assert!(
        end.contains("worker stopped") && end.contains("db stopped"),
        "{end}"
    );
    for svc in ["db", "api", "web", "worker"] {
        assert_eq!(
            s.inspect(svc, "{{.State.Running}}"),
            "false",
            "{svc} still running"
        );
    }
    let pos = |svc: &str| end.find(&format!("{svc} stopped")).unwrap();
    assert!(
        pos("worker") < pos("web") && pos("web") < pos("api") && pos("api") < pos("db"),
        "reverse order:\n{end}"
    );
}

#[test]
fn a_second_ctrl_c_kills_what_a_graceful_stop_still_waits_for() {
    if !docker_available() || !Tmux::available() {
        return;
    }
    let s = Stack::new("stack5");
    // PID 1 ignores SIGTERM: a graceful stop would wait the whole minute.
    s.set_template(
        "services:\n  stubborn:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n    \
         stop_grace_period: 60s\n    \
         command: [\"sh\", \"-c\", \"trap '' TERM; echo stubborn up; while true; do sleep 1; done\"]\n",
    );
    s.ok(&["build"]);
    let term = attached_up(&s);
    term.wait_for("stubborn | stubborn up", Duration::from_secs(60));
    term.keys("C-c");
    term.wait_for("Ctrl-C again to kill", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        s.inspect("stubborn", "{{.State.Running}}"),
        "true",
        "the graceful stop is still waiting"
    );
    term.keys("C-c");
    let end = term.wait_for("EXITED:", Duration::from_secs(15));
    assert!(end.contains("killing what is still running"), "{end}");
    assert_eq!(s.inspect("stubborn", "{{.State.Running}}"), "false");
}

#[test]
fn ctrl_c_while_up_still_waits_stops_what_it_started() {
    use crate::common::Streaming;

    if !docker_available() {
        return;
    }
    let mut s = Stack::new("stack5");
    s.set_env("DB_DELAY", "60"); // db stays `starting`; everything else waits for it
    s.ok(&["build"]);
    let mut up = Streaming::start(s.command(&["up"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.inspect("db", "{{.State.Running}}") != "true" {
        assert!(Instant::now() < deadline, "db never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(up.pid(), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = up.wait_exit(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{status:?}");
    assert_eq!(s.inspect("db", "{{.State.Running}}"), "false");
}

#[test]
fn a_slow_start_shows_its_last_health_output_in_the_progress_line() {
    if !docker_available() || !Tmux::available() {
        return;
    }
    let s = Stack::new("stack5");
    // Like the pose service's model download: the healthcheck says how far it got.
    s.set_template(
        r#"services:
  slow:
    image: devstack-test-bb:latest
    build: ./services/bb
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "rm -f /tmp/ready; for i in 1 2 3 4 5 6 7 8; do echo $$((i*10)) > /tmp/pct; sleep 1; done; touch /tmp/ready; exec sleep 1000"]
    healthcheck: { test: ["CMD-SHELL", "test -f /tmp/ready || { echo downloading $$(cat /tmp/pct)%; exit 1; }"], interval: 1s, timeout: 1s, retries: 30 }
"#,
    );
    s.ok(&["build"]);
    let term = attached_up(&s);
    let screen = term.wait_for("slow starting: downloading", Duration::from_secs(30));
    assert!(
        screen
            .lines()
            .any(|l| l.contains("slow starting: downloading")
                && l.trim_end().ends_with('s')
                && l.contains("0%")),
        "one live line with the output and the elapsed time:\n{screen}"
    );
    term.wait_for("1 service ready", Duration::from_secs(30));
    term.keys("C-c");
    term.wait_for("EXITED:0", Duration::from_secs(30));
}
