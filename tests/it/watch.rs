//! `devstack watch`: Compose's develop.watch rules against a real engine and real files
//! (tests/fixtures/watched): sync (edit, new file, deletion, ignored files, a burst of saves),
//! sync+restart with a `restart: true` dependent, rebuild (the old container serves until the
//! new one is ready; a broken Dockerfile keeps it), and a clean stop on SIGINT/SIGTERM.

use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};

use super::common::{docker, docker_available, Stack};

/// A running `devstack watch`: its output lines (stdout and stderr) on a channel and in a log
/// for failure messages; killed on drop.
pub(crate) struct Watching {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    pub(crate) fn start(stack: &Stack, args: &[&str]) -> Watching {
        let mut full = vec!["watch"];
        full.extend_from_slice(args);
        let mut child = stack
            .command(&full)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [out, err] {
            let tx = tx.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    log.lock().unwrap().push(line.clone());
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Watching { child, lines, log }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The next line containing all of `parts`; panics (with the whole output) after `limit`.
    pub(crate) fn expect(&self, parts: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if parts.iter().all(|p| l.contains(p)) => return l,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with {parts:?} within {limit:?}; devstack watch printed:\n{}",
                    self.log()
                ),
            }
        }
    }

    /// Lines containing `part` that arrive within `limit`.
    fn count(&self, part: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(part) => out.push(l),
                Ok(_) => {}
                Err(_) => return out,
            }
        }
    }

    fn signal(&self, sig: Signal) {
        kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn in_container(stack: &Stack, service: &str, args: &[&str]) -> (bool, String) {
    let name = format!("{}-{service}-1", stack.name);
    let out = Command::new("docker")
        .arg("exec")
        .arg(&name)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn write(stack: &Stack, rel: &str, text: &str) {
    let p = stack.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn sync_copies_edits_new_files_and_deletions_and_skips_ignored_ones() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    // As Compose's, `watch` builds and starts the service first.
    let w = Watching::start(&stack, &["site"]);
    w.expect(&["site", "watching: sync services/site/www → /www"], LONG);
    assert_eq!(stack.inspect("site", "{{.State.Running}}"), "true");

    // An edit.
    write(&stack, "services/site/www/index.html", "v2\n");
    w.expect(&["site", "synced 1 file in"], LONG);
    assert_eq!(
        in_container(&stack, "site", &["cat", "/www/index.html"]).1,
        "v2"
    );

    // A new file, in a new directory.
    write(&stack, "services/site/www/new/page.html", "fresh\n");
    w.expect(&["site", "synced"], LONG);
    assert_eq!(
        in_container(&stack, "site", &["cat", "/www/new/page.html"]).1,
        "fresh"
    );

    // A deletion.
    std::fs::remove_file(stack.path().join("services/site/www/new/page.html")).unwrap();
    w.expect(&["site", "deleted 1 file in"], LONG);
    assert!(!in_container(&stack, "site", &["test", "-e", "/www/new/page.html"]).0);

    // Ignored: the rule's `ignore: ["*.tmp"]` and the build context's .dockerignore
    // (`**/*.log`, `www/cache`: patterns are relative to the context). Then one file that
    // counts: its batch holds it alone.
    write(&stack, "services/site/www/draft.tmp", "no\n");
    write(&stack, "services/site/www/sub/debug.log", "no\n");
    write(&stack, "services/site/www/cache/x.txt", "no\n");
    std::thread::sleep(Duration::from_millis(500));
    write(&stack, "services/site/www/marker.txt", "yes\n");
    // (The new directory `sub` itself is a change: it may be synced, empty, before.)
    w.expect(&["site", "synced 1 file in"], LONG);
    assert_eq!(
        in_container(&stack, "site", &["cat", "/www/marker.txt"]).1,
        "yes",
        "{}",
        w.log()
    );
    for p in ["/www/draft.tmp", "/www/sub/debug.log", "/www/cache"] {
        assert!(
            !in_container(&stack, "site", &["test", "-e", p]).0,
            "{p} was synced although ignored"
        );
    }
    // Docker's matching: `*.tmp` is relative to the rule's path and stops at `/`.
    write(&stack, "services/site/www/sub/keep.tmp", "kept\n");
    w.expect(&["site", "synced 1 file in"], LONG);
    assert_eq!(
        in_container(&stack, "site", &["cat", "/www/sub/keep.tmp"]).1,
        "kept"
    );

    // A burst of 100 saves is one action, and the last content wins.
    let index = stack.path().join("services/site/www/index.html");
    for i in 0..100 {
        std::fs::write(&index, format!("save {i}\n")).unwrap();
    }
    let first = w.expect(&["site", "synced"], LONG);
    assert!(first.contains("synced 1 file in"), "{first}");
    let more = w.count("synced", Duration::from_secs(2));
    assert!(
        more.is_empty(),
        "a burst made more than one action: {more:?}"
    );
    assert_eq!(
        in_container(&stack, "site", &["cat", "/www/index.html"]).1,
        "save 99"
    );
    // The site serves it.
    let port: u16 = stack
        .env
        .iter()
        .find(|(k, _)| k == "WEB_PORT")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(http_get(&format!("127.0.0.1:{port}"), "/index.html").contains("save 99"));
}

#[test]
fn sync_restart_restarts_the_container_waits_healthy_and_its_restart_dependents_follow() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    stack.ok(&["up", "-d", "conf", "follower"]);
    let started = |s: &str| stack.inspect(s, "{{.State.StartedAt}}");
    let (conf_before, follower_before) = (started("conf"), started("follower"));
    let w = Watching::start(&stack, &["conf"]);
    w.expect(&["conf", "watching: sync+restart conf → /conf"], LONG);

    write(&stack, "conf/app.conf", "level=2\n");
    w.expect(&["conf", "synced 1 file, restarted, healthy after"], LONG);
    w.expect(
        &["follower", "restarted (depends on conf with restart: true)"],
        LONG,
    );
    assert_ne!(started("conf"), conf_before, "conf was not restarted");
    assert_ne!(
        started("follower"),
        follower_before,
        "follower did not follow"
    );
    assert_eq!(
        in_container(&stack, "conf", &["cat", "/conf/app.conf"]).1,
        "level=2"
    );
    assert_eq!(stack.inspect("conf", "{{.State.Running}}"), "true");

    let mut w = w;
    w.signal(Signal::SIGTERM);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("watch ends on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", w.log());
}

/// GETs `path` from `addr`; the response, or "" when it does not answer.
pub(crate) fn http_get(addr: &str, path: &str) -> String {
    let Ok(sock) = addr.parse() else {
        return String::new();
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&sock, Duration::from_millis(300)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Whether some container served, and the running containers' ids, per sample.
type Samples = Vec<(bool, Vec<String>)>;

/// Samples, every 100 ms until stopped, whether some container of `service` answers HTTP.
fn sample_serving(
    stack: &Stack,
    service: &str,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<Samples>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (project, service) = (stack.name.clone(), service.to_string());
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !flag.load(Ordering::SeqCst) {
            let ids = docker(&[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.compose.project={project}"),
                "--filter",
                &format!("label=com.docker.compose.service={service}"),
            ]);
            let ids: Vec<String> = ids.lines().map(str::to_string).collect();
            let serving = ids.iter().any(|id| {
                let ip = docker(&[
                    "inspect",
                    "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                    id,
                ]);
                let ip = ip.trim();
                !ip.is_empty()
                    && http_get(&format!("{ip}:80"), "/version")
                        .lines()
                        .next()
                        .is_some_and(|l| l.contains(" 200 "))
            });
            samples.push((serving, ids));
            std::thread::sleep(Duration::from_millis(100));
        }
        samples
    });
    (stop, handle)
}

#[test]
fn rebuild_keeps_the_old_container_serving_until_the_new_one_is_ready_and_a_broken_build_keeps_it()
{
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    stack.ok(&["up", "-d", "app"]);
    let id = |s: &Stack| s.inspect("app", "{{.Id}}");
    let old = id(&stack);
    let mut w = Watching::start(&stack, &["app"]);
    w.expect(
        &["app", "watching: rebuild on services/app/Dockerfile"],
        LONG,
    );

    // A broken Dockerfile: the build fails, says why, and the old container keeps running.
    let dockerfile = stack.path().join("services/app/Dockerfile");
    let good = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(
        &dockerfile,
        format!("{good}RUN [\"/bin/sh\", \"-c\", \"echo broken-on-purpose; exit 3\"]\n"),
    )
    .unwrap();
    let line = w.expect(&["app", "failed"], Duration::from_secs(120));
    // BuildKit's words, or the classic builder's where the engine has no BuildKit.
    assert!(
        line.contains("exit code: 3") || line.contains("returned a non-zero code: 3"),
        "{line}"
    );
    assert!(line.contains("the running container is kept"), "{line}");
    w.expect(&["app", "broken-on-purpose"], LONG);
    assert_eq!(id(&stack), old, "the old container was replaced");
    assert_eq!(stack.inspect("app", "{{.State.Running}}"), "true");

    // A working change: the old container serves until the new one is ready (the fixture's
    // app answers only 2 s after it starts), then the new one replaces it under its name.
    let (stop, sampler) = sample_serving(&stack, "app");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&dockerfile, good.replace("echo v1", "echo v2")).unwrap();
    w.expect(
        &["app", "rebuilt (Dockerfile)", "recreated, healthy after"],
        Duration::from_secs(120),
    );
    // The line comes once the new container is ready; the old one is stopped and removed, and
    // the new one renamed, right after.
    let proper = vec![format!("{}-app-1", stack.name)];
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack
        .containers()
        .into_iter()
        .map(|(n, _)| n)
        .collect::<Vec<_>>()
        != proper
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    let gaps: Vec<_> = samples.iter().filter(|(serving, _)| !serving).collect();
    assert!(
        gaps.is_empty(),
        "nothing served during the rebuild in {} of {} samples: {gaps:?}\n{}",
        gaps.len(),
        samples.len(),
        w.log()
    );
    assert!(
        samples.iter().any(|(_, ids)| ids.len() == 2),
        "the new container never ran beside the old one"
    );
    let new = id(&stack);
    assert_ne!(new, old);
    assert_eq!(
        in_container(&stack, "app", &["cat", "/www/version"]).1,
        "v2"
    );
    let names: Vec<String> = stack.containers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, proper, "{names:?}");

    w.signal(Signal::SIGINT);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("watch ends on SIGINT");
    assert_eq!(status.code(), Some(0), "{}", w.log());
}

#[test]
fn a_service_without_rules_is_a_usage_error() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    let out = stack.run(&["watch", "follower"]);
    assert_eq!(out.status.code(), Some(2), "{}", super::common::text(&out));
    assert!(
        super::common::text(&out).contains("service follower has no develop.watch rules"),
        "{}",
        super::common::text(&out)
    );
    // Refused before anything was started.
    assert!(stack.containers().is_empty());
}

#[test]
fn a_sync_rule_on_a_bind_mounted_path_is_skipped_as_compose_does() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    stack.set_template(
        "services:\n  site:\n    image: devstack-test-bb:latest\n    command: [\"sleep\", \"100000\"]\n    \
         volumes: [\"./services/site/www:/www\"]\n    develop:\n      watch:\n        \
         - { action: sync, path: ./services/site/www, target: /www }\n        \
         - { action: restart, path: ./conf }\n",
    );
    // --no-up: what runs is watched, and nothing is started.
    let mut w = Watching::start(&stack, &["--no-up"]);
    w.expect(
        &[
            "site",
            "services/site/www is also bind-mounted",
            "not acted on",
        ],
        LONG,
    );
    w.expect(&["site", "watching: restart on conf"], LONG);
    w.expect(&["site", "has no container yet"], LONG);
    w.signal(Signal::SIGTERM);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("watch ends on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", w.log());
}

#[test]
fn initial_sync_copies_edits_made_before_the_watch_started() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    let template = std::fs::read_to_string(stack.path().join("templates/compose.yaml.j2"))
        .unwrap()
        .replace(
            "          ignore: [\"*.tmp\"]\n",
            "          ignore: [\"*.tmp\"]\n          initial_sync: true\n",
        );
    assert!(template.contains("initial_sync: true"));
    stack.set_template(&template);
    stack.ok(&["up", "-d", "site"]);
    // Edits while nothing watches: the image's copy is stale.
    write(&stack, "services/site/www/index.html", "edited before\n");
    write(&stack, "services/site/www/draft.tmp", "ignored\n");
    assert_ne!(
        in_container(&stack, "site", &["cat", "/www/index.html"]).1,
        "edited before"
    );
    // --no-up: an `up` would rebuild the image from the edited context first.
    let w = Watching::start(&stack, &["--no-up", "site"]);
    w.expect(&["site", "initial sync: 1 file in"], LONG);
    assert_eq!(
        in_container(&stack, "site", &["cat", "/www/index.html"]).1,
        "edited before"
    );
    assert!(!in_container(&stack, "site", &["test", "-e", "/www/draft.tmp"]).0);
}

/// `docker exec` in replica `n` of `service`: (succeeded, stdout).
fn in_replica(stack: &Stack, service: &str, n: u32, args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .arg("exec")
        .arg(format!("{}-{service}-{n}", stack.name))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn every_replica_of_a_scaled_service_gets_the_syncs_the_exec_hooks_and_the_restarts() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    stack.set_template(
        "services:\n  pool:\n    image: devstack-test-bb:latest\n    init: true\n    \
         stop_grace_period: 1s\n    command: [\"sh\", \"-c\", \"exec sleep 100000\"]\n    \
         deploy: { replicas: 2 }\n    develop:\n      watch:\n        \
         - { action: sync+exec, path: ./conf, target: /conf, exec: { command: \"cp /conf/app.conf /tmp/seen\" } }\n        \
         - { action: restart, path: ./trigger }\n",
    );
    write(&stack, "trigger/now", "0\n");
    // `watch` brings both replicas up first.
    let w = Watching::start(&stack, &[]);
    w.expect(&["pool", "watching: sync+exec conf → /conf"], LONG);
    for n in [1, 2] {
        assert!(in_replica(&stack, "pool", n, &["true"]).0, "pool-{n} runs");
    }

    write(&stack, "conf/app.conf", "level=7\n");
    let line = w.expect(&["pool", "synced 1 file (2 replicas)"], LONG);
    assert!(line.contains("cp /conf/app.conf /tmp/seen`"), "{line}");
    for n in [1, 2] {
        assert_eq!(
            in_replica(&stack, "pool", n, &["cat", "/conf/app.conf"]).1,
            "level=7",
            "pool-{n} was not synced: {}",
            w.log()
        );
        assert_eq!(
            in_replica(&stack, "pool", n, &["cat", "/tmp/seen"]).1,
            "level=7",
            "the hook did not run in pool-{n}"
        );
    }

    let started = |n: u32| {
        docker(&[
            "inspect",
            "--format",
            "{{.State.StartedAt}}",
            &format!("{}-pool-{n}", stack.name),
        ])
        .trim()
        .to_string()
    };
    let before = (started(1), started(2));
    write(&stack, "trigger/now", "1\n");
    w.expect(&["pool", "restarted, running after"], LONG);
    assert_ne!(started(1), before.0, "pool-1 was not restarted");
    assert_ne!(started(2), before.1, "pool-2 was not restarted");

    let mut w = w;
    w.signal(Signal::SIGTERM);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("watch ends on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", w.log());
}

#[test]
fn a_rebuild_replaces_every_replica_beside_its_old_one() {
    if !docker_available() {
        return;
    }
    let stack = Stack::new("watched");
    stack.set_template(
        "services:\n  app:\n    build: ./services/app\n    init: true\n    \
         stop_grace_period: 1s\n    command: [\"sh\", \"-c\", \"touch /tmp/ready; exec sleep 100000\"]\n    \
         healthcheck: { test: [\"CMD\", \"test\", \"-f\", \"/tmp/ready\"], interval: 1s, timeout: 1s, retries: 3 }\n    \
         deploy: { replicas: 2 }\n    develop:\n      watch:\n        \
         - { action: rebuild, path: ./services/app/Dockerfile }\n",
    );
    stack.ok(&["up", "-d"]);
    let ids = |s: &Stack| s.containers();
    let before = ids(&stack);
    assert_eq!(before.len(), 2, "{before:?}");
    let mut w = Watching::start(&stack, &["--no-up"]);
    w.expect(
        &["app", "watching: rebuild on services/app/Dockerfile"],
        LONG,
    );

    let dockerfile = stack.path().join("services/app/Dockerfile");
    let good = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, good.replace("echo v1", "echo v2")).unwrap();
    w.expect(
        &["app", "rebuilt (Dockerfile)", "recreated, healthy after"],
        Duration::from_secs(120),
    );
    // The old ones go right after the line; the new ones take their names.
    let proper: Vec<String> = [1, 2].map(|n| format!("{}-app-{n}", stack.name)).to_vec();
    let deadline = Instant::now() + Duration::from_secs(20);
    let names = |s: &Stack| ids(s).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    while names(&stack) != proper && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(names(&stack), proper, "{}", w.log());
    let after = ids(&stack);
    for n in [1, 2] {
        assert_eq!(
            in_replica(&stack, "app", n, &["cat", "/www/version"]).1,
            "v2",
            "app-{n} runs the old image"
        );
        assert_ne!(after[n as usize - 1].1, before[n as usize - 1].1, "app-{n}");
    }
    w.signal(Signal::SIGTERM);
    let status = w
        .wait_exit(Duration::from_secs(10))
        .expect("watch ends on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", w.log());
}
