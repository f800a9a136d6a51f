//! Issue 15 item 1: Compose's other verbs — exec, run, stop, start, pull, images, port, ls —
//! each checked by its effect on the engine's containers (as Compose's e2e tests do), not only
//! by its exit code. Real engine, the stack5 fixture (db ← migrate, api ← web ← worker) and
//! a host process under the supervisor.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, docker, docker_available, text, Stack};

/// stack5 with no start delays (each service still becomes healthy through its check).
fn stack5() -> Stack {
    let mut s = Stack::new("stack5");
    for k in ["DB_DELAY", "API_DELAY", "WEB_DELAY"] {
        s.set_env(k, "0");
    }
    s
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `docker inspect --format` of one container by name ("" when it does not exist).
fn inspect(name: &str, format: &str) -> String {
    docker(&["inspect", "--format", format, name])
        .trim()
        .to_string()
}

fn state(s: &Stack, service: &str) -> String {
    s.inspect(service, "{{.State.Status}}")
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

/// Where `needle` first appears in `hay` (panics when it does not).
fn at(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("no `{needle}` in:\n{hay}"))
}

#[test]
fn exec_runs_in_the_services_container_and_passes_its_exit_code_through() {
    if !docker_available() {
        return;
    }
    let s = stack5();
    // No container yet: a clear error that says how to start it.
    let out = s.run(&["exec", "api", "true"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("service api is not running")
            && text(&out).contains("devstack up -d api"),
        "{}",
        text(&out)
    );

    s.ok(&["up", "-d", "api"]);
    let api = format!("{}-api-1", s.name);
    // Environment, the command's effect inside the container, its exit code.
    let out = s.run(&[
        "exec",
        "-T",
        "-e",
        "MADE_BY=devstack-exec",
        "api",
        "sh",
        "-c",
        "echo $MADE_BY > /tmp/made; echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("to-stderr"));
    assert_eq!(
        docker(&["exec", &api, "cat", "/tmp/made"]).trim(),
        "devstack-exec"
    );
    // -w and -u.
    let out = s.ok(&[
        "exec",
        "-w",
        "/www",
        "-u",
        "1000",
        "api",
        "sh",
        "-c",
        "pwd; id -u",
    ]);
    assert!(out.starts_with("/www\n1000\n"), "{out}");
    // stdin reaches the command, and its end closes the command's stdin.
    let mut child = s
        .command(&[
            "exec",
            "-T",
            "api",
            "sh",
            "-c",
            "cat > /tmp/fed; wc -c < /tmp/fed",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"fed through stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "18");
    assert_eq!(
        docker(&["exec", &api, "cat", "/tmp/fed"]),
        "fed through stdin\n"
    );
    // An unknown service: usage error.
    let out = s.run(&["exec", "nosuch", "true"]);
    assert_eq!(code(&out), Some(2), "{}", text(&out));

    // On a terminal: a TTY in the container, the exit code still passed through.
    if Command::new("script").arg("--version").output().is_ok() {
        let line = format!(
            "{} -C {} -p {} exec api sh -c 'tty; exit 4'",
            bin(),
            s.path().display(),
            s.name
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for (k, v) in &s.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), Some(4), "{}", text(&out));
        assert!(text(&out).contains("/dev/pts/"), "{}", text(&out));
    } else {
        eprintln!("note: no `script` (util-linux): the TTY case of exec is not checked");
    }
}

#[test]
fn run_starts_the_dependencies_then_a_labelled_one_off_that_nothing_takes_for_the_service() {
    if !docker_available() {
        return;
    }
    let s = stack5();
    // web's one-off: db, migrate and api start first (it reaches api by name); web itself does
    // not; the one-off's output and exit code are devstack's, and --rm removes it.
    let out = s.run(&[
        "run",
        "--rm",
        "-T",
        "-e",
        "WHO=one-off",
        "web",
        "sh",
        "-c",
        "echo $WHO; wget -q -O - http://api:8080/; exit 7",
    ]);
    assert_eq!(code(&out), Some(7), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("one-off\nok\n"), "{}", text(&out));
    assert_eq!(state(&s, "db"), "running");
    assert_eq!(state(&s, "api"), "running");
    assert_eq!(state(&s, "migrate"), "exited");
    let names: Vec<String> = s.containers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["api", "db", "migrate"]
            .map(|n| format!("{}-{n}-1", s.name))
            .to_vec(),
        "--rm leaves no one-off, and the service's own container is not created"
    );

    // Without --rm: kept, under Compose's one-off labels, without the service's ports.
    let keep = format!("{}-keep", s.name);
    let out = s.ok(&[
        "run",
        "--no-deps",
        "-T",
        "--name",
        &keep,
        "web",
        "echo",
        "kept",
    ]);
    assert!(out.starts_with("kept\n"), "{out}");
    assert_eq!(
        inspect(
            &keep,
            "{{index .Config.Labels \"com.docker.compose.oneoff\"}}"
        ),
        "True"
    );
    assert_eq!(
        inspect(
            &keep,
            "{{index .Config.Labels \"com.docker.compose.service\"}}"
        ),
        "web"
    );
    assert_eq!(
        inspect(
            &keep,
            "{{index .Config.Labels \"com.docker.compose.slug\"}}"
        )
        .len(),
        64
    );
    assert!(
        matches!(
            inspect(
                &keep,
                "{{index .Config.Labels \"com.docker.compose.container-number\"}}"
            )
            .as_str(),
            "" | "<no value>"
        ),
        "a one-off has no container number"
    );
    assert!(
        matches!(
            inspect(&keep, "{{json .HostConfig.PortBindings}}").as_str(),
            "{}" | "null"
        ),
        "a one-off publishes no ports"
    );
    // The default name: {project}-{service}-run-{6 hex}.
    s.ok(&["run", "--no-deps", "-T", "db", "true"]);
    let prefix = format!("{}-db-run-", s.name);
    let runs: Vec<String> = s
        .containers()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let slug = &runs[0][prefix.len()..];
    assert!(
        slug.len() == 6 && slug.chars().all(|c| c.is_ascii_hexdigit()),
        "{slug}"
    );

    // ps does not list one-offs as the service; up neither renames nor removes them.
    let ps = s.run(&["ps", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&ps.stdout).unwrap();
    let listed: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        !listed.iter().any(|n| n.contains("-run-") || *n == keep),
        "{listed:?}"
    );
    s.ok(&["up", "-d", "web"]);
    assert_eq!(state(&s, "web"), "running");
    assert_eq!(inspect(&keep, "{{.State.Status}}"), "exited");
    assert_eq!(inspect(&runs[0], "{{.State.Status}}"), "exited");
}

#[test]
fn stop_and_start_keep_the_containers_and_follow_the_graph() {
    if !docker_available() {
        return;
    }
    let s = stack5();
    let out = s.run(&["start", "api"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("api has no container") && text(&out).contains("devstack up -d"),
        "{}",
        text(&out)
    );
    s.ok(&["up", "-d"]);
    let before: Vec<(String, String)> = s.containers();

    // One service: only it stops.
    s.ok(&["stop", "api"]);
    assert_eq!(state(&s, "api"), "exited");
    for other in ["db", "web", "worker"] {
        assert_eq!(state(&s, other), "running", "{other}");
    }

    // All: dependents first; the containers stay.
    let out = s.ok(&["stop", "-t", "1"]);
    for svc in ["db", "api", "web", "worker"] {
        assert_eq!(state(&s, svc), "exited", "{svc}");
    }
    assert!(
        at(&out, "worker stopped") < at(&out, "web stopped")
            && at(&out, "web stopped") < at(&out, "api stopped")
            && at(&out, "api stopped") < at(&out, "db stopped"),
        "{out}"
    );
    assert_eq!(s.containers(), before, "stop removes nothing");

    // start: dependencies first, waited on until healthy; nothing recreated.
    let out = s.ok(&["start"]);
    for svc in ["db", "api", "web", "worker"] {
        assert_eq!(state(&s, svc), "running", "{svc}");
    }
    assert!(out.contains("web healthy after"), "{out}");
    assert!(
        at(&out, "db started") < at(&out, "api started")
            && at(&out, "api started") < at(&out, "web started")
            && at(&out, "web started") < at(&out, "worker started"),
        "{out}"
    );
    assert_eq!(s.containers(), before, "start recreates nothing");
}

/// A container and a host process that needs it; the host process's command line carries a
/// marker unique to the stack, so the test can find it among the machine's processes.
fn hosted() -> (Stack, String) {
    let s = Stack::new("supervised");
    let mark: String = s.name.chars().filter(char::is_ascii_digit).collect();
    s.set_template(&format!(
        r#"services:
  app:
    image: devstack-test-bb:latest
    build: ./services/bb
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "exec sleep 100000"]
x-devstack:
  autoheal: {{ enabled: false }}
  host:
    ticker:
      command: ["sh", "-c", "exec sleep 779.{mark}"]
      restart: always
      depends_on: {{ app: {{ condition: service_started }} }}
"#
    ));
    (s, format!("sleep 779.{mark}"))
}

fn running_processes(cmdline: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == cmdline)
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn stop_and_start_reach_host_processes_through_the_supervisor() {
    if !docker_available() {
        return;
    }
    let (s, ticker) = hosted();
    s.ok(&["up", "-d", "--wait-timeout", "60"]);
    wait_until("the ticker host process", Duration::from_secs(10), || {
        running_processes(&ticker) == 1
    });

    // stop: the host process (it needs app) before app; both stay stopped.
    let out = s.ok(&["stop", "-t", "1"]);
    assert!(
        at(&out, "ticker stopped") < at(&out, "app stopped"),
        "{out}"
    );
    wait_until("the ticker to go", Duration::from_secs(10), || {
        running_processes(&ticker) == 0
    });
    assert_eq!(state(&s, "app"), "exited");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        running_processes(&ticker),
        0,
        "restart: always must not undo stop"
    );

    // start: app first, then the host process again.
    let out = s.ok(&["start"]);
    assert!(
        at(&out, "app started") < at(&out, "ticker started"),
        "{out}"
    );
    assert_eq!(state(&s, "app"), "running");
    wait_until("the ticker back", Duration::from_secs(10), || {
        running_processes(&ticker) == 1
    });

    // One host process by name: app stays up.
    s.ok(&["stop", "ticker"]);
    wait_until("the ticker to go", Duration::from_secs(10), || {
        running_processes(&ticker) == 0
    });
    assert_eq!(state(&s, "app"), "running");
    s.ok(&["start", "ticker"]);
    wait_until("the ticker back", Duration::from_secs(10), || {
        running_processes(&ticker) == 1
    });

    // Without a supervisor a host process cannot start: say what runs one.
    s.ok(&["down", "-t", "1"]);
    let out = s.run(&["start", "ticker"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(text(&out).contains("devstack up -d"), "{}", text(&out));
    assert_eq!(running_processes(&ticker), 0);
}

#[test]
fn pull_fails_naming_the_image_and_has_nothing_to_pull_for_built_services() {
    if !docker_available() {
        return;
    }
    let s = stack5();
    let bb = docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "devstack-test-bb:latest",
    ]);
    let out = s.ok(&["pull"]);
    assert!(
        out.contains("nothing to pull") && out.contains("devstack build"),
        "{out}"
    );
    assert!(s.containers().is_empty(), "pull starts nothing");
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "devstack-test-bb:latest"
        ]),
        bb,
        "a built image is left alone"
    );

    // No registry answers here: the error names the image and its service.
    let image = format!("127.0.0.1:1/devstack-test-unreachable/{}:1", s.name);
    s.set_template(&format!(
        "services:\n  cache:\n    image: {image}\n  app:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n"
    ));
    let out = s.run(&["pull"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("cannot pull image {image} (service cache)")),
        "{}",
        text(&out)
    );
    assert!(
        docker(&["image", "inspect", "--format", "{{.Id}}", &image])
            .trim()
            .is_empty(),
        "no image appears"
    );
    let out = s.ok(&["pull", "app"]);
    assert!(out.contains("nothing to pull: app is built"), "{out}");
}

#[test]
fn images_lists_what_the_containers_run_port_prints_the_published_address() {
    if !docker_available() {
        return;
    }
    let s = stack5();
    s.ok(&["up", "-d", "web"]);

    let out = s.run(&["images", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let services: Vec<&str> = rows
        .iter()
        .map(|r| r["Service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "db", "migrate", "web"]);
    let web = &rows[3];
    let image_id = s.inspect("web", "{{.Image}}");
    assert_eq!(web["ID"], image_id.as_str());
    assert_eq!(web["Repository"], "devstack-test-bb");
    assert_eq!(web["Tag"], "latest");
    assert_eq!(web["ContainerName"], format!("{}-web-1", s.name).as_str());
    let size: i64 = docker(&["image", "inspect", "--format", "{{.Size}}", &image_id])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(web["Size"], size);
    let table = s.ok(&["images"]);
    let short = &image_id["sha256:".len().."sha256:".len() + 12];
    assert!(
        table.lines().any(|l| l.starts_with("web ")
            && l.contains("devstack-test-bb:latest")
            && l.contains(short)),
        "{table}"
    );

    // port: the published address; exit 1 for a port that is not published.
    let web_port = &s.env.iter().find(|(k, _)| k == "WEB_PORT").unwrap().1;
    let out = s.run(&["port", "web", "8080"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("127.0.0.1:{web_port}")
    );
    let answered = std::net::TcpStream::connect(format!("127.0.0.1:{web_port}")).is_ok();
    assert!(answered, "the printed address reaches web");
    let out = s.run(&["port", "api", "8080"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not published"), "{}", text(&out));
    let out = s.run(&["port", "web", "8080/udp"]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    let out = s.run(&["port", "web", "http"]);
    assert_eq!(code(&out), Some(2), "{}", text(&out));
}

/// A container that looks like Compose's (`docker compose` made it), removed on drop.
struct ComposeProject(String);

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &format!("{}-c-1", self.0)])
            .output();
    }
}

#[test]
fn ls_lists_devstack_and_compose_projects_with_their_states() {
    if !docker_available() {
        return;
    }
    let s = stack5();
    s.ok(&["up", "-d", "db"]);
    let compose = ComposeProject(format!("{}compose", s.name));
    docker(&[
        "run",
        "-d",
        "--name",
        &format!("{}-c-1", compose.0),
        "--label",
        &format!("com.docker.compose.project={}", compose.0),
        "--label",
        "com.docker.compose.project.config_files=/srv/app/compose.yaml",
        "devstack-test-bb:latest",
        "sleep",
        "100000",
    ]);
    let project = |all: bool, name: &str| -> Option<serde_json::Value> {
        let mut args = vec!["ls", "--format", "json"];
        if all {
            args.push("-a");
        }
        let out = s.run(&args);
        assert!(out.status.success(), "{}", text(&out));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["Name"] == name)
            .cloned()
    };
    let mine = project(false, &s.name).expect("the devstack project is listed");
    assert_eq!(mine["Status"], "running(1)");
    assert_eq!(
        mine["ConfigFiles"],
        s.path()
            .join(".devstack/compose.yaml")
            .display()
            .to_string()
            .as_str()
    );
    let theirs = project(false, &compose.0).expect("the Compose project is listed");
    assert_eq!(theirs["Status"], "running(1)");
    assert_eq!(theirs["ConfigFiles"], "/srv/app/compose.yaml");

    // migrate exited: only with -a, as in Compose.
    s.ok(&["up", "-d", "migrate"]);
    assert_eq!(project(false, &s.name).unwrap()["Status"], "running(1)");
    assert_eq!(
        project(true, &s.name).unwrap()["Status"],
        "exited(1), running(1)"
    );
    s.ok(&["stop", "db"]);
    assert!(project(false, &s.name).is_none(), "nothing runs");
    assert_eq!(project(true, &s.name).unwrap()["Status"], "exited(2)");
    let table = s.ok(&["ls"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&compose.0) && l.contains("running(1)")),
        "{table}"
    );
}

/// `up -d` says "healthy" the moment devstack's own probe passes; the engine's first check
/// comes one interval later (a minute here). `ps` and `ps --json` run at once say what `up`
/// said, with the engine's word beside it; the same after `restart`.
#[test]
fn ps_right_after_up_and_restart_says_what_they_said() {
    if !docker_available() {
        return;
    }
    let s = Stack::new("supervised");
    s.set_template(
        r#"services:
  app:
    image: devstack-test-bb:latest
    build: ./services/bb
    init: true
    stop_grace_period: 1s
    command: ["sh", "-c", "exec sleep 100000"]
    healthcheck: { test: ["CMD", "true"], interval: 60s }
"#,
    );
    let check = |after: &str| {
        let out = s.ok(&["ps", "--json"]);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        let app = &rows[0];
        assert_eq!(app["health"], "healthy", "after {after}: {out}");
        assert_eq!(app["engine_health"], "starting", "after {after}: {out}");
        let table = s.ok(&["ps"]);
        assert!(
            table.contains("healthy") && !table.contains("starting"),
            "{table}"
        );
    };
    let up = s.ok(&["up", "-d", "--wait-timeout", "60"]);
    assert!(up.contains("app healthy"), "{up}");
    check("up");
    let restarted = s.ok(&["restart", "app", "-t", "1"]);
    assert!(restarted.contains("healthy"), "{restarted}");
    check("restart");
}
