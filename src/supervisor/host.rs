//! One host process: started when the executor says so (once its `depends_on` hold), under
//! its relay (`relay.rs`) in its own process group, with its declared environment on top of
//! the user's; restarted per policy with exponential backoff (1 s doubling to a cap, reset
//! after a stable minute); stopped and started on request; optional healthcheck (command or
//! HTTP). Its output goes to its log file through the relay, not through the supervisor, so
//! it outlives a killed supervisor; the next supervisor adopts it (pid and start time)
//! instead of starting a second copy, and hands it over in turn when it is replaced.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot, watch};

use super::logfile::Follower;
use super::process;
use super::relay::{self, RelayStatus};
use super::state::HostPhase;
use super::{HostError, Shared, SupEvent};
use crate::project::model::{Healthcheck, HostProcess};

const BACKOFF_CAP: Duration = Duration::from_secs(30);
const STABLE_AFTER: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(5);

/// What the executor (through [`super::Controls`]) asks of a host process.
#[derive(Debug)]
pub enum Control {
    /// Start it unless it runs; answered once it has been spawned.
    Start(Reply),
    /// Stop it (its whole process group) and keep it stopped until the next start.
    Stop(oneshot::Sender<()>),
    /// Stop it and start it again; answered once the new process has been spawned.
    Restart(Reply),
    /// The supervisor is going away: stop it.
    Shutdown,
    /// The supervisor is being replaced (a new configuration): leave it running for the next
    /// one to adopt.
    HandOver,
}

pub type Reply = oneshot::Sender<Result<HostAction, HostError>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    Started,
    AlreadyRunning,
    Disabled(String),
}

/// How a host process was found ready (what `up` and `restart` print).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Healthy,
    Running,
    /// Exited 0 before anyone looked, without a healthcheck: a one-shot task.
    Completed,
    Disabled,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Healthy => "healthy",
            Readiness::Running => "running",
            Readiness::Completed => "completed",
            Readiness::Disabled => "disabled",
        }
    }

    /// The same word on the control socket.
    pub fn outcome(self) -> super::hosts::Outcome {
        use super::hosts::Outcome;
        match self {
            Readiness::Healthy => Outcome::Healthy,
            Readiness::Running => Outcome::Running,
            Readiness::Completed => Outcome::Completed,
            Readiness::Disabled => Outcome::Disabled,
        }
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a host process is, for waiters (`up` returns when it is ready).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet: waits for the executor (its dependencies first).
    Idle,
    Disabled(String),
    Running,
    /// Exited; restarting after a backoff.
    Backoff,
    /// Exited and its policy does not restart it.
    Exited(i32),
    /// Could not be spawned.
    Failed(String),
    Stopped,
}

#[derive(Debug, Clone)]
pub struct HostStatus {
    pub phase: Phase,
    /// starting / healthy / unhealthy; None without a healthcheck.
    pub health: Option<String>,
    /// How many times it was spawned: a waiter cannot miss a short run between two looks.
    pub spawns: u64,
}

/// A host process that a previous supervisor left running (its relay and command), to be
/// adopted rather than started again.
#[derive(Debug, Clone)]
pub struct Adopt {
    pub pgid: i32,
    pub pgid_start: Option<u64>,
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
}

/// Kills a whole process group: SIGTERM, then SIGKILL after `grace`.
pub async fn kill_group(pgid: i32, grace: Duration) {
    let pg = Pid::from_raw(pgid);
    if killpg(pg, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if killpg(pg, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = killpg(pg, Signal::SIGKILL);
}

/// Why the running process stopped being the running process.
enum Outcome {
    Exited(i32),
    Stop(oneshot::Sender<()>),
    Restart(Reply),
    Shutdown,
    HandOver,
}

/// The relay that runs the command: started by this supervisor (its child, waited on), or
/// adopted from a previous one (polled: it is not our child).
enum Relay {
    Child(tokio::process::Child),
    Adopted { pid: i32, start: Option<u64> },
}

/// The running host process.
struct Running {
    relay: Relay,
    /// The relay's pid, which leads the process group.
    pgid: i32,
    pgid_start: Option<u64>,
    /// The command's pid, when the relay has said it.
    pid: Option<i32>,
    status_file: PathBuf,
}

impl Running {
    /// Waits until it has ended; its exit code (cancel-safe: a `select!` may drop it).
    async fn wait(&mut self) -> i32 {
        match &mut self.relay {
            Relay::Child(c) => match c.wait().await {
                Ok(st) => relay::exit_code(st),
                Err(_) => -1,
            },
            Relay::Adopted { pid, start } => {
                while process::same_process(*pid, *start) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                RelayStatus::read(&self.status_file)
                    .filter(|s| s.relay_pid == self.pgid)
                    .and_then(|s| s.exit_code)
                    .unwrap_or(-1)
            }
        }
    }
}

/// Starts the relay for `spec` (a new process group; no parent-death signal: it must outlive
/// us) and waits until it has started the command, or says why it could not.
async fn spawn(
    spec: &HostProcess,
    shared: &Shared,
    cwd: &std::path::Path,
) -> Result<Running, HostError> {
    let status_file = relay::status_file(&shared.paths, &spec.name);
    let _ = std::fs::remove_file(&status_file);
    let exe = relay::devstack_exe()
        .map_err(|e| HostError::Spawn(format!("cannot find devstack itself: {e}")))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("supervise")
        .arg("--relay-log")
        .arg(shared.paths.log(&spec.name))
        .arg("--status")
        .arg(&status_file)
        .arg("--")
        .args(&spec.command)
        .envs(&spec.environment)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| HostError::Spawn(format!("cannot start `{}`: {e}", spec.command.join(" "))))?;
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    let pgid_start = process::start_time(pgid);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pid = None;
    while Instant::now() < deadline {
        if let Some(st) = RelayStatus::read(&status_file).filter(|s| s.relay_pid == pgid) {
            if let Some(e) = st.error {
                let _ = child.wait().await;
                return Err(HostError::Spawn(e));
            }
            pid = st.pid;
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(HostError::Spawn(format!(
                "the relay of `{}` exited with code {} before starting it",
                spec.command.join(" "),
                relay::exit_code(st)
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Running {
        relay: Relay::Child(child),
        pgid,
        pgid_start,
        pid,
        status_file,
    })
}

/// Hash of one host process's configuration (see [`Adopt`]).
pub fn spec_hash(spec: &HostProcess) -> String {
    crate::engine::labels::hash_json(&serde_json::to_value(spec).unwrap_or_default())
}

/// The status the executor waits on.
struct StatusTx(watch::Sender<HostStatus>);

impl StatusTx {
    fn set(&self, phase: Phase, health: Option<String>) {
        self.0.send_modify(|st| {
            if phase == Phase::Running {
                st.spawns += 1;
            }
            st.phase = phase;
            st.health = health;
        });
    }
}

/// A disabled host process (no camera): answers every request with why, until shutdown.
async fn run_disabled(
    spec: &HostProcess,
    shared: &Shared,
    control: &mut mpsc::Receiver<Control>,
    status: &StatusTx,
) {
    let reason = spec
        .disabled_reason
        .clone()
        .unwrap_or_else(|| "enabled: false".into());
    shared.update_host(&spec.name, |h| {
        h.state = HostPhase::Disabled;
        h.disabled_reason = Some(reason.clone());
    });
    status.set(Phase::Disabled(reason.clone()), None);
    while let Some(c) = control.recv().await {
        match c {
            Control::Start(reply) | Control::Restart(reply) => {
                let _ = reply.send(Ok(HostAction::Disabled(reason.clone())));
            }
            Control::Stop(reply) => {
                let _ = reply.send(());
            }
            Control::Shutdown | Control::HandOver => return,
        }
    }
}

/// One host process for the supervisor's lifetime: idle until the executor starts it (once
/// its dependencies hold) or running from the start when adopted; restarted per policy with
/// backoff; stopped and started again on request; handed over when the supervisor is replaced.
/// `stale` is a group a previous supervisor left running under another configuration: it is
/// stopped first.
pub async fn run(
    spec: HostProcess,
    shared: Arc<Shared>,
    control: mpsc::Receiver<Control>,
    status: watch::Sender<HostStatus>,
    adopt: Option<Adopt>,
    stale: Option<i32>,
) {
    if let Some(pgid) = stale {
        kill_group(pgid, GRACE).await;
    }
    let mut life = Life {
        cwd: spec
            .working_dir
            .clone()
            .unwrap_or_else(|| shared.project_dir.clone()),
        hash: spec_hash(&spec),
        spec,
        shared,
        control,
        status: StatusTx(status),
        backoff: Duration::from_secs(1),
        pending: None,
        restart_requested: false,
    };
    if !life.spec.enabled {
        return run_disabled(&life.spec, &life.shared, &mut life.control, &life.status).await;
    }
    if adopt.is_none() {
        life.shared.update_host(&life.spec.name, |h| {
            h.state = HostPhase::Waiting;
            h.pid = None;
            h.pgid = None;
            h.pgid_start = None;
            h.pid_start = None;
        });
    }
    let mut adopt = adopt;
    loop {
        let adopted = adopt.take();
        if adopted.is_none() && life.pending.is_none() {
            match life.wait_for_request().await {
                Step::Go => {}
                Step::Again => continue,
                Step::Return => return,
            }
        }
        // Its output is followed from here: lines written from now on become events.
        let mut follower = Follower::at_end(&life.shared.paths.log(&life.spec.name));
        let started = Instant::now();
        let mut running = match life.obtain(adopted).await {
            Ok(r) => r,
            Err(Step::Return) => return,
            Err(_) => continue,
        };
        life.mark_running(&running);
        let health_task = life.spec.healthcheck.clone().map(|hc| {
            tokio::spawn(health_loop(
                life.spec.name.clone(),
                hc,
                life.cwd.clone(),
                life.shared.clone(),
                life.status.0.clone(),
            ))
        });
        let outcome = watch_running(&mut life, &mut running, &mut follower).await;
        if let Some(t) = health_task {
            t.abort();
        }
        match life
            .after_run(outcome, &mut running, &mut follower, started)
            .await
        {
            Step::Return => return,
            Step::Go | Step::Again => {}
        }
    }
}

/// What the loop of [`run`] does next.
enum Step {
    /// Start (or adopt) it now.
    Go,
    /// Back to waiting for a request.
    Again,
    /// The supervisor is going.
    Return,
}

/// One host process's task and what it carries from one run to the next.
struct Life {
    spec: HostProcess,
    shared: Arc<Shared>,
    control: mpsc::Receiver<Control>,
    status: StatusTx,
    cwd: PathBuf,
    hash: String,
    backoff: Duration,
    /// Who waits for the next spawn: a start or restart request.
    pending: Option<Reply>,
    restart_requested: bool,
}

impl Life {
    /// Stopped, exited or not started yet: waits to be asked.
    async fn wait_for_request(&mut self) -> Step {
        match self.control.recv().await {
            Some(Control::Start(r)) => self.pending = Some(r),
            Some(Control::Restart(r)) => {
                self.restart_requested = true;
                self.pending = Some(r);
            }
            Some(Control::Stop(r)) => {
                let _ = r.send(());
                return Step::Again;
            }
            Some(Control::Shutdown | Control::HandOver) | None => return Step::Return,
        }
        Step::Go
    }

    /// The running process: the adopted one, or a new one. A spawn that fails is reported
    /// and, by its policy, retried after a backoff (`Err(Again)` either way).
    async fn obtain(&mut self, adopted: Option<Adopt>) -> Result<Running, Step> {
        if let Some(a) = adopted {
            return Ok(Running {
                relay: Relay::Adopted {
                    pid: a.pgid,
                    start: a.pgid_start,
                },
                pgid: a.pgid,
                pgid_start: a.pgid_start,
                pid: a.pid,
                status_file: relay::status_file(&self.shared.paths, &self.spec.name),
            });
        }
        let err = match spawn(&self.spec, &self.shared, &self.cwd).await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        let msg = err.to_string();
        let name = self.spec.name.clone();
        self.shared.emit(SupEvent::Note(name.clone(), msg.clone()));
        self.shared
            .update_host(&name, |h| h.state = HostPhase::Failed);
        self.status.set(Phase::Failed(msg.clone()), None);
        if let Some(r) = self.pending.take() {
            let _ = r.send(Err(err));
        }
        if self.spec.restart == "no" {
            return Err(Step::Again);
        }
        match sleep_or_control(&mut self.control, self.backoff).await {
            Some(Control::Shutdown | Control::HandOver) => return Err(Step::Return),
            Some(Control::Stop(r)) => {
                let _ = r.send(());
                return Err(Step::Again);
            }
            Some(Control::Start(r)) | Some(Control::Restart(r)) => self.pending = Some(r),
            // Policy retries spawn again without a requester.
            None => self.pending = Some(oneshot::channel().0),
        }
        self.backoff = (self.backoff * 2).min(BACKOFF_CAP);
        Err(Step::Again)
    }

    /// Records it as running (state file, waiters, events) and answers who asked for it.
    fn mark_running(&mut self, running: &Running) {
        let name = self.spec.name.clone();
        let adopted = matches!(running.relay, Relay::Adopted { .. });
        let health = self
            .spec
            .healthcheck
            .as_ref()
            .map(|_| "starting".to_string());
        let restarted = std::mem::take(&mut self.restart_requested);
        self.shared.update_host(&name, |h| {
            h.state = HostPhase::Running;
            h.pid = running.pid;
            h.pgid = Some(running.pgid);
            h.pgid_start = running.pgid_start;
            h.pid_start = running.pid.and_then(process::start_time);
            h.spec_hash = Some(self.hash.clone());
            h.health = health.clone();
            if !adopted {
                h.started_at = Some(chrono::Utc::now().to_rfc3339());
            }
            if restarted {
                h.restarts += 1;
            }
        });
        self.status.set(Phase::Running, health);
        let shown_pid = running.pid.unwrap_or(running.pgid);
        self.shared.emit(if adopted {
            SupEvent::Note(
                name,
                format!(
                    "adopted the running process (pid {shown_pid}) instead of starting a second copy"
                ),
            )
        } else {
            SupEvent::Started(name, shown_pid)
        });
        if let Some(r) = self.pending.take() {
            let _ = r.send(Ok(HostAction::Started));
        }
    }

    /// After a run: handed over (left running), or stopped, restarted or exited (its group
    /// killed, its last lines read, the state recorded, the policy applied).
    async fn after_run(
        &mut self,
        outcome: Outcome,
        running: &mut Running,
        follower: &mut Follower,
        started: Instant,
    ) -> Step {
        let name = self.spec.name.clone();
        if matches!(outcome, Outcome::HandOver) {
            emit_lines(&name, &self.shared, follower);
            return Step::Return;
        }
        // The relay is gone or going; take its whole group (grandchildren included) with it.
        kill_group(running.pgid, GRACE).await;
        let code = match outcome {
            Outcome::Exited(code) => code,
            _ => running.wait().await,
        };
        // The relay wrote the last lines before it exited.
        emit_lines(&name, &self.shared, follower);
        let stopped = |shared: &Shared, status: &StatusTx| {
            shared.update_host(&name, |h| {
                h.state = HostPhase::Stopped;
                h.pid = None;
                h.pgid = None;
                h.health = None;
            });
            status.set(Phase::Stopped, None);
        };
        match outcome {
            Outcome::Shutdown | Outcome::HandOver => {
                stopped(&self.shared, &self.status);
                Step::Return
            }
            Outcome::Stop(r) => {
                stopped(&self.shared, &self.status);
                self.shared
                    .emit(SupEvent::Note(name.clone(), "stopped".into()));
                let _ = r.send(());
                Step::Again
            }
            Outcome::Restart(r) => {
                self.shared.emit(SupEvent::Restarted(
                    name.clone(),
                    "restart requested".into(),
                ));
                self.restart_requested = true;
                self.pending = Some(r);
                self.backoff = Duration::from_secs(1);
                Step::Go
            }
            Outcome::Exited(_) => match after_exit(self, code, started).await {
                Next::Return => Step::Return,
                Next::Idle => Step::Again,
                Next::Spawn(r) => {
                    self.pending = Some(r);
                    Step::Go
                }
            },
        }
    }
}

/// Runs until it exits or a request ends its run; its lines become events meanwhile.
async fn watch_running(life: &mut Life, running: &mut Running, follower: &mut Follower) -> Outcome {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => emit_lines(&life.spec.name, &life.shared, follower),
            code = running.wait() => return Outcome::Exited(code),
            c = life.control.recv() => match c {
                Some(Control::Start(r)) => {
                    let _ = r.send(Ok(HostAction::AlreadyRunning));
                }
                Some(Control::Stop(r)) => return Outcome::Stop(r),
                Some(Control::Restart(r)) => return Outcome::Restart(r),
                Some(Control::HandOver) => return Outcome::HandOver,
                Some(Control::Shutdown) | None => return Outcome::Shutdown,
            },
        }
    }
}

/// The lines its relay wrote since the last look, as events (attached `up`, `dash`).
fn emit_lines(name: &str, shared: &Shared, follower: &mut Follower) {
    for (ts, _, line) in follower.poll() {
        shared.emit(SupEvent::Line(name.to_string(), ts, line));
    }
}

/// What a host process does next after it exited.
enum Next {
    Return,
    Idle,
    Spawn(Reply),
}

/// Records the exit and applies the restart policy: waits out the backoff (a request may cut
/// it short), then spawns again, or stays idle.
async fn after_exit(life: &mut Life, code: i32, started: Instant) -> Next {
    let (spec, shared, status) = (&life.spec, &life.shared, &life.status);
    let name = &spec.name;
    shared.update_host(name, |h| {
        h.last_exit = Some(code);
        h.pid = None;
        h.pgid = None;
        h.health = None;
    });
    let restart = restarts(&spec.restart, code);
    shared.emit(SupEvent::Exited(name.clone(), code, restart));
    if !restart {
        shared.update_host(name, |h| h.state = HostPhase::Exited);
        status.set(Phase::Exited(code), None);
        return Next::Idle;
    }
    if started.elapsed() >= STABLE_AFTER {
        life.backoff = Duration::from_secs(1);
    }
    shared.update_host(name, |h| {
        h.state = HostPhase::Backoff;
        h.restarts += 1;
    });
    status.set(Phase::Backoff, None);
    let stopped = || {
        shared.update_host(name, |h| h.state = HostPhase::Stopped);
        status.set(Phase::Stopped, None);
    };
    let next = match sleep_or_control(&mut life.control, life.backoff).await {
        Some(Control::Shutdown | Control::HandOver) => {
            stopped();
            return Next::Return;
        }
        Some(Control::Stop(r)) => {
            stopped();
            let _ = r.send(());
            return Next::Idle;
        }
        Some(Control::Start(r)) | Some(Control::Restart(r)) => Next::Spawn(r),
        None => Next::Spawn(oneshot::channel().0),
    };
    life.backoff = (life.backoff * 2).min(BACKOFF_CAP);
    next
}

/// Whether its restart policy starts it again after it exited with `code`.
fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "always" => true,
        "on-failure" => code != 0,
        _ => false,
    }
}

/// Sleeps `d`, or returns early with a control message (`None` after the full sleep).
async fn sleep_or_control(control: &mut mpsc::Receiver<Control>, d: Duration) -> Option<Control> {
    tokio::select! {
        _ = tokio::time::sleep(d) => None,
        c = control.recv() => Some(c.unwrap_or(Control::Shutdown)),
    }
}

async fn health_loop(
    name: String,
    hc: Healthcheck,
    cwd: std::path::PathBuf,
    shared: Arc<Shared>,
    status: watch::Sender<HostStatus>,
) {
    let interval = hc.interval.unwrap_or(Duration::from_secs(5));
    let retries = hc.retries.unwrap_or(3).max(1);
    if let Some(sp) = hc.start_period {
        tokio::time::sleep(sp.min(Duration::from_secs(600))).await;
    }
    let mut streak = 0;
    loop {
        let ok = probe(&hc, &cwd).await;
        streak = if ok { 0 } else { streak + 1 };
        let verdict = if ok {
            Some("healthy")
        } else if streak >= retries {
            Some("unhealthy")
        } else {
            None
        };
        if let Some(s) = verdict {
            let changed = shared.update_host(&name, |h| {
                let old = h.health.replace(s.to_string());
                old.as_deref() != Some(s)
            });
            status.send_modify(|st| st.health = Some(s.to_string()));
            if changed {
                shared.emit(SupEvent::Health(name.clone(), s.to_string(), String::new()));
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// `["CMD", …]`, `["CMD-SHELL", "…"]` run on the host; `["HTTP", "http://host:port/path"]`
/// is a GET that must answer 2xx.
/// Runs in the process's working directory, so relative paths mean what they mean to it.
async fn probe(hc: &Healthcheck, cwd: &std::path::Path) -> bool {
    let timeout = hc.timeout.unwrap_or(Duration::from_secs(5));
    let fut = async {
        let (program, args): (&str, Vec<String>) = match hc.test.first().map(String::as_str) {
            Some("CMD") if hc.test.len() > 1 => (hc.test[1].as_str(), hc.test[2..].to_vec()),
            Some("CMD-SHELL") => ("/bin/sh", vec!["-c".into(), hc.test[1..].join(" ")]),
            Some("HTTP") => return http_ok(hc.test.get(1).map(String::as_str).unwrap_or("")).await,
            _ => return false,
        };
        tokio::process::Command::new(program)
            .current_dir(cwd)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success())
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or(false)
}

async fn http_ok(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (hostport, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let Ok(mut s) = tokio::net::TcpStream::connect(hostport).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    head.starts_with("HTTP/1.") && head.as_bytes().get(9) == Some(&b'2')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_says_who_comes_back() {
        assert!(restarts("always", 0) && restarts("always", 1));
        assert!(restarts("on-failure", 2) && !restarts("on-failure", 0));
        assert!(!restarts("no", 1) && !restarts("unless-stopped-typo", 1));
    }

    #[test]
    fn readiness_says_the_socket_word() {
        for r in [
            Readiness::Healthy,
            Readiness::Running,
            Readiness::Completed,
            Readiness::Disabled,
        ] {
            let word = serde_json::to_string(&r.outcome()).unwrap();
            assert_eq!(word, format!("\"{r}\""));
        }
    }

    #[test]
    fn a_spawn_counts_only_when_it_runs() {
        let (tx, rx) = watch::channel(HostStatus {
            phase: Phase::Idle,
            health: None,
            spawns: 0,
        });
        let tx = StatusTx(tx);
        tx.set(Phase::Backoff, None);
        assert_eq!(rx.borrow().spawns, 0);
        tx.set(Phase::Running, Some("starting".into()));
        tx.set(Phase::Running, Some("starting".into()));
        let st = rx.borrow().clone();
        assert_eq!((st.phase, st.spawns), (Phase::Running, 2));
    }
}
