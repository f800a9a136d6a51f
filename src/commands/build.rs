use crate::cli::{BuildArgs, GlobalOpts};
use crate::engine::build::{ensure_image_with, image_plan, ImageAction, ImageOptions};
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &BuildArgs) -> anyhow::Result<u8> {
    let project = super::load_project_probed(g)?;
    let names = if a.services.is_empty() {
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
    if a.dry_run {
        for name in &names {
            let svc = &project.model.services[name];
            if svc.build.is_none() {
                continue;
            }
            match image_plan(&engine, &project, svc, &opts).await? {
                Some(why) => println!("would {why}"),
                None => println!("{name}: image up to date, nothing to build"),
            }
        }
        return Ok(0);
    }
    for name in names {
        let svc = &project.model.services[&name];
        if svc.build.is_none() {
            eprintln!(
                "{} {name} has no build section (image {})",
                color::dim("-"),
                svc.image.as_deref().unwrap_or("?")
            );
            continue;
        }
        let verbose = g.verbose > 0;
        let prefix = name.clone();
        let on_line = move |l: &str| {
            if verbose {
                eprintln!("{prefix} | {l}");
            }
        };
        let (id, action) = ensure_image_with(&engine, &project, svc, &opts, &on_line).await?;
        let what = match action {
            ImageAction::UpToDate => "up to date",
            _ => "built",
        };
        println!(
            "{} {name} {what} ({})",
            color::ok("✓"),
            &id.trim_start_matches("sha256:")[..12.min(id.len())]
        );
    }
    Ok(0)
}
