use std::sync::Arc;
use std::time::Duration;

use crate::cli::{GlobalOpts, UpArgs};
use crate::engine::converge::{self, Action, Event, UpOptions};
use crate::exit::UsageError;
use crate::supervisor::Running;
use crate::ui::attached::{self, StopSignals};
use crate::ui::color;
use crate::ui::progress::Progress;

pub async fn run(g: &GlobalOpts, a: &UpArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    if !a.detach {
        // Two attached sessions would each run the host processes (one Kinect, two captures).
        if let Some(pid) = crate::supervisor::attached_pid(&project.devstack_dir()) {
            return Err(UsageError(format!(
                "an attached `devstack up` (pid {pid}) already runs project {}: watch it from here \
                 with `devstack logs -f`, apply changes with `devstack up -d`, or stop it first",
                project.name
            ))
            .into());
        }
    }
    super::report_not_acted_on(&project);
    let services = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let verbose = g.verbose > 0;
    // Attached mode shows the services' output from the start of this `up`.
    let started = chrono::Utc::now().timestamp() as i32;
    let selected = converge::selected_services(&project, &services);
    let progress = Arc::new(Progress::new(&selected, verbose));
    let p = progress.clone();
    let reporter: converge::Reporter = Arc::new(move |ev: Event| p.event(&ev));
    let opts = UpOptions {
        services: services.clone(),
        force_build: a.build,
        no_build: a.no_build,
        timeout: Duration::from_secs(a.timeout),
        skip_preflight: a.skip_preflight,
    };
    // Attached, a signal during start-up stops what was started (as it does later); with -d
    // the default applies: devstack ends and what was started keeps running.
    let mut signals = if a.detach {
        None
    } else {
        Some(StopSignals::new()?)
    };
    let converging = converge::up(&engine, &project, opts, reporter);
    let result = match &mut signals {
        Some(sig) => tokio::select! {
            r = converging => r,
            why = sig.next() => {
                progress.abandon();
                let sig = signals.take().expect("attached");
                return attached::interrupted(&engine, &project, &selected, why, sig).await;
            }
        },
        None => converging.await,
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            progress.abandon();
            return Err(e.into());
        }
    };
    let changed = report
        .actions
        .iter()
        .filter(|(_, act)| *act != Action::UpToDate)
        .count();
    progress.finish(report.actions.len(), changed);
    let wants_supervisor = (!a.no_host && !project.model.x_devstack.host.is_empty())
        || project.model.x_devstack.autoheal.enabled;
    if a.detach {
        if wants_supervisor {
            match crate::supervisor::ensure_background(&project).await? {
                Running::Background(pid) => eprintln!(
                    "{} supervisor running in the background (pid {pid})",
                    color::ok("✓")
                ),
                Running::Attached(pid) => eprintln!(
                    "{} host processes and auto-heal stay with the attached `devstack up` (pid {pid}); \
                     restart it to apply changes to x-devstack",
                    color::ok("✓")
                ),
            }
        }
        return Ok(0);
    }
    // One supervisor per project: the attached one replaces a background one.
    crate::supervisor::stop_background(&project.source).await?;
    let signals = signals.expect("attached");
    attached::run(&engine, project, &selected, !a.no_host, started, signals).await
}
