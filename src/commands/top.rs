use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use serde::Serialize;

use crate::cli::{GlobalOpts, TopArgs};
use crate::gpu::GpuStatus;
use crate::ops::status::{self, Look, NodeKind};
use crate::project::ProjectSource;
use crate::ui::{color, table};

#[derive(Serialize)]
struct ContainerUse {
    service: String,
    container: String,
    gpus: Vec<u32>,
    memory_mib: u64,
    /// From the container's POSE_GPU_MEMORY_FRACTION (of its GPUs' memory) or GPU_MEMORY_BUDGET_MIB.
    budget_mib: Option<u64>,
    over_budget: bool,
}

#[derive(Serialize)]
struct Snapshot {
    devices: Vec<GpuStatus>,
    containers: Vec<ContainerUse>,
}

pub async fn run(g: &GlobalOpts, a: &TopArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    let engine = super::connect().await.ok();
    loop {
        let devices = match tokio::task::spawn_blocking(|| {
            crate::gpu::status(std::path::Path::new("/proc"))
        })
        .await?
        {
            Ok(d) => d,
            Err(why) => {
                crate::say!(
                    "{} no GPU to show: {why}\n  (install the NVIDIA driver; `devstack doctor` checks the whole chain)",
                    color::bad("error:")
                );
                return Ok(1);
            }
        };
        let containers = match &engine {
            Some(e) => per_container(e, &source, &devices).await,
            None => Vec::new(),
        };
        let snap = Snapshot {
            devices,
            containers,
        };
        if a.json {
            crate::outln!("{}", serde_json::to_string_pretty(&snap)?)?;
            return Ok(0);
        }
        if !a.once && crate::ui::stdout_is_tty() {
            crate::out!("\x1b[2J\x1b[H")?;
        }
        crate::out!("{}", render(&snap))?;
        if a.once {
            return Ok(0);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(a.interval.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
    }
}

/// The project's containers (the one status of `ops::status`) that hold GPU memory, with the
/// budget each one's environment gives it.
async fn per_container(
    engine: &crate::engine::Engine,
    source: &ProjectSource,
    devices: &[GpuStatus],
) -> Vec<ContainerUse> {
    let usage = crate::gpu::usage_by_container(devices);
    let total: HashMap<u32, u64> = devices
        .iter()
        .map(|d| (d.index, d.memory_total_mib))
        .collect();
    let mut out = Vec::new();
    let snap = status::collect(engine, &source.name, &source.paths(), Look::default())
        .await
        .unwrap_or_default();
    for c in snap.nodes.iter().filter(|n| n.kind == NodeKind::Container) {
        let Some(id) = c.full_id.as_deref() else {
            continue;
        };
        let Some((gpus, memory_mib)) = usage.get(id).cloned() else {
            continue;
        };
        let env: Vec<String> = engine
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|i| i.config.and_then(|cfg| cfg.env))
            .unwrap_or_default();
        let var = |k: &str| {
            env.iter()
                .find_map(|e| e.strip_prefix(&format!("{k}=")).map(str::to_string))
        };
        let budget_mib = var("GPU_MEMORY_BUDGET_MIB")
            .and_then(|v| v.parse().ok())
            .or_else(|| {
                let fraction: f64 = var("POSE_GPU_MEMORY_FRACTION")?.parse().ok()?;
                let mem: u64 = gpus.iter().filter_map(|i| total.get(i)).sum();
                Some((fraction * mem as f64) as u64)
            });
        out.push(ContainerUse {
            service: c.service.clone(),
            container: c.name.clone(),
            over_budget: budget_mib.is_some_and(|b| memory_mib > b),
            gpus,
            memory_mib,
            budget_mib,
        });
    }
    out
}

fn render(s: &Snapshot) -> String {
    let rows: Vec<Vec<String>> = s
        .devices
        .iter()
        .map(|d| {
            vec![
                d.index.to_string(),
                d.name.clone(),
                d.utilization_pct
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "-".into()),
                d.temperature_c
                    .map(|t| format!("{t}°C"))
                    .unwrap_or_else(|| "-".into()),
                format!("{} / {} MiB", d.memory_used_mib, d.memory_total_mib),
                d.power_w
                    .map(|p| format!("{p:.0} W"))
                    .unwrap_or_else(|| "-".into()),
                d.processes.len().to_string(),
            ]
        })
        .collect();
    let mut out = table::render(
        &["GPU", "NAME", "UTIL", "TEMP", "MEMORY", "POWER", "PROCS"],
        &rows,
    );
    if !s.containers.is_empty() {
        let rows: Vec<Vec<String>> = s
            .containers
            .iter()
            .map(|c| {
                let mem = format!("{} MiB", c.memory_mib);
                vec![
                    c.service.clone(),
                    c.gpus
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    if c.over_budget {
                        color::bad(&format!("{mem} (over budget)"))
                    } else {
                        mem
                    },
                    c.budget_mib
                        .map(|b| format!("{b} MiB"))
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table::render(
            &["SERVICE", "GPU", "GPU MEMORY", "BUDGET"],
            &rows,
        ));
    }
    out
}
