//! `devstack up`: preflight, render, build, then walk the one graph of containers and host
//! processes (`ops::up`). With `-d` the background supervisor starts first and `up -d` returns
//! when every node is ready; attached, `ops::attached` runs the session.

use std::time::Duration;

use crate::cli::{GlobalOpts, PullPolicy, UpArgs};
use crate::engine::build::ImageOptions;
use crate::engine::container::Recreate;
use crate::engine::converge::UpOptions;
use crate::errors::UsageError;
use crate::ops::attached::{self, Attached};
use crate::ops::up::{self, Plan};

pub async fn run(g: &GlobalOpts, a: &UpArgs) -> anyhow::Result<u8> {
    let project = super::load_project_probed(g)?;
    if !a.detach {
        refuse_second_attached(&project)?;
    }
    super::report_not_acted_on(&project);
    let named = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let nodes = up::selection(&project, &named, a.no_host, a.no_deps);
    let plan = Plan::new(
        &project,
        nodes,
        options(a),
        Duration::from_secs(a.wait_timeout),
        g.verbose > 0,
    );
    if a.dry_run {
        crate::outln!(
            "devstack up --dry-run: the plan for project {}; nothing is changed",
            project.name
        )?;
        for l in up::dry_run(&engine, &project, &plan).await? {
            crate::outln!("  {l}")?;
        }
        return Ok(0);
    }
    if !a.detach {
        if a.dash {
            needs_terminal()?;
        }
        let how = Attached {
            host_processes: !a.no_host,
            grace: a.timeout.map(Duration::from_secs),
            dash: a.dash,
            watch: a.watch,
        };
        return attached::run(&engine, project, plan, how).await;
    }
    up::say_running(up::detached(&engine, &project, &plan).await?);
    Ok(0)
}

/// Two attached sessions would each run the host processes (one Kinect, two captures).
fn refuse_second_attached(project: &crate::project::Project) -> anyhow::Result<()> {
    match crate::supervisor::attached_pid(&project.paths()) {
        Some(pid) => Err(UsageError(format!(
            "an attached `devstack up` (pid {pid}) already runs project {}: watch it from here \
             with `devstack logs -f`, apply changes with `devstack up -d`, or stop it first",
            project.name
        ))
        .into()),
        None => Ok(()),
    }
}

fn needs_terminal() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(UsageError(
        "`devstack up --dash` needs a terminal (stdin and stdout); without one use `devstack up`"
            .into(),
    )
    .into())
}

/// The walk's options from the flags.
fn options(a: &UpArgs) -> UpOptions {
    UpOptions {
        image: ImageOptions {
            force_build: a.build,
            no_build: a.no_build,
            pull_always: a.pull == PullPolicy::Always,
            pull_never: a.pull == PullPolicy::Never,
            ..Default::default()
        },
        recreate: if a.force_recreate {
            Recreate::Always
        } else if a.no_recreate {
            Recreate::Never
        } else {
            Recreate::IfChanged
        },
        remove_orphans: a.remove_orphans,
        skip_preflight: a.skip_preflight,
        ..Default::default()
    }
}
