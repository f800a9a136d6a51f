//! An engine on another machine, for real: this machine's engine behind a TCP listener with TLS
//! (a private dockerd with certificates made here) and behind a local `sshd` on loopback with a
//! key made here. `DEVSTACK_REMOTE=1` makes devstack treat these loopback addresses as another
//! machine: the project's bind mount becomes a copy (uploaded before the container starts), a
//! bind outside the project stays, ports are shown at the engine's host, and `watch` brings an
//! edit into the container.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{docker, docker_available, free_port, text, Stack};
use super::private_engine::PrivateEngine;
use super::watch::{http_get, Watching};

const LONG: Duration = Duration::from_secs(60);

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    text(&out)
}

fn web_port(stack: &Stack) -> String {
    stack
        .env
        .iter()
        .find(|(k, _)| k == "WEB_PORT")
        .map(|(_, v)| v.clone())
        .unwrap()
}

/// The whole story on one remote engine; `mounts` is the container's `.Mounts` as JSON, asked
/// of that engine directly.
fn copies_binds_and_syncs_edits(stack: &Stack, mounts: &dyn Fn(&str) -> String) {
    let port = web_port(stack);
    let container = format!("{}-site-1", stack.name);

    // doctor names where the engine is, the copy, and the bind that means the engine's path.
    let out = stack.run(&["doctor", "--json"]);
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", text(&out)));
    let remote = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "docker.remote")
        .unwrap_or_else(|| panic!("no docker.remote in {checks:#}"))
        .clone();
    assert_eq!(remote["status"], "warn", "{remote:#}");
    assert_eq!(remote["details"]["remote"], true, "{remote:#}");
    assert!(
        remote["details"]["latency_ms"].as_f64().is_some(),
        "{remote:#}"
    );
    assert_eq!(
        remote["details"]["copies"],
        serde_json::json!([{"service": "site", "host": "./www", "target": "/www"}]),
        "{remote:#}"
    );
    assert_eq!(
        remote["details"]["engine_machine_binds"][0]["source"],
        "/etc/hostname"
    );
    let summary = remote["summary"].as_str().unwrap();
    assert!(
        summary.contains("site ./www → /www") && summary.contains("/etc/hostname"),
        "{summary}"
    );

    stack.ok(&["up", "-d"]);
    let m = mounts(&container);
    assert!(
        !m.contains("\"Destination\":\"/www\""),
        "the project bind must not reach the engine as a bind: {m}"
    );
    assert!(m.contains("/engine-hostname"), "the other bind stays: {m}");
    let page = http_get(&format!("127.0.0.1:{port}"), "/index.html");
    assert!(
        page.contains("hello from the project"),
        "the copy is served: {page:?}"
    );

    // ps and port show the address at the engine's host, not the engine's 0.0.0.0.
    let ps = stack.ok(&["ps"]);
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert!(!ps.contains("0.0.0.0:"), "{ps}");
    assert_eq!(
        stack.ok(&["port", "site", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );

    // watch keeps the copied bind in sync, with no develop.watch rule in the file.
    let w = Watching::start(stack, &["site"]);
    w.expect(&["site", "watching: sync www → /www"], LONG);
    w.expect(&["site", "initial sync: 1 file"], LONG);
    std::fs::write(
        stack.path().join("www/index.html"),
        "edited on this machine\n",
    )
    .unwrap();
    w.expect(&["site", "synced 1 file"], LONG);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = http_get(&format!("127.0.0.1:{port}"), "/index.html");
        if page.contains("edited on this machine") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit is not served: {page:?}\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(w);

    // A recreate copies again: the container has the edited page from its first start.
    stack.ok(&["up", "-d", "--force-recreate"]);
    let page = http_get(&format!("127.0.0.1:{port}"), "/index.html");
    assert!(page.contains("edited on this machine"), "{page:?}");
    stack.ok(&["down"]);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate (docker's file names:
/// ca.pem, cert.pem, key.pem in the client directory).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf) {
    let server = dir.join("server");
    let client = dir.join("client");
    std::fs::create_dir_all(&server).unwrap();
    std::fs::create_dir_all(&client).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=devstack test CA",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &format!("{who}/key.pem"),
                    "-out",
                    &format!("{who}.csr"),
                    "-subj",
                    &format!("/CN={who}"),
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{who}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &format!("{who}/cert.pem"),
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
        std::fs::copy(dir.join("ca.pem"), dir.join(who).join("ca.pem")).unwrap();
    }
    (server, client)
}

#[test]
fn tls_engine_gets_project_binds_as_copies_and_watch_syncs_edits() {
    if !docker_available() {
        return;
    }
    let mut stack = Stack::new("remoted");
    let certs = tempfile::tempdir().unwrap();
    let (server, client) = make_certs(certs.path());
    let tcp = free_port();
    let s = |f: &str| server.join(f).display().to_string();
    let engine = PrivateEngine::start_with(vec![
        format!("--host=tcp://127.0.0.1:{tcp}"),
        "--tlsverify".into(),
        format!("--tlscacert={}", s("ca.pem")),
        format!("--tlscert={}", s("cert.pem")),
        format!("--tlskey={}", s("key.pem")),
    ]);
    engine.load_image("devstack-test-bb:latest");
    stack.set_env("DOCKER_HOST", &format!("tcp://127.0.0.1:{tcp}"));
    stack.set_env("DOCKER_TLS_VERIFY", "1");
    stack.set_env("DOCKER_CERT_PATH", &client.display().to_string());
    stack.set_env("DEVSTACK_REMOTE", "1");

    // The listener is TLS with client certificates: without ours, no answer.
    let plain = stack
        .command(&["ps"])
        .env_remove("DOCKER_TLS_VERIFY")
        .output()
        .unwrap();
    assert_ne!(plain.status.code(), Some(0), "{}", text(&plain));

    copies_binds_and_syncs_edits(&stack, &|c| {
        engine.ok(&["inspect", "--format", "{{json .Mounts}}", c])
    });
    crate::buildkit::builds_through_buildkit_on(&stack);
}

/// An sshd of the test's own on a loopback port, letting in one key, and an `ssh` on PATH
/// that uses the test's client configuration (key, known hosts) as `~/.ssh/config` would.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Sshd {
    /// `trusted`: whether the client's key is the one the sshd lets in.
    fn start(trusted: bool) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["client_key", "host_key", "other_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key)));
        }
        let allowed = if trusted {
            "client_key.pub"
        } else {
            "other_key.pub"
        };
        std::fs::copy(d.join(allowed), d.join("authorized_keys")).unwrap();
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile {d}/sshd.pid\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nPermitRootLogin prohibit-password\n",
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking accept-new\n",
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        let ssh = d.join("bin/ssh");
        std::fs::write(
            &ssh,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F {}/ssh_config \"$@\"\n",
                d.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
        // sshd wants its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd (openssh-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { dir, port, child }
    }

    /// PATH with the test's `ssh` first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ssh_engine_gets_project_binds_as_copies_and_watch_syncs_edits() {
    if !docker_available() {
        return;
    }
    let sshd = Sshd::start(true);
    let mut stack = Stack::new("remoted");
    stack.set_env(
        "DOCKER_HOST",
        &format!("ssh://root@127.0.0.1:{}", sshd.port),
    );
    stack.set_env("PATH", &sshd.path());
    stack.set_env("DEVSTACK_REMOTE", "1");
    copies_binds_and_syncs_edits(&stack, &|c| {
        docker(&["inspect", "--format", "{{json .Mounts}}", c])
    });
    crate::buildkit::builds_through_buildkit_on(&stack);
    // The bridges' ssh sessions end with the processes that made them (the supervisor's
    // with `down`).
    let config = sshd.dir.path().join("ssh_config").display().to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = ssh_clients(&config);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ssh sessions left running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Command lines of running processes that mention `needle`.
fn ssh_clients(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
fn ssh_engine_that_refuses_the_key_is_named_with_the_fix() {
    if !docker_available() {
        return;
    }
    let sshd = Sshd::start(false);
    let mut stack = Stack::new("remoted");
    stack.set_env(
        "DOCKER_HOST",
        &format!("ssh://root@127.0.0.1:{}", sshd.port),
    );
    stack.set_env("PATH", &sshd.path());
    let out = stack.run(&["ps"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("Permission denied (publickey)"), "{said}");
    assert!(
        said.contains(&format!(
            "`ssh -l root -p {} 127.0.0.1 docker version` works without a prompt",
            sshd.port
        )),
        "{said}"
    );
}

#[test]
fn the_default_stack_on_a_remote_engine_reaches_its_redis_at_the_engine_host() {
    let dir = tempfile::tempdir().unwrap();
    let devstack = |args: &[&str]| {
        let out = Command::new(super::common::bin())
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env("DEVSTACK_NO_NVML", "1")
            .env("KINECT_FORCE", "1")
            .env("DOCKER_HOST", "tcp://gpu-box.example:2376")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    devstack(&["init"]);
    let rendered = devstack(&["config"]);
    assert!(
        rendered.contains("redis://gpu-box.example:6379"),
        "the capture on this machine reaches Redis at the engine's host:\n{rendered}"
    );
    assert!(
        rendered.contains("0.0.0.0:6379:6379") && !rendered.contains("127.0.0.1:6379:6379"),
        "on a remote engine Redis is published beyond its loopback:\n{rendered}"
    );
    // No GPU here (DEVSTACK_NO_NVML): the GPUs asked for are the engine machine's.
    assert!(
        rendered.contains("driver: nvidia") && rendered.contains("DEVSTACK_GPU: all"),
        "pose-service asks the remote engine for its GPUs:\n{rendered}"
    );
}
