//! `devstack stop [SVC…] [-t SECS]`: stop services and host processes without removing them,
//! through the executor's reverse walk (a node once everything depending on it among those
//! stopped has stopped; independent ones in parallel). Named nodes only, as Compose stops only
//! the named services; all when none are named. Host processes are stopped by the project's
//! supervisor; without one none runs.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{GlobalOpts, StopArgs};
use crate::engine::converge::{ConvergeError, Event, Reporter};
use crate::engine::observed;
use crate::executor::{self, Ctx, Selection, StopHow};
use crate::supervisor::hosts::Hosts;
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &StopArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let named = project.resolve_services(&a.services)?;
    let engine = super::connect().await?;
    let containers = observed::list(&engine, &project.name).await?;
    let paths = project.paths();
    let supervised = super::supervised(&project).await?;
    let mut nodes = Selection::exactly(&named).nodes(&project);
    if !supervised {
        let hosts: Vec<String> = nodes
            .iter()
            .filter(|n| project.graph.is_host(n))
            .cloned()
            .collect();
        if !hosts.is_empty() {
            crate::say!(
                "{} no supervisor runs for project {}, so host process{} {} {} not running: nothing to stop",
                color::dim("•"),
                project.name,
                if hosts.len() == 1 { "" } else { "es" },
                hosts.join(", "),
                if hosts.len() == 1 { "is" } else { "are" },
            );
        }
        nodes.retain(|n| !project.graph.is_host(n));
    }
    // Containers that exist; a service without one has nothing to stop.
    let nodes = executor::present(&project.graph, nodes, &containers);
    if nodes.is_empty() {
        crate::say!("nothing to stop for project {}", project.name);
        return Ok(0);
    }
    let hosts = if supervised {
        Hosts::Socket(paths)
    } else {
        Hosts::Absent("no supervisor runs".into())
    };
    let said: Reporter = Arc::new(|ev| {
        if let Event::Stopped(n) = &ev {
            crate::say!("{} {n} stopped", color::ok("✓"));
        }
    });
    let ctx = Ctx::new(&engine, &project, hosts, said);
    executor::stop(
        &ctx,
        &nodes,
        &containers,
        StopHow::Stop,
        a.timeout.map(Duration::from_secs),
    )
    .await
    .map_err(ConvergeError::from)?;
    Ok(0)
}
