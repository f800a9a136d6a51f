//! Issue 16: `devstack dash` in a real terminal (tmux), driven as a person would: rows and
//! health appear, `r` restarts the selected container, `s` stops and starts it, a small window
//! is told what it needs, `q` leaves the stack running, SIGTERM restores the terminal.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{bin, docker_available, text, Stack, Tmux};

/// `devstack ARGS` of a stack in a 140x40 tmux session, without colours or NVML.
fn dash_screen(s: &Stack, args: &str) -> Tmux {
    dash_screen_with(s, "DEVSTACK_NO_NVML=1", args)
}

/// The same with extra environment (`K=V …`; DEVSTACK_NO_NVML is not set by default).
fn dash_screen_with(s: &Stack, extra_env: &str, args: &str) -> Tmux {
    let env: String = s.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    let script = format!(
        "env -u CI -u DEVSTACK_NO_NVML {env} NO_COLOR=1 {extra_env} {} -C {} -p {} {args}; echo EXITED:$?; sleep 60",
        bin(),
        s.path().display(),
        s.name
    );
    Tmux::start(&format!("dash-{}", s.name), &script, 140, 40)
}

#[test]
fn dash_shows_the_stack_and_its_keys_act_on_it() {
    if !docker_available() || !Tmux::available() {
        return;
    }
    let s = Stack::new("stack5");
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let dash = dash_screen(&s, "dash");
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
    if !docker_available() || !Tmux::available() {
        return;
    }
    let s = Stack::new("stack5");
    // Without a terminal: exit 2, said why.
    let out = s.run(&["dash"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("needs a terminal"), "{}", text(&out));

    s.ok(&["up", "-d", "--wait-timeout", "90", "db"]);
    let dash = dash_screen(&s, "dash");
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
    if !docker_available() || !Tmux::available() {
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
    let dash = dash_screen_with(&s, &env, "dash");
    // The GPU pane: both stand-in devices with their memory; db's row holds its 1536 MiB.
    let screen = dash.wait_for("RTX A5000", Duration::from_secs(20));
    assert!(screen.contains("RTX 4090"), "{screen}");
    dash.wait_for("1536M", Duration::from_secs(10));
    let row = dash
        .screen()
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
    if !docker_available() || !Tmux::available() {
        return;
    }
    let s = Stack::new("stack5");
    s.ok(&["build"]);
    let dash = dash_screen(&s, "up --dash --wait-timeout 90");
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
    if !docker_available() || !Tmux::available() {
        return;
    }
    // redis ← camera (the synthetic Kinect capture on the host) and a consumer at ≥ 25 fps.
    let s = crate::graph::camera_stack(false);
    s.ok(&["up", "-d", "--wait-timeout", "90"]);
    let dash = dash_screen(&s, "dash");
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
    let mut screen = dash.screen();
    while fps_of(&screen) < 25.0 {
        assert!(
            Instant::now() < deadline,
            "camera pane fps {}:\n{screen}",
            fps_of(&screen)
        );
        std::thread::sleep(Duration::from_millis(500));
        screen = dash.screen();
    }
    assert!(
        screen.contains("camera") && screen.contains("host"),
        "{screen}"
    );
    dash.keys("q");
    dash.wait_for("EXITED:0", Duration::from_secs(10));
}
