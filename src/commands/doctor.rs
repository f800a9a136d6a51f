use std::path::PathBuf;

use crate::cli::{DoctorArgs, GlobalOpts};
use crate::doctor::{self, docker, gpu, host, kinect, stack, Check, Facts, Sysroot, User};
use crate::engine::remote::Site;
use crate::engine::Engine;
use crate::gpu::{GpuInventory, GpuSelection};
use crate::project::{Project, ProjectError, ProjectSource};

pub async fn run(g: &GlobalOpts, a: &DoctorArgs) -> anyhow::Result<u8> {
    let root = Sysroot(a.sysroot.clone().unwrap_or_else(|| PathBuf::from("/")));
    if !root.0.is_dir() {
        return Err(crate::errors::UsageError(format!(
            "--sysroot {}: not a directory",
            root.0.display()
        ))
        .into());
    }
    let source = ProjectSource::resolve(&g.into());
    let facts = Facts {
        root: root.clone(),
        user: User::current(),
        env: environment(&source),
    };
    // NVML and the engine are probed while the file checks run.
    let engine = tokio::spawn(Engine::connect());
    let (inventory, status) = probe_gpus(&root).await?;
    let project = load(&source, &inventory, &root);
    let engine = engine.await?;
    let containers = match (&engine, &source) {
        (Ok(e), Ok(s)) => crate::engine::observed::list(e, &s.name)
            .await
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let site = match &engine {
        Ok(e) => e.site.clone(),
        Err(_) => Site::current(),
    };
    let wants_gpu = project
        .as_ref()
        .is_ok_and(|p| p.model.services.values().any(|s| !s.gpus.is_empty()));
    let mut checks = vec![
        docker::engine(&engine, root.is_real()).await,
        docker::gpu_runtime(engine.as_ref().ok(), wants_gpu).await,
        docker::remote(engine.as_ref().ok(), &site, project.as_ref().ok()).await,
    ];
    checks.extend(gpu_checks(&facts, &inventory, &status));
    checks.extend(host_checks(&facts, source.as_ref().ok()));
    checks.extend([
        stack::ports(&project, &containers, &site),
        stack::env(&source, &project),
        stack::models(&facts, &project),
    ]);
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&checks)?)?;
    } else {
        crate::out!("{}", doctor::render(&checks))?;
    }
    Ok(u8::from(doctor::any_failed(&checks)))
}

/// The project's environment (.env and the process), else the process's alone.
fn environment(source: &Result<ProjectSource, ProjectError>) -> indexmap::IndexMap<String, String> {
    source
        .as_ref()
        .map(|s| s.env.clone())
        // A variable whose name or value is not UTF-8 is left out, as the project leaves it.
        .unwrap_or_else(|_| {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect()
        })
}

/// NVML's inventory and the GPUs' status; not asked under `--sysroot`.
async fn probe_gpus(
    root: &Sysroot,
) -> anyhow::Result<(GpuInventory, Result<Vec<crate::gpu::GpuStatus>, String>)> {
    if !root.is_real() {
        let why = "not probed under --sysroot".to_string();
        let inventory = GpuInventory {
            unavailable_reason: Some(why.clone()),
            ..Default::default()
        };
        return Ok((inventory, Err(why)));
    }
    let proc_root = root.path("/proc");
    Ok(
        tokio::task::spawn_blocking(move || (crate::gpu::probe(), crate::gpu::status(&proc_root)))
            .await?,
    )
}

/// The project rendered with the probed GPUs (its facts cached, except under `--sysroot`).
fn load(
    source: &Result<ProjectSource, ProjectError>,
    inventory: &GpuInventory,
    root: &Sysroot,
) -> Result<Project, ProjectError> {
    let s = source.as_ref().map_err(|e| ProjectError(e.to_string()))?;
    let facts = crate::host_facts::probe_with_gpu(&s.env, inventory.clone());
    let project = Project::load(s.clone(), &facts, &Site::current());
    // Under --sysroot NVML was not asked: keep those facts out of the cache.
    if project.is_ok() && root.is_real() {
        crate::host_facts::cache(&s.paths(), &facts);
    }
    project
}

/// The driver, the devices, and the selection DEVSTACK_GPU or CUDA_VISIBLE_DEVICES makes.
fn gpu_checks(
    facts: &Facts,
    inventory: &GpuInventory,
    status: &Result<Vec<crate::gpu::GpuStatus>, String>,
) -> Vec<Check> {
    let raw_selection = facts
        .env("DEVSTACK_GPU")
        .map(|v| format!("DEVSTACK_GPU={v}"))
        .or_else(|| {
            facts
                .env("CUDA_VISIBLE_DEVICES")
                .map(|v| format!("CUDA_VISIBLE_DEVICES={v}"))
        });
    let selection = GpuSelection::from_env(|k| facts.env(k).map(str::to_string), inventory);
    vec![
        gpu::driver(inventory),
        gpu::devices(inventory, status),
        gpu::selection(inventory, &selection, raw_selection.as_deref()),
    ]
}

/// WSL, groups, and the Kinect's USB, permissions, udev, usbfs, SDK, display and source.
fn host_checks(facts: &Facts, source: Option<&ProjectSource>) -> Vec<Check> {
    vec![
        host::wsl(facts),
        host::groups(facts),
        kinect::usb(facts),
        kinect::permissions(facts),
        kinect::udev(facts),
        kinect::usbfs(facts),
        kinect::sdk(facts),
        kinect::display(facts),
        kinect::source(facts, source.map(|s| s.dir.as_path())),
    ]
}
