//! Connecting to the engine: DOCKER_HOST, docker contexts, and the errors users hit.

use std::process::Command;

use crate::common::{bin, text, Stack};

fn ps_with(s: &Stack, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = s.command(&["ps"]);
    c.env_remove("DOCKER_HOST");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn missing_socket_says_no_daemon_and_how_to_start_one() {
    let s = Stack::new("stack5");
    let out = ps_with(&s, &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("no Docker daemon at unix:///nonexistent/docker.sock (DOCKER_HOST)"),
        "{t}"
    );
    assert!(t.contains("Start it"), "{t}");
}

#[test]
fn refused_tcp_says_no_daemon() {
    let s = Stack::new("stack5");
    let port = crate::common::free_port();
    let out = ps_with(&s, &[("DOCKER_HOST", &format!("tcp://127.0.0.1:{port}"))]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("no Docker daemon at tcp://127.0.0.1:"), "{t}");
}

#[test]
fn the_current_docker_context_is_honoured() {
    use sha2::Digest;
    let s = Stack::new("stack5");
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"currentContext":"remote-gpu"}"#,
    )
    .unwrap();
    let digest = hex::encode(sha2::Sha256::digest(b"remote-gpu"));
    let meta = cfg.path().join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name":"remote-gpu","Endpoints":{"docker":{"Host":"unix:///nonexistent/ctx.sock","SkipTLSVerify":false}}}"#,
    )
    .unwrap();
    let out = ps_with(&s, &[("DOCKER_CONFIG", cfg.path().to_str().unwrap())]);
    let t = text(&out);
    assert!(
        t.contains("unix:///nonexistent/ctx.sock (docker context `remote-gpu`)"),
        "{t}"
    );
}

#[test]
fn permission_denied_names_the_docker_group() {
    let socket = std::path::Path::new("/var/run/docker.sock");
    let is_root = nix::unistd::Uid::effective().is_root();
    if !socket.exists() || !is_root || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("!!! SKIPPED: needs root, setpriv and the default docker socket !!!");
        return;
    }
    let s = Stack::new("stack5");
    // Run as nobody (not in the docker group) against the root-owned socket.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin(),
            "-C",
            "/",
            "-p",
            &s.name,
            "ps",
        ])
        .env_remove("DOCKER_HOST")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("permission denied on unix:///var/run/docker.sock"),
        "{t}"
    );
    assert!(t.contains("usermod -aG docker"), "{t}");
}
