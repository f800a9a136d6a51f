use std::path::PathBuf;

use crate::cli::{DoctorArgs, GlobalOpts};
use crate::doctor::{self, docker, gpu, host, kinect, stack, Facts, Sysroot, User};
use crate::gpu::GpuSelection;
use crate::project::{Project, ProjectSource};

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
    let env = source
        .as_ref()
        .map(|s| s.env.clone())
        // A variable whose name or value is not UTF-8 is left out, as the project leaves it.
        .unwrap_or_else(|_| {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect()
        });
    let facts = Facts {
        root: root.clone(),
        user: User::current(),
        env,
    };
    // NVML and the engine are probed while the file checks run.
    let engine = tokio::spawn(crate::engine::Engine::connect());
    let (inventory, status) = if root.is_real() {
        let proc_root = root.path("/proc");
        tokio::task::spawn_blocking(move || (crate::gpu::probe(), crate::gpu::status(&proc_root)))
            .await?
    } else {
        let why = "not probed under --sysroot".to_string();
        (
            crate::gpu::GpuInventory {
                unavailable_reason: Some(why.clone()),
                ..Default::default()
            },
            Err(why),
        )
    };
    let project = match &source {
        Ok(s) => {
            let facts = crate::host_facts::probe_with_gpu(&s.env, inventory.clone());
            let project = Project::load(s.clone(), &facts);
            // Under --sysroot NVML was not asked: keep those facts out of the cache.
            if project.is_ok() && root.is_real() {
                crate::host_facts::cache(&s.paths(), &facts);
            }
            project
        }
        Err(e) => Err(crate::project::ProjectError(e.to_string())),
    };
    let raw_selection = facts
        .env("DEVSTACK_GPU")
        .map(|v| format!("DEVSTACK_GPU={v}"))
        .or_else(|| {
            facts
                .env("CUDA_VISIBLE_DEVICES")
                .map(|v| format!("CUDA_VISIBLE_DEVICES={v}"))
        });
    let selection = GpuSelection::from_env(|k| facts.env(k).map(str::to_string), &inventory);
    let wants_gpu = project
        .as_ref()
        .is_ok_and(|p| p.model.services.values().any(|s| !s.gpus.is_empty()));
    let engine = engine.await?;
    let containers = match (&engine, &source) {
        (Ok(e), Ok(s)) => crate::engine::observed::list(e, &s.name)
            .await
            .unwrap_or_default(),
        _ => Vec::new(),
    };

    let site = match &engine {
        Ok(e) => e.site.clone(),
        Err(_) => crate::engine::remote::Site::current(),
    };
    let checks = vec![
        docker::engine(&engine, root.is_real()).await,
        docker::gpu_runtime(engine.as_ref().ok(), wants_gpu).await,
        docker::remote(engine.as_ref().ok(), &site, project.as_ref().ok()).await,
        gpu::driver(&inventory),
        gpu::devices(&inventory, &status),
        gpu::selection(&inventory, &selection, raw_selection.as_deref()),
        host::wsl(&facts),
        host::groups(&facts),
        kinect::usb(&facts),
        kinect::permissions(&facts),
        kinect::udev(&facts),
        kinect::usbfs(&facts),
        kinect::sdk(&facts),
        kinect::display(&facts),
        kinect::source(&facts, source.as_ref().ok().map(|s| s.dir.as_path())),
        stack::ports(&project, &containers, &site),
        stack::env(&source, &project),
        stack::models(&facts, &project),
    ];
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&checks)?)?;
    } else {
        crate::out!("{}", doctor::render(&checks))?;
    }
    Ok(u8::from(doctor::any_failed(&checks)))
}
