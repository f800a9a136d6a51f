//! `watch`: Compose's `develop.watch` rules, for `devstack watch [SVC…]` and the watch loop of
//! `up --watch`.
//!
//! One inotify watcher ([`watcher`]) covers every rule's path. A change is routed
//! ([`routing`]) to each service whose rule covers it, unless the build context's
//! `.dockerignore` (Docker's matching), the rule's `ignore`/`include` patterns (relative to its
//! `path`), `.git/` or an editor's temporary file rule it out. Per service, changes are
//! debounced ([`debounce`]: a burst of saves is one action, after [`QUIET`] without a change)
//! and then acted on as one batch ([`actions`]), in every replica of the service:
//!
//! - `sync`: one tar of the changed files through the engine's archive endpoint, deletions with
//!   one `rm -rf` exec (`engine::sync`): it works against an engine on another machine too;
//! - `sync+restart` / `restart`: then the container restarts, is waited on until ready, and its
//!   `restart: true` dependents follow (the executor's restart);
//! - `sync+exec`: then the rule's command runs in the container;
//! - `rebuild`: the image is rebuilt while the old container keeps serving; a failed build
//!   keeps it and says why. Without published host ports the new container starts beside the
//!   old one, which is removed only once the new one is ready (`engine::container`'s
//!   blue/green swap); with fixed host ports the two cannot run together and the swap is
//!   Compose's (stop old, start new). Then `restart: true` dependents follow.
//!
//! Each action is one line: `site  synced 3 files in 41 ms`. A sync rule whose path is also
//! bind-mounted into the service is skipped, as Compose skips it: the mount delivers it.

mod actions;
mod bring_up;
mod debounce;
mod report;
mod routing;
mod watcher;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::engine::Engine;
use crate::errors::{ProjectError, UsageError};
use crate::executor::Ctx;
use crate::project::watch as pwatch;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::ui::color;

pub use bring_up::bring_up;
pub use debounce::QUIET;

use actions::Service;
use report::{rel_to, Printer};
use routing::{Pending, Watched};
use watcher::FileWatcher;

/// How the loop behaves (the verb's flags; `up --watch` takes the defaults).
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long a restarted or recreated container may take to become ready.
    pub wait: Duration,
    /// Named services without rules are an error (the verb), not a note (`up --watch`).
    pub strict: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            wait: Duration::from_secs(120),
            strict: false,
        }
    }
}

/// Why the watch cannot start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A bad `develop.watch` rule.
    #[error(transparent)]
    Rules(#[from] ProjectError),
    #[error("{name} is a host process: develop.watch rules belong to services (containers)")]
    HostProcess { name: String },
    #[error("service {service} has no develop.watch rules: add a `develop: watch:` list to it in the template (sync, sync+restart, rebuild…)")]
    NoRules { service: String },
    #[error("none of the selected services has develop.watch rules: add a `develop: watch:` list to a service in the template")]
    NothingSelected,
    #[error("nothing to watch: every selected sync rule's path is bind-mounted already")]
    AllBindMounted,
    #[error("cannot start the file watcher: {0}")]
    WatcherStart(notify::Error),
    #[error("cannot watch {}: {source} (raise fs.inotify.max_user_watches if the limit is reached)", root.display())]
    Watch {
        root: PathBuf,
        source: notify::Error,
    },
    #[error("the watch workers stopped")]
    WorkersStopped,
    #[error("the file watcher stopped")]
    WatcherStopped,
}

impl WatchError {
    /// A configuration or usage error (exit 2), not a failure of the watch.
    pub fn is_usage(&self) -> bool {
        !matches!(
            self,
            WatchError::WatcherStart(_)
                | WatchError::Watch { .. }
                | WatchError::WorkersStopped
                | WatchError::WatcherStopped
        )
    }

    /// For the command's edge: usage errors become [`UsageError`]/[`ProjectError`], which the
    /// exit code (2) is told by.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            WatchError::Rules(e) => e.into(),
            e if e.is_usage() => UsageError(e.to_string()).into(),
            e => anyhow::Error::new(e),
        }
    }
}

/// Checks what the verb was given before anything is started: the named services are
/// containers, the rules are valid and some selected service has some.
pub fn check(project: &Project, named: &[String], remote: bool) -> Result<(), WatchError> {
    if let Some(h) = named.iter().find(|n| project.graph.is_host(n)) {
        return Err(WatchError::HostProcess { name: h.clone() });
    }
    let config = parse(project)?;
    routing::select(project, &config, named, true, remote).map(drop)
}

fn parse(project: &Project) -> Result<pwatch::WatchConfig, ProjectError> {
    pwatch::parse(
        &project.document,
        &project.dir,
        &project.compose_file.display().to_string(),
    )
}

/// The watch loop beside another activity (`up --watch`: after the stack is up, alongside the
/// log stream): acts on the rules of `services` (all services with rules when empty) until
/// `stop` resolves, and returns what it resolved to. A configuration that gives nothing to
/// watch is said on stderr; then it only waits for `stop`.
pub async fn run_beside<F: Future>(
    engine: &Engine,
    project: &Project,
    services: &[String],
    stop: F,
) -> F::Output {
    let mut stop = std::pin::pin!(stop);
    match run(
        engine,
        project,
        services,
        &WatchOptions::default(),
        stop.as_mut(),
    )
    .await
    {
        Ok(out) => out,
        Err(e) => {
            crate::ui::attached::say(&format!("{} watch: {e}", color::warn("note:")));
            stop.await
        }
    }
}

/// The operation: acts on the rules of `services` (all services with rules when empty) until
/// `stop` resolves, and returns what it resolved to; a configuration error (nothing to
/// watch, a bad rule) is returned before anything is watched.
pub async fn run<F: Future>(
    engine: &Engine,
    project: &Project,
    services: &[String],
    opts: &WatchOptions,
    stop: F,
) -> Result<F::Output, WatchError> {
    let out = Printer::new(project);
    let watched = watched(engine, project, services, opts, &out)?;
    let files = FileWatcher::start(&watched)?;
    let paths = project.paths();
    let hosts = if crate::supervisor::any_running(&paths) {
        Hosts::Socket(paths.clone())
    } else {
        Hosts::Absent("no supervisor runs for this project".into())
    };
    let ctx = Ctx::new(engine, project, hosts, Arc::new(|_| {}));
    let services: Vec<Service> = watched
        .iter()
        .map(|w| Service {
            ctx: &ctx,
            w,
            opts,
            out: &out,
        })
        .collect();
    for s in &services {
        s.out.line(&s.w.name, &s.describe());
        let running = s.running().await;
        s.initial_sync(&running).await;
    }
    let mut senders: HashMap<String, UnboundedSender<Pending>> = HashMap::new();
    let mut workers = Vec::new();
    for s in &services {
        let (tx, rx) = unbounded_channel();
        senders.insert(s.w.name.clone(), tx);
        workers.push(worker(s, rx));
    }
    tokio::select! {
        out = stop => Ok(out),
        _ = join_all(workers) => Err(WatchError::WorkersStopped),
        _ = files.dispatch(&watched, &senders) => Err(WatchError::WatcherStopped),
    }
}

/// The selected services' compiled rules, with the notes on the rules and the sync rules
/// set aside said; an error when nothing is left to watch.
fn watched(
    engine: &Engine,
    project: &Project,
    services: &[String],
    opts: &WatchOptions,
    out: &Printer,
) -> Result<Vec<Watched>, WatchError> {
    let config = parse(project)?;
    for n in &config.notes {
        crate::say!("{} {n}", color::warn("note:"));
    }
    let watched = routing::select(project, &config, services, opts.strict, engine.site.remote)?;
    for w in &watched {
        for (path, mount) in &w.skipped {
            out.line(
                &w.name,
                &color::warn(&format!(
                    "{} is also bind-mounted ({mount}), so the container sees its changes: its sync rule is not acted on (Compose skips it too)",
                    rel_to(path, &project.dir)
                )),
            );
        }
    }
    let watched: Vec<Watched> = watched
        .into_iter()
        .filter(|w| !w.rules.is_empty())
        .collect();
    if watched.is_empty() {
        return Err(WatchError::AllBindMounted);
    }
    Ok(watched)
}

/// One service's loop: a debounced batch, acted on, repeat.
async fn worker(s: &Service<'_, '_>, mut rx: UnboundedReceiver<Pending>) {
    while let Some(batch) = debounce::next_batch(&mut rx, QUIET).await {
        s.act(batch).await;
    }
}
