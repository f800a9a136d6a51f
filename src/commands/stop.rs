//! `devstack stop [SVC…] [-t SECS]`: stop services and host processes without removing them,
//! in reverse dependency order (`ops::lifecycle`). Named nodes only, as Compose stops only the
//! named services; all when none are named.

use std::time::Duration;

use crate::cli::{GlobalOpts, StopArgs};
use crate::ops::lifecycle;

pub async fn run(g: &GlobalOpts, a: &StopArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let named = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let grace = a.timeout.map(Duration::from_secs);
    lifecycle::stop(&engine, &project, &named, grace).await?;
    Ok(0)
}
