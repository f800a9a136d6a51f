//! `devstack watch [SVC…]`: reads the flags, brings the services up unless `--no-up`, and
//! runs the watch (`ops::watch`) until Ctrl-C, SIGTERM or a closed terminal.

use std::time::Duration;

use crate::cli::{GlobalOpts, WatchArgs};
use crate::ops::signals::StopSignals;
use crate::ops::watch::{self, WatchError, WatchOptions};

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
    let mut signals = StopSignals::new()?;
    let opts = WatchOptions { wait, strict: true };
    let why = watch::run(&engine, &project, &named, &opts, signals.next())
        .await
        .map_err(WatchError::into_anyhow)?;
    crate::ui::attached::say(&format!("{why}: watch stopped"));
    Ok(0)
}
