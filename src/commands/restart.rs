//! `devstack restart NAME…`: services or host processes (recreated alone when their
//! configuration changed), each waited on until ready, then their `restart: true` dependents
//! of either kind (`ops::lifecycle`).

use std::time::Duration;

use crate::cli::{GlobalOpts, RestartArgs};
use crate::ops::lifecycle::{self, RestartOptions};

pub async fn run(g: &GlobalOpts, a: &RestartArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let names = project.resolve_services(&a.services)?;
    if a.dry_run {
        crate::outln!(
            "devstack restart --dry-run: the plan for project {}; nothing is changed",
            project.name
        )?;
        for l in lifecycle::restart_plan(&project, &names).await {
            crate::outln!("  {l}")?;
        }
        return Ok(0);
    }
    let engine = super::connect().await?;
    let opts = RestartOptions {
        no_wait: a.no_wait,
        wait: Duration::from_secs(a.wait_timeout),
        grace: a.timeout.map(Duration::from_secs),
    };
    lifecycle::restart(&engine, &project, names, &opts).await?;
    Ok(0)
}
