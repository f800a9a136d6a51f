//! The dashboard's loop, for `devstack dash` (the running project, however it was started)
//! and `up --dash` (the attached `up` with the dashboard instead of the log stream); what it
//! draws and how keys map to intents is `ui::dash`'s. Everything the screen shows is fed by
//! events: the engine's container events, the supervisor's event stream (health transitions,
//! restarts, host process lines: in process, or over the control socket), the containers' log
//! streams, keys; a 2 s tick refreshes what only changes with time (uptime, CPU, memory, GPU,
//! the camera's rates). Keys act through the executor, as the verbs do. The terminal is
//! restored however it ends (quit, signal, panic, the engine going away).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode as TKey, KeyModifiers};
use ratatui::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::{cursor, execute};
use tokio::sync::mpsc;

use crate::engine::converge::{Prepared, Reporter};
use crate::engine::logs::Line;
use crate::engine::{health, observed, Engine};
use crate::executor::{self, Ctx, StopHow, UpWalk};
use crate::kinect::stats::{Health, HealthFileError, State as CaptureState};
use crate::ops::status::{self, Look, NodeStatus};
use crate::project::graph::Kind;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::supervisor::SupEvent;
use crate::ui::dash::{self, CameraView, DashState, GpuView, Intent, KeyCode, NodeRow};

/// Restores the terminal when dropped (and from the panic hook).
struct TermGuard;

fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

enum Input {
    Key(KeyCode),
    Resize,
}

/// The dashboard until `q` (or a signal). `quit_stops` only changes what the title says:
/// the caller decides what quitting does.
pub async fn dash_loop(
    engine: &Engine,
    project: Arc<Project>,
    hosts: Hosts,
    mut events: Option<mpsc::Receiver<SupEvent>>,
    quit_stops: bool,
) -> anyhow::Result<()> {
    let (mut term, _guard) = enter_terminal()?;
    let (mut keys, stop_keys) = read_keys();

    let mut st = DashState::new(&project.name, console::colors_enabled(), quit_stops);
    st.pose_budget = project
        .env
        .get("POSE_GPU_MEMORY_FRACTION")
        .and_then(|v| v.parse().ok());
    let (usage_tx, usage) = tokio::sync::watch::channel(HashMap::new());
    let sampler = tokio::spawn(sample_usage(engine.clone(), project.name.clone(), usage_tx));
    let mut source = Sources {
        usage,
        gpu_mem: HashMap::new(),
    };
    st.rows = source.rows(engine, &project).await;
    source.refresh_slow(&project, &mut st).await;
    let (mut logs, followers) = open_logs(engine, &project, &mut st).await?;

    let mut monitor = health::Monitor::start(engine, &project.name);
    let (done_tx, mut done) = mpsc::channel::<(String, String)>(16);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    // A slow refresh must not be followed by a burst of catch-up ticks that starve the keys.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut signals = super::signals::StopSignals::new()?;
    let mut dirty = true;
    let mut refresh_at: Option<Instant> = None;
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    // Redraws are coalesced: a flood of log lines costs one frame per 50 ms, not one per line.
    let frame = Duration::from_millis(50);
    loop {
        if dirty && last_draw.elapsed() >= frame {
            term.draw(|f| dash::draw(f, &st))?;
            dirty = false;
            last_draw = Instant::now();
        }
        let wait_draw = if dirty {
            frame.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            k = keys.recv() => match k {
                Some(Input::Key(code)) => match dash::on_key(&mut st, code) {
                    Intent::Quit => break,
                    Intent::Nothing => {}
                    Intent::Redraw => dirty = true,
                    intent => {
                        act(engine, &project, &hosts, &mut st, intent, &done_tx);
                        dirty = true;
                    }
                },
                Some(Input::Resize) => dirty = true,
                None => break,
            },
            () = monitor.next(Duration::from_secs(3600)) => {
                // Engine events come in bursts (every healthcheck): one refresh per burst.
                refresh_at.get_or_insert(Instant::now() + Duration::from_millis(20));
            }
            () = sleep_until(refresh_at) => {
                refresh_at = None;
                st.rows = merge_busy(&st, source.rows(engine, &project).await);
                dirty = true;
            }
            ev = recv_event(&mut events) => match ev {
                // Host processes' lines come with the log stream.
                Some(SupEvent::Line(..)) => {}
                Some(other) => {
                    said(&mut st, &other);
                    refresh_at.get_or_insert(Instant::now() + Duration::from_millis(20));
                    dirty = true;
                }
                None => events = None,
            },
            Some(l) = logs.recv() => {
                st.push_log(l);
                dirty = true;
            }
            Some((name, msg)) = done.recv() => {
                if let Some(r) = st.rows.iter_mut().find(|r| r.name == name) {
                    r.busy = None;
                }
                st.message = Some(msg);
                st.rows = merge_busy(&st, source.rows(engine, &project).await);
                dirty = true;
            }
            _ = tick.tick() => {
                st.rows = merge_busy(&st, source.rows(engine, &project).await);
                source.refresh_slow(&project, &mut st).await;
                dirty = true;
            }
            _ = signals.next() => break,
            () = tokio::time::sleep(wait_draw) => {}
        }
    }
    stop_keys.store(true, Ordering::Relaxed);
    sampler.abort();
    drop(followers);
    drop(term);
    Ok(())
}

/// The alternate screen in raw mode, restored when the guard drops (or on a panic).
fn enter_terminal() -> anyhow::Result<(
    ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    TermGuard,
)> {
    terminal::enable_raw_mode()?;
    execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    let guard = TermGuard;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    let term = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
    Ok((term, guard))
}

/// Keys and resizes, read on a thread of their own (crossterm's reads block) until the flag
/// is set.
fn read_keys() -> (mpsc::Receiver<Input>, Arc<AtomicBool>) {
    let (key_tx, keys) = mpsc::channel::<Input>(64);
    let stop_keys = Arc::new(AtomicBool::new(false));
    let stop = stop_keys.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if !event::poll(Duration::from_millis(100)).unwrap_or(false) {
                continue;
            }
            let input = match event::read() {
                Ok(TermEvent::Key(k)) => match key_code(k.code, k.modifiers) {
                    Some(code) => Input::Key(code),
                    None => continue,
                },
                Ok(TermEvent::Resize(..)) => Input::Resize,
                Ok(_) => continue,
                Err(_) => break,
            };
            if key_tx.blocking_send(input).is_err() {
                break;
            }
        }
    });
    (keys, stop_keys)
}

fn key_code(code: TKey, modifiers: KeyModifiers) -> Option<KeyCode> {
    Some(match (code, modifiers) {
        (TKey::Char('c'), m) if m.contains(KeyModifiers::CONTROL) => KeyCode::CtrlC,
        (TKey::Char(c), _) => KeyCode::Char(c),
        (TKey::Up, _) => KeyCode::Up,
        (TKey::Down, _) => KeyCode::Down,
        (TKey::Enter, _) => KeyCode::Enter,
        (TKey::Esc, _) => KeyCode::Esc,
        (TKey::Backspace, _) => KeyCode::Backspace,
        (TKey::PageUp, _) => KeyCode::PageUp,
        (TKey::PageDown, _) => KeyCode::PageDown,
        (TKey::End, _) => KeyCode::End,
        _ => return None,
    })
}

/// Every node's log (containers and host processes), from a few minutes back, in time order
/// into the pane; then followed, across restarts and recreations.
async fn open_logs(
    engine: &Engine,
    project: &Project,
    st: &mut DashState,
) -> anyhow::Result<(mpsc::Receiver<Line>, super::logs::Followers)> {
    let window = super::logs::Window {
        since: Some(chrono::Utc::now().timestamp() - 300),
        ..Default::default()
    };
    let names: Vec<String> = project.graph.nodes().map(|n| n.name.clone()).collect();
    let mut stream = super::logs::LogStream::of_project(engine, project, &names, window).await?;
    stream
        .history(|l| {
            st.push_log(l.clone());
            Ok(())
        })
        .await?;
    Ok(stream.follow().split())
}

/// A key's action on the selected node, run through the executor as the verbs run it.
fn act(
    engine: &Engine,
    project: &Arc<Project>,
    hosts: &Hosts,
    st: &mut DashState,
    intent: Intent,
    done: &mpsc::Sender<(String, String)>,
) {
    let (name, action, busy) = match intent {
        Intent::Restart(name) => (name, Action::Restart, "restarting…"),
        Intent::StopOrStart(name) => {
            let running = st
                .rows
                .iter()
                .any(|r| r.name == name && r.state == "running");
            if running {
                (name, Action::Stop, "stopping…")
            } else {
                (name, Action::Start, "starting…")
            }
        }
        _ => return,
    };
    set_busy(st, &name, busy);
    spawn_action(engine, project, hosts, name, action, done.clone());
}

/// Health transitions, restarts, heals: in the log pane, as attached `up` shows them.
fn said(st: &mut DashState, ev: &SupEvent) {
    let Some(d) = ev.describe() else {
        return;
    };
    let ts = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string();
    for text in d.lines() {
        st.push_log(Line {
            ts: ts.clone(),
            service: "devstack".into(),
            stream: "stdout",
            text: text.to_string(),
        });
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

async fn recv_event(events: &mut Option<mpsc::Receiver<SupEvent>>) -> Option<SupEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn set_busy(st: &mut DashState, name: &str, what: &str) {
    if let Some(r) = st.rows.iter_mut().find(|r| r.name == name) {
        r.busy = Some(what.to_string());
    }
}

/// Fresh rows keep the "restarting…" of actions still in flight.
fn merge_busy(st: &DashState, mut rows: Vec<NodeRow>) -> Vec<NodeRow> {
    for r in rows.iter_mut() {
        r.busy = st
            .rows
            .iter()
            .find(|o| o.name == r.name)
            .and_then(|o| o.busy.clone());
    }
    rows
}

#[derive(Clone, Copy)]
enum Action {
    Restart,
    Stop,
    Start,
}

/// Runs a key's action through the executor, as the verbs do; its outcome comes back as a
/// message.
fn spawn_action(
    engine: &Engine,
    project: &Arc<Project>,
    hosts: &Hosts,
    name: String,
    action: Action,
    done: mpsc::Sender<(String, String)>,
) {
    let (engine, project, hosts) = (engine.clone(), project.clone(), hosts.clone());
    tokio::spawn(async move {
        let quiet: Reporter = Arc::new(|_| {});
        let ctx = Ctx::new(&engine, &project, hosts, quiet);
        let begin = Instant::now();
        let msg = match action {
            Action::Restart => {
                match executor::restart(
                    &ctx,
                    vec![(name.clone(), None)],
                    true,
                    Duration::from_secs(300),
                    None,
                    &|_| {},
                )
                .await
                {
                    Ok(done) => {
                        let state = done.first().map(|r| r.state.clone()).unwrap_or_default();
                        let more = done.len().saturating_sub(1);
                        let deps = if more > 0 {
                            format!(
                                " (and {more} dependent{})",
                                if more == 1 { "" } else { "s" }
                            )
                        } else {
                            String::new()
                        };
                        format!(
                            "{name} restarted, {state} after {:.1}s{deps}",
                            begin.elapsed().as_secs_f64()
                        )
                    }
                    Err(e) => format!("{name} failed: {}", first_line(&e.to_string())),
                }
            }
            Action::Stop => {
                let containers = observed::list(&engine, &project.name)
                    .await
                    .unwrap_or_default();
                match executor::stop(
                    &ctx,
                    std::slice::from_ref(&name),
                    &containers,
                    StopHow::Stop,
                    None,
                )
                .await
                {
                    Ok(_) => format!("{name} stopped (s starts it)"),
                    Err(e) => format!("{name} failed: {e}"),
                }
            }
            Action::Start => {
                let existing = observed::list(&engine, &project.name)
                    .await
                    .unwrap_or_default();
                let prepared = Prepared {
                    existing,
                    ..Default::default()
                };
                let deadline = Instant::now() + Duration::from_secs(300);
                match executor::up(
                    &ctx,
                    std::slice::from_ref(&name),
                    &prepared,
                    UpWalk::StartOnly,
                    deadline,
                )
                .await
                {
                    Ok(_) => format!(
                        "{name} started, ready after {:.1}s",
                        begin.elapsed().as_secs_f64()
                    ),
                    Err(e) => format!("{name} failed: {}", first_line(&e.to_string())),
                }
            }
        };
        let _ = done.send((name, msg)).await;
    });
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Where the rows come from.
struct Sources {
    /// Per container id: (CPU %, memory MiB), from the sampler task (engine stats take ~0.5 s
    /// a container: never awaited by the screen's loop).
    usage: tokio::sync::watch::Receiver<HashMap<String, (f64, f64)>>,
    /// Per container id: GPU memory (MiB) its processes hold.
    gpu_mem: HashMap<String, u64>,
}

/// Samples CPU and memory of the project's running containers every 2 s, all at once, and
/// publishes the latest numbers.
async fn sample_usage(
    engine: Engine,
    project: String,
    tx: tokio::sync::watch::Sender<HashMap<String, (f64, f64)>>,
) {
    let mut sampler = crate::engine::stats::Sampler::new();
    loop {
        let running: Vec<String> = observed::list(&engine, &project)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.running())
            .map(|c| c.id)
            .collect();
        let out = sampler
            .sample(&engine, &running)
            .await
            .into_iter()
            .map(|(id, u)| (id, (u.cpu_percent, u.memory_mib)))
            .collect();
        if tx.send(out).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

impl Sources {
    /// One row per service and host process, in dependency order, from the one status of the
    /// stack (`ops::status`); CPU and memory from the sampler.
    async fn rows(&mut self, engine: &Engine, project: &Project) -> Vec<NodeRow> {
        let snap = status::collect(engine, &project.name, &project.paths(), Look::default())
            .await
            .unwrap_or_default();
        let mut rows = Vec::new();
        for name in project.graph.order() {
            let Some(node) = project.graph.get(&name) else {
                continue;
            };
            let row = match (node.kind, snap.node(&name, 1)) {
                (Kind::Host, _) if node.disabled.is_some() => NodeRow {
                    state: format!("disabled: {}", node.disabled.clone().unwrap_or_default()),
                    ..absent(&name, "host")
                },
                (Kind::Host, None) => NodeRow {
                    state: "not started".into(),
                    ..absent(&name, "host")
                },
                (Kind::Container, None) => NodeRow {
                    state: "not created".into(),
                    ..absent(&name, "container")
                },
                (_, Some(st)) => self.row(&name, st),
            };
            rows.push(row);
        }
        rows
    }

    /// A node's row from its status.
    fn row(&self, name: &str, st: &NodeStatus) -> NodeRow {
        let id = st.full_id.as_deref().unwrap_or_default();
        let usage = self
            .usage
            .borrow()
            .get(id)
            .copied()
            .filter(|_| st.state == "running");
        let gpu = match (&st.gpu, self.gpu_mem.get(id)) {
            // Compact: the column is narrow beside the GPU and camera panes.
            (Some(g), Some(m)) => format!("{g} {m}M"),
            (Some(g), None) => g.clone(),
            (None, Some(m)) => format!("{m}M"),
            (None, None) => "-".into(),
        };
        NodeRow {
            name: name.to_string(),
            kind: st.kind.as_str(),
            state: st.state.clone(),
            health: st.health.clone(),
            health_output: st.health_output.clone(),
            uptime_secs: st.uptime_secs,
            restarts: st.restarts,
            heal: st.last_reason.clone(),
            ports: if st.ports.is_empty() {
                "-".into()
            } else {
                st.ports
                    .iter()
                    .filter_map(|p| p.split("->").next())
                    .map(|p| p.rsplit(':').next().unwrap_or(p).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            },
            cpu_pct: usage.map(|u| u.0),
            mem_mib: usage.map(|u| u.1),
            gpu,
            busy: None,
        }
    }

    /// GPU (NVML: "no GPU" without a driver, never an error) and the camera's rates.
    async fn refresh_slow(&mut self, project: &Project, st: &mut DashState) {
        let gpus =
            tokio::task::spawn_blocking(|| crate::gpu::status(std::path::Path::new("/proc")))
                .await
                .ok()
                .and_then(Result::ok);
        match gpus {
            Some(devs) => {
                self.gpu_mem = crate::gpu::usage_by_container(&devs)
                    .into_iter()
                    .map(|(id, (_, mib))| (id, mib))
                    .collect();
                st.gpus = Some(
                    devs.iter()
                        .map(|d| GpuView {
                            index: d.index,
                            name: d.name.clone(),
                            used_mib: d.memory_used_mib,
                            total_mib: d.memory_total_mib,
                            util_pct: d.utilization_pct,
                        })
                        .collect(),
                );
            }
            None => {
                self.gpu_mem.clear();
                st.gpus = None;
                for r in st.rows.iter_mut().filter(|r| r.kind == "container") {
                    if r.gpu != "-" {
                        r.gpu = format!("{} (no GPU)", r.gpu);
                    }
                }
            }
        }
        st.camera = camera(project);
    }
}

/// A node with no container or process (yet).
fn absent(name: &str, kind: &'static str) -> NodeRow {
    NodeRow {
        name: name.to_string(),
        kind,
        ports: "-".into(),
        gpu: "-".into(),
        ..Default::default()
    }
}

/// The Kinect capture's rates from its stats file (`kinect capture --health-file`), when the
/// project has a capture host process.
fn camera(project: &Project) -> Option<CameraView> {
    let (name, h) = project.model.x_devstack.host.iter().find(|(_, h)| {
        h.command.iter().any(|a| a == "capture") && h.command.iter().any(|a| a.contains("kinect"))
    })?;
    if !h.enabled {
        return Some(CameraView::Off(format!(
            "{name} disabled: {}",
            h.disabled_reason.clone().unwrap_or_default()
        )));
    }
    let file = h
        .command
        .iter()
        .position(|a| a == "--health-file")
        .and_then(|i| h.command.get(i + 1))?;
    let base = h.working_dir.clone().unwrap_or_else(|| project.dir.clone());
    let h = match Health::read(&base.join(file)) {
        Ok(h) => h,
        Err(HealthFileError::Read { .. }) => {
            return Some(CameraView::Off(format!("{name}: no stats yet ({file})")))
        }
        Err(_) => return None,
    };
    if h.state != CaptureState::Running {
        return Some(CameraView::Off(format!("{name}: {}", h.state.as_str())));
    }
    Some(CameraView::Live {
        source: h.source,
        fps: h.window.publish_fps,
        drops: h.dropped,
        p50_ms: h.window.publish_latency_ms.p50.unwrap_or(0.0),
        p99_ms: h.window.publish_latency_ms.p99.unwrap_or(0.0),
    })
}
