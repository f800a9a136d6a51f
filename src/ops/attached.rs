//! The attached `up`: this process is the project's supervisor. It walks the one graph (host
//! processes start the moment their dependencies hold, while containers still converge), then
//! shows every service's and host process's output merged by time with health events, until
//! Ctrl-C, SIGTERM or SIGHUP; then it stops the graph in exact reverse order, in parallel where
//! the graph allows (a second signal kills what is left). A signal while it is still starting
//! stops what it started and exits 130. What is printed, and how, is `ui::attached`'s.

use std::sync::Arc;
use std::time::Duration;

use super::logs;
use super::signals::StopSignals;
use super::up::Plan;
use crate::engine::converge::{self, Event};
use crate::engine::{container, observed, Engine};
use crate::executor::{self, Ctx, StopHow};
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::supervisor::{AttachedRegistration, Supervisor};
use crate::ui::attached::{print_live, print_quietly, say};
use crate::ui::printer::{LogPrinter, PrintOptions};

/// How the attached session runs (`up`'s flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct Attached {
    /// Run the host processes (not `--no-host`).
    pub host_processes: bool,
    /// `--timeout`: the stop grace period instead of each service's own.
    pub grace: Option<Duration>,
    /// The dashboard instead of the log stream (`--dash`).
    pub dash: bool,
    /// `develop.watch` rules act while it runs (`--watch`).
    pub watch: bool,
}

pub async fn run(
    engine: &Engine,
    project: Project,
    plan: Plan,
    how: Attached,
) -> anyhow::Result<u8> {
    let Attached {
        host_processes,
        grace,
        dash,
        watch,
    } = how;
    let mut signals = StopSignals::new()?;
    // Attached mode shows the services' output from the start of this `up`.
    let since = chrono::Utc::now().timestamp();
    let paths = project.paths();
    // One supervisor per project: the attached one replaces a background one, which hands
    // its host processes over (this one adopts those whose configuration is unchanged).
    crate::supervisor::hand_over_background(&paths).await;
    let project = Arc::new(project);
    let walks = Arc::new(executor::Walker);
    let mut sup = Supervisor::start(
        project.clone(),
        Some(engine.clone()),
        host_processes,
        None,
        walks,
    );
    // Subscribed before anything starts: host processes print while containers converge.
    let events = sup.subscribe();
    let registration = AttachedRegistration::register(&paths, &sup)?;
    let ctx = Ctx::new(
        engine,
        &project,
        Hosts::Local(sup.controls()),
        plan.reporter.clone(),
    );
    let converged = tokio::select! {
        r = plan.converge(&ctx) => r,
        why = signals.next() => {
            plan.progress.abandon();
            say(&format!("\n{why}: stopping what was started (Ctrl-C again to kill)…"));
            sup.quiesce();
            stop_graph(engine, &project, &plan.nodes, &sup, grace, &mut signals).await;
            drop(registration);
            sup.shutdown().await;
            return Ok(130);
        }
    };
    let actions = match converged {
        Ok(a) => a,
        Err(e) => {
            plan.progress.abandon();
            drop(registration);
            sup.shutdown().await;
            return Err(e.into());
        }
    };
    plan.finish(&actions);

    if dash {
        // The dashboard instead of the log stream; quitting it stops the stack as Ctrl-C does.
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let mut sub = events;
        let forward = tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(ev) => {
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                }
            }
        });
        let shown = super::dash::dash_loop(
            engine,
            project.clone(),
            Hosts::Local(sup.controls()),
            Some(rx),
            true,
        )
        .await;
        forward.abort();
        say("stopping the stack (Ctrl-C again to kill)…");
        sup.quiesce();
        stop_graph(engine, &project, &plan.nodes, &sup, grace, &mut signals).await;
        drop(registration);
        sup.shutdown().await;
        shown?;
        return Ok(0);
    }

    // One prefix width for containers and host processes, so the columns line up.
    let width = project
        .graph
        .nodes()
        .map(|n| n.name.len())
        .max()
        .unwrap_or(0);
    let mut printer = LogPrinter::new(PrintOptions::default(), width);
    // `attach: false`: the service runs, its output stays out of this terminal.
    let shown: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| {
            project
                .model
                .services
                .get(n.as_str())
                .is_none_or(|s| s.container.attach)
        })
        .cloned()
        .collect();
    // What the services and host processes printed since this `up` began, merged by
    // timestamp, then followed live (containers across restarts and recreations).
    let window = logs::Window {
        since: Some(since),
        ..Default::default()
    };
    let mut stream = logs::LogStream::of_project(engine, &project, &shown, window).await?;
    stream
        .history(|l| {
            print_quietly(&mut printer, l);
            Ok(())
        })
        .await?;
    let (rx, followers) = stream.follow().split();
    let live = tokio::spawn(print_live(printer, rx, events));

    // With --watch, the develop.watch rules act while the logs stream, until the signal.
    let why = if watch {
        super::watch::run_beside(engine, &project, &[], signals.next()).await
    } else {
        signals.next().await
    };
    say(&format!("\n{why}: stopping (Ctrl-C again to kill)…"));
    sup.quiesce();
    stop_graph(engine, &project, &plan.nodes, &sup, grace, &mut signals).await;
    drop(registration);
    sup.shutdown().await;
    live.abort();
    drop(followers);
    Ok(0)
}

/// Stops the graph in reverse order (containers kept, host processes stopped); the next
/// signal kills what is still running.
async fn stop_graph(
    engine: &Engine,
    project: &Project,
    nodes: &[String],
    sup: &Supervisor,
    grace: Option<Duration>,
    signals: &mut StopSignals,
) {
    // Listed now: auto-heal may have recreated some since (new ids).
    let containers = observed::list(engine, &project.name)
        .await
        .unwrap_or_default();
    let said: converge::Reporter = Arc::new(|ev| {
        if let Event::Stopped(name) = ev {
            say(&format!("{} {name} stopped", crate::ui::color::ok("✓")));
        }
    });
    let ctx = Ctx::new(engine, project, Hosts::Local(sup.controls()), said);
    tokio::select! {
        _ = executor::stop(&ctx, nodes, &containers, StopHow::Stop, grace) => {}
        _ = signals.next() => {
            say("killing what is still running…");
            for c in &containers {
                container::kill(engine, &c.id).await;
            }
            crate::supervisor::kill_host_groups(&project.paths());
        }
    }
}
