//! Issue 25: host processes outlive the supervisor (their output goes through a relay, not the
//! supervisor's pipe), a new supervisor adopts them by pid and start time instead of starting
//! second copies, `ps` tells the truth in the gap; and only the user may command the
//! supervisor (`.devstack/` 0700, the socket 0600, the peer's uid checked on every connection).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{docker_available, text, Stack};

/// A host process that numbers its lines: `line 1`, `line 2`, … every 20 ms.
const TICKER: &str = "x-devstack:\n  host:\n    ticker:\n      command: [\"sh\", \"-c\", \"i=0; while :; do i=$$((i+1)); echo line $$i; sleep 0.02; done\"]\n      restart: on-failure\nservices: {}\n";

fn ticker_stack() -> Stack {
    let s = Stack::new("supervised");
    s.set_template(TICKER);
    s
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ps_row(s: &Stack, name: &str) -> serde_json::Value {
    let out = s.run(&["ps", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ps --json: {e}: {}", text(&out)));
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no row {name} in {rows}"))
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn supervisor_pid(s: &Stack) -> i32 {
    read_pid(&s.path().join(".devstack/supervisor.pid")).expect("supervisor pid file")
}

/// The ticker's shell processes (not its relay) under this stack's directory.
fn tickers(s: &Stack) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cwd = std::fs::read_link(e.path().join("cwd")).unwrap_or_default();
        if cmd.starts_with(b"sh\0-c\0i=0;") && cwd == s.path() {
            found.push(pid);
        }
    }
    found
}

fn kill9(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

/// The numbers of the ticker's lines as `devstack logs` shows them.
fn numbered_lines(s: &Stack) -> Vec<u64> {
    let out = s.ok(&["logs", "--no-log-prefix", "ticker"]);
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("line "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Every number from the first to the last exactly once, within each run of the command (a
/// restart starts again at 1).
fn assert_complete(numbers: &[u64]) {
    assert!(!numbers.is_empty());
    for w in numbers.windows(2) {
        assert!(
            w[1] == w[0] + 1 || w[1] == 1,
            "line {} followed by line {}: lost or doubled",
            w[0],
            w[1]
        );
    }
}

#[test]
fn host_processes_outlive_a_killed_supervisor_and_are_adopted() {
    if !docker_available() {
        return;
    }
    let s = ticker_stack();
    s.ok(&["up", "-d", "--wait-timeout", "30"]);
    wait_until("the ticker", Duration::from_secs(10), || {
        tickers(&s).len() == 1
    });
    let ticker = tickers(&s)[0];
    let first = supervisor_pid(&s);

    // The supervisor dies; the ticker does not, and keeps writing its log.
    kill9(first);
    std::thread::sleep(Duration::from_millis(300));
    let before = numbered_lines(&s).len();
    std::thread::sleep(Duration::from_millis(600));
    assert!(numbered_lines(&s).len() > before + 10, "the log stopped");
    let row = ps_row(&s, "ticker");
    assert_eq!(row["state"], "running (unsupervised)", "{row}");
    assert_eq!(row["pid"], ticker, "{row}");
    assert_eq!(tickers(&s), [ticker]);

    // The next `up -d` adopts it: same process, one copy, no line lost or doubled.
    s.ok(&["up", "-d", "--wait-timeout", "30"]);
    let second = supervisor_pid(&s);
    assert_ne!(second, first);
    assert_eq!(tickers(&s), [ticker], "a second copy was started");
    let row = ps_row(&s, "ticker");
    assert_eq!(row["state"], "running", "{row}");
    assert_eq!(row["pid"], ticker, "{row}");
    let log = std::fs::read_to_string(s.path().join(".devstack/logs/supervisor.log")).unwrap();
    assert!(
        log.contains(&format!("adopted the running process (pid {ticker})")),
        "{log}"
    );
    assert_complete(&numbered_lines(&s));

    // Adopted, it is supervised: killed, it is restarted by its policy.
    kill9(ticker);
    wait_until("a new ticker", Duration::from_secs(10), || {
        let now = tickers(&s);
        now.len() == 1 && now[0] != ticker
    });
    let row = ps_row(&s, "ticker");
    assert_eq!(row["state"], "running", "{row}");
    assert_eq!(row["restarts"], 1, "{row}");

    // Supervisor and ticker both gone: a dead pid is not running, and nothing says
    // "unsupervised" about it.
    let ticker = tickers(&s)[0];
    kill9(supervisor_pid(&s));
    kill9(ticker);
    wait_until("the relay to go", Duration::from_secs(5), || {
        ps_row(&s, "ticker")["state"] != "running (unsupervised)"
    });
    let row = ps_row(&s, "ticker");
    assert_eq!(row["state"], "exited (no supervisor)", "{row}");
    assert!(row["pid"].is_null(), "{row}");

    // Nothing runs to adopt: the next `up -d` starts it again.
    s.ok(&["up", "-d", "--wait-timeout", "30"]);
    wait_until("the ticker started again", Duration::from_secs(10), || {
        tickers(&s).len() == 1
    });
    assert_eq!(ps_row(&s, "ticker")["state"], "running");

    // A command that finds no supervisor while the ticker runs starts one, which adopts it.
    let ticker = tickers(&s)[0];
    kill9(supervisor_pid(&s));
    std::thread::sleep(Duration::from_millis(300));
    let out = s.ok(&["stop", "ticker"]);
    assert!(
        out.contains("adopted the host processes still running"),
        "{out}"
    );
    wait_until("the ticker stopped", Duration::from_secs(10), || {
        tickers(&s).is_empty()
    });
    assert!(!crate::common::text(&s.run(&["ps"])).contains(&ticker.to_string()));
    s.ok(&["down"]);
    assert!(tickers(&s).is_empty(), "down left {:?}", tickers(&s));
}

#[test]
fn a_new_configuration_keeps_the_host_processes_it_did_not_change() {
    if !docker_available() {
        return;
    }
    let s = ticker_stack();
    s.ok(&["up", "-d", "--wait-timeout", "30"]);
    wait_until("the ticker", Duration::from_secs(10), || {
        tickers(&s).len() == 1
    });
    let ticker = tickers(&s)[0];
    let first = supervisor_pid(&s);
    // Another host process added: a new supervisor, the ticker untouched.
    s.set_template(&TICKER.replace(
        "services: {}\n",
        "    other:\n      command: [\"sleep\", \"600\"]\nservices: {}\n",
    ));
    s.ok(&["up", "-d", "--wait-timeout", "30"]);
    assert_ne!(supervisor_pid(&s), first);
    assert_eq!(tickers(&s), [ticker]);
    assert_eq!(ps_row(&s, "other")["state"], "running");
    // The ticker's own command changed: it is replaced, once.
    s.set_template(&TICKER.replace("sleep 0.02", "sleep 0.03"));
    s.ok(&["up", "-d", "--wait-timeout", "30"]);
    wait_until("one new ticker", Duration::from_secs(10), || {
        let now = tickers(&s);
        now.len() == 1 && now[0] != ticker
    });
    s.ok(&["down"]);
    assert!(tickers(&s).is_empty());
}

/// `/usr/bin/python3` as another user: connects to `sock`, sends `request`, prints the answer
/// or the error.
fn as_other_user(sock: &Path, request: &str) -> String {
    let script = format!(
        "import socket,sys\ntry:\n s=socket.socket(socket.AF_UNIX)\n s.settimeout(5)\n s.connect({sock:?})\n s.sendall(b{request:?}+b'\\n')\n print(s.recv(4096).decode())\nexcept Exception as e:\n print('ERROR', e)\n",
        sock = sock.display().to_string(),
    );
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .output()
        .expect("python3 as uid 65534");
    text(&out)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn only_the_user_may_command_the_supervisor() {
    if !docker_available() {
        return;
    }
    assert!(
        Path::new("/usr/bin/python3").is_file() && nix::unistd::geteuid().is_root(),
        "this test runs as root with /usr/bin/python3, to act as a second user (uid 65534)"
    );
    let s = ticker_stack();
    let dot = s.path().join(".devstack");
    // Made by an older devstack under a loose umask: tightened.
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::set_permissions(&dot, std::fs::Permissions::from_mode(0o775)).unwrap();
    let mut up = s.command(&["up", "-d", "--wait-timeout", "30"]);
    // SAFETY: umask in the forked child before exec; async-signal-safe.
    unsafe {
        up.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o002));
            Ok(())
        });
    }
    let out = up.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let sock = dot.join("supervisor.sock");
    assert_eq!(mode(&dot), 0o700);
    assert_eq!(mode(&sock), 0o600);
    assert_eq!(mode(&dot.join("logs")), 0o700);

    // Another user cannot reach the socket at all…
    let stop = r#"{"op":"stop","name":"ticker"}"#;
    let answer = as_other_user(&sock, stop);
    assert!(answer.contains("Permission denied"), "{answer}");
    // …and when the modes are opened by hand, the supervisor itself refuses and logs it.
    for p in [s.path(), &dot] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let answer = as_other_user(&sock, stop);
    assert!(
        answer.contains("refused a request from uid 65534") && answer.contains("only uid 0"),
        "{answer}"
    );
    assert_eq!(ps_row(&s, "ticker")["state"], "running");
    let log = std::fs::read_to_string(dot.join("logs/supervisor.log")).unwrap();
    assert!(log.contains("refused a request from uid 65534"), "{log}");
    // The user's own requests are answered.
    s.ok(&["stop", "ticker"]);
    assert_eq!(ps_row(&s, "ticker")["state"], "stopped");
    // Any command tightens the directory again.
    s.ok(&["ps"]);
    assert_eq!(mode(&dot), 0o700);
    s.ok(&["down"]);
}
