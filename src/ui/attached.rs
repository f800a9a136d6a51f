//! Attached `up`: follow every service's logs (prefixed, stable colours) until Ctrl-C, then
//! stop the containers in reverse dependency order; a second Ctrl-C kills them.

use std::time::Duration;

use bollard::query_parameters::{
    KillContainerOptions, LogsOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::engine::{converge, observed, Engine};
use crate::project::{graph, Project};

pub async fn run(engine: &Engine, project: &Project, roots: &[String]) -> anyhow::Result<u8> {
    let roots = if roots.is_empty() {
        converge::active_services(project)
    } else {
        roots.to_vec()
    };
    let selected = graph::with_dependencies(&project.model, &roots);
    let containers = observed::list(engine, &project.name).await?;
    let width = selected.iter().map(String::len).max().unwrap_or(0);
    let since = chrono::Utc::now().timestamp() as i32;
    let mut followers = Vec::new();
    for name in &selected {
        let Some(c) = containers.iter().find(|c| &c.service == name) else {
            continue;
        };
        let docker = engine.docker.clone();
        let (id, name) = (c.id.clone(), name.clone());
        followers.push(tokio::spawn(async move {
            let prefix = crate::ui::color::for_name(&name)
                .apply_to(format!("{name:<width$} |"))
                .to_string();
            let opts = LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .since(since)
                .build();
            let mut stream = docker.logs(&id, Some(opts));
            let mut pending = String::new();
            let mut out = tokio::io::stdout();
            while let Some(Ok(chunk)) = stream.next().await {
                pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                while let Some(pos) = pending.find('\n') {
                    let line: String = pending.drain(..=pos).collect();
                    let _ = out.write_all(format!("{prefix} {}", line).as_bytes()).await;
                }
            }
        }));
    }
    tokio::signal::ctrl_c().await?;
    eprintln!("\nstopping (Ctrl-C again to kill)…");
    let stop = stop_reverse(engine, project, &selected, &containers);
    tokio::select! {
        r = stop => r?,
        _ = tokio::signal::ctrl_c() => {
            for c in &containers {
                let _ = engine.docker.kill_container(&c.id, None::<KillContainerOptions>).await;
            }
        }
    }
    for f in followers {
        f.abort();
    }
    Ok(0)
}

async fn stop_reverse(
    engine: &Engine,
    project: &Project,
    selected: &[String],
    containers: &[observed::ContainerState],
) -> anyhow::Result<()> {
    for name in selected.iter().rev() {
        let Some(c) = containers.iter().find(|c| &c.service == name) else {
            continue;
        };
        let grace = project.model.services[name]
            .stop_grace_period
            .unwrap_or(Duration::from_secs(10))
            .as_secs() as i32;
        let _ = engine
            .docker
            .stop_container(
                &c.id,
                Some(StopContainerOptionsBuilder::default().t(grace).build()),
            )
            .await;
        eprintln!("{} {name} stopped", crate::ui::color::ok("✓"));
    }
    Ok(())
}
