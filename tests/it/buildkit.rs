//! Builds through the engine's BuildKit (issue 23): every `RUN --mount` type, build secrets
//! that reach the build and never the image, a cache mount that outlives a rebuild, parallel
//! builds with a progress line each, a failed step shown with its log, cache import from an
//! image with an inline cache, and the classic builder where the engine has no BuildKit.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{docker, docker_available, text, Stack};

/// A stack whose template and build contexts the test writes; its images go with it.
struct Builds {
    stack: Stack,
}

impl Builds {
    fn new() -> Builds {
        Builds {
            stack: Stack::new("stack5"),
        }
    }

    /// A build context `services/NAME` with this Dockerfile (on the busybox test image) and
    /// files.
    fn context(&self, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.stack.path().join("services").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        for (f, content) in files {
            std::fs::write(dir.join(f), content).unwrap();
        }
        dir
    }

    fn image(&self, service: &str) -> String {
        format!("{}-{service}", self.stack.name)
    }

    /// `cat FILE` in a fresh container of the service's image.
    fn cat(&self, service: &str, file: &str) -> String {
        docker(&["run", "--rm", &self.image(service), "cat", file])
            .trim()
            .to_string()
    }
}

impl Drop for Builds {
    fn drop(&mut self) {
        let filter = format!("reference={}-*", self.stack.name);
        let ids = docker(&["images", "-q", "--filter", &filter]);
        for id in ids.split_whitespace() {
            let _ = Command::new("docker").args(["rmi", "-f", id]).output();
        }
    }
}

/// A stand-in SSH agent on a unix socket: answers whatever it is sent with a RESP string
/// (`+agent:N bytes`), so `redis-cli -s SOCKET PING` in the build prints what came back.
struct FakeAgent {
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl FakeAgent {
    fn start() -> FakeAgent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    if let Ok(n) = c.read(&mut buf) {
                        let _ = write!(c, "+agent:{n} bytes\r\n");
                    }
                });
            }
        });
        FakeAgent { _dir: dir, socket }
    }
}

#[test]
fn every_run_mount_type_reaches_the_build() {
    if !docker_available() {
        return;
    }
    let b = Builds::new();
    let agent = FakeAgent::start();
    let redis = crate::images::redis_image();
    b.context(
        "mounts",
        &format!(
            r#"FROM devstack-test-bb:latest AS tools
RUN echo from-stage > /made
FROM {redis}
RUN echo {run} > /run-of
RUN --mount=type=bind,from=tools,source=/made,target=/m cat /m > /bind
RUN --mount=type=bind,source=data.txt,target=/d cat /d > /bind-context
RUN --mount=type=cache,id={run},target=/cache sh -c 'echo x >> /cache/n; wc -l < /cache/n > /cache-count'
RUN --mount=type=tmpfs,target=/scratch sh -c 'mount | grep " /scratch " | cut -d" " -f1,5 > /tmpfs; touch /scratch/gone'
RUN --mount=type=secret,id=token sh -c 'wc -c < /run/secrets/token > /secret-bytes'
RUN --mount=type=ssh sh -c 'redis-cli -s "$SSH_AUTH_SOCK" PING > /agent-said'
"#,
            run = b.stack.name
        ),
        &[("data.txt", "from-context\n")],
    );
    std::fs::write(b.stack.path().join("token.txt"), "t0ken").unwrap();
    b.stack.set_template(&format!(
        "services:\n  mounts:\n    build:\n      context: ./services/mounts\n      secrets: [token]\n      ssh: [\"default={}\"]\nsecrets:\n  token:\n    file: ./token.txt\n",
        agent.socket.display()
    ));
    let out = b.stack.ok(&["build"]);
    assert!(out.contains("✓ mounts built"), "{out}");
    assert_eq!(b.cat("mounts", "/bind"), "from-stage");
    assert_eq!(b.cat("mounts", "/bind-context"), "from-context");
    assert_eq!(b.cat("mounts", "/cache-count"), "1");
    assert_eq!(b.cat("mounts", "/tmpfs"), "tmpfs tmpfs");
    assert_eq!(b.cat("mounts", "/secret-bytes"), "5");
    // The agent saw redis-cli's PING (14 bytes of RESP) and its answer came back.
    assert_eq!(b.cat("mounts", "/agent-said"), "agent:14 bytes");
    // Mounted, not kept: neither the tmpfs's file nor the cache is in the image.
    let kept = docker(&[
        "run",
        "--rm",
        &b.image("mounts"),
        "sh",
        "-c",
        "ls /scratch /cache 2>/dev/null; true",
    ]);
    assert!(!kept.contains("gone") && !kept.contains('n'), "{kept}");
}

#[test]
fn a_build_secret_reaches_the_build_and_stays_out_of_the_image_and_the_record() {
    if !docker_available() {
        return;
    }
    let mut b = Builds::new();
    let file_secret = format!("file-secret-{}", b.stack.name);
    let env_secret = format!("env-secret-{}", b.stack.name);
    // A secret's value is not part of the step's cache key: a step of this test's own.
    b.context(
        "app",
        &format!(
            "FROM devstack-test-bb:latest\n\
             RUN echo {} > /run-of\n\
             RUN --mount=type=secret,id=token --mount=type=secret,id=api sh -c \
             'sha256sum /run/secrets/token /run/secrets/api | cut -c1-64 > /sums; ls /run/secrets > /listed'\n",
            b.stack.name
        ),
        &[],
    );
    std::fs::write(b.stack.path().join("token.txt"), &file_secret).unwrap();
    b.stack.set_env("API_KEY", &env_secret);
    b.stack.set_template(
        "services:\n  app:\n    build:\n      context: ./services/app\n      secrets:\n        - token\n        - {source: api_key, target: api}\nsecrets:\n  token:\n    file: ./token.txt\n  api_key:\n    environment: API_KEY\n",
    );
    b.stack.ok(&["build"]);
    let sha = |s: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
    };
    assert_eq!(
        b.cat("app", "/sums"),
        format!("{}\n{}", sha(&file_secret), sha(&env_secret))
    );
    assert_eq!(b.cat("app", "/listed"), "api\ntoken");
    // Not in any layer, not in the history, not in the image's config, not in the record.
    let saved = Command::new("docker")
        .args(["save", &b.image("app")])
        .output()
        .unwrap();
    assert!(saved.status.success(), "{}", text(&saved));
    for secret in [&file_secret, &env_secret] {
        let found = saved
            .stdout
            .windows(secret.len())
            .any(|w| w == secret.as_bytes());
        assert!(!found, "{secret} is in the saved image");
    }
    let history = docker(&["history", "--no-trunc", &b.image("app")]);
    let inspect = docker(&["image", "inspect", &b.image("app")]);
    let record = std::fs::read_to_string(b.stack.path().join(".devstack/builds.json")).unwrap();
    for text in [&history, &inspect, &record] {
        assert!(
            !text.contains(&file_secret) && !text.contains(&env_secret),
            "{text}"
        );
    }
    assert!(record.contains(&b.image("app")), "{record}");
}

#[test]
fn a_cache_mount_survives_a_rebuild_and_nothing_changed_builds_nothing() {
    if !docker_available() {
        return;
    }
    let b = Builds::new();
    // A cache of this test's own (cache mounts are shared by id across builds).
    let dir = b.context(
        "app",
        &format!(
            "FROM devstack-test-bb:latest\n\
             COPY requirements.txt /\n\
             RUN --mount=type=cache,id={},target=/root/.cache sh -c \
             'cat /requirements.txt >> /root/.cache/downloads; wc -l < /root/.cache/downloads > /seen'\n",
            b.stack.name
        ),
        &[("requirements.txt", "numpy\n")],
    );
    b.stack
        .set_template("services:\n  app:\n    build: ./services/app\n");
    b.stack.ok(&["build"]);
    assert_eq!(b.cat("app", "/seen"), "1");
    let again = b.stack.ok(&["build"]);
    assert!(again.contains("app up to date"), "{again}");
    // A one-line change: the RUN step runs again and finds what the first build cached.
    std::fs::write(dir.join("requirements.txt"), "numpy\npillow\n").unwrap();
    let rebuilt = b.stack.ok(&["build"]);
    assert!(rebuilt.contains("cached)"), "{rebuilt}");
    assert_eq!(b.cat("app", "/seen"), "3");
}

#[test]
fn independent_services_build_at_once_with_a_progress_line_each() {
    if !docker_available() {
        return;
    }
    let b = Builds::new();
    for svc in ["left", "right"] {
        b.context(
            svc,
            &format!(
                "FROM devstack-test-bb:latest\nRUN sleep 3 && echo {svc} {} > /who\n",
                b.stack.name
            ),
            &[],
        );
    }
    b.stack.set_template(
        "services:\n  left:\n    build: ./services/left\n  right:\n    build: ./services/right\n",
    );
    let run = b.stack.run(&["build"]);
    assert!(run.status.success(), "{}", text(&run));
    // The progress is on stderr, in the order it happened.
    let out = String::from_utf8_lossy(&run.stderr).into_owned();
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{out}"))
    };
    // Each build's step line shows before the other build is done: they ran at once.
    let left_runs = at("left building: [2/2] RUN sleep 3 && echo left");
    let right_runs = at("right building: [2/2] RUN sleep 3 && echo right");
    assert!(left_runs < at("✓ right built"), "{out}");
    assert!(right_runs < at("✓ left built"), "{out}");
    assert!(out.contains("left built (2 steps"), "{out}");
    assert_eq!(b.cat("left", "/who"), format!("left {}", b.stack.name));
    assert_eq!(b.cat("right", "/who"), format!("right {}", b.stack.name));
}

#[test]
fn a_failing_step_is_shown_with_its_whole_log() {
    if !docker_available() {
        return;
    }
    let b = Builds::new();
    b.context(
        "app",
        "FROM devstack-test-bb:latest\n\
         RUN echo fine > /fine\n\
         RUN sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do echo line $i; done; echo cc: error: boom >&2; exit 3'\n",
        &[],
    );
    b.stack
        .set_template("services:\n  app:\n    build: ./services/app\n");
    let out = b.stack.run(&["build"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("service app: image build failed: step `[3/3] RUN sh -c 'for i in"),
        "{said}"
    );
    assert!(said.contains("failed: exit code: 3"), "{said}");
    // The whole log, the first line too, not only a tail; stdout in its order (BuildKit
    // stamps stdout and stderr apart, so where the stderr line falls is its business).
    let first = said.find("│ line 1\n").expect(&said);
    let last = said.find("│ line 25").expect(&said);
    assert!(first < last, "{said}");
    assert!(said.contains("│ cc: error: boom"), "{said}");
    assert!(
        !b.stack.path().join(".devstack/builds.json").exists()
            || !std::fs::read_to_string(b.stack.path().join(".devstack/builds.json"))
                .unwrap()
                .contains(&b.image("app")),
        "a failed build is not recorded"
    );
}

#[test]
fn unknown_build_keys_and_what_this_engine_cannot_do_are_refused_up_front() {
    if !docker_available() {
        return;
    }
    let b = Builds::new();
    b.context("app", "FROM devstack-test-bb:latest\n", &[]);
    b.stack.set_template(
        "services:\n  app:\n    build:\n      context: ./services/app\n      cache-from: [x]\n",
    );
    let out = b.stack.run(&["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`cache-from` is not a Compose key here: did you mean `cache_from`?"),
        "{}",
        text(&out)
    );
    b.stack.set_template(
        "services:\n  app:\n    build:\n      context: ./services/app\n      cache_to: [\"type=local,dest=./cache\"]\n",
    );
    let out = b.stack.run(&["build"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "build.cache_to type=local: the engine's BuildKit takes only type=inline here"
        ),
        "{}",
        text(&out)
    );
    let api = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    if api.trim() == "1.41" {
        b.stack.set_template(
            "services:\n  app:\n    build:\n      context: ./services/app\n      additional_contexts: {base: ./services/bb}\n",
        );
        let out = b.stack.run(&["build"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("build.additional_contexts needs the Dockerfile frontend 1.4"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn an_image_with_an_inline_cache_seeds_a_build_on_an_empty_cache() {
    if !docker_available() {
        return;
    }
    // An engine of this test's own, whose build cache it may empty.
    let mut b = Builds::new();
    let engine = crate::private_engine::PrivateEngine::start();
    engine.load_image("devstack-test-bb:latest");
    b.stack.set_env("DOCKER_HOST", &engine.host());
    let dockerfile = "FROM devstack-test-bb:latest\nRUN echo one > /one\nRUN echo two > /two\n";
    b.context("seed", dockerfile, &[]);
    b.context("app", dockerfile, &[]);
    b.stack.set_template(&format!(
        "services:\n  seed:\n    build:\n      context: ./services/seed\n      cache_to: [\"type=inline\"]\n  app:\n    build:\n      context: ./services/app\n      cache_from: [\"{}-seed\"]\n",
        b.stack.name
    ));
    b.stack.ok(&["build", "seed"]);
    engine.ok(&["builder", "prune", "-af"]);
    // Both RUN steps come from the image's inline cache (FROM a local image is never
    // counted as cached).
    let out = b.stack.ok(&["build", "app"]);
    assert!(out.contains("app built (3 steps, 2 cached)"), "{out}");
    // Without a cache source, nothing is cached on an empty cache.
    engine.ok(&["builder", "prune", "-af"]);
    let out = b.stack.ok(&["build", "--force", "seed"]);
    assert!(out.contains("seed built (3 steps, 0 cached)"), "{out}");
}

/// A stand-in for an engine without BuildKit (a Docker built without it, Podman's API): the
/// real engine behind a unix socket that answers `POST /grpc` and `POST /session` with 404.
struct NoBuildkitProxy {
    dir: tempfile::TempDir,
}

impl NoBuildkitProxy {
    fn start() -> NoBuildkitProxy {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("docker.sock")).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { return };
                std::thread::spawn(move || proxy(client));
            }
        });
        NoBuildkitProxy { dir }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }
}

fn proxy(mut client: UnixStream) {
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\r\n") {
        match client.read(&mut byte) {
            Ok(1) => first.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&first);
    if line.starts_with("POST /grpc") || line.starts_with("POST /session") {
        let body = r#"{"message":"page not found"}"#;
        let _ = write!(
            client,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let Ok(mut engine) = UnixStream::connect("/var/run/docker.sock") else {
        return;
    };
    if engine.write_all(&first).is_err() {
        return;
    }
    let (mut c2, mut e2) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut e2);
        let _ = e2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut engine, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[test]
fn the_classic_builder_is_used_where_the_engine_has_no_buildkit_and_says_why_once() {
    if !docker_available() || !Path::new("/var/run/docker.sock").exists() {
        return;
    }
    let proxy = NoBuildkitProxy::start();
    let mut b = Builds::new();
    b.stack.set_env("DOCKER_HOST", &proxy.host());
    for svc in ["one", "two"] {
        b.context(
            svc,
            &format!("FROM devstack-test-bb:latest\nRUN echo {svc} > /who\n"),
            &[],
        );
    }
    b.stack.set_template(
        "services:\n  one:\n    build: ./services/one\n  two:\n    build: ./services/two\n",
    );
    let out = b.stack.ok(&["build"]);
    let note = format!(
        "note: building with the engine's classic builder: the engine at {} has no BuildKit (POST /grpc answered 404: page not found)",
        proxy.host()
    );
    assert_eq!(out.matches(&note).count(), 1, "{out}");
    assert_eq!(b.cat("one", "/who"), "one");
    assert_eq!(b.cat("two", "/who"), "two");
    // What only BuildKit does is refused, not ignored.
    std::fs::write(b.stack.path().join("token.txt"), "x").unwrap();
    b.stack.set_template(
        "services:\n  one:\n    build:\n      context: ./services/one\n      secrets: [token]\nsecrets:\n  token:\n    file: ./token.txt\n",
    );
    let out = b.stack.run(&["build", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "service one: build.secrets needs BuildKit, and the engine's classic builder is in use"
        ),
        "{}",
        text(&out)
    );
    // DOCKER_BUILDKIT=0 asks for the classic builder on an engine that has BuildKit.
    b.stack.env.retain(|(k, _)| k != "DOCKER_HOST");
    b.stack.set_env("DOCKER_BUILDKIT", "0");
    b.stack
        .set_template("services:\n  two:\n    build: ./services/two\n");
    let out = b.stack.ok(&["build", "--force"]);
    assert!(
        out.contains("building with the engine's classic builder: DOCKER_BUILDKIT=0 asks for it"),
        "{out}"
    );
}

/// The remote-engine tests (TLS, ssh) call this: a build through BuildKit over that engine's
/// connection, with a context file and a secret served by the session across it.
pub fn builds_through_buildkit_on(stack: &Stack) {
    let dir = stack.path().join("services/remote-build");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM devstack-test-bb:latest\nCOPY hello.txt /hello.txt\nRUN --mount=type=secret,id=token sh -c 'echo {} $(cat /run/secrets/token) > /said'\n",
            stack.name
        ),
    )
    .unwrap();
    std::fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(stack.path().join("token.txt"), "over-the-wire").unwrap();
    let template = stack.path().join("templates/compose.yaml.j2");
    let original = std::fs::read_to_string(&template).unwrap();
    stack.set_template(
        "services:\n  remote-build:\n    build:\n      context: ./services/remote-build\n      secrets: [token]\nsecrets:\n  token:\n    file: ./token.txt\n",
    );
    let out = stack.ok(&["build"]);
    std::fs::write(&template, original).unwrap();
    assert!(out.contains("remote-build built (3 steps"), "{out}");
    assert!(!out.contains("classic builder"), "{out}");
    // Read back through the same engine the build went to (the docker CLI with the stack's
    // DOCKER_HOST, certificates or ssh).
    let image = format!("{}-remote-build", stack.name);
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.envs(stack.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.args(args).output().unwrap()
    };
    let said = docker(&["run", "--rm", &image, "cat", "/said"]);
    assert_eq!(
        String::from_utf8_lossy(&said.stdout).trim(),
        format!("{} over-the-wire", stack.name),
        "{}",
        text(&said)
    );
    docker(&["rmi", "-f", &image]);
}
