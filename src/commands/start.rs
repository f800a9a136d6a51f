//! `devstack start [SVC…]`: start existing containers and host processes again, in dependency
//! order, creating nothing (`ops::lifecycle`). Named nodes only, as Compose starts only the
//! named services; all when none are named.

use std::time::Duration;

use crate::cli::{GlobalOpts, StartArgs};
use crate::ops::lifecycle;

pub async fn run(g: &GlobalOpts, a: &StartArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let named = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let wait = Duration::from_secs(a.wait_timeout);
    lifecycle::start(&engine, &project, &named, wait, g.verbose > 0).await?;
    Ok(0)
}
