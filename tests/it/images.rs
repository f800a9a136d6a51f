//! Test images that need no registry: Redis (the host's redis-server and redis-cli with every
//! shared library they load) on static busybox, FROM scratch; and a busybox consumer script that
//! reports the XADD rate Redis sees, with a healthcheck on it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// The image's recipe; part of the tag's hash, so a change here rebuilds it.
const DOCKERFILE: &str = r#"# Redis test image: host binaries and their libraries on static busybox (no registry needed).
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /data && chmod 1777 /tmp
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
"#;

/// A consumer for busybox `sh -c`: every second it reads the total XADD count from
/// `redis-cli -h "$REDIS_HOST" info commandstats` (0 when the line is absent or Redis does not
/// answer), computes frames per second over the last 2 s (integer, never negative), writes it
/// to /tmp/fps (atomically, so a healthcheck never reads a half-written file) and prints
/// `consumer fps N`. Time comes from /proc/uptime (centiseconds), so the rate is per real
/// second, not per loop. In a Compose file every `$` must be written `$$`.
pub const CONSUMER_SH: &str = r#"t1=; n1=; t2=; n2=
while :; do
  n=$(redis-cli -h "$REDIS_HOST" info commandstats 2>/dev/null | sed -n 's/^cmdstat_xadd:calls=\([0-9]*\).*/\1/p')
  n=${n:-0}
  read up rest < /proc/uptime
  t=$(( ${up%.*} * 100 + 1${up#*.} - 100 ))
  ot=${t2:-$t1}; on=${n2:-$n1}
  fps=0
  if [ -n "$ot" ] && [ "$t" -gt "$ot" ]; then fps=$(( (n - on) * 100 / (t - ot) )); fi
  [ "$fps" -ge 0 ] || fps=0
  echo "$fps" > /tmp/fps.new && mv /tmp/fps.new /tmp/fps
  echo "consumer fps $fps"
  t2=$t1; n2=$n1; t1=$t; n1=$n
  sleep 1
done
"#;

/// The consumer's healthcheck (shell text for `["CMD-SHELL", …]`): passes only while frames
/// arrive at 25/s or more. In a Compose file write `$` as `$$`.
pub const CONSUMER_HEALTHY: &str = r#"test "$(cat /tmp/fps 2>/dev/null || echo 0)" -ge 25"#;

/// The tag of the local Redis test image, `devstack-test-redis:<12 hex>`, the hex a hash of
/// the recipe and of every file in it (busybox, redis-server, redis-cli, their libraries): built
/// once per machine, again when Redis or busybox change. Built at most once per test process;
/// skipped when the engine already has the tag.
pub fn redis_image() -> String {
    static TAG: Mutex<Option<String>> = Mutex::new(None);
    let mut tag = TAG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = tag.as_ref() {
        return t.clone();
    }
    let files = rootfs_files();
    let t = format!("devstack-test-redis:{}", &content_hash(&files)[..12]);
    let exists = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &t])
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        build(&t, &files);
    }
    *tag = Some(t.clone());
    t
}

fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("static busybox is needed for the test images: apt-get install busybox-static");
}

/// Path in the image (no leading `/`) → file on the host (symlinks followed when copied).
fn rootfs_files() -> BTreeMap<String, PathBuf> {
    for b in [REDIS_SERVER, REDIS_CLI] {
        assert!(
            Path::new(b).is_file(),
            "{b} is needed for the Redis test image: apt-get install redis-server redis-tools"
        );
    }
    let mut files = BTreeMap::new();
    files.insert("bin/busybox".to_string(), busybox());
    files.insert("usr/bin/redis-server".to_string(), REDIS_SERVER.into());
    files.insert("usr/bin/redis-cli".to_string(), REDIS_CLI.into());
    for bin in [REDIS_SERVER, REDIS_CLI] {
        for lib in shared_libs(bin) {
            let dest = lib
                .strip_prefix("/")
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.insert(dest, lib);
        }
    }
    files
}

/// Every library `ldd` lists for `bin`, the dynamic loader included (not the vDSO).
fn shared_libs(bin: &str) -> Vec<PathBuf> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .expect("ldd is needed to build the Redis test image (libc-bin)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ldd {bin} failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut libs = Vec::new();
    for line in text.lines() {
        assert!(!line.contains("not found"), "ldd {bin}: {line}");
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    assert!(
        libs.iter()
            .any(|l| l.to_string_lossy().contains("ld-linux")),
        "ldd {bin} listed no dynamic loader:\n{text}"
    );
    libs
}

fn content_hash(files: &BTreeMap<String, PathBuf>) -> String {
    let mut h = Sha256::new();
    h.update(DOCKERFILE.as_bytes());
    for (dest, src) in files {
        let bytes = std::fs::read(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        h.update(dest.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    hex::encode(h.finalize())
}

fn build(tag: &str, files: &BTreeMap<String, PathBuf>) {
    let ctx = tempfile::tempdir().unwrap();
    for (dest, src) in files {
        let to = ctx.path().join("rootfs").join(dest);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src, &to)
            .unwrap_or_else(|e| panic!("copy {} into the image: {e}", src.display()));
    }
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    // The classic builder: the engine is 20.10 and no buildx plugin is assumed.
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "building the Redis test image {tag} failed:\n{}",
        crate::common::text(&out)
    );
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};
    use std::thread::sleep;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::common::{bin, docker, docker_available, free_port, text};

    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Containers and a network on the default engine, removed on drop.
    struct Scratch {
        prefix: String,
        containers: Vec<String>,
    }

    impl Scratch {
        fn new() -> Scratch {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let s = Scratch {
                prefix: format!("dsi{}x{n}", std::process::id()),
                containers: Vec::new(),
            };
            let out = run(&["network", "create", &s.net()]);
            assert!(out.status.success(), "network create: {}", text(&out));
            s
        }

        fn net(&self) -> String {
            format!("{}-net", self.prefix)
        }

        fn name(&self, what: &str) -> String {
            format!("{}-{what}", self.prefix)
        }

        /// `docker run -d --name <prefix>-<what> --network <net> ARGS…`; the container's name.
        fn run_d(&mut self, what: &str, args: &[&str]) -> String {
            let name = self.name(what);
            self.containers.push(name.clone());
            let net = self.net();
            let mut a = vec!["run", "-d", "--name", &name, "--network", &net];
            a.extend_from_slice(args);
            let out = run(&a);
            assert!(out.status.success(), "docker {a:?}: {}", text(&out));
            name
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            if !self.containers.is_empty() {
                let mut a = vec!["rm", "-f", "-v"];
                a.extend(self.containers.iter().map(String::as_str));
                let _ = run(&a);
            }
            let _ = run(&["network", "rm", &self.net()]);
        }
    }

    fn run(args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .output()
            .expect("docker CLI")
    }

    fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "no {what} within {limit:?}");
            sleep(Duration::from_millis(200));
        }
    }

    #[test]
    fn redis_image_answers_ping() {
        if !docker_available() {
            return;
        }
        let t0 = Instant::now();
        let tag = redis_image();
        eprintln!("redis_image() = {tag} in {:?}", t0.elapsed());
        assert!(
            tag.starts_with("devstack-test-redis:") && tag.len() == 20 + 12,
            "{tag}"
        );
        assert_eq!(redis_image(), tag, "one tag per process");

        let out = run(&["run", "--rm", &tag, "redis-server", "--version"]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("Redis server v="), "{}", text(&out));
        // busybox applets are there for scripts and healthchecks.
        let out = run(&[
            "run",
            "--rm",
            &tag,
            "sh",
            "-c",
            "which nc sed awk sleep redis-cli",
        ]);
        assert!(out.status.success(), "{}", text(&out));

        let mut s = Scratch::new();
        let srv = s.run_d(
            "redis",
            &[
                &tag,
                "redis-server",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
        );
        let net = s.net();
        let t1 = Instant::now();
        wait_for(
            "PONG from a second container by name",
            Duration::from_secs(15),
            || {
                let out = run(&[
                    "run",
                    "--rm",
                    "--network",
                    &net,
                    &tag,
                    "redis-cli",
                    "-h",
                    &srv,
                    "ping",
                ]);
                text(&out).contains("PONG").then_some(())
            },
        );
        eprintln!(
            "redis-cli -h {srv} ping answered PONG after {:?}",
            t1.elapsed()
        );
    }

    /// Kills the publisher if the test fails early.
    struct Publisher(Child);

    impl Drop for Publisher {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn fps(container: &str) -> Option<i64> {
        docker(&["exec", container, "cat", "/tmp/fps"])
            .trim()
            .parse()
            .ok()
    }

    fn health(container: &str) -> String {
        docker(&["inspect", "--format", "{{.State.Health.Status}}", container])
            .trim()
            .to_string()
    }

    fn healthcheck_passes(container: &str) -> bool {
        run(&["exec", container, "sh", "-c", CONSUMER_HEALTHY])
            .status
            .success()
    }

    #[test]
    fn consumer_fps_follows_a_real_publisher() {
        if !docker_available() {
            return;
        }
        let tag = redis_image();
        let mut s = Scratch::new();
        let port = free_port();
        let published = format!("127.0.0.1:{port}:6379");
        let srv = s.run_d(
            "redis",
            &[
                "-p",
                &published,
                &tag,
                "redis-server",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
        );
        let env = format!("REDIS_HOST={srv}");
        let consumer = s.run_d(
            "consumer",
            &[
                "-e",
                &env,
                "--health-cmd",
                CONSUMER_HEALTHY,
                "--health-interval",
                "1s",
                "--health-timeout",
                "2s",
                "--health-retries",
                "1",
                &tag,
                "sh",
                "-c",
                CONSUMER_SH,
            ],
        );
        let url = format!("redis://127.0.0.1:{port}");
        wait_for(
            "Redis on the published port",
            Duration::from_secs(15),
            || {
                let mut con = redis::Client::open(url.as_str())
                    .ok()?
                    .get_connection()
                    .ok()?;
                redis::cmd("PING").query::<String>(&mut con).ok()
            },
        );

        // Nothing published yet: 0 fps, the healthcheck fails.
        wait_for(
            "the consumer's first report",
            Duration::from_secs(10),
            || fps(&consumer),
        );
        sleep(Duration::from_secs(2));
        assert_eq!(fps(&consumer), Some(0));
        assert!(!healthcheck_passes(&consumer));

        let started = Instant::now();
        let child = Command::new(bin())
            .args([
                "kinect",
                "capture",
                "--source",
                "synthetic",
                "--redis",
                &url,
            ])
            .env_remove("DEVSTACK_K4A_LIB")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start devstack kinect capture");
        let mut publisher = Publisher(child);
        wait_for(
            "fps >= 25 while publishing",
            Duration::from_secs(20),
            || fps(&consumer).filter(|&f| f >= 25),
        );
        eprintln!("fps >= 25 after {:?}", started.elapsed());
        let mut seen = Vec::new();
        for _ in 0..4 {
            sleep(Duration::from_millis(1000));
            seen.push(fps(&consumer).unwrap());
        }
        eprintln!("fps while publishing: {seen:?}");
        assert!(seen.iter().all(|&f| (25..=35).contains(&f)), "{seen:?}");
        assert!(healthcheck_passes(&consumer));
        wait_for("status healthy", Duration::from_secs(10), || {
            (health(&consumer) == "healthy").then_some(())
        });
        assert!(
            publisher.0.try_wait().unwrap().is_none(),
            "the publisher exited early"
        );

        let _ = publisher.0.kill();
        let _ = publisher.0.wait();
        let stopped = Instant::now();
        let low = wait_for(
            "fps < 25 after the publisher stopped",
            Duration::from_secs(6),
            || fps(&consumer).filter(|&f| f < 25),
        );
        eprintln!(
            "fps {low} (< 25) {:?} after the publisher stopped",
            stopped.elapsed()
        );
        wait_for("healthcheck failing", Duration::from_secs(6), || {
            (!healthcheck_passes(&consumer)).then_some(())
        });
        wait_for("status unhealthy", Duration::from_secs(10), || {
            (health(&consumer) == "unhealthy").then_some(())
        });
        eprintln!(
            "unhealthy {:?} after the publisher stopped",
            stopped.elapsed()
        );
        let logs = text(&run(&["logs", &consumer]));
        let reported: Vec<i64> = logs
            .lines()
            .map(|l| {
                l.strip_prefix("consumer fps ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("not a consumer line: {l:?}\n{logs}"))
            })
            .collect();
        assert!(reported.iter().any(|&f| f >= 25), "{logs}");
    }
}

/// `devstack images`: the reference a container was created from, read by one parser.
mod verb {
    use crate::common::{docker, docker_available, Stack};

    /// A registry's port is not a tag: a container created from `localhost:5000/NAME` runs
    /// `localhost:5000/NAME:latest`, even when the image has another tag that sorts first.
    #[test]
    fn an_image_of_a_registry_with_a_port_is_listed_by_its_reference() {
        if !docker_available() {
            return;
        }
        let s = Stack::new("stack5");
        let repo = format!("localhost:5000/{}", s.name);
        let alias = format!("{}-alias:v9", s.name);
        for tag in [repo.as_str(), alias.as_str()] {
            docker(&["tag", "devstack-test-bb:latest", tag]);
        }
        s.set_template(&format!(
            "services:\n  app:\n    image: {repo}\n    command: [\"sleep\", \"100000\"]\n"
        ));
        let up = s.run(&["up", "-d"]);
        let out = s.run(&["images", "--format", "json"]);
        for tag in [repo.as_str(), alias.as_str()] {
            docker(&["rmi", tag]);
        }
        assert!(up.status.success(), "{}", crate::common::text(&up));
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let app = &rows.as_array().unwrap()[0];
        assert_eq!(app["Repository"], repo.as_str(), "{rows}");
        assert_eq!(app["Tag"], "latest", "{rows}");
    }
}
