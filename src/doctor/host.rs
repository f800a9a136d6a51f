//! `host.wsl` and `host.groups`.

use serde_json::json;

use super::{Check, Facts, Status};

/// WSL 1 has no GPU and no Docker engine; WSL 2 runs the stack but crashes under sustained
/// GPU load (the requirements' E_UNEXPECTED story).
pub fn wsl(f: &Facts) -> Check {
    let release = f
        .root
        .read("/proc/sys/kernel/osrelease")
        .unwrap_or_default();
    let version = f.root.read("/proc/version").unwrap_or_default();
    let lower = format!("{release} {version}").to_lowercase();
    if !lower.contains("microsoft") && !lower.contains("wsl") {
        return Check::new("host.wsl", Status::Ok, "native Linux (not WSL)")
            .details(json!({ "kernel": release }));
    }
    let wsl2 = lower.contains("wsl2") || lower.contains("microsoft-standard");
    if wsl2 {
        Check::new("host.wsl", Status::Warn, format!("running under WSL 2 (kernel {release}): sustained GPU load (4D-Humans + PHALP) is known to crash WSL with E_UNEXPECTED"))
            .fix("run the stack on a native Linux workstation (the reason devstack exists); if you must stay on WSL 2: update WSL (`wsl --update`) and the Windows NVIDIA driver, and cap GPU memory with POSE_GPU_MEMORY_FRACTION")
            .details(json!({ "wsl": 2, "kernel": release }))
    } else {
        Check::new("host.wsl", Status::Fail, format!("running under WSL 1 (kernel {release}): no GPU and no Docker engine"))
            .fix("convert the distribution to WSL 2 (`wsl --set-version <distro> 2`), or better run on native Linux")
            .details(json!({ "wsl": 1, "kernel": release }))
    }
}

/// Membership of the `docker` group: configured in /etc/group vs effective in this session.
pub fn groups(f: &Facts) -> Check {
    if f.user.uid == 0 {
        return Check::new(
            "host.groups",
            Status::Ok,
            "running as root: no group needed for the Docker socket",
        );
    }
    let group_file = f.root.read("/etc/group").unwrap_or_default();
    let docker = group_file.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        let _ = parts.next();
        let gid: u32 = parts.next()?.parse().ok()?;
        let members: Vec<&str> = parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|m| !m.is_empty())
            .collect();
        (name == "docker").then(|| (gid, members.contains(&f.user.name.as_str())))
    });
    match docker {
        None => Check::new(
            "host.groups",
            Status::Skip,
            "no docker group on this machine (rootless Docker or a remote engine)",
        ),
        Some((gid, _)) if f.user.gids.contains(&gid) => Check::new(
            "host.groups",
            Status::Ok,
            format!("{} is in the docker group", f.user.name),
        ),
        Some((_, true)) => Check::new(
            "host.groups",
            Status::Warn,
            format!(
                "{} was added to the docker group, but this session does not have it yet",
                f.user.name
            ),
        )
        .fix("log out and back in, or run `newgrp docker` in this shell"),
        Some((_, false)) => Check::new(
            "host.groups",
            Status::Warn,
            format!("{} is not in the docker group", f.user.name),
        )
        .fix(format!(
            "sudo usermod -aG docker {} && newgrp docker",
            f.user.name
        )),
    }
}
