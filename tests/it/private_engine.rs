//! A second dockerd of the test's own, so a test can stop and start an engine while the other
//! tests (on the default engine, in parallel) do not notice.
//!
//! It coexists with the main dockerd by owning everything a dockerd keeps per host:
//! - its socket, `--data-root`, `--exec-root` (so also its managed containerd, whose socket
//!   lives there), `--pidfile` and `--config-file` all under a short `/tmp/dse-<pid>-<n>`
//!   (unix socket paths must stay under 108 bytes);
//! - `--iptables=false`: a dockerd that manages iptables flushes the DOCKER, DOCKER-ISOLATION-*
//!   chains when it starts (libnetwork `removeIPChains`), which would drop the main engine's port
//!   mappings. Published ports still work through docker-proxy (the userland proxy);
//! - `--ip-forward=false --ip-masq=false`: no host sysctl or NAT changes;
//! - `--bridge=<its own bridge>`, created here with a free /24: `--bridge=none` (and also
//!   `--default-address-pool`, on a restart) makes dockerd delete the interface named `docker0`
//!   (`removeDefaultBridgeInterface`), the main engine's default bridge. Its user-defined
//!   networks take subnets from the standard pools, skipping those with a host route, so they
//!   do not collide with the main engine's networks;
//! - its own containerd namespaces;
//! - where `br_netfilter` makes bridged traffic go through iptables (bridge-nf-call-iptables=1,
//!   FORWARD policy DROP, as the main dockerd leaves it) and with no dockerd rules for its
//!   bridges, one FORWARD rule of its own accepts traffic bridged within one bridge
//!   (`-m physdev --physdev-is-bridged`; routed traffic between networks is not matched).
//!
//! The dockerd runs in its own session with stdin null and stdout/stderr to `<dir>/dockerd.log`,
//! and gets SIGTERM if the thread that started it exits (PR_SET_PDEATHSIG), so an interrupted
//! test run leaves no engine behind: keep one engine per test, not in a static.

#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

const START_LIMIT: Duration = Duration::from_secs(60);
const STOP_LIMIT: Duration = Duration::from_secs(30);

pub struct PrivateEngine {
    dir: PathBuf,
    bridge: String,
    /// The FORWARD rule (arguments after `-I`/`-D`), when one was needed.
    rule: Option<Vec<String>>,
    child: Mutex<Option<Child>>,
    /// More dockerd arguments (a TCP listener with TLS, for one).
    extra: Vec<String>,
}

impl PrivateEngine {
    /// Starts a private dockerd and waits until `docker -H … info` answers (max 60 s), else
    /// panics with the end of its log.
    pub fn start() -> PrivateEngine {
        PrivateEngine::start_with(Vec::new())
    }

    /// [`PrivateEngine::start`] with more dockerd arguments.
    pub fn start_with(extra: Vec<String>) -> PrivateEngine {
        assert!(
            !Path::new("/run/containerd/containerd.sock").exists(),
            "a system containerd listens on /run/containerd/containerd.sock: a second dockerd \
             would use it instead of starting its own, and stopping that dockerd would not stop \
             its containers"
        );
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = PathBuf::from(format!("/tmp/dse-{pid}-{n}"));
        if dir.exists() {
            // Left by an earlier process with the same pid.
            unmount_under(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("daemon.json"), "{}\n").unwrap();
        let longest = dir.join("exec/containerd/containerd-debug.sock");
        assert!(
            longest.as_os_str().len() < 100,
            "{} is too long for a unix socket",
            longest.display()
        );

        let bridge = format!("dse{pid}x{n}");
        assert!(bridge.len() <= 15, "bridge name {bridge} too long");
        let mut engine = PrivateEngine {
            dir,
            bridge,
            rule: None,
            child: Mutex::new(None),
            extra,
        };
        engine.create_bridge();
        engine.allow_bridged_traffic();
        if let Err(e) = engine.spawn_and_wait(START_LIMIT) {
            panic!(
                "private dockerd did not start: {e}\n{}",
                engine.log_tail(40)
            );
        }
        engine
    }

    /// The `unix://…` URL for DOCKER_HOST.
    pub fn host(&self) -> String {
        format!("unix://{}/docker.sock", self.dir.display())
    }

    /// Its temp dir (`/tmp/dse-<pid>-<n>`): data root, exec root, log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its default bridge (`dse<pid>x<n>`).
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// A docker CLI command against this engine (DOCKER_HOST and DOCKER_CONTEXT cleared).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(self.host())
            .args(args);
        c
    }

    /// Runs the docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("docker CLI")
    }

    /// Runs the docker CLI against this engine, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker -H {} {args:?} failed ({:?}):\n{}",
            self.host(),
            out.status.code(),
            crate::common::text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Copies an image from the default engine: `docker save TAG | docker -H … load`.
    pub fn load_image(&self, tag: &str) {
        let mut save = Command::new("docker")
            .args(["save", tag])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker CLI");
        let load = self
            .command(&["load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .expect("docker CLI");
        let saved = save.wait_with_output().unwrap();
        assert!(
            saved.status.success(),
            "docker save {tag} (default engine) failed: {}",
            crate::common::text(&saved)
        );
        assert!(
            load.status.success(),
            "docker load of {tag} into {} failed: {}",
            self.host(),
            crate::common::text(&load)
        );
    }

    /// True while its dockerd process runs.
    pub fn is_running(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops the engine as a host would: SIGTERM to dockerd, which stops its containers (each
    /// after its stop timeout) and its containerd; waits until dockerd, containerd and the shims
    /// are gone (max 30 s), else panics with the end of its log.
    pub fn stop(&self) {
        if let Err(e) = self.try_stop(STOP_LIMIT) {
            panic!("{e}\n{}", self.log_tail(40));
        }
    }

    /// Starts it again on the same dirs (stopping it first if it runs) and waits until it
    /// answers (max 60 s). Its containers come back as a restarted engine leaves them: exited,
    /// unless a restart policy starts them.
    pub fn restart(&self) {
        if self.is_running() {
            self.stop();
        }
        self.clear_stale_state();
        if let Err(e) = self.spawn_and_wait(START_LIMIT) {
            panic!(
                "private dockerd did not restart: {e}\n{}",
                self.log_tail(40)
            );
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "--- {} (last {lines} lines) ---\n{}",
            self.log_path().display(),
            all[from..].join("\n")
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("dockerd.log")
    }

    fn daemon_args(&self) -> Vec<String> {
        let d = self.dir.display();
        let ns = self.dir.file_name().unwrap().to_string_lossy().into_owned();
        vec![
            format!("--host={}", self.host()),
            format!("--data-root={d}/data"),
            format!("--exec-root={d}/exec"),
            format!("--pidfile={d}/docker.pid"),
            format!("--config-file={d}/daemon.json"),
            format!("--bridge={}", self.bridge),
            "--iptables=false".into(),
            "--ip-forward=false".into(),
            "--ip-masq=false".into(),
            format!("--containerd-namespace={ns}"),
            format!("--containerd-plugins-namespace={ns}-plugins"),
        ]
        .into_iter()
        .chain(self.extra.iter().cloned())
        .collect()
    }

    fn spawn_and_wait(&self, limit: Duration) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("open {}: {e}", self.log_path().display()))?;
        let mut cmd = Command::new("dockerd");
        cmd.args(self.daemon_args())
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run dockerd (is docker.io installed?): {e}"))?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);

        let deadline = Instant::now() + limit;
        loop {
            {
                let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(Ok(Some(status))) = guard.as_mut().map(|c| c.try_wait()) {
                    *guard = None;
                    return Err(format!("dockerd exited ({status})"));
                }
            }
            let answered = self
                .command(&["info", "--format", "{{.ServerVersion}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if answered {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not answer within {limit:?}", self.host()));
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn try_stop(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        {
            let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(child) = guard.as_mut() {
                let pid = Pid::from_raw(child.id() as i32);
                let _ = kill(pid, Signal::SIGTERM);
                loop {
                    if !matches!(child.try_wait(), Ok(None)) {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "private dockerd (pid {pid}) still runs {limit:?} after SIGTERM"
                        ));
                    }
                    sleep(Duration::from_millis(50));
                }
                *guard = None;
            }
        }
        // dockerd waits for its containerd; shims exit with their containers.
        loop {
            let left = processes_mentioning(&self.dir);
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "after the private dockerd stopped, these still run: {left:?}"
                ));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// After a dockerd that did not stop cleanly (killed): its containerd got SIGKILL with it
    /// but may linger as a zombie, and a new dockerd that finds the pid of
    /// `exec/containerd/containerd.pid` alive waits for that containerd's socket until it gives
    /// up. The old containerd is killed and the pid files go; the shims stay, so the new
    /// containerd takes their containers over and the new dockerd stops them.
    fn clear_stale_state(&self) {
        let config = self.dir.join("exec/containerd/containerd.toml");
        let mut killed = Vec::new();
        for pid in processes_mentioning(&self.dir) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.starts_with("dockerd ") || cmdline.contains(&*config.to_string_lossy()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                killed.push(pid);
            }
        }
        // Gone, or a zombie: either way no longer holding its sockets.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && killed.iter().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    !st.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
            })
        {
            sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.dir.join("exec/containerd/containerd.pid"));
        let _ = std::fs::remove_file(self.dir.join("docker.pid"));
    }

    /// Ids of the containers in its data root.
    fn container_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("data/containers"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.len() == 64)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn create_bridge(&self) {
        static LOCK: Mutex<()> = Mutex::new(());
        let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let subnet = free_subnet();
        ip(&["link", "add", &self.bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{subnet}.1/24"),
            "dev",
            &self.bridge,
        ]);
        ip(&["link", "set", &self.bridge, "up"]);
    }

    fn allow_bridged_traffic(&mut self) {
        let bridged_through_iptables =
            std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
                .is_ok_and(|v| v.trim() == "1");
        if !bridged_through_iptables {
            return;
        }
        let rule: Vec<String> = [
            "FORWARD",
            "-m",
            "physdev",
            "--physdev-is-bridged",
            "-m",
            "comment",
            "--comment",
            &format!("devstack-test private engine {}", self.dir.display()),
            "-j",
            "ACCEPT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = Command::new("iptables")
            .arg("-I")
            .args(&rule)
            .output()
            .expect("iptables is needed for the private engine's bridged traffic");
        assert!(
            out.status.success(),
            "iptables -I {rule:?} failed (containers of the private engine could not reach each \
             other with br_netfilter on): {}",
            crate::common::text(&out)
        );
        self.rule = Some(rule);
    }

    /// The bridges (br-<12 hex of the id>) of its user-defined bridge networks.
    fn network_bridges(&self) -> Vec<String> {
        let out = self.docker(&[
            "network",
            "ls",
            "--no-trunc",
            "--filter",
            "driver=bridge",
            "--format",
            "{{.ID}} {{.Name}}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(id, name)| *name != "bridge" && id.len() >= 12)
            .map(|(id, _)| format!("br-{}", &id[..12]))
            .collect()
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        // A stopped (or dead) engine is started again, so it removes its own containers,
        // networks and mounts; whatever is left after that is removed by hand below.
        if !self.is_running() && self.dir.join("data").is_dir() {
            self.clear_stale_state();
            if let Err(e) = self.spawn_and_wait(Duration::from_secs(20)) {
                eprintln!("private engine cleanup: restart failed: {e}");
            }
        }
        let mut bridges = Vec::new();
        if self.is_running() {
            bridges = self.network_bridges();
            let ids = String::from_utf8_lossy(&self.docker(&["ps", "-aq"]).stdout).into_owned();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f", "-v"];
                args.extend(ids);
                let _ = self.docker(&args);
            }
            let _ = self.docker(&["network", "prune", "-f"]);
        }
        if let Err(e) = self.try_stop(STOP_LIMIT) {
            eprintln!("private engine cleanup: {e}");
        }
        // Whatever still runs from this engine (dockerd, containerd, shims) is killed.
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in processes_mentioning(&self.dir) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Had the engine not come back to stop them, its containers' processes are found by
        // their cgroups (cgroupfs: …/docker/<id>), killed, and the cgroups removed.
        let ids = self.container_ids();
        kill_and_remove_cgroups(&ids);
        unmount_under(&self.dir);
        bridges.push(self.bridge.clone());
        for b in bridges {
            if Path::new("/sys/class/net").join(&b).exists() {
                let _ = Command::new("ip").args(["link", "delete", &b]).output();
            }
        }
        if let Some(rule) = &self.rule {
            let _ = Command::new("iptables").arg("-D").args(rule).output();
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("private engine cleanup: rm -rf {}: {e}", self.dir.display());
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("`ip` (iproute2) is needed for the private engine's bridge");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        crate::common::text(&out)
    );
}

/// A `10.213.K` (/24) that no host route overlaps.
fn free_subnet() -> String {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let routes: Vec<(u32, u32)> = routes
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel writes them in host byte order.
            Some((
                u32::from_be_bytes(dest.to_ne_bytes()),
                u32::from_be_bytes(mask.to_ne_bytes()),
            ))
        })
        .filter(|&(_, mask)| mask != 0)
        .collect();
    let start = (std::process::id() as usize * 7 + COUNTER.load(Ordering::SeqCst)) % 250;
    for i in 0..250 {
        let k = ((start + i) % 250 + 1) as u32;
        let net = (10 << 24) | (213 << 16) | (k << 8);
        let mask24 = 0xffff_ff00u32;
        let overlaps = routes
            .iter()
            .any(|&(dest, mask)| (dest & mask & mask24) == (net & mask & mask24));
        if !overlaps {
            return format!("10.213.{k}");
        }
    }
    panic!("no free /24 in 10.213.0.0/16 for a private engine's bridge");
}

/// Pids of processes whose command line names a path under `dir`.
fn processes_mentioning(dir: &Path) -> Vec<i32> {
    let needle = format!("{}/", dir.display());
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// Mount points under `dir` (from /proc/self/mountinfo), deepest first.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|p| p.starts_with(&prefix) || p == prefix.trim_end_matches('/'))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    points
}

fn unescape_mount_path(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
        if octal {
            let digits = std::str::from_utf8(&b[i + 1..i + 4]).unwrap();
            out.push(u8::from_str_radix(digits, 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything under `dir`, deepest first; again while mounts remain (dockerd
/// bind-mounts its data root onto itself, once per start).
fn unmount_under(dir: &Path) {
    for _ in 0..10 {
        let points = mounts_under(dir);
        if points.is_empty() {
            return;
        }
        for p in points {
            let plain = Command::new("umount").arg(&p).output();
            if !plain.is_ok_and(|o| o.status.success()) {
                let _ = Command::new("umount").arg("-l").arg(&p).output();
            }
        }
    }
}

/// Kills the processes in the cgroups of these containers and removes the cgroups.
fn kill_and_remove_cgroups(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let in_ours = |pid: &str| {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        ids.iter().any(|id| cg.contains(&format!("/docker/{id}")))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<i32> = std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
                    .filter(|pid| in_ours(&pid.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if pids.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        sleep(Duration::from_millis(100));
    }
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut roots: Vec<PathBuf> = controllers.flatten().map(|e| e.path()).collect();
    roots.push(PathBuf::from("/sys/fs/cgroup"));
    for root in roots {
        for id in ids {
            let cg = root.join("docker").join(id);
            if cg.is_dir() {
                let _ = std::fs::remove_dir(&cg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::Command;
    use std::thread::sleep;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::common::{docker, docker_available, free_port, text};

    const BB: &str = "devstack-test-bb:latest";

    /// The busybox test image on the default engine; built the way every fixture stack builds
    /// it (once per process, through Stack::new) when missing.
    fn ensure_bb_image() {
        let present = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", BB])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            let _stack = crate::common::Stack::new("supervised");
        }
    }

    /// A container on the default engine, removed on drop.
    struct MainContainer(String);

    impl Drop for MainContainer {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
        }
    }

    fn running_on_main(name: &str) -> bool {
        docker(&["inspect", "--format", "{{.State.Running}}", name]).trim() == "true"
    }

    fn http_get(port: u16) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    }

    fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !f() {
            assert!(Instant::now() < deadline, "no {what} within {limit:?}");
            sleep(Duration::from_millis(200));
        }
    }

    /// `nc` from a second container to `web` by name (Docker DNS) on `dsenet`.
    fn reaches_web_by_name(pe: &PrivateEngine) -> bool {
        let out = pe.docker(&[
            "run",
            "--rm",
            "--network",
            "dsenet",
            BB,
            "sh",
            "-c",
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80",
        ]);
        text(&out).contains("\r\n\r\nok")
    }

    #[test]
    fn a_private_engine_stops_and_restarts_while_the_main_one_runs_on() {
        if !docker_available() {
            return;
        }
        ensure_bb_image();
        let main = MainContainer(format!("dse-main-{}", std::process::id()));
        let out = Command::new("docker")
            .args(["run", "-d", "--name", &main.0, BB, "sleep", "600"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let had_docker0 = Path::new("/sys/class/net/docker0").exists();
        let main_ok = |when: &str| {
            assert!(
                running_on_main(&main.0),
                "main engine's container stopped {when}"
            );
            if had_docker0 {
                assert!(
                    Path::new("/sys/class/net/docker0").exists(),
                    "docker0 of the main engine disappeared {when}"
                );
            }
        };

        let t = Instant::now();
        let pe = PrivateEngine::start();
        eprintln!("started {} in {:?}", pe.host(), t.elapsed());
        assert!(pe.host().starts_with("unix:///tmp/dse-"), "{}", pe.host());
        let t = Instant::now();
        pe.load_image(BB);
        eprintln!("loaded {BB} in {:?}", t.elapsed());
        let redis = crate::images::redis_image();
        let t = Instant::now();
        pe.load_image(&redis);
        eprintln!("loaded {redis} in {:?}", t.elapsed());
        assert!(pe
            .ok(&["run", "--rm", &redis, "redis-cli", "--version"])
            .contains("redis-cli"));
        assert!(
            pe.ok(&["ps", "-aq"]).trim().is_empty(),
            "a fresh engine has no containers"
        );

        pe.ok(&["network", "create", "dsenet"]);
        let port = free_port();
        let published = format!("127.0.0.1:{port}:80");
        pe.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "dsenet",
            "--stop-timeout",
            "2",
            "-p",
            &published,
            BB,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        wait_for(
            "web by name from a second container",
            Duration::from_secs(10),
            || reaches_web_by_name(&pe),
        );
        wait_for(
            "the published port from the host",
            Duration::from_secs(10),
            || http_get(port).is_some_and(|b| b.contains("\r\n\r\nok")),
        );
        assert!(
            docker(&["ps", "-a", "--format", "{{.Names}}"])
                .lines()
                .all(|n| n != "web"),
            "the private engine's container shows on the default engine"
        );
        main_ok("while the private engine ran");

        let t = Instant::now();
        pe.stop();
        eprintln!("stopped in {:?}", t.elapsed());
        assert!(!pe.is_running());
        assert!(
            !pe.docker(&["info"]).status.success(),
            "a stopped engine answers"
        );
        assert!(processes_mentioning(pe.dir()).is_empty());
        assert!(http_get(port).is_none(), "the published port still answers");
        main_ok("when the private engine stopped");

        let t = Instant::now();
        pe.restart();
        eprintln!("restarted in {:?}", t.elapsed());
        let state = pe.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Running}}",
            "web",
        ]);
        assert_eq!(
            state.trim(),
            "exited false",
            "the engine's stop stopped its container"
        );
        pe.ok(&["start", "web"]);
        wait_for(
            "the published port after the restart",
            Duration::from_secs(10),
            || http_get(port).is_some_and(|b| b.contains("\r\n\r\nok")),
        );
        wait_for(
            "web by name after the restart",
            Duration::from_secs(10),
            || reaches_web_by_name(&pe),
        );
        main_ok("after the private engine restarted");

        // Drop removes everything: processes, mounts, bridges, the rule, the dir.
        let dir = pe.dir().to_path_buf();
        let bridge = pe.bridge().to_string();
        let net_bridges = pe.network_bridges();
        assert_eq!(net_bridges.len(), 1, "dsenet's bridge: {net_bridges:?}");
        assert!(Path::new("/sys/class/net").join(&net_bridges[0]).exists());
        let t = Instant::now();
        drop(pe);
        eprintln!("dropped in {:?}", t.elapsed());
        assert!(
            processes_mentioning(&dir).is_empty(),
            "{:?}",
            processes_mentioning(&dir)
        );
        assert!(mounts_under(&dir).is_empty(), "{:?}", mounts_under(&dir));
        assert!(!dir.exists(), "{} left behind", dir.display());
        for b in net_bridges.iter().chain([&bridge]) {
            assert!(
                !Path::new("/sys/class/net").join(b).exists(),
                "{b} left behind"
            );
        }
        let rules = Command::new("iptables")
            .args(["-S", "FORWARD"])
            .output()
            .unwrap();
        assert!(
            !text(&rules).contains(&dir.display().to_string()),
            "{}",
            text(&rules)
        );
        main_ok("after the private engine was removed");
    }

    #[test]
    fn a_private_engine_killed_under_its_containers_is_still_removed() {
        if !docker_available() {
            return;
        }
        ensure_bb_image();
        let pe = PrivateEngine::start();
        pe.load_image(BB);
        pe.ok(&["network", "create", "dsenet"]);
        pe.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "dsenet",
            "--stop-timeout",
            "1",
            BB,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let web_pid: i32 = pe
            .ok(&["inspect", "--format", "{{.State.Pid}}", "web"])
            .trim()
            .parse()
            .unwrap();
        let dockerd = pe.child.lock().unwrap().as_ref().unwrap().id() as i32;
        kill(Pid::from_raw(dockerd), Signal::SIGKILL).unwrap();
        wait_for("dockerd gone", Duration::from_secs(10), || !pe.is_running());
        assert!(
            Path::new(&format!("/proc/{web_pid}")).exists(),
            "the container outlives dockerd"
        );

        let dir = pe.dir().to_path_buf();
        let bridge = pe.bridge().to_string();
        let t = Instant::now();
        drop(pe);
        eprintln!("dropped a killed engine in {:?}", t.elapsed());
        assert!(
            !Path::new(&format!("/proc/{web_pid}")).exists(),
            "its container still runs"
        );
        assert!(
            processes_mentioning(&dir).is_empty(),
            "{:?}",
            processes_mentioning(&dir)
        );
        assert!(mounts_under(&dir).is_empty(), "{:?}", mounts_under(&dir));
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(
            !Path::new("/sys/class/net").join(&bridge).exists(),
            "{bridge} left behind"
        );
    }
}
