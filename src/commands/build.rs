use std::time::Instant;

use futures_util::future::join_all;

use crate::cli::{BuildArgs, GlobalOpts};
use crate::engine::build::{
    build_waves, ensure_image_with, image_plan, BuildUpdate, ImageAction, ImageOptions,
};
use crate::engine::converge::Event;
use crate::engine::Engine;
use crate::errors::UsageError;
use crate::project::Project;
use crate::ui::color;
use crate::ui::progress::Progress;

pub async fn run(g: &GlobalOpts, a: &BuildArgs) -> anyhow::Result<u8> {
    let project = super::load_project_probed(g)?;
    let names: Vec<String> = if a.services.is_empty() {
        project
            .model
            .services
            .values()
            .filter(|s| s.build.is_some())
            .map(|s| s.name.clone())
            .collect()
    } else {
        project.resolve_services(&a.services)?
    };
    let engine = super::connect().await?;
    let opts = ImageOptions {
        force_build: a.force,
        no_cache: a.no_cache,
        pull_always: a.pull,
        ..Default::default()
    };
    // Host processes (the camera) run on the host: nothing to build for them.
    let (names, host): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| project.model.services.contains_key(n));
    for name in &host {
        eprintln!(
            "{} {name} is a host process: it runs on this machine, there is no image to build",
            color::dim("-")
        );
    }
    let (buildable, image_only): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| project.model.services[n].build.is_some());
    for name in &image_only {
        let svc = &project.model.services[name];
        eprintln!(
            "{} {name} has no build section (image {})",
            color::dim("-"),
            svc.image.as_deref().unwrap_or("?")
        );
    }
    if a.dry_run {
        for name in &buildable {
            let svc = &project.model.services[name];
            match image_plan(&engine, &project, svc, &opts).await? {
                Some(why) => println!("would {why}"),
                None => println!("{name}: image up to date, nothing to build"),
            }
        }
        return Ok(0);
    }
    let waves = build_waves(&project, &buildable).map_err(UsageError)?;
    let progress = Progress::new(&buildable, g.verbose > 0);
    let mut failures: Vec<anyhow::Error> = Vec::new();
    for wave in waves {
        let results = join_all(
            wave.iter()
                .map(|name| build_one(&engine, &project, name, &opts, &progress)),
        )
        .await;
        for (name, r) in wave.iter().zip(results) {
            match r {
                Ok((id, action)) => println!(
                    "{} {name} {} ({})",
                    color::ok("✓"),
                    if action == ImageAction::UpToDate {
                        "up to date"
                    } else {
                        "built"
                    },
                    short_id(&id)
                ),
                Err(e) => failures.push(e.into()),
            }
        }
        if !failures.is_empty() {
            progress.abandon();
            break;
        }
    }
    // Every failure is told; the last one is the command's error.
    let last = failures.pop();
    for f in failures {
        eprintln!("{} {f:#}", color::bad("error:"));
    }
    match last {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// One service's image, its progress reported as `up` reports it.
async fn build_one(
    engine: &Engine,
    project: &Project,
    name: &str,
    opts: &ImageOptions,
    progress: &Progress,
) -> Result<(String, ImageAction), crate::engine::build::BuildError> {
    let svc = &project.model.services[name];
    let begin = Instant::now();
    progress.event(&Event::Building(name.to_string()));
    let stats = std::sync::Mutex::new(None);
    let on = |u: &BuildUpdate| {
        let n = name.to_string();
        match *u {
            BuildUpdate::Step(s) => progress.event(&Event::BuildStep(n, s.to_string())),
            BuildUpdate::Log(l) => progress.event(&Event::BuildLine(n, l.to_string())),
            BuildUpdate::Note(note) => progress.event(&Event::Note(note.to_string())),
            BuildUpdate::Done { steps, cached } => {
                *stats.lock().unwrap_or_else(|e| e.into_inner()) = Some((steps, cached));
            }
        }
    };
    let (id, action) = ensure_image_with(engine, project, svc, opts, &on).await?;
    let what = match (&action, *stats.lock().unwrap_or_else(|e| e.into_inner())) {
        (ImageAction::UpToDate, _) => "up to date".to_string(),
        (_, Some((steps, cached))) => format!("built ({steps} steps, {cached} cached)"),
        _ => "built".to_string(),
    };
    progress.event(&Event::Ready(name.to_string(), what, begin.elapsed()));
    Ok((id, action))
}

/// The first 12 characters of an image id, as `docker images` shows it.
fn short_id(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    id.get(..12).unwrap_or(id)
}
