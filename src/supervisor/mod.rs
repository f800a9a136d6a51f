//! The supervisor: host processes (`x-devstack.host`), auto-heal, and bringing the stack back
//! when the engine restarts under it. The same code runs in the foreground in attached `up` and
//! as a detached background process started at the beginning of `up -d` (pid, state, socket and
//! logs under `.devstack/`). Host processes are nodes of the project's one graph: the executor
//! starts, stops and restarts them through [`Controls`] (in process) or the control socket
//! ([`hosts::Hosts`]). `down` stops it and everything it started; a killed supervisor leaves a
//! state file from which the next `up` or `down` finds and cleans its orphaned process groups.

pub mod autoheal;
pub mod control;
pub mod host;
pub mod hosts;
pub mod logcopy;
pub mod logfile;
pub mod process;
pub mod reconcile;
pub mod relay;
pub mod state;
pub mod walks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::killpg;
use nix::unistd::Pid;
use tokio::sync::{broadcast, mpsc, watch};

use crate::engine::Engine;
use crate::project::model::Healthcheck;
use crate::project::paths::Paths;
use crate::project::{Project, ProjectSource};
use host::{Adopt, Control, HostAction, HostStatus, Phase, Readiness};
use process::alive;
use state::{HealState, HostState, State};

/// Why a host process could not be started, stopped or waited on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("{0} is not a host process of this supervisor")]
    Unknown(String),
    #[error("{0}: the supervisor is stopping")]
    Stopping(String),
    /// It could not be spawned (the relay's or the system's reason).
    #[error("{0}")]
    Spawn(String),
    #[error("exited with code {0} before it was ready")]
    ExitedEarly(i32),
    #[error("was stopped before it was ready")]
    StoppedEarly,
    #[error("the supervisor stopped")]
    SupervisorStopped,
    #[error("not {wanted} within the timeout: {saw} (raise it with --wait-timeout)")]
    Timeout { wanted: &'static str, saw: String },
    /// No supervisor to ask; the text says how to start one.
    #[error("{0}")]
    NoSupervisor(String),
    #[error("the supervisor went away: {0}")]
    Gone(String),
    #[error("the supervisor went away before it answered (see .devstack/logs/supervisor.log)")]
    NoAnswer,
    #[error("bad answer from the supervisor: {0}")]
    BadAnswer(String),
    /// The supervisor's own error, as its control socket said it.
    #[error("{0}")]
    Remote(String),
}

/// What the supervisor reports (printed by attached `up`, logged by the background one,
/// streamed to `devstack dash` over the control socket).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
    pub paths: Paths,
    pub project_dir: PathBuf,
    pub project_name: String,
    pub engine: Option<Engine>,
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
        let _ = st.save(&self.paths);
        r
    }

    pub fn heal<R>(&self, service: &str, f: impl FnOnce(&mut HealState) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(st.autoheal.entry(service.to_string()).or_default());
        let _ = st.save(&self.paths);
        r
    }
}

/// One host process as the executor reaches it: its control channel and its status.
#[derive(Clone)]
struct HostHandle {
    tx: mpsc::Sender<Control>,
    status: watch::Receiver<HostStatus>,
    has_healthcheck: bool,
}

/// The host processes' controls: what the executor and the control socket use to start, stop,
/// restart and wait for them, without holding the supervisor itself.
#[derive(Clone, Default)]
pub struct Controls {
    hosts: Arc<HashMap<String, HostHandle>>,
    /// The supervisor's events, for subscribers on the control socket.
    events: Option<broadcast::Sender<SupEvent>>,
    /// Containers an `up` or `restart` found ready. Its own probe may say so before the
    /// engine's first health check does; auto-heal looks after them from then on.
    ready: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Controls {
    /// An `up` or `restart` found the container service `service` ready.
    pub fn mark_ready(&self, service: &str) {
        let mut r = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        r.insert(service.to_string());
    }

    pub fn was_ready(&self, service: &str) -> bool {
        let r = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        r.contains(service)
    }

    fn handle(&self, name: &str) -> Result<&HostHandle, HostError> {
        self.hosts
            .get(name)
            .ok_or_else(|| HostError::Unknown(name.to_string()))
    }

    async fn ask(
        &self,
        name: &str,
        make: impl FnOnce(host::Reply) -> Control,
    ) -> Result<HostAction, HostError> {
        let h = self.handle(name)?;
        let (reply, rx) = tokio::sync::oneshot::channel();
        let stopping = || HostError::Stopping(name.to_string());
        h.tx.send(make(reply)).await.map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())?
    }

    /// Starts it unless it runs; returns once it has been spawned.
    pub async fn start(&self, name: &str) -> Result<HostAction, HostError> {
        self.ask(name, Control::Start).await
    }

    /// Stops and starts it; returns once the new process has been spawned.
    pub async fn restart(&self, name: &str) -> Result<HostAction, HostError> {
        self.ask(name, Control::Restart).await
    }

    /// Stops it (its whole process group); it stays stopped until started again.
    pub async fn stop(&self, name: &str) -> Result<(), HostError> {
        let h = self.handle(name)?;
        let (reply, rx) = tokio::sync::oneshot::channel();
        if h.tx.send(Control::Stop(reply)).await.is_err() {
            return Ok(());
        }
        let _ = rx.await;
        Ok(())
    }

    /// Whether it is running (or restarting by policy): what the engine's return brings back.
    pub fn is_up(&self, name: &str) -> bool {
        self.hosts
            .get(name)
            .is_some_and(|h| matches!(h.status.borrow().phase, Phase::Running | Phase::Backoff))
    }

    /// Waits until it is ready: healthy when it has a healthcheck; without one, once it has
    /// been started (a quick exit 0 is "completed"; a policy restart does not undo it).
    /// An error says why it is not.
    pub async fn wait_ready(
        &self,
        name: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Readiness, HostError> {
        let h = self.handle(name)?;
        let mut rx = h.status.clone();
        loop {
            let st = rx.borrow_and_update().clone();
            match st.phase {
                Phase::Disabled(_) => return Ok(Readiness::Disabled),
                Phase::Exited(code) if code != 0 => return Err(HostError::ExitedEarly(code)),
                Phase::Failed(why) => return Err(HostError::Spawn(why)),
                Phase::Stopped => return Err(HostError::StoppedEarly),
                Phase::Running if h.has_healthcheck && st.health.as_deref() == Some("healthy") => {
                    return Ok(Readiness::Healthy)
                }
                _ if h.has_healthcheck => {}
                Phase::Exited(_) => return Ok(Readiness::Completed),
                _ if st.spawns > 0 => return Ok(Readiness::Running),
                _ => {}
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(HostError::SupervisorStopped),
                Err(_) => {
                    let now = rx.borrow().clone();
                    let what = match (&now.phase, now.health.as_deref()) {
                        (Phase::Backoff, _) => {
                            "it keeps exiting (restarting with backoff)".to_string()
                        }
                        (Phase::Idle, _) => "it was never started".to_string(),
                        (Phase::Exited(c), _) => format!("it exited with code {c}"),
                        (_, Some(h)) => format!("its healthcheck says {h}"),
                        _ => "it is not running".to_string(),
                    };
                    let wanted = if h.has_healthcheck {
                        "healthy"
                    } else {
                        "running"
                    };
                    return Err(HostError::Timeout { wanted, saw: what });
                }
            }
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.hosts.keys().cloned().collect()
    }

    /// The supervisor's event stream (health transitions, restarts, host process lines).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<SupEvent>> {
        self.events.as_ref().map(|e| e.subscribe())
    }
}

/// A running supervisor: its event stream and the handles to stop it.
pub struct Supervisor {
    pub shared: Arc<Shared>,
    controls: Controls,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    copy: Option<tokio::task::JoinHandle<()>>,
}

/// Hash of what a supervisor supervises: a running one with the same hash is kept by `up -d`.
pub fn config_hash(project: &Project) -> String {
    let v = serde_json::json!({
        "host": serde_json::to_value(&project.model.x_devstack.host).unwrap_or_default(),
        "autoheal": serde_json::to_value(&project.model.x_devstack.autoheal).unwrap_or_default(),
        "graph": serde_json::to_value(&project.graph).unwrap_or_default(),
    });
    crate::engine::labels::hash_json(&v)
}

impl Supervisor {
    /// Starts the supervisor: one idle task per host process (the executor starts each once
    /// its dependencies hold), auto-heal, the log copies, and the watch on the engine that
    /// brings the stack back after an engine restart.
    pub fn start(
        project: Arc<Project>,
        engine: Option<Engine>,
        host_processes: bool,
        pid: Option<i32>,
        walks: Arc<dyn walks::Walks>,
    ) -> Supervisor {
        let (events, _) = broadcast::channel(1024);
        let paths = project.paths();
        let previous = State::load(&paths);
        let mut initial = State {
            pid,
            config_hash: config_hash(&project),
            // Keep auto-heal history across supervisor restarts, and what the previous
            // supervisor ran until each host process's task has taken it over.
            autoheal: previous.autoheal.clone(),
            host: previous.host.clone(),
        };
        let specs = &project.model.x_devstack.host;
        // Host processes the file no longer has: nobody would stop them.
        for (name, h) in &previous.host {
            if !specs.contains_key(name) || !host_processes {
                if let Some(pgid) = h.pgid.filter(|_| h.group_alive()) {
                    tokio::spawn(host::kill_group(pgid, Duration::from_secs(5)));
                }
                initial.host.remove(name);
            }
        }
        let shared = Arc::new(Shared {
            paths,
            project_dir: project.dir.clone(),
            project_name: project.name.clone(),
            engine: engine.clone(),
            state: Mutex::new(initial),
            events,
        });
        let _ = shared.state.lock().map(|s| s.save(&shared.paths));
        let (controls, tasks) = if host_processes {
            spawn_hosts(&project, &shared, &previous)
        } else {
            Default::default()
        };
        let controls = Controls {
            hosts: Arc::new(controls),
            events: Some(shared.events.clone()),
            ready: Default::default(),
        };
        let copy = engine
            .clone()
            .map(|e| tokio::spawn(logcopy::run(e, project.clone())));
        let mut background = Vec::new();
        if let Some(e) = engine {
            background.push(tokio::spawn(autoheal::run(
                e.clone(),
                project.clone(),
                shared.clone(),
                controls.clone(),
                walks.clone(),
            )));
            background.push(tokio::spawn(reconcile::run(
                e,
                project.clone(),
                shared.clone(),
                controls.clone(),
                walks,
            )));
        }
        Supervisor {
            shared,
            controls,
            tasks,
            background,
            copy,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SupEvent> {
        self.shared.events.subscribe()
    }

    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// Stops auto-heal and the engine watch (so nothing brings back what is being stopped).
    pub fn quiesce(&mut self) {
        for h in self.background.drain(..) {
            h.abort();
        }
    }

    /// Leaves every host process running for the next supervisor to adopt (a new
    /// configuration replaces this one): their pids stay in the state file.
    pub async fn hand_over(mut self) {
        self.quiesce();
        if let Some(c) = self.copy.take() {
            c.abort();
        }
        for h in self.controls.hosts.values() {
            let _ = h.tx.send(Control::HandOver).await;
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.pid = None;
        let _ = st.save(&self.shared.paths);
    }

    /// Stops auto-heal and every host process still running (their whole process groups).
    pub async fn shutdown(mut self) {
        self.quiesce();
        if let Some(c) = self.copy {
            // Give the copy a moment to take the last lines before it stops.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            c.abort();
        }
        for h in self.controls.hosts.values() {
            let _ = h.tx.send(Control::Shutdown).await;
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.pid = None;
        let _ = st.save(&self.shared.paths);
    }
}

/// One idle task per host process (adopting what the previous supervisor left running), and
/// the handles that reach them.
fn spawn_hosts(
    project: &Project,
    shared: &Arc<Shared>,
    previous: &State,
) -> (
    HashMap<String, HostHandle>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let mut controls = HashMap::new();
    let mut tasks = Vec::new();
    for spec in project.model.x_devstack.host.values() {
        let (tx, rx) = mpsc::channel(4);
        let (status_tx, status_rx) = watch::channel(HostStatus {
            phase: Phase::Idle,
            health: None,
            spawns: 0,
        });
        let has_healthcheck = spec.healthcheck.as_ref().is_some_and(Healthcheck::enabled);
        controls.insert(
            spec.name.clone(),
            HostHandle {
                tx,
                status: status_rx,
                has_healthcheck,
            },
        );
        let (adopt, stale) = adoption(spec, previous.host.get(&spec.name));
        tasks.push(tokio::spawn(host::run(
            spec.clone(),
            shared.clone(),
            rx,
            status_tx,
            adopt,
            stale,
        )));
    }
    (controls, tasks)
}

/// What a new supervisor does with what the previous one left of a host process: adopts it
/// when it still runs (the same relay: pid and start time) under the same configuration;
/// names its group to stop first when it runs under another one.
fn adoption(
    spec: &crate::project::model::HostProcess,
    prev: Option<&HostState>,
) -> (Option<Adopt>, Option<i32>) {
    let Some(h) = prev.filter(|h| h.group_alive()) else {
        return (None, None);
    };
    let Some(pgid) = h.pgid else {
        return (None, None);
    };
    if !spec.enabled || h.spec_hash.as_deref() != Some(host::spec_hash(spec).as_str()) {
        return (None, Some(pgid));
    }
    let adopt = Adopt {
        pgid,
        pgid_start: h.pgid_start,
        pid: h.pid,
        pid_start: h.pid_start,
    };
    (Some(adopt), None)
}

/// Whether host processes a killed supervisor left behind still run (a command that finds no
/// supervisor starts one, which adopts them).
pub fn orphans_running(paths: &Paths) -> bool {
    !any_running(paths) && State::load(paths).host.values().any(HostState::group_alive)
}

/// The background supervisor's pid, when one is alive.
pub fn running_pid(paths: &Paths) -> Option<i32> {
    live_pid_in(&paths.supervisor_pid())
}

/// The pid written in `file`, when that process is alive.
fn live_pid_in(file: &std::path::Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// Whether any supervisor (background, or an attached `up`) runs for the project.
pub fn any_running(paths: &Paths) -> bool {
    running_pid(paths).is_some() || attached_pid(paths).is_some()
}

/// Where a project's supervisor runs.
pub enum Running {
    Background(i32),
    /// In an attached `devstack up` (its pid).
    Attached(i32),
}

/// Starts the background supervisor for `project` unless one with the same configuration
/// runs already (single instance per project). One with another configuration hands over to
/// the new one: host processes whose configuration is unchanged keep running and are adopted.
/// Host processes a killed supervisor left running are adopted the same way.
pub async fn ensure_background(project: &Project) -> anyhow::Result<Running> {
    let paths = project.paths();
    // One supervisor per project: an attached `up` already is one.
    if let Some(pid) = attached_pid(&paths) {
        return Ok(Running::Attached(pid));
    }
    if let Some(pid) = running_pid(&paths) {
        if State::load(&paths).config_hash == config_hash(project) {
            return Ok(Running::Background(pid));
        }
        hand_over_background(&paths).await;
    }
    paths.ensure_private()?;
    let log = paths.supervisor_log();
    crate::project::paths::create_private_dir(&paths.logs_dir())?;
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
    // Wait until it answers on its socket (or died: another `up -d` may have started one at
    // the same time, which then answers).
    let sock = paths.socket();
    for _ in 0..400 {
        if tokio::net::UnixStream::connect(&sock).await.is_ok() {
            return Ok(Running::Background(running_pid(&paths).unwrap_or(pid)));
        }
        if !alive(pid) && running_pid(&paths).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!(
        "the background supervisor did not start; see {}",
        log.display()
    )
}

/// Asks the background supervisor to hand over (SIGUSR1): it exits leaving its host processes
/// running, for the next supervisor to adopt. One that does not go within 30 s is stopped.
pub async fn hand_over_background(paths: &Paths) {
    let Some(pid) = running_pid(paths) else {
        return;
    };
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if alive(pid) {
        host::kill_group(pid, Duration::from_secs(15)).await;
    }
}

/// Stops the background supervisor (SIGTERM to its group, SIGKILL after a grace period) and
/// any host process group a killed supervisor left behind; clears the pid file and socket.
pub async fn stop_background(source: &ProjectSource) -> anyhow::Result<()> {
    let paths = source.paths();
    if let Some(pid) = running_pid(&paths) {
        host::kill_group(pid, Duration::from_secs(15)).await;
    }
    // Orphans: host process groups recorded by a supervisor that was killed (only the very
    // process recorded: a pid reused since is someone else's).
    let mut st = State::load(&paths);
    for h in st.host.values_mut() {
        if let Some(pgid) = h.pgid.filter(|_| h.group_alive()) {
            host::kill_group(pgid, Duration::from_secs(5)).await;
        }
        h.pgid = None;
        if h.state.is_up() {
            h.state = state::HostPhase::Stopped;
        }
        h.pid = None;
    }
    st.pid = None;
    if paths.root().is_dir() {
        let _ = st.save(&paths);
    }
    let _ = std::fs::remove_file(paths.supervisor_pid());
    let _ = std::fs::remove_file(paths.socket());
    Ok(())
}

/// SIGKILL to every host process group the state file names (a second Ctrl-C).
pub fn kill_host_groups(paths: &Paths) {
    for h in State::load(paths).host.values() {
        if let Some(pgid) = h.pgid.filter(|_| h.group_alive()) {
            let _ = killpg(Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Forgets the auto-heal history (restarts, crash loops): after `down` its containers are
/// gone, and the next `up`'s containers start with a clean record.
pub fn forget_autoheal(source: &ProjectSource) {
    let paths = source.paths();
    let mut st = State::load(&paths);
    if !st.autoheal.is_empty() {
        st.autoheal.clear();
        let _ = st.save(&paths);
    }
}

/// The pid of an attached `devstack up` of this project, when one is alive.
pub fn attached_pid(paths: &Paths) -> Option<i32> {
    live_pid_in(&paths.attached_pid())
}

/// The project's one supervisor, whichever kind: an exclusive lock on
/// `.devstack/supervisor.lock`, held for its life (the kernel drops it when it dies).
pub struct SupervisorLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl SupervisorLock {
    pub fn take(paths: &Paths) -> anyhow::Result<SupervisorLock> {
        paths.ensure_private()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(paths.supervisor_lock())?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(SupervisorLock(lock)),
            Err((_, e)) => anyhow::bail!(
                "another supervisor runs for this project ({}: {e}); `devstack down` stops it",
                paths.supervisor_lock().display()
            ),
        }
    }
}

/// An attached `up` makes itself known like the background supervisor: its pid (so `up -d`
/// leaves host processes and auto-heal with it, and `down` can ask it to stop) and the
/// control socket (so `devstack restart <host process>` works from another terminal).
/// Dropping it takes both away.
pub struct AttachedRegistration {
    paths: Paths,
    control: tokio::task::JoinHandle<()>,
    _lock: SupervisorLock,
}

impl AttachedRegistration {
    pub fn register(paths: &Paths, sup: &Supervisor) -> anyhow::Result<Self> {
        let lock = SupervisorLock::take(paths)?;
        std::fs::write(paths.attached_pid(), std::process::id().to_string())?;
        let listener = control::bind(paths)?;
        Ok(AttachedRegistration {
            paths: paths.clone(),
            control: tokio::spawn(control::serve(listener, sup.controls())),
            _lock: lock,
        })
    }
}

impl Drop for AttachedRegistration {
    fn drop(&mut self) {
        self.control.abort();
        let _ = std::fs::remove_file(self.paths.socket());
        let _ = std::fs::remove_file(self.paths.attached_pid());
    }
}

/// Asks an attached `devstack up` to stop (its graph in reverse order, as on Ctrl-C) and waits
/// until it is gone.
pub async fn stop_attached(paths: &Paths) {
    let Some(pid) = attached_pid(paths) else {
        return;
    };
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The background supervisor's main: lock, pid file, control socket, events to its log,
/// until SIGTERM/SIGINT (stop everything) or SIGUSR1 (hand over to a new supervisor). Host
/// processes a previous supervisor left running are adopted; the others wait idle until
/// `up -d` starts them in graph order.
pub async fn serve(project: Project, walks: Arc<dyn walks::Walks>) -> anyhow::Result<()> {
    let paths = project.paths();
    let _lock = SupervisorLock::take(&paths)?;
    let pid = std::process::id() as i32;
    std::fs::write(paths.supervisor_pid(), pid.to_string())?;
    let engine = Engine::connect().await.ok();
    let project = Arc::new(project);
    let sup = Supervisor::start(project.clone(), engine, true, Some(pid), walks);
    let mut events = sup.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if let Some(line) = ev.describe() {
                        let _ = crate::outln!("{} {line}", chrono::Utc::now().to_rfc3339());
                    }
                }
                // Fell behind a burst of host-process lines: skip them, keep reporting.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let control = tokio::spawn(control::serve(control::bind(&paths)?, sup.controls()));
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let hand_over = tokio::select! {
        _ = term.recv() => false,
        _ = int.recv() => false,
        _ = usr1.recv() => true,
    };
    control.abort();
    if hand_over {
        let _ = crate::outln!(
            "{} supervisor handing over to a new one (host processes keep running)",
            chrono::Utc::now().to_rfc3339()
        );
        sup.hand_over().await;
    } else {
        let _ = crate::outln!("{} supervisor stopping", chrono::Utc::now().to_rfc3339());
        sup.shutdown().await;
    }
    let _ = std::fs::remove_file(paths.socket());
    let _ = std::fs::remove_file(paths.supervisor_pid());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Controls over one host process whose status the test drives.
    fn controls(has_healthcheck: bool) -> (Controls, watch::Sender<HostStatus>) {
        let (tx, _rx) = mpsc::channel(1);
        let (status_tx, status) = watch::channel(HostStatus {
            phase: Phase::Idle,
            health: None,
            spawns: 0,
        });
        let handle = HostHandle {
            tx,
            status,
            has_healthcheck,
        };
        let c = Controls {
            hosts: Arc::new(HashMap::from([("cam".to_string(), handle)])),
            ..Default::default()
        };
        (c, status_tx)
    }

    fn set(tx: &watch::Sender<HostStatus>, phase: Phase, health: Option<&str>) {
        tx.send_modify(|st| {
            if phase == Phase::Running {
                st.spawns += 1;
            }
            st.phase = phase;
            st.health = health.map(str::to_string);
        });
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn ready_without_a_healthcheck_once_it_was_spawned() {
        let (c, tx) = controls(false);
        let wait = tokio::spawn({
            let c = c.clone();
            async move { c.wait_ready("cam", soon()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!wait.is_finished(), "idle is not ready");
        set(&tx, Phase::Running, None);
        assert_eq!(wait.await.unwrap(), Ok(Readiness::Running));
        // A quick exit 0 is a task that completed.
        set(&tx, Phase::Exited(0), None);
        assert_eq!(c.wait_ready("cam", soon()).await, Ok(Readiness::Completed));
    }

    #[tokio::test]
    async fn with_a_healthcheck_it_waits_for_healthy() {
        let (c, tx) = controls(true);
        set(&tx, Phase::Running, Some("starting"));
        let wait = tokio::spawn({
            let c = c.clone();
            async move { c.wait_ready("cam", soon()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!wait.is_finished(), "starting is not healthy");
        set(&tx, Phase::Running, Some("healthy"));
        assert_eq!(wait.await.unwrap(), Ok(Readiness::Healthy));
    }

    #[tokio::test]
    async fn failures_say_why() {
        let (c, tx) = controls(false);
        set(&tx, Phase::Exited(3), None);
        let e = c.wait_ready("cam", soon()).await.unwrap_err();
        assert_eq!(e.to_string(), "exited with code 3 before it was ready");
        set(&tx, Phase::Stopped, None);
        let e = c.wait_ready("cam", soon()).await.unwrap_err();
        assert_eq!(e, HostError::StoppedEarly);
        set(&tx, Phase::Disabled("no camera".into()), None);
        assert_eq!(c.wait_ready("cam", soon()).await, Ok(Readiness::Disabled));
        assert!(c.wait_ready("nope", soon()).await.is_err());
    }

    #[tokio::test]
    async fn a_timeout_names_what_it_saw() {
        let (c, tx) = controls(true);
        set(&tx, Phase::Backoff, None);
        let e = c
            .wait_ready("cam", Instant::now() + Duration::from_millis(30))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not healthy within the timeout") && e.contains("keeps exiting"),
            "{e}"
        );
        assert!(c.is_up("cam"));
    }
}
