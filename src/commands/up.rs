use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::{GlobalOpts, UpArgs};
use crate::engine::build::ImageAction;
use crate::engine::converge::{self, Action, Event, UpOptions};
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &UpArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    super::report_not_acted_on(&project);
    let services = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let begin = Instant::now();
    let verbose = g.verbose > 0;
    let reporter: converge::Reporter = Arc::new(move |ev: Event| print_event(&ev, verbose));
    let opts = UpOptions {
        services: services.clone(),
        force_build: a.build,
        no_build: a.no_build,
        timeout: Duration::from_secs(a.timeout),
    };
    let report = converge::up(&engine, &project, opts, reporter).await?;
    let changed = report
        .actions
        .iter()
        .filter(|(_, act)| *act != Action::UpToDate)
        .count();
    eprintln!(
        "{} {} services ready in {:.1}s ({changed} changed)",
        color::ok("✓"),
        report.actions.len(),
        begin.elapsed().as_secs_f64()
    );
    if a.detach {
        return Ok(0);
    }
    crate::ui::attached::run(&engine, &project, &services).await
}

fn print_event(ev: &Event, verbose: bool) {
    match ev {
        Event::Building(s) => eprintln!("{} {s} building image", color::dim("•")),
        Event::BuildLine(s, l) if verbose => eprintln!("{s} | {l}"),
        Event::Image(s, ImageAction::Built) => eprintln!("{} {s} image built", color::ok("✓")),
        Event::Image(s, ImageAction::Pulled) => eprintln!("{} {s} image pulled", color::ok("✓")),
        Event::Waiting(s, dep) if verbose => eprintln!("{} {s} waiting for {dep}", color::dim("•")),
        Event::Container(s, act) => {
            let what = match act {
                Action::Created => "created",
                Action::Recreated => "recreated",
                Action::Started => "started",
                Action::UpToDate => "up to date",
            };
            eprintln!("{} {s} {what}", color::dim("•"));
        }
        Event::Ready(s, what, took) => {
            eprintln!(
                "{} {s} {what} after {:.1}s",
                color::ok("✓"),
                took.as_secs_f64()
            )
        }
        Event::Note(n) => eprintln!("{} {n}", color::warn("note:")),
        _ => {}
    }
}
