//! `devstack dash`: the dashboard of the running project, however it was started
//! (`ops::dash`).

use std::sync::Arc;

use crate::cli::{DashArgs, GlobalOpts};
use crate::errors::UsageError;
use crate::ops::session;

pub async fn run(g: &GlobalOpts, _a: &DashArgs) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "`devstack dash` needs a terminal (stdin and stdout); for scripts use `devstack ps --json` and `devstack logs -f`".into(),
        )
        .into());
    }
    let project = super::load_project(g)?;
    let engine = super::connect().await?;
    let hosts = session::hosts_of(&project);
    let events = crate::supervisor::hosts::subscribe(&project.paths()).await;
    crate::ops::dash::dash_loop(&engine, Arc::new(project), hosts, events, false).await?;
    Ok(0)
}
