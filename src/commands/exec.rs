//! `devstack exec [-T] [-u USER] [-w DIR] [-e K=V]… SVC CMD…`: a command in the service's
//! running container, as `docker compose exec` (see `ops::exec`).

use crate::cli::{ExecArgs, GlobalOpts};
use crate::ops::exec::{self, ExecOptions};

pub async fn run(g: &GlobalOpts, a: &ExecArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let service = exec::container_service(&project, &a.service, "exec")?;
    let engine = super::connect().await?;
    let target = exec::running_container(&engine, &project, &service, a.index).await?;
    let opts = ExecOptions {
        command: a.command.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: exec::wants_tty(a.no_tty),
    };
    exec::exec(&engine, &target, &opts).await
}
