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
    let mut signals = StopSignals::new()?;
    // Attached mode shows the services' output from the start of this `up`.
    let since = chrono::Utc::now().timestamp();
    let paths = project.paths();
    // One supervisor per project: the attached one replaces a background one, which hands
    // its host processes over (this one adopts those whose configuration is unchanged).
    crate::supervisor::hand_over_background(&paths).await;
    let project = Arc::new(project);
    let walks = Arc::new(executor::Walker);
    let sup = Supervisor::start(
        project.clone(),
        Some(engine.clone()),
        how.host_processes,
        None,
        walks,
    );
    let registration = AttachedRegistration::register(&paths, &sup)?;
    let session = Session {
        engine,
        project,
        plan,
        sup,
        registration,
        grace: how.grace,
    };
    // Subscribed before anything starts: host processes print while containers converge.
    let events = session.sup.subscribe();
    let ctx = Ctx::new(
        engine,
        &session.project,
        Hosts::Local(session.sup.controls()),
        session.plan.reporter.clone(),
    );
    let converged = tokio::select! {
        r = session.plan.converge(&ctx) => r,
        why = signals.next() => {
            session.plan.progress.abandon();
            say(&format!("\n{why}: stopping what was started (Ctrl-C again to kill)…"));
            session.stop(&mut signals).await;
            return Ok(130);
        }
    };
    drop(ctx);
    match converged {
        Ok(actions) => session.plan.finish(&actions),
        Err(e) => {
            session.plan.progress.abandon();
            drop(session.registration);
            session.sup.shutdown().await;
            return Err(e.into());
        }
    }
    if how.dash {
        return session.dash(events, &mut signals).await;
    }
    session.stream(events, since, how.watch, &mut signals).await
}

/// The attached `up` once it runs: the project's one supervisor, in this process.
struct Session<'a> {
    engine: &'a Engine,
    project: Arc<Project>,
    plan: Plan,
    sup: Supervisor,
    registration: AttachedRegistration,
    grace: Option<Duration>,
}

type Events = tokio::sync::broadcast::Receiver<crate::supervisor::SupEvent>;

impl Session<'_> {
    /// The dashboard instead of the log stream; quitting it stops the stack as Ctrl-C does.
    async fn dash(self, mut events: Events, signals: &mut StopSignals) -> anyhow::Result<u8> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let forward = tokio::spawn(async move {
            loop {
                match events.recv().await {
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
            self.engine,
            self.project.clone(),
            Hosts::Local(self.sup.controls()),
            Some(rx),
            true,
        )
        .await;
        forward.abort();
        say("stopping the stack (Ctrl-C again to kill)…");
        self.stop(signals).await;
        shown?;
        Ok(0)
    }

    /// What the services and host processes printed since this `up` began, merged by
    /// timestamp, then followed live (containers across restarts and recreations), with
    /// `develop.watch` acting beside it when asked, until a signal.
    async fn stream(
        self,
        events: Events,
        since: i64,
        watch: bool,
        signals: &mut StopSignals,
    ) -> anyhow::Result<u8> {
        // One prefix width for containers and host processes, so the columns line up.
        let width = self
            .project
            .graph
            .nodes()
            .map(|n| n.name.len())
            .max()
            .unwrap_or(0);
        let mut printer = LogPrinter::new(PrintOptions::default(), width);
        let window = logs::Window {
            since: Some(since),
            ..Default::default()
        };
        let shown = self.attached_nodes();
        let mut stream =
            logs::LogStream::of_project(self.engine, &self.project, &shown, window).await?;
        stream
            .history(|l| {
                print_quietly(&mut printer, l);
                Ok(())
            })
            .await?;
        let (rx, followers) = stream.follow().split();
        let live = tokio::spawn(print_live(printer, rx, events));
        let why = if watch {
            super::watch::run_beside(self.engine, &self.project, &[], signals.next()).await
        } else {
            signals.next().await
        };
        say(&format!("\n{why}: stopping (Ctrl-C again to kill)…"));
        self.stop(signals).await;
        live.abort();
        drop(followers);
        Ok(0)
    }

    /// The nodes whose output this terminal shows (`attach: false`: the service runs, its
    /// output stays out).
    fn attached_nodes(&self) -> Vec<String> {
        self.plan
            .nodes
            .iter()
            .filter(|n| {
                self.project
                    .model
                    .services
                    .get(n.as_str())
                    .is_none_or(|s| s.container.attach)
            })
            .cloned()
            .collect()
    }

    /// The graph stopped in reverse order, then the supervisor gone.
    async fn stop(mut self, signals: &mut StopSignals) {
        self.sup.quiesce();
        stop_graph(
            self.engine,
            &self.project,
            &self.plan.nodes,
            &self.sup,
            self.grace,
            signals,
        )
        .await;
        drop(self.registration);
        self.sup.shutdown().await;
    }
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
