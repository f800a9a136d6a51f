//! `devstack logs`: merged order (containers and host processes), level filter, grep, tail,
//! JSON output, follow.

use crate::common::{docker_available, text, Stack, Streaming};

const TEMPLATE: &str = r#"
x-bb: &bb
  image: devstack-test-bb:latest
  build: ./services/bb
  init: true
  stop_grace_period: 1s
services:
  alpha:
    <<: *bb
    command: ["sh", "-c", "echo '{\"level\":\"info\",\"msg\":\"a1\"}'; sleep 3; echo 'WARN a2'; sleep 3; echo '{\"level\":50,\"msg\":\"a3\",\"code\":7}'; exec sleep 1000"]
  beta:
    <<: *bb
    command: ["sh", "-c", "sleep 1.5; echo 'b1 no level'; sleep 3; echo '[debug] b2'; sleep 3; echo 'ERROR b3'; exec sleep 1000"]
"#;

#[test]
fn logs_merge_filter_and_format() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.set_template(TEMPLATE);
    s.ok(&["up", "-d"]);
    std::thread::sleep(std::time::Duration::from_millis(9000));

    let out = s.ok(&["logs", "--no-prefix"]);
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.len() == 2 && w.starts_with(['a', 'b']))
        })
        .collect();
    assert_eq!(
        order,
        ["a1", "b1", "a2", "b2", "a3", "b3"],
        "merged by timestamp:\n{out}"
    );
    assert!(
        out.contains("ERROR a3 code=7"),
        "JSON lines are shown readably:\n{out}"
    );

    let warn = s.ok(&["logs", "--level", "warn", "--no-prefix"]);
    let kept: Vec<&str> = warn.lines().collect();
    assert_eq!(
        kept.len(),
        4,
        "warn, error ×2 and the level-less line:\n{warn}"
    );
    assert!(
        warn.contains("b1 no level") && !warn.contains("a1") && !warn.contains("b2"),
        "{warn}"
    );

    let only_beta = s.ok(&["logs", "bet", "--grep", "b[23]"]);
    assert_eq!(only_beta.lines().count(), 2, "{only_beta}");
    assert!(
        only_beta.lines().all(|l| l.starts_with("beta |")),
        "{only_beta}"
    );

    let tail = s.ok(&["logs", "alpha", "--tail", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(tail.trim()).unwrap();
    assert_eq!(v["service"], "alpha");
    assert_eq!(v["level"], "error");
    assert_eq!(v["message"], "a3");

    // --since: a3 (6 s) and b3 (7.5 s) are within the last 4 s; the earlier lines are not.
    let recent = s.ok(&["logs", "--since", "4s", "--no-prefix"]);
    assert!(recent.contains("a3") && recent.contains("b3"), "{recent}");
    assert!(
        !recent.contains("a1") && !recent.contains("b1") && !recent.contains("a2"),
        "{recent}"
    );

    // Colours: forced on, every service gets the same colour in two separate runs.
    let coloured = || {
        let out = s
            .command(&["logs"])
            .env_remove("NO_COLOR")
            .env("CLICOLOR_FORCE", "1")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (first, second) = (coloured(), coloured());
    assert!(first.contains("\u{1b}["), "no colour: {first}");
    assert_eq!(first, second);

    let bad = s.run(&["logs", "--level", "loud"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

const FOLLOW_TEMPLATE: &str = r#"
services:
  alpha:
    image: devstack-test-bb:latest
    build: ./services/bb
    init: true
    stop_grace_period: 1s
    environment: { V: "${V:-1}" }
    command: ["sh", "-c", "echo \"hello from v$$V\"; exec sleep 1000"]
"#;

#[test]
fn follow_survives_restart_and_recreation_and_history_survives_down() {
    use std::time::Duration;

    if !docker_available() {
        return;
    }
    let mut s = Stack::new("stack5");
    s.set_template(FOLLOW_TEMPLATE);
    s.ok(&["up", "-d"]);
    let follow = Streaming::start(s.command(&["logs", "-f", "alpha", "--no-prefix"]));
    let hello = |what: &str| {
        follow.next_matching(what, Duration::from_secs(30), |l| {
            l.starts_with("hello from")
        })
    };
    assert_eq!(hello("the first line"), "hello from v1");
    s.ok(&["restart", "alpha"]);
    assert_eq!(hello("the line after restart"), "hello from v1");
    s.set_env("V", "2");
    let out = s.ok(&["up", "-d"]);
    assert!(out.contains("alpha recreated"), "{out}");
    assert_eq!(
        hello("the line of the recreated container"),
        "hello from v2"
    );
    drop(follow);

    // The recreated container's engine log has one line; the copy fills in the older ones,
    // for the whole history and for a --tail longer than what the engine has.
    std::thread::sleep(Duration::from_millis(500));
    let hellos = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("hello from"))
            .map(str::to_string)
            .collect()
    };
    let all = s.ok(&["logs", "alpha", "--no-prefix"]);
    assert_eq!(
        hellos(&all),
        ["hello from v1", "hello from v1", "hello from v2"],
        "{all}"
    );
    let tail = s.ok(&["logs", "alpha", "--no-prefix", "--tail", "2"]);
    assert_eq!(hellos(&tail), ["hello from v1", "hello from v2"], "{tail}");

    // The engine forgets a removed container's logs; devstack's copy keeps them.
    s.ok(&["down"]);
    let after = s.ok(&["logs", "alpha", "--no-prefix"]);
    let hellos: Vec<&str> = after
        .lines()
        .filter(|l| l.starts_with("hello from"))
        .collect();
    assert_eq!(
        hellos,
        ["hello from v1", "hello from v1", "hello from v2"],
        "{after}"
    );
}

#[test]
fn a_closed_pipe_ends_logs_quietly() {
    use std::io::BufRead;
    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.set_template(
        "services:\n  chatty:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n    init: true\n    stop_grace_period: 1s\n    command: [\"sh\", \"-c\", \"seq 1 50000; exec sleep 1000\"]\n",
    );
    s.ok(&["up", "-d"]);
    // 50k lines are far more than a pipe's buffer: devstack is still writing when the
    // reader goes away (`devstack logs | head -1`).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !s
        .ok(&["logs", "--tail", "1", "--no-prefix"])
        .contains("50000")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "chatty never printed 50000"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut child = s
        .command(&["logs", "chatty"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim_end(), "chatty | 1");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
}

#[test]
fn follow_started_before_up_shows_services_as_they_start() {
    use std::time::Duration;

    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.set_template(FOLLOW_TEMPLATE);
    // Nothing runs yet: the service is known from the template and followed by the name its
    // container will have.
    let follow = Streaming::start(s.command(&["logs", "-f", "alpha", "--no-prefix"]));
    std::thread::sleep(Duration::from_millis(500));
    s.ok(&["up", "-d"]);
    let first = follow.next_matching("alpha's first line", Duration::from_secs(30), |l| {
        l.starts_with("hello from")
    });
    assert_eq!(first, "hello from v1");
}

#[test]
fn without_the_engine_logs_shows_devstacks_copies_and_says_so() {
    use std::time::Duration;

    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.set_template(FOLLOW_TEMPLATE);
    let no_engine = |s: &Stack| {
        s.command(&["logs", "alpha", "--no-prefix"])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap()
    };
    // No copy yet: the engine's error, as for any command.
    let out = no_engine(&s);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    s.ok(&["up", "-d"]);
    let copy = s.path().join(".devstack/logs/alpha.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&copy).is_ok_and(|c| c.contains("hello from v1")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no copy of alpha's log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = no_engine(&s);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from v1\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/docker.sock") && err.contains("devstack's own copies only"),
        "{err}"
    );
}

/// A container and a host process that print a numbered line every 0.2 s, side by side.
const MIXED: &str = r#"
services:
  alpha:
    image: devstack-test-bb:latest
    build: ./services/bb
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "i=0; while [ $$i -lt 600 ]; do i=$$((i+1)); echo c$$i; sleep 0.2; done; exec sleep 1000"]
x-devstack:
  host:
    ticker:
      command: ["sh", "-c", "i=0; while [ $$i -lt 600 ]; do i=$$((i+1)); echo h$$i; sleep 0.2; done; exec sleep 1000"]
"#;

/// `logs --json` lines as (node, timestamp, message).
fn json_lines(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("service"), s("timestamp"), s("message"))
        })
        .collect()
}

#[test]
fn a_container_and_a_host_process_interleave_in_time_and_are_both_followed() {
    use std::time::{Duration, Instant};

    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.set_template(MIXED);
    s.ok(&["up", "-d"]);
    let count = |lines: &[(String, String, String)], node: &str| {
        lines.iter().filter(|l| l.0 == node).count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let history = loop {
        let lines = json_lines(&s.ok(&["logs", "--json"]));
        if count(&lines, "alpha") >= 8 && count(&lines, "ticker") >= 8 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "both never printed 8 lines: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    // One history, in time order across the container and the host process...
    let stamps: Vec<&str> = history.iter().map(|l| l.1.as_str()).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "not in time order: {history:?}"
    );
    // ...interleaved, not one node after the other (both print every 0.2 s).
    let switches = history.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(
        switches >= 4,
        "not interleaved ({switches} switches): {history:?}"
    );
    // Each node in its own order.
    for (node, letter) in [("alpha", 'c'), ("ticker", 'h')] {
        let numbers: Vec<u32> = history
            .iter()
            .filter(|l| l.0 == node)
            .map(|l| l.2.trim_start_matches(letter).parse().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "{node}: {numbers:?}"
        );
    }

    // --tail is per node, for the host process as for the container.
    let tail = json_lines(&s.ok(&["logs", "--json", "--tail", "2"]));
    assert_eq!(count(&tail, "alpha"), 2, "{tail:?}");
    assert_eq!(count(&tail, "ticker"), 2, "{tail:?}");
    assert!(tail.windows(2).all(|w| w[0].1 <= w[1].1), "{tail:?}");

    // Follow: the history, then new lines of both.
    let begun = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string();
    let follow = Streaming::start(s.command(&["logs", "-f", "--json", "--tail", "1"]));
    for node in ["alpha", "ticker"] {
        let line = follow.next_matching(
            &format!("a new line of {node}"),
            Duration::from_secs(30),
            |l| {
                serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                    v["service"] == node && v["timestamp"].as_str() > Some(begun.as_str())
                })
            },
        );
        assert!(line.contains("\"message\""), "{line}");
    }
}

#[test]
fn follow_picks_up_a_replica_that_appears() {
    use std::time::Duration;

    if !docker_available() {
        return;
    }
    let s = Stack::new("stack5");
    let template = |n: u32| {
        format!(
            "services:\n  alpha:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n    init: true\n    stop_grace_period: 1s\n    scale: {n}\n    command: [\"sh\", \"-c\", \"echo hello; exec sleep 1000\"]\n"
        )
    };
    s.set_template(&template(1));
    s.ok(&["up", "-d"]);
    let follow = Streaming::start(s.command(&["logs", "-f", "alpha", "--json"]));
    let from = |node: &'static str| {
        move |l: &str| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["service"] == node && v["message"] == "hello")
        }
    };
    follow.next_matching("alpha's line", Duration::from_secs(30), from("alpha"));
    // Scaled up while following: the new replica is followed by its log name.
    s.set_template(&template(2));
    s.ok(&["up", "-d"]);
    follow.next_matching(
        "the new replica's line",
        Duration::from_secs(30),
        from("alpha-2"),
    );
}
