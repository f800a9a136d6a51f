//! Bad input: a precise message, the right exit code, and no Docker object created.

use crate::common::{docker_available, text, Stack};

/// Writes a one-file template into a fresh stack dir (keeping the busybox build context).
fn stack_with_template(template: &str) -> Stack {
    let s = Stack::new("stack5");
    s.set_template(template);
    s
}

fn assert_fails(s: &Stack, args: &[&str], code: i32, needles: &[&str]) {
    let out = s.run(args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(code), "devstack {args:?}:\n{t}");
    for n in needles {
        assert!(t.contains(n), "expected {n:?} in:\n{t}");
    }
    if docker_available() {
        assert!(
            s.containers().is_empty(),
            "a container was created: {:?}",
            s.containers()
        );
        assert!(
            s.networks().is_empty(),
            "a network was created: {:?}",
            s.networks()
        );
        assert!(
            s.volumes().is_empty(),
            "a volume was created: {:?}",
            s.volumes()
        );
    }
}

#[test]
fn unknown_service_name_suggests() {
    let s = Stack::new("stack5");
    assert_fails(
        &s,
        &["up", "-d", "wrker"],
        2,
        &[
            "no such service: `wrker`",
            "did you mean `worker`",
            "services: db, migrate",
        ],
    );
    assert_fails(&s, &["restart", "dbb"], 2, &["did you mean `db`"]);
}

#[test]
fn aliases_and_prefixes_resolve() {
    let s = Stack::new("stack5");
    // `w` is an alias of worker, `mig` a unique prefix: both resolve, so the failure is
    // about the missing containers, not the names.
    let out = s.run(&["restart", "w", "mig", "--no-wait"]);
    let t = text(&out);
    assert!(!t.contains("no such service"), "{t}");
}

#[test]
fn dependency_cycle_is_reported_with_its_path() {
    let s = stack_with_template(
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
    );
    assert_fails(&s, &["up", "-d"], 2, &["dependency cycle: a → b → c → a"]);
}

#[test]
fn unknown_dependency_is_reported() {
    let s = stack_with_template("services:\n  a: {image: x, depends_on: [ghost]}\n");
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &["service `a` depends on unknown service `ghost`"],
    );
}

#[test]
fn template_syntax_error_names_file_and_line() {
    let s = stack_with_template("services:\n  a:\n    image: x\n{% if %}\n");
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &["templates/compose.yaml.j2:4", "syntax error"],
    );
}

#[test]
fn undefined_template_variable_names_file_and_line() {
    let s = stack_with_template("services:\n  a:\n    image: {{ env.NO_SUCH_VARIABLE_X }}\n");
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[
            "templates/compose.yaml.j2:3",
            "`env.NO_SUCH_VARIABLE_X` is undefined",
            "default(",
        ],
    );
}

#[test]
fn malformed_env_line_names_file_and_line() {
    let s = Stack::new("stack5");
    std::fs::write(s.path().join(".env"), "GREETING=hi\nthis line is broken\n").unwrap();
    assert_fails(&s, &["up", "-d"], 2, &[".env:2: malformed line"]);
}

#[test]
fn yaml_error_names_line_and_column() {
    let s = stack_with_template("services:\n  a:\n    image: x\n   bad: [1, 2\n");
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[
            "YAML error",
            ".devstack/rendered/compose.yaml:4:4",
            "templates/compose.yaml.j2:4",
        ],
    );
}

#[test]
fn required_variable_message() {
    let s = stack_with_template(
        "services:\n  a:\n    image: \"${NEEDED_IMAGE:?set NEEDED_IMAGE in .env}\"\n",
    );
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[
            "services.a.image",
            "required variable NEEDED_IMAGE",
            "set NEEDED_IMAGE in .env",
        ],
    );
}

#[test]
fn busy_port_fails_before_creating_anything() {
    if !docker_available() {
        return;
    }
    let mut s = Stack::new("stack5");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    s.set_env("WEB_PORT", &port);
    assert_fails(
        &s,
        &["up", "-d"],
        1,
        &[&format!(
            "port 127.0.0.1:{port} (service web) is already in use"
        )],
    );
    // --skip-preflight goes ahead; the engine then refuses the port, and devstack says which.
    let out = s.run(&["up", "-d", "--skip-preflight", "--wait-timeout", "60"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("service web: a published port is already in use on the host"),
        "{t}"
    );
    drop(holder);
}

#[test]
fn gpu_request_without_nvidia_runtime_fails_clearly() {
    if !docker_available() {
        return;
    }
    let has_runtime =
        crate::common::docker(&["info", "--format", "{{json .Runtimes}}"]).contains("nvidia");
    if has_runtime {
        eprintln!("engine has the nvidia runtime: the no-runtime path cannot be shown here");
        return;
    }
    let s = stack_with_template(
        "services:\n  gpu:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n    gpus: all\n",
    );
    assert_fails(
        &s,
        &["up", "-d"],
        1,
        &[
            "service gpu requests a GPU",
            "no NVIDIA runtime",
            "DEVSTACK_GPU=none",
        ],
    );
}

#[test]
fn unreachable_registry_fails_up_before_creating_anything() {
    if !docker_available() {
        return;
    }
    // The embedded default stack needs redis:7, mongo:7 and CUDA/node base images; on a machine
    // without them and without a registry, `up` must say so and leave nothing behind.
    let s = Stack::new("stack5");
    let dir = s.path().join("default");
    let init = std::process::Command::new(crate::common::bin())
        .args(["init"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let have = |img: &str| {
        !crate::common::docker(&["image", "ls", "-q", img])
            .trim()
            .is_empty()
    };
    if have("redis:7") && have("mongo:7") {
        eprintln!(
            "the default stack's images are present: the no-registry path cannot be shown here"
        );
        return;
    }
    let out = std::process::Command::new(crate::common::bin())
        .arg("-C")
        .arg(&dir)
        .args(["-p", &s.name, "up", "-d", "--wait-timeout", "60"])
        .env("NO_COLOR", "1")
        .env("DEVSTACK_NO_NVML", "1")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    // Not even the supervisor `up -d` starts first is left running.
    assert!(
        !dir.join(".devstack/supervisor.pid").exists(),
        "a supervisor was left behind: {t}"
    );
    assert!(
        t.contains("could not be pulled") || t.contains("image build failed"),
        "{t}"
    );
    assert!(
        s.containers().is_empty() && s.networks().is_empty() && s.volumes().is_empty(),
        "{t}"
    );
}

/// The parts of the default stack these tests exercise: a pose service whose start period comes
/// from .env, and two services whose host ports come from .env (as in templates/compose.yaml.j2).
const PORTS_TEMPLATE: &str = "services:
  pose-service:
    image: devstack-test-bb:latest
    environment:
      POSE_MODE: \"${POSE_MODE:-jobs}\"
      LOG_LEVEL: \"{{ env.LOG_LEVEL | default('info') }}\"
    healthcheck:
      test: [\"CMD\", \"true\"]
      start_period: \"${POSE_START_PERIOD:-60s}\"
  backend-api:
    image: devstack-test-bb:latest
    ports:
      - \"127.0.0.1:${BACKEND_PORT:-3000}:3000\"
  frontend:
    image: devstack-test-bb:latest
    ports:
      - \"127.0.0.1:${FRONTEND_PORT:-5173}:5173\"
";

fn ports_stack(env: &str) -> (Stack, String) {
    let s = stack_with_template(PORTS_TEMPLATE);
    let env_file = s.path().join(".env");
    std::fs::write(&env_file, env).unwrap();
    let shown = env_file.display().to_string();
    (s, shown)
}

#[test]
fn logs_since_an_infinite_or_huge_duration_is_a_usage_error() {
    let s = Stack::new("stack5");
    assert_fails(
        &s,
        &["logs", "--since", "inf"],
        2,
        &["--since inf: invalid duration \"inf\": not a finite number"],
    );
    assert_fails(
        &s,
        &["logs", "--since", "1e30"],
        2,
        &["--since 1e30: invalid duration \"1e30\": too long"],
    );
    assert_fails(&s, &["logs", "--until=-5m"], 2, &["cannot be negative"]);
}

#[test]
fn a_huge_start_period_in_env_names_the_variable_and_its_line() {
    let (s, env) = ports_stack("# pose\nPOSE_START_PERIOD=1e30\n");
    for verb in [&["config"][..], &["up", "-d"]] {
        assert_fails(
            &s,
            verb,
            2,
            &[
                &format!("{env}:2: POSE_START_PERIOD=1e30: services.pose-service.healthcheck.start_period: invalid duration \"1e30\": too long"),
                &format!("fix POSE_START_PERIOD in {env}"),
            ],
        );
    }
}

#[test]
fn a_bad_port_in_env_is_reported_against_the_variable() {
    let (s, env) = ports_stack("BACKEND_PORT=3001\nFRONTEND_PORT=abc\n");
    let out = s.run(&["up", "-d"]);
    let t = text(&out);
    assert!(
        !t.contains(".devstack/compose.yaml"),
        "blames the generated file:\n{t}"
    );
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[
            &format!("{env}:2: FRONTEND_PORT=abc: services.frontend.ports: invalid port \"127.0.0.1:abc:5173\": \"abc\" is not a port number: use a number 1-65535"),
            &format!("fix FRONTEND_PORT in {env}"),
        ],
    );
}

#[test]
fn a_relative_path_without_dot_slash_is_named_as_a_path_against_its_variable() {
    let s = stack_with_template(
        "services:\n  app:\n    image: devstack-test-bb:latest\n    volumes: [\"${MODELS:-./models}:/models\"]\n",
    );
    let env_file = s.path().join(".env");
    std::fs::write(&env_file, "MODELS=data/models\n").unwrap();
    let env = env_file.display().to_string();
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[
            &format!("{env}:1: MODELS=data/models"),
            "`data/models` is read as a named volume, not a path: a relative path starts with ./ (./data/models)",
            &format!("fix MODELS in {env}"),
        ],
    );
}

#[test]
fn two_services_on_one_host_port_fail_before_anything_is_created() {
    let port = crate::common::free_port().to_string();
    let (s, env) = ports_stack(&format!("BACKEND_PORT={port}\nFRONTEND_PORT={port}\n"));
    let needles = [
        format!("host port 127.0.0.1:{port}/tcp is published by both backend-api and frontend"),
        format!("{env}:2: FRONTEND_PORT={port}"),
        format!("set FRONTEND_PORT to a free port in {env}"),
    ];
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_fails(&s, &["config"], 2, &needles);
    assert_fails(&s, &["up", "-d"], 2, &needles);
    // doctor: stack.ports fails with the same story (not "N published ports free").
    let out = s.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "stack.ports")
        .unwrap();
    assert_eq!(c["status"], "fail", "{c}");
    assert!(c["summary"].as_str().unwrap().contains(needles[0]), "{c}");
}

#[test]
fn an_undefined_template_variable_is_named_with_the_fix() {
    let s = stack_with_template("services:\n  a:\n    image: {{ env.NO_SUCH_VARIABLE_X }}\n");
    assert_fails(
        &s,
        &["config"],
        2,
        &[
            "templates/compose.yaml.j2:3",
            "`env.NO_SUCH_VARIABLE_X` is undefined",
            "set NO_SUCH_VARIABLE_X in .env",
            "{{ env.NO_SUCH_VARIABLE_X | default('…') }}",
        ],
    );
    assert!(!text(&s.run(&["config"])).contains("devstack doctor"));
}

#[test]
fn config_output_to_a_missing_directory_or_to_stdout() {
    let s = Stack::new("stack5");
    assert_fails(
        &s,
        &["config", "-o", "missing/dir/x.yaml"],
        2,
        &[
            "-o missing/dir/x.yaml: cannot write: No such file or directory",
            "the directory missing/dir does not exist: create it first",
        ],
    );
    let out = s
        .command(&["render", "-o", "-"])
        .current_dir(s.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("services:"));
    assert!(!s.path().join("-").exists(), "`-o -` wrote a file named -");
}

#[test]
fn logs_of_unknown_or_not_started_services_say_so() {
    let s = Stack::new("stack5");
    assert_fails(
        &s,
        &["logs", "nosuch"],
        2,
        &[
            "no such service: `nosuch`",
            "(services: api, db, migrate, web, worker)",
        ],
    );
    assert_fails(&s, &["logs", "wrker"], 2, &["did you mean `worker`"]);
    assert_fails(
        &s,
        &["logs", "w", "db"],
        1,
        &[
            "no containers yet for worker (start it with `devstack up`)",
            "no containers yet for db (start it with `devstack up`)",
        ],
    );
}

#[test]
fn a_duplicate_yaml_key_names_the_key_and_where() {
    let s = stack_with_template("services:\n  a:\n    image: x\n    command: [a]\n    image: y\n");
    let out = s.run(&["config"]);
    assert!(!text(&out).contains("DuplicateKeyPolicy"), "{}", text(&out));
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[
            ".devstack/rendered/compose.yaml:5:5",
            "templates/compose.yaml.j2:5",
            "duplicate key `image`",
            "remove one of the two or merge them",
        ],
    );
}

#[test]
fn undocumented_values_of_documented_enumerations_are_refused() {
    let (s, env) = ports_stack("BACKEND_PORT=3001\nPOSE_MODE=dance\n");
    assert_fails(
        &s,
        &["up", "-d"],
        2,
        &[&format!(
            "{env}:2: POSE_MODE=dance is not one of jobs, kinect, both"
        )],
    );
    let (s, env) = ports_stack("LOG_LEVEL=loud\n");
    assert_fails(
        &s,
        &["config", "-q"],
        2,
        &[&format!(
            "{env}:1: LOG_LEVEL=loud is not one of debug, info, warn, error"
        )],
    );
    // The real default stack, with the value from the environment.
    let dir = tempfile::tempdir().unwrap();
    let init = std::process::Command::new(crate::common::bin())
        .arg("init")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let out = std::process::Command::new(crate::common::bin())
        .arg("-C")
        .arg(dir.path())
        .args(["config", "-q"])
        .env("NO_COLOR", "1")
        .env("DEVSTACK_NO_NVML", "1")
        .env("POSE_DETECTOR", "yolo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out)
            .contains("POSE_DETECTOR=yolo (from the environment) is not one of vitdet, maskrcnn"),
        "{}",
        text(&out)
    );
}

#[test]
fn kinect_capture_help_lists_only_accepted_depth_modes() {
    let s = Stack::new("stack5");
    let help = s.ok(&["kinect", "capture", "--help"]);
    assert!(!help.contains("passive-ir"), "{help}");
    assert!(help.contains("wfov-2x2binned or off"), "{help}");
    assert_fails(
        &s,
        &[
            "kinect",
            "capture",
            "--source",
            "synthetic",
            "--depth-mode",
            "passive-ir",
            "--frames",
            "1",
        ],
        2,
        &[
            "--depth-mode passive-ir produces only an IR image and no depth",
            "nfov-unbinned",
        ],
    );
}

#[test]
fn a_directory_without_templates_or_services_says_it_uses_the_builtin_stack() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(crate::common::bin())
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("DEVSTACK_NO_NVML", "1")
            .output()
            .unwrap()
    };
    let out = run(&["config", "--services"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("built-in stack"))
        .collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(
        notes[0].starts_with(&format!(
            "note: {} has no templates/ or services/",
            dir.path().display()
        )) && notes[0].contains("devstack init"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pose-service\n"));
    // Where the stack is, nothing is said.
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    let out = run(&["config", "--services"]);
    assert!(!text(&out).contains("built-in stack"), "{}", text(&out));
}

#[test]
fn config_lists_services_and_volumes_and_validates_quietly() {
    let s = Stack::new("stack5");
    assert_eq!(
        s.ok(&["config", "--services"]),
        "db\nmigrate\napi\nweb\nworker\n"
    );
    assert_eq!(s.ok(&["config", "--volumes"]), "data\n");
    let out = s.run(&["config", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    let rendered = s.ok(&["config"]);
    assert!(
        rendered.contains("services:") && rendered.contains("worker:"),
        "{rendered}"
    );
    assert_eq!(s.ok(&["render"]), rendered, "render is config's alias");
    let file = s.path().join("out.yaml");
    s.ok(&["config", "-o", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), rendered);
    let help = s.ok(&["--help"]);
    assert!(
        help.contains("config") && help.contains("[alias: render]"),
        "{help}"
    );
    s.set_template("services:\n  a: {}\n");
    let out = s.run(&["config", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[test]
fn building_a_host_process_says_it_has_no_image() {
    if !docker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for name in ["kinect", "kin"] {
        let out = std::process::Command::new(crate::common::bin())
            .arg("-C")
            .arg(dir.path())
            .args(["build", name])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "build {name}:\n{t}");
        assert!(
            t.contains("kinect is a host process") && t.contains("no image to build"),
            "build {name}:\n{t}"
        );
    }
}

#[test]
fn a_bad_port_from_a_template_expression_is_reported_against_the_env_line() {
    let s = stack_with_template(
        "services:\n  api:\n    image: devstack-test-bb:latest\n    ports:\n      - \"{{ env.API_PORT }}:80\"\n",
    );
    let env_file = s.path().join(".env");
    std::fs::write(&env_file, "# the api\nAPI_PORT=abc\n").unwrap();
    let env = env_file.display().to_string();
    for verb in [&["config"][..], &["up", "-d"]] {
        let t = text(&s.run(verb));
        assert!(!t.contains(".devstack/"), "blames a generated file:\n{t}");
        assert_fails(
            &s,
            verb,
            2,
            &[
                &format!("{env}:2: API_PORT=abc: services.api.ports: invalid port \"127.0.0.1:abc:80\": \"abc\" is not a port number"),
                &format!("fix API_PORT in {env}"),
            ],
        );
    }
}

/// A service publishing `port`, written in the template itself (line 5).
fn literal_port_stack(port: u16) -> Stack {
    stack_with_template(&format!(
        "services:\n  web:\n    image: devstack-test-bb:latest\n    command: [\"sleep\", \"100000\"]\n    ports: [\"127.0.0.1:{port}:8080\"]\n"
    ))
}

fn stack_ports_check(s: &Stack) -> serde_json::Value {
    let out = s.run(&["doctor", "--json"]);
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "stack.ports")
        .unwrap()
        .clone()
}

#[test]
fn a_busy_port_written_in_the_template_is_to_be_changed_there() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let s = literal_port_stack(port);
    let template = s.path().join("templates/compose.yaml.j2");
    let there = format!("change the `ports:` entry at {}:5", template.display());
    // doctor: the port is busy, and the fix names the template's line, not .env.
    let c = stack_ports_check(&s);
    assert_eq!(c["status"], "fail", "{c}");
    let fix = c["fix"].as_str().unwrap();
    assert!(fix.contains(&there), "{c}");
    assert!(!fix.contains(".env"), "{c}");
    if !docker_available() {
        return;
    }
    // up's preflight finds it busy first: the same place is named.
    let out = s.run(&["up", "-d", "--wait-timeout", "60"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(":{port} (service web) is already in use")),
        "{t}"
    );
    assert!(t.contains(&there) && !t.contains(".env"), "{t}");
    // The engine refuses the port (preflight skipped): the same place is named.
    let out = s.run(&["up", "-d", "--skip-preflight", "--wait-timeout", "60"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("service web: a published port is already in use on the host"),
        "{t}"
    );
    assert!(t.contains(&there), "{t}");
    assert!(!t.contains("change the port in .env"), "{t}");
    drop(holder);
}

#[test]
fn a_busy_port_from_env_names_the_variable_and_its_line() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let s = stack_with_template(
        "services:\n  web:\n    image: devstack-test-bb:latest\n    ports: [\"127.0.0.1:${API_PORT}:8080\"]\n",
    );
    let env_file = s.path().join(".env");
    std::fs::write(&env_file, format!("API_PORT={port}\n")).unwrap();
    let c = stack_ports_check(&s);
    assert_eq!(c["status"], "fail", "{c}");
    let want = format!(
        "set API_PORT to a free port ({}:1: API_PORT={port})",
        env_file.display()
    );
    assert!(c["fix"].as_str().unwrap().contains(&want), "{c}");
    drop(holder);
}

#[test]
fn the_rendered_files_header_names_the_files_it_came_from() {
    let s = Stack::new("stack5");
    let header = |s: &Stack| {
        let text = std::fs::read_to_string(s.path().join(".devstack/compose.yaml")).unwrap();
        text.lines().next().unwrap().to_string()
    };
    std::fs::write(s.path().join(".env"), "A=1\n").unwrap();
    s.ok(&["config", "-q"]);
    assert_eq!(
        header(&s),
        "# Rendered by devstack from templates/compose.yaml.j2 and .env; do not edit."
    );
    let plain = s.path().join("compose.yaml");
    std::fs::write(&plain, "services:\n  a: {image: x}\n").unwrap();
    s.ok(&["-f", plain.to_str().unwrap(), "config", "-q"]);
    assert_eq!(
        header(&s),
        "# Rendered by devstack from compose.yaml and .env; do not edit."
    );
    // A template given with -f, outside templates/: named where it is.
    let other = tempfile::tempdir().unwrap();
    let j2 = other.path().join("c.yaml.j2");
    std::fs::write(&j2, "services:\n  a: {image: \"{{ env.A }}x\"}\n").unwrap();
    s.ok(&["-f", j2.to_str().unwrap(), "config", "-q"]);
    assert_eq!(
        header(&s),
        format!(
            "# Rendered by devstack from {} and .env; do not edit.",
            j2.display()
        )
    );
}
