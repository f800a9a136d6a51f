//! `stack.env`, `stack.ports`, `stack.models`: the project itself.

use serde_json::json;

use super::{Check, Facts, Status};
use crate::engine::observed::ContainerState;
use crate::project::{Project, ProjectError, ProjectSource};

/// `.env` parses, the template renders, and `.env` has no keys `.env.example` does not know.
pub fn env(
    source: &Result<ProjectSource, ProjectError>,
    project: &Result<Project, ProjectError>,
) -> Check {
    let source = match source {
        Ok(s) => s,
        Err(e) => {
            return Check::new("stack.env", Status::Fail, e.to_string())
                .fix("fix the line named above")
        }
    };
    if let Err(e) = project {
        return Check::new("stack.env", Status::Fail, e.to_string())
            .fix("fix the template or set the variable in .env");
    }
    let example = std::fs::read_to_string(source.dir.join(".env.example")).unwrap_or_default();
    let known: Vec<String> = example
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty() && !k.contains(' '))
        .collect();
    let unknown: Vec<&String> = source
        .env_file_keys
        .iter()
        .filter(|k| !known.contains(k))
        .collect();
    let file = source
        .env_file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "no .env file (defaults apply);".into());
    if !example.is_empty() && !unknown.is_empty() {
        return Check::new("stack.env", Status::Warn, format!("{file}: keys not in .env.example: {}", unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
            .fix("check for typos (the template would silently use its default), or document them in .env.example")
            .details(json!({ "unknown": unknown }));
    }
    Check::new(
        "stack.env",
        Status::Ok,
        format!("{file} parses and the template renders"),
    )
}

/// Every published host port is free, or held by this stack's own container.
pub fn ports(project: &Result<Project, ProjectError>, containers: &[ContainerState]) -> Check {
    let Ok(project) = project else {
        return Check::new(
            "stack.ports",
            Status::Skip,
            "the project does not load (see stack.env)",
        );
    };
    let mut busy = Vec::new();
    let mut checked = 0;
    for svc in project.model.services.values() {
        let ours = containers
            .iter()
            .any(|c| c.service == svc.name && c.running());
        for p in svc.ports.iter().filter(|p| p.protocol == "tcp") {
            let Some(port) = p.host_port else { continue };
            checked += 1;
            if ours {
                continue;
            }
            let addr = if p.host_ip.contains(':') {
                format!("[{}]:{port}", p.host_ip)
            } else {
                format!("{}:{port}", p.host_ip)
            };
            if std::net::TcpListener::bind(&addr)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
            {
                busy.push(format!("{addr} ({})", svc.name));
            }
        }
    }
    if busy.is_empty() {
        Check::new(
            "stack.ports",
            Status::Ok,
            format!("{checked} published ports free or held by this stack"),
        )
    } else {
        Check::new(
            "stack.ports",
            Status::Fail,
            format!("in use by something else: {}", busy.join(", ")),
        )
        .fix("stop what holds them (`ss -ltnp`), or change the ports in .env")
    }
}

const SMPL_FILES: [&str; 2] = [
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
    "SMPL_NEUTRAL.pkl",
];

/// The SMPL body model must be downloaded by hand (licence): research/pose.md §2.3.
pub fn models(f: &Facts, project: &Result<Project, ProjectError>) -> Check {
    let Ok(project) = project else {
        return Check::new(
            "stack.models",
            Status::Skip,
            "the project does not load (see stack.env)",
        );
    };
    if !project.model.services.contains_key("pose-service") {
        return Check::new(
            "stack.models",
            Status::Skip,
            "no pose-service in this stack",
        );
    }
    let dir = f.env("SMPL_DIR").unwrap_or("data/smpl");
    let dir = if std::path::Path::new(dir).is_absolute() {
        std::path::PathBuf::from(dir)
    } else {
        project.dir.join(dir.trim_start_matches("./"))
    };
    if let Some(found) = SMPL_FILES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        return Check::new(
            "stack.models",
            Status::Ok,
            format!("SMPL model present: {}", found.display()),
        );
    }
    Check::new("stack.models", Status::Warn, format!("the SMPL model is missing from {} (the pose service cannot load without it)", dir.display()))
        .fix(format!("register at https://smplify.is.tue.mpg.de, download the neutral model and save it as {}/{} (or set SMPL_DIR in .env)", dir.display(), SMPL_FILES[0]))
}
