//! One host process: started when the executor says so (once its `depends_on` hold), in its
//! own process group, with its declared environment on top of the user's; output captured
//! line by line; restarted per policy with exponential backoff (1 s doubling to a cap, reset
//! after a stable minute); stopped and started on request; optional healthcheck (command or
//! HTTP).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

use super::logfile::LogFile;
use super::{Shared, SupEvent};
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
    /// The supervisor is going away.
    Shutdown,
}

pub type Reply = oneshot::Sender<Result<HostAction, String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    Started,
    AlreadyRunning,
    Disabled(String),
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
}

/// One host process for the supervisor's lifetime: idle until the executor starts it (once
/// its dependencies hold), then running, restarted per policy with backoff, stopped and
/// started again on request.
pub async fn run(
    spec: HostProcess,
    shared: Arc<Shared>,
    mut control: mpsc::Receiver<Control>,
    status: watch::Sender<HostStatus>,
) {
    let name = spec.name.clone();
    let set = |phase: Phase, health: Option<String>| {
        status.send_modify(|st| {
            if phase == Phase::Running {
                st.spawns += 1;
            }
            st.phase = phase;
            st.health = health;
        });
    };
    if !spec.enabled {
        let reason = spec
            .disabled_reason
            .clone()
            .unwrap_or_else(|| "enabled: false".into());
        shared.update_host(&name, |h| {
            h.state = "disabled".into();
            h.disabled_reason = Some(reason.clone());
        });
        set(Phase::Disabled(reason.clone()), None);
        while let Some(c) = control.recv().await {
            match c {
                Control::Start(reply) | Control::Restart(reply) => {
                    let _ = reply.send(Ok(HostAction::Disabled(reason.clone())));
                }
                Control::Stop(reply) => {
                    let _ = reply.send(());
                }
                Control::Shutdown => return,
            }
        }
        return;
    }
    shared.update_host(&name, |h| {
        h.state = "waiting".into();
        h.pid = None;
        h.pgid = None;
    });
    let log_path = shared.paths.log(&name);
    let mut log = match LogFile::open(&log_path) {
        Ok(l) => l,
        Err(e) => {
            let msg = format!("cannot open {}: {e}", log_path.display());
            shared.emit(SupEvent::Note(name.clone(), msg.clone()));
            set(Phase::Failed(msg.clone()), None);
            while let Some(c) = control.recv().await {
                match c {
                    Control::Start(r) | Control::Restart(r) => {
                        let _ = r.send(Err(msg.clone()));
                    }
                    Control::Stop(r) => {
                        let _ = r.send(());
                    }
                    Control::Shutdown => return,
                }
            }
            return;
        }
    };
    let mut backoff = Duration::from_secs(1);
    // Who waits for the next spawn: a start or restart request.
    let mut pending: Option<Reply> = None;
    let mut restart_requested = false;
    loop {
        if pending.is_none() {
            // Stopped, exited or not started yet: wait to be asked.
            match control.recv().await {
                Some(Control::Start(r)) => pending = Some(r),
                Some(Control::Restart(r)) => {
                    restart_requested = true;
                    pending = Some(r);
                }
                Some(Control::Stop(r)) => {
                    let _ = r.send(());
                    continue;
                }
                Some(Control::Shutdown) | None => return,
            }
        }
        let cwd = spec
            .working_dir
            .clone()
            .unwrap_or_else(|| shared.project_dir.clone());
        let mut cmd = tokio::process::Command::new(&spec.command[0]);
        cmd.args(&spec.command[1..])
            .envs(&spec.environment)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl in the forked child before exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let started = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("cannot start `{}`: {e}", spec.command.join(" "));
                let _ = log.write_line("stderr", &msg);
                shared.emit(SupEvent::Note(name.clone(), msg.clone()));
                shared.update_host(&name, |h| h.state = "failed".into());
                set(Phase::Failed(msg.clone()), None);
                if let Some(r) = pending.take() {
                    let _ = r.send(Err(msg));
                }
                if spec.restart == "no" {
                    continue;
                }
                match sleep_or_control(&mut control, backoff).await {
                    Some(Control::Shutdown) => return,
                    Some(Control::Stop(r)) => {
                        let _ = r.send(());
                        continue;
                    }
                    Some(Control::Start(r)) | Some(Control::Restart(r)) => pending = Some(r),
                    None => pending = None,
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
                // Policy retries spawn again without a requester.
                if pending.is_none() {
                    let (tx, _rx) = oneshot::channel();
                    pending = Some(tx);
                }
                continue;
            }
        };
        let pid = child.id().map(|p| p as i32);
        let health = spec.healthcheck.as_ref().map(|_| "starting".to_string());
        shared.update_host(&name, |h| {
            h.state = "running".into();
            h.pid = pid;
            h.pgid = pid;
            h.started_at = Some(chrono::Utc::now().to_rfc3339());
            h.health = health.clone();
            if std::mem::take(&mut restart_requested) {
                h.restarts += 1;
            }
        });
        set(Phase::Running, health);
        shared.emit(SupEvent::Started(name.clone(), pid.unwrap_or(0)));
        if let Some(r) = pending.take() {
            let _ = r.send(Ok(HostAction::Started));
        }
        let (line_tx, mut line_rx) = mpsc::channel::<(&'static str, String)>(256);
        for (stream, reader) in [
            (
                "stdout",
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            ),
            (
                "stderr",
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            ),
        ] {
            let Some(reader) = reader else { continue };
            let tx = line_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    if tx.send((stream, l)).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(line_tx);
        let health_task = spec.healthcheck.clone().map(|hc| {
            tokio::spawn(health_loop(
                name.clone(),
                hc,
                cwd.clone(),
                shared.clone(),
                status.clone(),
            ))
        });
        let outcome = loop {
            tokio::select! {
                Some((stream, line)) = line_rx.recv() => {
                    if let Ok(ts) = log.write_line(stream, &line) {
                        shared.emit(SupEvent::Line(name.clone(), ts, line));
                    }
                }
                st = child.wait() => break Outcome::Exited(st.ok().and_then(|s| s.code()).unwrap_or(-1)),
                c = control.recv() => match c {
                    Some(Control::Start(r)) => {
                        let _ = r.send(Ok(HostAction::AlreadyRunning));
                    }
                    Some(Control::Stop(r)) => break Outcome::Stop(r),
                    Some(Control::Restart(r)) => break Outcome::Restart(r),
                    Some(Control::Shutdown) | None => break Outcome::Shutdown,
                },
            }
        };
        if let Some(t) = health_task {
            t.abort();
        }
        // The leader is gone or going; take its whole group (grandchildren included) with it.
        if let Some(pgid) = pid {
            kill_group(pgid, GRACE).await;
        }
        let _ = child.wait().await;
        // The group is gone, so the pipes reach EOF: collect the last lines (bounded wait).
        let drain_until = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Some((stream, line))) =
            tokio::time::timeout_at(drain_until, line_rx.recv()).await
        {
            if let Ok(ts) = log.write_line(stream, &line) {
                shared.emit(SupEvent::Line(name.clone(), ts, line));
            }
        }
        let stopped = |shared: &Shared| {
            shared.update_host(&name, |h| {
                h.state = "stopped".into();
                h.pid = None;
                h.pgid = None;
                h.health = None;
            });
        };
        match outcome {
            Outcome::Shutdown => {
                stopped(&shared);
                set(Phase::Stopped, None);
                return;
            }
            Outcome::Stop(r) => {
                stopped(&shared);
                set(Phase::Stopped, None);
                shared.emit(SupEvent::Note(name.clone(), "stopped".into()));
                let _ = r.send(());
            }
            Outcome::Restart(r) => {
                shared.emit(SupEvent::Restarted(
                    name.clone(),
                    "restart requested".into(),
                ));
                restart_requested = true;
                pending = Some(r);
                backoff = Duration::from_secs(1);
            }
            Outcome::Exited(code) => {
                shared.update_host(&name, |h| {
                    h.last_exit = Some(code);
                    h.pid = None;
                    h.pgid = None;
                    h.health = None;
                });
                let restart = match spec.restart.as_str() {
                    "always" => true,
                    "on-failure" => code != 0,
                    _ => false,
                };
                shared.emit(SupEvent::Exited(name.clone(), code, restart));
                if !restart {
                    shared.update_host(&name, |h| h.state = "exited".into());
                    set(Phase::Exited(code), None);
                    continue;
                }
                if started.elapsed() >= STABLE_AFTER {
                    backoff = Duration::from_secs(1);
                }
                shared.update_host(&name, |h| {
                    h.state = "backoff".into();
                    h.restarts += 1;
                });
                set(Phase::Backoff, None);
                match sleep_or_control(&mut control, backoff).await {
                    Some(Control::Shutdown) => {
                        stopped(&shared);
                        set(Phase::Stopped, None);
                        return;
                    }
                    Some(Control::Stop(r)) => {
                        stopped(&shared);
                        set(Phase::Stopped, None);
                        let _ = r.send(());
                        continue;
                    }
                    Some(Control::Start(r)) | Some(Control::Restart(r)) => pending = Some(r),
                    None => {
                        let (tx, _rx) = oneshot::channel();
                        pending = Some(tx);
                    }
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
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
