use std::time::Duration;

use crate::cli::{GlobalOpts, RestartArgs};
use crate::engine::lifecycle::{self, Restarted};
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &RestartArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let services = project.resolve_services(&a.services)?;
    let (hosts, services): (Vec<String>, Vec<String>) = services
        .into_iter()
        .partition(|s| project.model.x_devstack.host.contains_key(s));
    for h in &hosts {
        let begin = std::time::Instant::now();
        crate::supervisor::request_restart(&project.devstack_dir(), h).await?;
        println!(
            "{} {h} restarted (host process) in {:.1}s",
            color::ok("✓"),
            begin.elapsed().as_secs_f64()
        );
    }
    if services.is_empty() {
        return Ok(0);
    }
    let engine = super::connect().await?;
    let print = |r: &Restarted| {
        let how = if r.recreated {
            "recreated (config changed)"
        } else {
            "restarted"
        };
        let why = r
            .as_dependent_of
            .as_ref()
            .map(|d| format!(" (depends on {d} with restart: true)"))
            .unwrap_or_default();
        let state = if a.no_wait {
            String::new()
        } else {
            format!(", {} after {:.1}s", r.state, r.took.as_secs_f64())
        };
        println!("{} {} {how}{state}{why}", color::ok("✓"), r.service);
    };
    lifecycle::restart(
        &engine,
        &project,
        &services,
        !a.no_wait,
        Duration::from_secs(a.timeout),
        &print,
    )
    .await?;
    Ok(0)
}
