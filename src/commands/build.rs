use crate::cli::{BuildArgs, GlobalOpts};
use crate::engine::build::{ensure_image, ImageAction};
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &BuildArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
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
        let (id, action) =
            ensure_image(&engine, &project.name, svc, a.force, false, &on_line).await?;
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
