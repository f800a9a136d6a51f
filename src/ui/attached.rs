//! Attached `up`: follow every service's logs (prefixed, stable colours) until Ctrl-C, then
//! stop the containers in reverse dependency order; a second Ctrl-C kills them.

use bollard::query_parameters::KillContainerOptions;
use tokio::io::AsyncWriteExt;

use crate::engine::{converge, observed, Engine};
use crate::project::{graph, Project};

pub async fn run(
    engine: &Engine,
    project: Project,
    roots: &[String],
    host_processes: bool,
    since: i32,
) -> anyhow::Result<u8> {
    let project = std::sync::Arc::new(project);
    let sup = crate::supervisor::Supervisor::start(
        project.clone(),
        Some(engine.clone()),
        host_processes,
        None,
    );
    let mut events = sup.subscribe();
    // One prefix width for containers and host processes, so the columns line up.
    let host_width = project
        .model
        .services
        .keys()
        .chain(project.model.x_devstack.host.keys())
        .map(String::len)
        .max()
        .unwrap_or(0);
    let printer = tokio::spawn(async move {
        while let Ok(ev) = events.recv().await {
            match &ev {
                crate::supervisor::SupEvent::Line(name, _, line) => {
                    let prefix =
                        crate::ui::color::for_name(name).apply_to(format!("{name:<host_width$} |"));
                    println!("{prefix} {line}");
                }
                other => {
                    if let Some(d) = other.describe() {
                        eprintln!("{d}");
                    }
                }
            }
        }
    });
    let project = &*project;
    let roots = if roots.is_empty() {
        converge::active_services(project)
    } else {
        roots.to_vec()
    };
    let selected = graph::with_dependencies(&project.model, &roots);
    let containers = observed::list(engine, &project.name).await?;
    let width = host_width;
    let after = chrono::DateTime::from_timestamp(i64::from(since), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.000000000Z").to_string())
        .unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::engine::logs::Line>(1024);
    let mut followers = Vec::new();
    for name in &selected {
        let Some(c) = containers.iter().find(|c| &c.service == name) else {
            continue;
        };
        // Follows across restarts (auto-heal) and recreations, by container name.
        followers.push(tokio::spawn(crate::engine::logs::follow(
            engine.clone(),
            name.clone(),
            c.name.clone(),
            after.clone(),
            tx.clone(),
        )));
    }
    drop(tx);
    followers.push(tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(l) = rx.recv().await {
            let prefix =
                crate::ui::color::for_name(&l.service).apply_to(format!("{:<width$} |", l.service));
            let _ = out
                .write_all(format!("{prefix} {}\n", l.text).as_bytes())
                .await;
        }
    }));
    tokio::signal::ctrl_c().await?;
    eprintln!("\nstopping (Ctrl-C again to kill)…");
    sup.shutdown().await;
    printer.abort();
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
        converge::stop_container(
            engine,
            &c.id,
            project.model.services[name].stop_grace_secs(),
        )
        .await;
        eprintln!("{} {name} stopped", crate::ui::color::ok("✓"));
    }
    Ok(())
}
