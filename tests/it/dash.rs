//! Issue 16: `devstack dash` in a real terminal (tmux), driven as a person would: rows and
//! health appear, `r` restarts the selected container, `s` stops and starts it, a small window
//! is told what it needs, `q` leaves the stack running, SIGTERM restores the terminal.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{bin, docker_available, text, Stack};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Screen(String);

impl Screen {
    /// `devstack ARGS` of a stack in a 140x40 tmux session; the session is killed on drop.
    fn run(s: &Stack, args: &str) -> Screen {
        Screen::run_with(s, "DEVSTACK_NO_NVML=1", args)
    }

    /// The same with extra environment (`K=V …`; DEVSTACK_NO_NVML is not set by default).
    fn run_with(s: &Stack, extra_env: &str, args: &str) -> Screen {
        let session = format!("dash-{}", s.name);
        let env: String = s.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let script = format!(
            "env -u CI -u DEVSTACK_NO_NVML {env} NO_COLOR=1 {extra_env} {} -C {} -p {} {args}; echo EXITED:$?; sleep 60",
            bin(),
            s.path().display(),
            s.name
        );
        tmux(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "140",
            "-y",
            "40",
            &script,
        ]);
        Screen(session)
    }

    fn text(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.0])
    }

    fn keys(&self, k: &str) {
        tmux(&["send-keys", "-t", &self.0, k]);
    }

    fn wait_for(&self, what: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.text();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} within {limit:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn resize(&self, w: u16, h: u16) {
        tmux(&[
            "resize-window",
            "-t",
            &self.0,
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }

    fn alternate_screen(&self) -> bool {
        tmux(&["display-message", "-p", "-t", &self.0, "#{alternate_on}"]).trim() == "1"
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn tmux_available() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install tmux");
    false
}

#[test]
fn dash_shows_the_stack_and_its_keys_act_on_it() {
    if !docker_available() || !tmux_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let dash = Screen::run(&s, "dash");
    // Rows in dependency order with their health; the first row is selected.
    let screen = dash.wait_for("worker", Duration::from_secs(20));
    assert!(
        screen.contains("services") && screen.contains("logs: all"),
        "{screen}"
    );
    dash.wait_for("healthy", Duration::from_secs(10));
    let rows = ["db ", "migrate", "api ", "web ", "worker"];
    let pos: Vec<usize> = rows.iter().map(|n| screen.find(n).unwrap()).collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "dependency order:\n{screen}"
    );

    // r on api (third row): it restarts and is waited on.
    let started = s.inspect("api", "{{.State.StartedAt}}");
    dash.keys("j");
    dash.keys("j");
    dash.keys("r");
    dash.wait_for("api restarted", Duration::from_secs(60));
    assert_ne!(s.inspect("api", "{{.State.StartedAt}}"), started);

    // s on worker (last row): stopped, then s again starts it.
    dash.keys("j");
    dash.keys("j");
    dash.keys("s");
    dash.wait_for("worker stopped", Duration::from_secs(30));
    assert_eq!(s.inspect("worker", "{{.State.Running}}"), "false");
    dash.keys("s");
    dash.wait_for("worker started", Duration::from_secs(30));
    assert_eq!(s.inspect("worker", "{{.State.Running}}"), "true");

    // l (or Enter): the selected row's logs only.
    dash.keys("l");
    dash.wait_for("logs: worker", Duration::from_secs(5));

    // Too small a window says what it needs; back to size, the screen returns.
    dash.resize(70, 20);
    dash.wait_for("needs at least 80×24", Duration::from_secs(5));
    dash.resize(140, 40);
    dash.wait_for("logs: worker", Duration::from_secs(5));

    // q leaves the stack running.
    dash.keys("q");
    dash.wait_for("EXITED:0", Duration::from_secs(10));
    assert!(!dash.alternate_screen(), "the terminal is restored");
    assert_eq!(s.inspect("db", "{{.State.Running}}"), "true");
    assert_eq!(s.inspect("worker", "{{.State.Running}}"), "true");
}

#[test]
fn sigterm_restores_the_terminal_and_a_pipe_is_refused() {
    if !docker_available() || !tmux_available() {
        return;
    }
    let s = Stack::new("stack5");
    // Without a terminal: exit 2, said why.
    let out = s.run(&["dash"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("needs a terminal"), "{}", text(&out));

    s.ok(&["up", "-d", "--wait-timeout", "90", "db"]);
    let dash = Screen::run(&s, "dash");
    dash.wait_for("db", Duration::from_secs(20));
    assert!(dash.alternate_screen());
    let pids = Command::new("pgrep")
        .args(["-f", &format!("^{} -C .* -p {} dash$", bin(), s.name)])
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&pids.stdout).into_owned();
    for pid in pids.split_whitespace() {
        let _ = Command::new("kill").args(["-TERM", pid]).output();
    }
    let screen = dash.wait_for("EXITED:0", Duration::from_secs(10));
    assert!(
        !dash.alternate_screen(),
        "alternate screen left on:\n{screen}"
    );
    assert_eq!(s.inspect("db", "{{.State.Running}}"), "true");
}

#[test]
fn dash_shows_the_gpus_and_which_service_holds_gpu_memory() {
    if !docker_available() || !tmux_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.ok(&["up", "-d", "--wait-timeout", "90", "db"]);
    let lib = tempfile::tempdir().unwrap();
    crate::gpu::fake_nvml(lib.path());
    let pid = s.inspect("db", "{{.State.Pid}}");
    let env = format!(
        "LD_LIBRARY_PATH={} FAKE_NVML_PID={pid} FAKE_NVML_MIB=1536",
        lib.path().display()
    );
    let dash = Screen::run_with(&s, &env, "dash");
    // The GPU pane: both stand-in devices with their memory; db's row holds its 1536 MiB.
    let screen = dash.wait_for("RTX A5000", Duration::from_secs(20));
    assert!(screen.contains("RTX 4090"), "{screen}");
    dash.wait_for("1536M", Duration::from_secs(10));
    let row = dash
        .text()
        .lines()
        .find(|l| l.contains("db ") && l.contains("container"))
        .unwrap_or_default()
        .to_string();
    assert!(row.contains("1536M"), "db's row: {row}");
    dash.keys("q");
    dash.wait_for("EXITED:0", Duration::from_secs(10));
}

#[test]
fn up_dash_runs_the_stack_and_quitting_stops_it() {
    if !docker_available() || !tmux_available() {
        return;
    }
    let s = Stack::new("stack5");
    s.ok(&["build"]);
    let dash = Screen::run(&s, "up --dash --wait-timeout 90");
    dash.wait_for("q stops the stack", Duration::from_secs(90));
    dash.wait_for("worker", Duration::from_secs(10));
    assert_eq!(s.inspect("worker", "{{.State.Running}}"), "true");
    dash.keys("q");
    dash.wait_for("EXITED:0", Duration::from_secs(60));
    assert_eq!(s.inspect("worker", "{{.State.Running}}"), "false");
    assert_eq!(s.inspect("db", "{{.State.Running}}"), "false");
}

#[test]
fn dash_shows_the_cameras_rates() {
    if !docker_available() || !tmux_available() {
        return;
    }
    // redis ← camera (the synthetic Kinect capture on the host) and a consumer at ≥ 25 fps.
    let s = crate::graph::camera_stack(false);
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let dash = Screen::run(&s, "dash");
    dash.wait_for("source  synthetic", Duration::from_secs(20));
    // The capture's rates cover its last 5 s: they fill in within a few seconds.
    let fps_of = |screen: &str| -> f64 {
        screen
            .lines()
            .find_map(|l| l.split("fps     ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut screen = dash.text();
    while fps_of(&screen) < 25.0 {
        assert!(
            Instant::now() < deadline,
            "camera pane fps {}:\n{screen}",
            fps_of(&screen)
        );
        std::thread::sleep(Duration::from_millis(500));
        screen = dash.text();
    }
    assert!(
        screen.contains("camera") && screen.contains("host"),
        "{screen}"
    );
    dash.keys("q");
    dash.wait_for("EXITED:0", Duration::from_secs(10));
}
