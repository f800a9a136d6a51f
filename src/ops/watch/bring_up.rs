//! `watch` without `--no-up` first builds and starts the services, as `up -d` does (Compose's
//! `watch` does the same): `ops::up`'s plan and detached walk.

use std::time::Duration;

use crate::engine::converge::UpOptions;
use crate::engine::Engine;
use crate::ops::up::{self, Plan};
use crate::project::Project;

/// `up -d` of `named` (every active service when empty) and their dependencies, with `up`'s
/// progress lines and its default options; returns when every node is ready within `wait`.
pub async fn bring_up(
    engine: &Engine,
    project: &Project,
    named: &[String],
    wait: Duration,
    verbose: bool,
) -> anyhow::Result<()> {
    let nodes = up::selection(project, named, false, false);
    let plan = Plan::new(project, nodes, UpOptions::default(), wait, verbose);
    let running = up::detached(engine, project, &plan).await?;
    up::say_running(running);
    Ok(())
}
