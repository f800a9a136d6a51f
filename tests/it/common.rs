//! Test harness: a real Docker Engine, fixture stacks copied to temp dirs, unique project
//! names, free ports, and cleanup that always runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_devstack")
}

/// True when a Docker engine answers. Without one, a test says so loudly and is skipped,
/// except under CI (env CI set), where it fails.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but no Docker engine answers `docker info`: .ci/run must start dockerd"
            );
        }
        eprintln!("\n!!! SKIPPED: no Docker engine answers `docker info`; start dockerd to run this test !!!\n");
    }
    ok
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("static busybox is needed for the test images: apt-get install busybox-static");
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Copies the files of `tests/fixtures/<name>` into `dir`.
pub fn copy_fixture(name: &str, dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    copy_dir(&src, dir);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A fixture stack in a temp dir with its own project name; removed (containers, networks,
/// volumes) on drop.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub env: Vec<(String, String)>,
}

impl Stack {
    pub fn new(fixture: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        copy_dir(&src, dir.path());
        let bb = dir.path().join("services/bb");
        if bb.is_dir() {
            std::fs::copy(busybox(), bb.join("busybox")).unwrap();
        }
        let name = format!(
            "dst{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let stack = Stack {
            dir,
            name,
            env: vec![("WEB_PORT".into(), free_port().to_string())],
        };
        if bb.is_dir() {
            stack.build_test_image_once();
        }
        stack
    }

    /// Every fixture tags `devstack-test-bb:latest` from the same context. Built once, before
    /// any test uses it: tests that find it stale (another context built it last) and build it
    /// at the same time move the tag under each other's containers, which then look changed.
    fn build_test_image_once(&self) {
        static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if !*built && docker_available() {
            let original =
                std::fs::read_to_string(self.path().join("templates/compose.yaml.j2")).unwrap();
            self.set_template(
                "services:\n  bb:\n    image: devstack-test-bb:latest\n    build: ./services/bb\n",
            );
            self.ok(&["build"]);
            self.set_template(&original);
            *built = true;
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the fixture's template (the stack a test runs).
    pub fn set_template(&self, yaml: &str) {
        std::fs::write(self.path().join("templates/compose.yaml.j2"), yaml).unwrap();
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.into(), v.into()));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("-C")
            .arg(self.path())
            .arg("-p")
            .arg(&self.name)
            .args(args);
        c.env("NO_COLOR", "1").env("DEVSTACK_NO_NVML", "1");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and asserts success, returning stdout+stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "devstack {args:?} failed ({:?}):\n{text}",
            out.status.code()
        );
        text
    }

    /// Names and ids of the project's containers, by `docker ps -a` and the Compose label.
    pub fn containers(&self) -> Vec<(String, String)> {
        let out = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--format",
            "{{.Names}} {{.ID}}",
        ]);
        let mut v: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        v.sort();
        v
    }

    pub fn inspect(&self, service: &str, format: &str) -> String {
        docker(&[
            "inspect",
            "--format",
            format,
            &format!("{}-{service}-1", self.name),
        ])
        .trim()
        .to_string()
    }

    pub fn networks(&self) -> Vec<String> {
        self.labelled("network")
    }

    pub fn volumes(&self) -> Vec<String> {
        self.labelled("volume")
    }

    /// Names of the project's networks or volumes, by Compose's project label.
    fn labelled(&self, kind: &str) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        docker(&[kind, "ls", "--filter", &filter, "--format", "{{.Name}}"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A long-running devstack command (`logs -f`) whose stdout lines arrive on a channel; killed
/// on drop, so a failing test does not leave it holding the test's output open.
pub struct Streaming {
    child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Streaming {
    pub fn start(mut command: Command) -> Streaming {
        use std::io::BufRead;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Streaming { child, lines }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for the process to exit; `None` if it still runs after `limit`.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    /// The next line that satisfies `want`, skipping others; panics after `limit`.
    pub fn next_matching(
        &self,
        what: &str,
        limit: std::time::Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if want(&l) => return l,
                Ok(_) => {}
                Err(_) => panic!("no {what} within {limit:?}"),
            }
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // `down` stops a background supervisor and its host processes too.
        if self.path().join(".devstack/supervisor.json").exists() {
            let _ = self
                .command(&["down", "--volumes", "--timeout", "1"])
                .output();
        }
        let ids: Vec<String> = self.containers().into_iter().map(|(_, id)| id).collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        for n in self.networks() {
            let _ = Command::new("docker").args(["network", "rm", &n]).output();
        }
        for v in self.volumes() {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", &v])
                .output();
        }
    }
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A program in a tmux session of its own, read and typed into as a person would (the
/// attached `up` and dashboard tests); the session is killed on drop.
pub struct Tmux(String);

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Tmux {
    /// Whether tmux is there; under CI it must be.
    pub fn available() -> bool {
        if Command::new("tmux").arg("-V").output().is_ok() {
            return true;
        }
        assert!(std::env::var_os("CI").is_none(), "CI must install tmux");
        eprintln!("!!! SKIPPED: tmux is not installed !!!");
        false
    }

    /// Runs `script` (a shell command line) in a `w`×`h` session named `session`.
    pub fn start(session: &str, script: &str, w: u16, h: u16) -> Tmux {
        tmux(&[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            script,
        ]);
        Tmux(session.to_string())
    }

    pub fn screen(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.0])
    }

    /// Types keys (tmux names: `C-c`, `Enter`, or text).
    pub fn keys(&self, k: &str) {
        tmux(&["send-keys", "-t", &self.0, k]);
    }

    /// Waits until the screen shows `what`; panics with the screen after `limit`.
    pub fn wait_for(&self, what: &str, limit: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {what:?} within {limit:?}:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn resize(&self, w: u16, h: u16) {
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

    /// Whether the program has the terminal's alternate screen on (a full-screen program).
    pub fn alternate_screen(&self) -> bool {
        tmux(&["display-message", "-p", "-t", &self.0, "#{alternate_on}"]).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}
