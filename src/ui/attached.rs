//! Attached `up`: every service's and host process's logs (merged by time, prefixed, stable
//! colours) and the supervisor's health events, until Ctrl-C, SIGTERM or SIGHUP; then host
//! processes stop, then containers in reverse dependency order; a second signal kills them.

use std::io::Write;

use bollard::query_parameters::KillContainerOptions;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::broadcast::error::RecvError;

use crate::engine::logs::{EngineLines, Line};
use crate::engine::{converge, observed, Engine};
use crate::history::{self, History, TimeRange};
use crate::project::Project;
use crate::supervisor::SupEvent;
use crate::ui::printer::{LogPrinter, PrintOptions};

pub async fn run(
    engine: &Engine,
    project: Project,
    selected: &[String],
    host_processes: bool,
    since: i32,
    mut signals: StopSignals,
) -> anyhow::Result<u8> {
    let project = std::sync::Arc::new(project);
    let sup = crate::supervisor::Supervisor::start(
        project.clone(),
        Some(engine.clone()),
        host_processes,
        None,
    );
    let events = sup.subscribe();
    let registration =
        crate::supervisor::AttachedRegistration::register(&project.devstack_dir(), &sup)?;
    let project = &*project;
    let containers = observed::list(engine, &project.name).await?;
    // One prefix width for containers and host processes, so the columns line up.
    let width = project
        .model
        .services
        .keys()
        .chain(project.model.x_devstack.host.keys())
        .map(String::len)
        .max()
        .unwrap_or(0);
    let mut printer = LogPrinter::new(PrintOptions::default(), width);

    // What the services printed since this `up` began, merged by timestamp...
    let log_dir = project.source.devstack_dir().join("logs");
    let range = TimeRange::new(Some(i64::from(since)), None);
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for name in selected {
        let Some(c) = containers.iter().find(|c| &c.service == name) else {
            continue;
        };
        let lines = EngineLines::open(engine, name, &c.name, None, Some(i64::from(since)), None);
        let copy = log_dir.join(format!("{name}.log"));
        sources.push(History::container(lines, &copy, name, None, &range).await?);
        targets.push((name.clone(), c.name.clone()));
    }
    let last_ts = history::merge(&mut sources, |l| {
        print_quietly(&mut printer, l);
        Ok(())
    })
    .await?;
    // ...then followed live, across restarts (auto-heal) and recreations, by container name.
    let start = chrono::DateTime::from_timestamp(i64::from(since), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.000000000Z").to_string())
        .unwrap_or_default();
    let (tx, rx) = tokio::sync::mpsc::channel::<Line>(1024);
    let mut followers = Vec::new();
    for (service, name) in targets {
        let after = last_ts
            .get(&service)
            .cloned()
            .unwrap_or_else(|| start.clone());
        followers.push(tokio::spawn(crate::engine::logs::follow(
            engine.clone(),
            service,
            name,
            after,
            tx.clone(),
        )));
    }
    drop(tx);
    let live = tokio::spawn(print_live(printer, rx, events));

    let why = signals.next().await;
    say(&format!("\n{why}: stopping (Ctrl-C again to kill)…"));
    drop(registration);
    sup.shutdown().await;
    live.abort();
    // Listed again: auto-heal may have recreated some since (new ids).
    let containers = observed::list(engine, &project.name)
        .await
        .unwrap_or(containers);
    stop_containers(engine, project, selected, &containers, &mut signals).await;
    for f in followers {
        f.abort();
    }
    Ok(0)
}

/// A signal while attached `up` was still converging: stop what it had started, in reverse
/// dependency order (a second signal kills), and exit 130 as an interrupted command does.
pub async fn interrupted(
    engine: &Engine,
    project: &Project,
    selected: &[String],
    why: &str,
    mut signals: StopSignals,
) -> anyhow::Result<u8> {
    say(&format!(
        "\n{why}: stopping what was started (Ctrl-C again to kill)…"
    ));
    let containers = observed::list(engine, &project.name).await?;
    stop_containers(engine, project, selected, &containers, &mut signals).await;
    Ok(130)
}

/// Stops the containers in reverse dependency order; the next signal kills the rest.
async fn stop_containers(
    engine: &Engine,
    project: &Project,
    selected: &[String],
    containers: &[observed::ContainerState],
    signals: &mut StopSignals,
) {
    tokio::select! {
        () = stop_reverse(engine, project, selected, containers) => {}
        _ = signals.next() => {
            say("killing what is still running…");
            for c in containers {
                let _ = engine.docker.kill_container(&c.id, None::<KillContainerOptions>).await;
            }
        }
    }
}

/// One printer for the containers' lines, the host processes' lines and the supervisor's
/// events (health transitions, restarts), so they read as one story.
async fn print_live(
    mut printer: LogPrinter,
    mut lines: tokio::sync::mpsc::Receiver<Line>,
    mut events: tokio::sync::broadcast::Receiver<SupEvent>,
) {
    let (mut events_open, mut lines_open) = (true, true);
    while events_open || lines_open {
        let line = tokio::select! {
            ev = events.recv(), if events_open => match ev {
                Ok(SupEvent::Line(service, ts, text)) => Line { ts, service, stream: "stdout", text },
                Ok(other) => {
                    if let Some(d) = other.describe() {
                        say(&d);
                    }
                    continue;
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => {
                    events_open = false;
                    continue;
                }
            },
            l = lines.recv(), if lines_open => match l {
                Some(l) => l,
                None => {
                    lines_open = false;
                    continue;
                }
            },
        };
        print_quietly(&mut printer, &line);
    }
}

/// Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all stop the stack the same
/// way: host processes, then containers in reverse order. Nothing is left orphaned.
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    pub fn new() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted",
            _ = self.term.recv() => "terminated",
            _ = self.hup.recv() => "the terminal went away",
        }
    }
}

/// A message on stderr that cannot fail: after SIGHUP the terminal is gone, and `eprintln!`
/// would panic in the middle of stopping the stack.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A closed stdout (`up | head`) must not stop the stack: the line is dropped.
fn print_quietly(printer: &mut LogPrinter, line: &Line) {
    let mut out = std::io::stdout().lock();
    let _ = printer.print(&mut out, line).and_then(|_| out.flush());
}

async fn stop_reverse(
    engine: &Engine,
    project: &Project,
    selected: &[String],
    containers: &[observed::ContainerState],
) {
    for name in selected.iter().rev() {
        let Some(c) = containers.iter().find(|c| &c.service == name) else {
            continue;
        };
        converge::stop_container(
            engine,
            &c.id,
            project.model.services[name].stop_grace_secs(),
        )
        .await;
        say(&format!("{} {name} stopped", crate::ui::color::ok("✓")));
    }
}
