use std::time::Duration;

use crate::cli::{DownArgs, GlobalOpts, Rmi};
use crate::engine::lifecycle::{self, RemoveImages};
use crate::project::ProjectSource;
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &DownArgs) -> anyhow::Result<u8> {
    // Only the name is needed: `down` works even when the templates no longer render.
    let source = ProjectSource::resolve(g)?;
    // An attached `up` in another terminal stops as on Ctrl-C (host processes first).
    crate::supervisor::stop_attached(&source.devstack_dir()).await;
    crate::supervisor::stop_background(&source).await?;
    let engine = super::connect().await?;
    let report = lifecycle::down(
        &engine,
        &source.name,
        a.volumes,
        match a.rmi {
            None => RemoveImages::None,
            Some(Rmi::Local) => RemoveImages::Built,
            Some(Rmi::All) => RemoveImages::All,
        },
        Duration::from_secs(a.timeout),
    )
    .await?;
    crate::supervisor::forget_autoheal(&source);
    for c in &report.containers {
        eprintln!("{} container {c} removed", color::ok("✓"));
    }
    for n in &report.networks {
        eprintln!("{} network {n} removed", color::ok("✓"));
    }
    for v in &report.volumes_removed {
        eprintln!("{} volume {v} removed", color::ok("✓"));
    }
    for i in &report.images_removed {
        eprintln!("{} image {i} removed", color::ok("✓"));
    }
    for (i, why) in &report.images_kept {
        eprintln!("{} kept image {i}: {why}", color::warn("!"));
    }
    if !report.volumes_kept.is_empty() {
        eprintln!(
            "{} kept volumes {} (data is safe; `devstack down --volumes` removes them)",
            color::dim("•"),
            report.volumes_kept.join(", ")
        );
    }
    if report.containers.is_empty()
        && report.networks.is_empty()
        && report.images_removed.is_empty()
    {
        eprintln!("nothing to remove for project {}", source.name);
    }
    Ok(0)
}
