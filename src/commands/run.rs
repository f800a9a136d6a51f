//! `devstack run [--rm] [-T] [-e K=V]… [--no-deps] [--name N] SVC [CMD…]`: a one-off container
//! of a service, as `docker compose run` makes one (see `ops::run`).

use std::time::Duration;

use crate::cli::{GlobalOpts, RunArgs};
use crate::ops::exec::{self, ExecOptions};
use crate::ops::run::{self, RunOptions};

pub async fn run(g: &GlobalOpts, a: &RunArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    super::report_not_acted_on(&project);
    let service = exec::container_service(&project, &a.service, "run")?;
    let engine = super::connect().await?;
    let opts = RunOptions {
        exec: ExecOptions {
            command: a.command.clone(),
            env: a.env.clone(),
            user: a.user.clone(),
            workdir: a.workdir.clone(),
            tty: exec::wants_tty(a.no_tty),
        },
        name: a.name.clone(),
        rm: a.rm,
        no_deps: a.no_deps,
        wait: Duration::from_secs(a.wait_timeout),
        verbose: g.verbose > 0,
    };
    run::run(&engine, &project, &service, &opts).await
}
