//! One host process: started once its `depends_on` hold, in its own process group, with its
//! declared environment on top of the user's; output captured line by line; restarted per
//! policy with exponential backoff (1 s doubling to a cap, reset after a stable minute);
//! optional healthcheck (command or HTTP).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::logfile::LogFile;
use super::{Shared, SupEvent};
use crate::engine::health::{self, Want};
use crate::project::model::{Condition, Healthcheck, HostProcess};

const BACKOFF_CAP: Duration = Duration::from_secs(30);
const STABLE_AFTER: Duration = Duration::from_secs(60);
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum Control {
    Restart(tokio::sync::oneshot::Sender<Result<(), String>>),
    Stop,
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

pub async fn run(spec: HostProcess, shared: Arc<Shared>, mut control: mpsc::Receiver<Control>) {
    let name = spec.name.clone();
    if !spec.enabled {
        let reason = spec
            .disabled_reason
            .clone()
            .unwrap_or_else(|| "enabled: false".into());
        shared.update_host(&name, |h| {
            h.state = "disabled".into();
            h.disabled_reason = Some(reason.clone());
        });
        shared.emit(SupEvent::Note(name.clone(), format!("disabled: {reason}")));
        while let Some(c) = control.recv().await {
            match c {
                Control::Restart(reply) => {
                    let _ = reply.send(Err(format!("{name} is disabled: {reason}")));
                }
                Control::Stop => return,
            }
        }
        return;
    }
    shared.update_host(&name, |h| h.state = "waiting".into());
    if let Err(e) = wait_dependencies(&spec, &shared).await {
        shared.update_host(&name, |h| h.state = "blocked".into());
        shared.emit(SupEvent::Note(name.clone(), format!("not started: {e}")));
        while let Some(c) = control.recv().await {
            if let Control::Stop = c {
                return;
            }
        }
        return;
    }
    let log_path = shared.devstack_dir.join("logs").join(format!("{name}.log"));
    let mut log = match LogFile::open(&log_path) {
        Ok(l) => l,
        Err(e) => {
            shared.emit(SupEvent::Note(
                name.clone(),
                format!("cannot open {}: {e}", log_path.display()),
            ));
            return;
        }
    };
    let mut backoff = Duration::from_secs(1);
    let mut pending_reply: Option<tokio::sync::oneshot::Sender<Result<(), String>>> = None;
    loop {
        let mut cmd = tokio::process::Command::new(&spec.command[0]);
        cmd.args(&spec.command[1..])
            .envs(&spec.environment)
            .current_dir(
                spec.working_dir
                    .clone()
                    .unwrap_or_else(|| shared.project_dir.clone()),
            )
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
                shared.emit(SupEvent::Note(name.clone(), msg));
                shared.update_host(&name, |h| h.state = "failed".into());
                if let Some(r) = pending_reply.take() {
                    let _ = r.send(Err(format!("{name} failed to start")));
                }
                if spec.restart == "no" {
                    return wait_for_stop(&mut control).await;
                }
                if sleep_or_control(&mut control, backoff)
                    .await
                    .is_some_and(|c| matches!(c, Control::Stop))
                {
                    return;
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
                continue;
            }
        };
        let pid = child.id().map(|p| p as i32);
        shared.update_host(&name, |h| {
            h.state = "running".into();
            h.pid = pid;
            h.pgid = pid;
            h.started_at = Some(chrono::Utc::now().to_rfc3339());
            h.health = spec.healthcheck.as_ref().map(|_| "starting".into());
        });
        shared.emit(SupEvent::Started(name.clone(), pid.unwrap_or(0)));
        if let Some(r) = pending_reply.take() {
            let _ = r.send(Ok(()));
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
        let health_task = spec
            .healthcheck
            .clone()
            .map(|hc| tokio::spawn(health_loop(name.clone(), hc, shared.clone())));
        let outcome = loop {
            tokio::select! {
                Some((stream, line)) = line_rx.recv() => {
                    if let Ok(ts) = log.write_line(stream, &line) {
                        shared.emit(SupEvent::Line(name.clone(), ts, line));
                    }
                }
                status = child.wait() => break Ok(status.ok().and_then(|s| s.code()).unwrap_or(-1)),
                c = control.recv() => match c {
                    Some(Control::Restart(reply)) => break Err(Some(reply)),
                    Some(Control::Stop) | None => break Err(None),
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
        match outcome {
            Err(None) => {
                shared.update_host(&name, |h| {
                    h.state = "stopped".into();
                    h.pid = None;
                    h.pgid = None;
                });
                return;
            }
            Err(Some(reply)) => {
                shared.update_host(&name, |h| h.restarts += 1);
                shared.emit(SupEvent::Restarted(
                    name.clone(),
                    "restart requested".into(),
                ));
                pending_reply = Some(reply);
                backoff = Duration::from_secs(1);
                continue;
            }
            Ok(code) => {
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
                    return wait_for_stop(&mut control).await;
                }
                if started.elapsed() >= STABLE_AFTER {
                    backoff = Duration::from_secs(1);
                }
                shared.update_host(&name, |h| {
                    h.state = "backoff".into();
                    h.restarts += 1;
                });
                match sleep_or_control(&mut control, backoff).await {
                    Some(Control::Stop) => {
                        shared.update_host(&name, |h| h.state = "stopped".into());
                        return;
                    }
                    Some(Control::Restart(reply)) => pending_reply = Some(reply),
                    None => {}
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
    }
}

async fn wait_for_stop(control: &mut mpsc::Receiver<Control>) {
    while let Some(c) = control.recv().await {
        match c {
            Control::Stop => return,
            Control::Restart(reply) => {
                let _ = reply.send(Err("the process has exited and its policy does not restart it; run `devstack up` to start it again".into()));
            }
        }
    }
}

async fn sleep_or_control(control: &mut mpsc::Receiver<Control>, d: Duration) -> Option<Control> {
    tokio::select! {
        _ = tokio::time::sleep(d) => None,
        c = control.recv() => Some(c.unwrap_or(Control::Stop)),
    }
}

async fn wait_dependencies(spec: &HostProcess, shared: &Shared) -> Result<(), String> {
    let Some(engine) = &shared.engine else {
        return Ok(());
    };
    let containers = crate::engine::observed::list(engine, &shared.project_name)
        .await
        .map_err(|e| e.to_string())?;
    let monitor = crate::engine::health::Monitor::start(engine, &shared.project_name);
    for (dep, d) in &spec.depends_on {
        let Some(c) = containers.iter().find(|c| &c.service == dep) else {
            return Err(format!("its dependency {dep} has no container"));
        };
        let want = match d.condition {
            Condition::ServiceStarted => Want::Running,
            Condition::ServiceHealthy => Want::Healthy,
            Condition::ServiceCompletedSuccessfully => Want::Completed,
        };
        let hc = shared.healthchecks.get(dep);
        health::wait_for(
            engine,
            &monitor,
            dep,
            &c.id,
            want,
            hc,
            Instant::now() + Duration::from_secs(600),
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn health_loop(name: String, hc: Healthcheck, shared: Arc<Shared>) {
    let interval = hc.interval.unwrap_or(Duration::from_secs(5));
    let retries = hc.retries.unwrap_or(3).max(1);
    if let Some(sp) = hc.start_period {
        tokio::time::sleep(sp.min(Duration::from_secs(600))).await;
    }
    let mut streak = 0;
    loop {
        let ok = probe(&hc).await;
        streak = if ok { 0 } else { streak + 1 };
        let status = if ok {
            Some("healthy")
        } else if streak >= retries {
            Some("unhealthy")
        } else {
            None
        };
        if let Some(s) = status {
            let changed = shared.update_host(&name, |h| {
                let old = h.health.replace(s.to_string());
                old.as_deref() != Some(s)
            });
            if changed {
                shared.emit(SupEvent::Health(name.clone(), s.to_string(), String::new()));
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// `["CMD", …]`, `["CMD-SHELL", "…"]` run on the host; `["HTTP", "http://host:port/path"]`
/// is a GET that must answer 2xx.
async fn probe(hc: &Healthcheck) -> bool {
    let timeout = hc.timeout.unwrap_or(Duration::from_secs(5));
    let fut = async {
        let (program, args): (&str, Vec<String>) = match hc.test.first().map(String::as_str) {
            Some("CMD") if hc.test.len() > 1 => (hc.test[1].as_str(), hc.test[2..].to_vec()),
            Some("CMD-SHELL") => ("/bin/sh", vec!["-c".into(), hc.test[1..].join(" ")]),
            Some("HTTP") => return http_ok(hc.test.get(1).map(String::as_str).unwrap_or("")).await,
            _ => return false,
        };
        tokio::process::Command::new(program)
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
