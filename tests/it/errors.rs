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
        &["templates/compose.yaml.j2:3", "undefined", "default("],
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
            ".devstack/compose.rendered-invalid.yaml:4:4",
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
    assert!(
        t.contains("could not be pulled") || t.contains("image build failed"),
        "{t}"
    );
    assert!(
        s.containers().is_empty() && s.networks().is_empty() && s.volumes().is_empty(),
        "{t}"
    );
}
