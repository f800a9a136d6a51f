//! The supervisor: host processes (`x-devstack.host`) and auto-heal. The same code runs in the
//! foreground in attached `up` and as a detached background process after `up -d` (pid, state,
//! socket and logs under `.devstack/`). `down` stops it and everything it started; a killed
//! supervisor leaves a state file from which the next `up` or `down` finds and cleans its
//! orphaned process groups.

pub mod autoheal;
pub mod host;
pub mod logcopy;
pub mod logfile;
pub mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::killpg;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc};

use crate::engine::Engine;
use crate::project::model::Healthcheck;
use crate::project::{Project, ProjectSource};
use state::{HealState, HostState, State};

/// What the supervisor reports (printed by attached `up`, logged by the background one).
#[derive(Debug, Clone)]
pub enum SupEvent {
    Started(String, i32),
    Line(String, String, String),
    Exited(String, i32, bool),
    Restarted(String, String),
    /// name, status, detail (time since start, or the last health output).
    Health(String, String, String),
    /// Healthy again after auto-heal restarted it ("after 1.2s" since that start).
    Healed(String, String),
    CrashLoop(String, String, Vec<String>),
    Note(String, String),
}

impl SupEvent {
    /// A human line, or None for plain output lines.
    pub fn describe(&self) -> Option<String> {
        Some(match self {
            SupEvent::Started(n, pid) => format!("▶ {n} started (pid {pid})"),
            SupEvent::Line(..) => return None,
            SupEvent::Exited(n, code, true) => {
                format!("✗ {n} exited with code {code}; restarting with backoff")
            }
            SupEvent::Exited(n, code, false) => format!("■ {n} exited with code {code}"),
            SupEvent::Restarted(n, why) => format!("⟳ {n} restarted: {why}"),
            SupEvent::Health(n, h, detail) if h == "healthy" => {
                format!("✓ {n} healthy {detail}").trim_end().to_string()
            }
            SupEvent::Health(n, h, detail) => format!("✗ {n} {h}: {detail}"),
            SupEvent::Healed(n, took) => {
                format!("✓ {n} healthy again {took}").trim_end().to_string()
            }
            SupEvent::CrashLoop(n, out, logs) => {
                let mut s =
                    format!("✗ {n} is crash-looping; left alone (last health output: {out})");
                for l in logs {
                    s.push_str(&format!("\n    {l}"));
                }
                s
            }
            SupEvent::Note(n, msg) => format!("• {n}: {msg}"),
        })
    }
}

/// State shared by the runners: the state file, the event channel, what they need to know.
pub struct Shared {
    pub devstack_dir: PathBuf,
    pub project_dir: PathBuf,
    pub project_name: String,
    pub engine: Option<Engine>,
    pub healthchecks: HashMap<String, Healthcheck>,
    state: Mutex<State>,
    events: broadcast::Sender<SupEvent>,
}

impl Shared {
    pub fn emit(&self, ev: SupEvent) {
        let _ = self.events.send(ev);
    }

    pub fn update_host<R>(&self, name: &str, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(st.host.entry(name.to_string()).or_default());
        let _ = st.save(&self.devstack_dir);
        r
    }

    pub fn heal<R>(&self, service: &str, f: impl FnOnce(&mut HealState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(st.autoheal.entry(service.to_string()).or_default());
        let _ = st.save(&self.devstack_dir);
        r
    }
}

/// The host processes' control channels: what the control socket needs to restart one,
/// without holding the supervisor itself.
#[derive(Clone)]
pub struct Controls(Arc<HashMap<String, mpsc::Sender<host::Control>>>);

impl Controls {
    pub async fn restart(&self, name: &str) -> Result<(), String> {
        let Some(tx) = self.0.get(name) else {
            return Err(format!("{name} is not a host process"));
        };
        let (reply, rx) = tokio::sync::oneshot::channel();
        tx.send(host::Control::Restart(reply))
            .await
            .map_err(|_| format!("{name} is not running"))?;
        rx.await.map_err(|_| format!("{name} stopped"))?
    }
}

/// A running supervisor: its event stream and the handles to stop it.
pub struct Supervisor {
    pub shared: Arc<Shared>,
    controls: Controls,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    heal: Option<tokio::task::JoinHandle<()>>,
    copy: Option<tokio::task::JoinHandle<()>>,
}

/// Hash of what a supervisor supervises: a running one with the same hash is kept by `up -d`.
pub fn config_hash(project: &Project) -> String {
    let v = serde_json::json!({
        "host": serde_json::to_value(&project.model.x_devstack.host).unwrap_or_default(),
        "autoheal": serde_json::to_value(&project.model.x_devstack.autoheal).unwrap_or_default(),
    });
    crate::engine::labels::hash_json(&v)
}

impl Supervisor {
    /// Starts host processes (each once its dependencies hold) and auto-heal.
    pub fn start(
        project: Arc<Project>,
        engine: Option<Engine>,
        host_processes: bool,
        pid: Option<i32>,
    ) -> Supervisor {
        let (events, _) = broadcast::channel(1024);
        let mut initial = State {
            pid,
            config_hash: config_hash(&project),
            ..Default::default()
        };
        // Keep auto-heal history across supervisor restarts.
        initial.autoheal = State::load(&project.devstack_dir()).autoheal;
        let shared = Arc::new(Shared {
            devstack_dir: project.devstack_dir(),
            project_dir: project.dir.clone(),
            project_name: project.name.clone(),
            engine: engine.clone(),
            healthchecks: project
                .model
                .services
                .iter()
                .filter_map(|(n, s)| s.healthcheck.clone().map(|h| (n.clone(), h)))
                .collect(),
            state: Mutex::new(initial),
            events,
        });
        let _ = shared.state.lock().map(|s| s.save(&shared.devstack_dir));
        let mut controls = HashMap::new();
        let mut tasks = Vec::new();
        if host_processes {
            for spec in project.model.x_devstack.host.values() {
                let (tx, rx) = mpsc::channel(4);
                controls.insert(spec.name.clone(), tx);
                tasks.push(tokio::spawn(host::run(spec.clone(), shared.clone(), rx)));
            }
        }
        let copy = engine
            .clone()
            .map(|e| tokio::spawn(logcopy::run(e, project.clone())));
        let heal = engine.map(|e| tokio::spawn(autoheal::run(e, project.clone(), shared.clone())));
        Supervisor {
            shared,
            controls: Controls(Arc::new(controls)),
            tasks,
            heal,
            copy,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SupEvent> {
        self.shared.events.subscribe()
    }

    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// Stops auto-heal and every host process (their whole process groups).
    pub async fn shutdown(self) {
        if let Some(h) = self.heal {
            h.abort();
        }
        if let Some(c) = self.copy {
            // Give the copy a moment to take the last lines before it stops.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            c.abort();
        }
        for tx in self.controls.0.values() {
            let _ = tx.send(host::Control::Stop).await;
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.pid = None;
        let _ = st.save(&self.shared.devstack_dir);
    }
}

pub fn pid_file(dir: &std::path::Path) -> PathBuf {
    dir.join("supervisor.pid")
}

pub fn socket_path(dir: &std::path::Path) -> PathBuf {
    dir.join("supervisor.sock")
}

/// Whether `pid` runs. A zombie (exited, not yet reaped by its parent) does not: signals
/// still reach it, but it will never act on them.
fn alive(pid: i32) -> bool {
    if pid <= 1 || nix::sys::signal::kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    // /proc/<pid>/stat: "pid (comm) S …"; comm may hold spaces and parentheses.
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            st.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    !zombie
}

/// The background supervisor's pid, when one is alive.
pub fn running_pid(dir: &std::path::Path) -> Option<i32> {
    live_pid_in(&pid_file(dir))
}

/// The pid written in `file`, when that process is alive.
fn live_pid_in(file: &std::path::Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// Where a project's supervisor runs.
pub enum Running {
    Background(i32),
    /// In an attached `devstack up` (its pid).
    Attached(i32),
}

/// Starts the background supervisor for `project` unless one with the same configuration
/// runs already (single instance per project). Cleans what a killed one left first.
pub async fn ensure_background(project: &Project) -> anyhow::Result<Running> {
    let dir = project.devstack_dir();
    // One supervisor per project: an attached `up` already is one.
    if let Some(pid) = attached_pid(&dir) {
        return Ok(Running::Attached(pid));
    }
    if let Some(pid) = running_pid(&dir) {
        if State::load(&dir).config_hash == config_hash(project) {
            return Ok(Running::Background(pid));
        }
    }
    stop_background(&project.source).await?;
    let log = logfile_path(&dir);
    std::fs::create_dir_all(log.parent().unwrap_or(&dir))?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("-C")
        .arg(&project.dir)
        .arg("-p")
        .arg(&project.name)
        .arg("supervise")
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    if let Some(f) = &project.env_file {
        cmd.arg("--env-file").arg(f);
    }
    // A new session: no controlling terminal, its own process group, and no pipe of the
    // caller (terminal, test harness, CI) inherited.
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    // Reap it in the background if it dies early, so no zombie stays with us.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    // Wait until it answers on its socket (or died).
    let sock = socket_path(&dir);
    for _ in 0..100 {
        if tokio::net::UnixStream::connect(&sock).await.is_ok() {
            return Ok(Running::Background(pid));
        }
        if !alive(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!(
        "the background supervisor did not start; see {}",
        log.display()
    )
}

pub fn logfile_path(dir: &std::path::Path) -> PathBuf {
    dir.join("logs").join("supervisor.log")
}

/// Stops the background supervisor (SIGTERM to its group, SIGKILL after a grace period) and
/// any host process group a killed supervisor left behind; clears the pid file and socket.
pub async fn stop_background(source: &ProjectSource) -> anyhow::Result<()> {
    let dir = source.devstack_dir();
    if let Some(pid) = running_pid(&dir) {
        host::kill_group(pid, Duration::from_secs(15)).await;
    }
    // Orphans: host process groups recorded by a supervisor that was killed.
    let mut st = State::load(&dir);
    for h in st.host.values_mut() {
        if let Some(pgid) = h.pgid.take() {
            if killpg(Pid::from_raw(pgid), None).is_ok() {
                host::kill_group(pgid, Duration::from_secs(5)).await;
            }
        }
        if h.state == "running" {
            h.state = "stopped".into();
        }
        h.pid = None;
    }
    st.pid = None;
    if dir.is_dir() {
        let _ = st.save(&dir);
    }
    let _ = std::fs::remove_file(pid_file(&dir));
    let _ = std::fs::remove_file(socket_path(&dir));
    Ok(())
}

/// Forgets the auto-heal history (restarts, crash loops): after `down` its containers are
/// gone, and the next `up`'s containers start with a clean record.
pub fn forget_autoheal(source: &ProjectSource) {
    let dir = source.devstack_dir();
    let mut st = State::load(&dir);
    if !st.autoheal.is_empty() {
        st.autoheal.clear();
        let _ = st.save(&dir);
    }
}

/// Asks the background supervisor to restart a host process; waits for the answer.
pub async fn request_restart(dir: &std::path::Path, name: &str) -> anyhow::Result<()> {
    let sock = socket_path(dir);
    let stream = tokio::net::UnixStream::connect(&sock).await.map_err(|_| {
        anyhow::anyhow!(
            "no supervisor runs for this project (start one with `devstack up -d` or `devstack up`)"
        )
    })?;
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("{}\n", serde_json::json!({"restart": name})).as_bytes())
        .await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let v: serde_json::Value = serde_json::from_str(line.trim())?;
    match v.get("error").and_then(|e| e.as_str()) {
        Some(e) => Err(anyhow::anyhow!("{e}")),
        None => Ok(()),
    }
}

/// Answers the control socket: `{"restart": NAME}` restarts a host process; anything else
/// is a ping, answered with the pid.
pub async fn serve_control(listener: tokio::net::UnixListener, controls: Controls) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let controls = controls.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let req: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_default();
            let reply = match req.get("restart").and_then(|n| n.as_str()) {
                Some(name) => match controls.restart(name).await {
                    Ok(()) => serde_json::json!({"ok": true}),
                    Err(e) => serde_json::json!({"error": e}),
                },
                None => serde_json::json!({"ok": true, "pid": std::process::id()}),
            };
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        });
    }
}

pub fn attached_pid_file(dir: &std::path::Path) -> PathBuf {
    dir.join("attached.pid")
}

/// The pid of an attached `devstack up` of this project, when one is alive.
pub fn attached_pid(dir: &std::path::Path) -> Option<i32> {
    live_pid_in(&attached_pid_file(dir))
}

/// An attached `up` makes itself known like the background supervisor: its pid (so `up -d`
/// leaves host processes and auto-heal with it, and `down` can ask it to stop) and the
/// control socket (so `devstack restart <host process>` works from another terminal).
/// Dropping it takes both away.
pub struct AttachedRegistration {
    dir: PathBuf,
    control: tokio::task::JoinHandle<()>,
}

impl AttachedRegistration {
    pub fn register(dir: &std::path::Path, sup: &Supervisor) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(attached_pid_file(dir), std::process::id().to_string())?;
        let sock = socket_path(dir);
        let _ = std::fs::remove_file(&sock);
        let listener = tokio::net::UnixListener::bind(&sock)?;
        Ok(AttachedRegistration {
            dir: dir.to_path_buf(),
            control: tokio::spawn(serve_control(listener, sup.controls())),
        })
    }
}

impl Drop for AttachedRegistration {
    fn drop(&mut self) {
        self.control.abort();
        let _ = std::fs::remove_file(socket_path(&self.dir));
        let _ = std::fs::remove_file(attached_pid_file(&self.dir));
    }
}

/// Asks an attached `devstack up` to stop (host processes, then containers, as on Ctrl-C)
/// and waits until it is gone.
pub async fn stop_attached(dir: &std::path::Path) {
    let Some(pid) = attached_pid(dir) else {
        return;
    };
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The background supervisor's main: pid file, control socket, events to its log, until
/// SIGTERM/SIGINT.
pub async fn serve(project: Project) -> anyhow::Result<()> {
    let dir = project.devstack_dir();
    let pid = std::process::id() as i32;
    std::fs::write(pid_file(&dir), pid.to_string())?;
    let engine = Engine::connect().await.ok();
    let project = Arc::new(project);
    let sup = Supervisor::start(project.clone(), engine, true, Some(pid));
    let mut events = sup.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if let Some(line) = ev.describe() {
                        println!("{} {line}", chrono::Utc::now().to_rfc3339());
                    }
                }
                // Fell behind a burst of host-process lines: skip them, keep reporting.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let sock = socket_path(&dir);
    let _ = std::fs::remove_file(&sock);
    let control = tokio::spawn(serve_control(
        tokio::net::UnixListener::bind(&sock)?,
        sup.controls(),
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    println!("{} supervisor stopping", chrono::Utc::now().to_rfc3339());
    control.abort();
    sup.shutdown().await;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(pid_file(&dir));
    Ok(())
}
