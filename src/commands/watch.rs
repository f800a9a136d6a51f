//! `devstack watch [SVC…]`: reads the flags, brings the services up unless `--no-up`, and
//! runs the watch (`ops::watch`) until Ctrl-C, SIGTERM or a closed terminal.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::cli::{GlobalOpts, WatchArgs};
use crate::ops::watch::{self, WatchError, WatchOptions};

// The attached `up --watch` (commands/attached.rs) calls this name.
// TODO(lead): call `crate::ops::watch::run_beside` there and drop this line.
pub use crate::ops::watch::run_beside as run_watch;

pub async fn run(g: &GlobalOpts, a: &WatchArgs) -> anyhow::Result<u8> {
    // Compose's `watch` builds and starts the services first (`--no-up` skips it): then the
    // machine is probed afresh, as `up` does.
    let project = if a.no_up {
        super::load_project(g)?
    } else {
        super::load_project_probed(g)?
    };
    super::report_not_acted_on(&project);
    let named = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    // Bad rules are a usage error before anything is started.
    watch::check(&project, &named, engine.site.remote).map_err(WatchError::into_anyhow)?;
    let wait = Duration::from_secs(a.wait_timeout);
    if !a.no_up {
        watch::bring_up(&engine, &project, &named, wait, g.verbose > 0).await?;
    }
    let stop = stop_signals()?;
    let opts = WatchOptions { wait, strict: true };
    let why = watch::run(&engine, &project, &named, &opts, stop)
        .await
        .map_err(WatchError::into_anyhow)?;
    crate::ui::attached::say(&format!("{why}: watch stopped"));
    Ok(0)
}

/// Resolves on Ctrl-C, SIGTERM or a closed terminal (SIGHUP), with what it was.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "interrupted",
            _ = term.recv() => "terminated",
            _ = hup.recv() => "the terminal went away",
        }
    })
}
