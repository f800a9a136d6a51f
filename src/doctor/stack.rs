//! `stack.env`, `stack.ports`, `stack.models`: the project itself.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Check, Facts, Status, Sysroot};
use crate::engine::observed::ContainerState;
use crate::engine::Engine;
use crate::project::model::{MountKind, Service};
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
pub fn ports(
    project: &Result<Project, ProjectError>,
    containers: &[ContainerState],
    site: &crate::engine::remote::Site,
) -> Check {
    let project = match project {
        Ok(p) => p,
        // Two services on one host port: the project does not load, and it is a port problem.
        Err(e) if crate::project::model::is_port_conflict(e) => {
            return Check::new("stack.ports", Status::Fail, e.to_string())
                .fix("give each service its own host port, where the message above says")
        }
        Err(_) => {
            return Check::new(
                "stack.ports",
                Status::Skip,
                "the project does not load (see stack.env)",
            )
        }
    };
    if site.remote {
        return Check::new(
            "stack.ports",
            Status::Skip,
            format!(
                "published on {} (the engine's machine), not here: the engine reports a taken port when the service starts",
                site.host
            ),
        );
    }
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
                busy.push((format!("{addr} ({})", svc.name), p.source.change_hint()));
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
            format!(
                "in use by something else: {}",
                busy.iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .fix(format!(
            "stop what holds them (`ss -ltnp`), or {}",
            busy.iter()
                .map(|(_, h)| h.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }
}

const SMPL_FILES: [&str; 2] = [
    "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
    "SMPL_NEUTRAL.pkl",
];

/// Where 4D-Humans and PHALP look for the converted SMPL model inside the model cache
/// (pose_service/models.py `smpl_targets`); with both there, SMPL_DIR is not needed.
const SMPL_IN_CACHE: [&str; 2] = [
    "4DHumans/data/smpl/SMPL_NEUTRAL.pkl",
    "phalp/3D/models/smpl/SMPL_NEUTRAL.pkl",
];

/// The pose service's cache folder (HOME/.cache; TORCH_HOME and FVCORE_CACHE live under it).
const CACHE_TARGET: &str = "/home/app/.cache";

/// The template's (and pose_service/config.py's) default for HMR2_DATA_URL.
pub const DEFAULT_HMR2_DATA_URL: &str =
    "https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz";

const VITDET_URL: &str = "https://dl.fbaipublicfiles.com/detectron2/ViTDet/COCO/cascade_mask_rcnn_vitdet_h/f328730692/model_final_f05665.pkl";

/// What the model-cache volume holds, as the probe found it (filled by
/// [`probe_model_cache`]; fixtures in tests).
#[derive(Debug, Clone)]
pub enum ModelCache {
    /// Not looked at: why (no engine, `--sysroot`, the engine did not answer).
    Unknown(String),
    /// The engine has no volume of that name: the first `up` creates it.
    NotCreated,
    /// The volume exists and its files are readable here, in this folder (its Mountpoint).
    Readable(PathBuf),
    /// The volume exists, but its files cannot be read from here: why.
    Unreadable { mountpoint: String, why: String },
}

/// Asks the engine for the volume and whether its Mountpoint is readable on this machine
/// (a local engine and root, or a rootless engine's own user). Never an error: what cannot be
/// learned is [`ModelCache::Unknown`] or [`ModelCache::Unreadable`].
pub async fn probe_model_cache(engine: &Engine, volume: &str, root: &Sysroot) -> ModelCache {
    let v = match engine.docker.inspect_volume(volume).await {
        Ok(v) => v,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return ModelCache::NotCreated,
        Err(e) => return ModelCache::Unknown(format!("the engine did not say: {e}")),
    };
    let mountpoint = v.mountpoint;
    if !engine.host.starts_with("unix://") {
        return ModelCache::Unreadable {
            why: format!("the engine at {} is not on this machine", engine.host),
            mountpoint,
        };
    }
    let dir = root.path(&mountpoint);
    match std::fs::read_dir(&dir) {
        Ok(_) => ModelCache::Readable(dir),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => ModelCache::Unreadable {
            why: format!(
                "{mountpoint} is readable only by root: `sudo devstack doctor` looks inside"
            ),
            mountpoint,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ModelCache::Unreadable {
            why: format!(
                "{mountpoint} is not on this machine's filesystem (Docker Desktop or a VM?)"
            ),
            mountpoint,
        },
        Err(e) => ModelCache::Unreadable {
            why: format!("{mountpoint}: {e}"),
            mountpoint,
        },
    }
}

/// The engine-side name of the named volume pose-service mounts at its cache folder
/// (`{project}_model-cache` with the template), from the rendered model.
pub fn model_cache_volume(project: &Project) -> Option<String> {
    let svc = project.model.services.get("pose-service")?;
    let key = svc
        .volumes
        .iter()
        .find(|m| m.kind == MountKind::Volume && m.target.trim_end_matches('/') == CACHE_TARGET)?
        .source
        .as_ref()?;
    Some(
        project
            .model
            .volumes
            .get(key)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| format!("{}_{key}", project.name)),
    )
}

/// The probe for [`models_with`] on the real machine: asks the engine on a thread of its own
/// (the checks are synchronous), in at most 3 s. Not under `--sysroot`. A caller holding a
/// connected engine can instead pass [`probe_model_cache`]'s answer to [`models_with`].
fn probe_blocking(f: &Facts, project: &Project) -> ModelCache {
    if !f.root.is_real() {
        return ModelCache::Unknown("not probed under --sysroot".into());
    }
    let Some(volume) = model_cache_volume(project) else {
        return ModelCache::Unknown("no model-cache volume".into());
    };
    let root = f.root.clone();
    let probed = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(3), async {
                let engine = Engine::connect().await.ok()?;
                Some(probe_model_cache(&engine, &volume, &root).await)
            })
            .await
            .ok()
            .flatten()
        })
    })
    .join()
    .ok()
    .flatten();
    probed.unwrap_or_else(|| ModelCache::Unknown("no engine to ask (see docker.engine)".into()))
}

/// The SMPL body model (by hand: licence, research/pose.md §2.3) and the downloaded weights
/// (HMR 2.0 data, ViTDet detector) in the model-cache volume. Probes the engine for the volume.
pub fn models(f: &Facts, project: &Result<Project, ProjectError>) -> Check {
    let cache = match project {
        Ok(p) if p.model.services.contains_key("pose-service") => probe_blocking(f, p),
        _ => ModelCache::Unknown("not probed".into()),
    };
    models_with(f, project, &cache)
}

/// One large first-start download (pose_service/models.py `downloads`).
struct Download {
    name: &'static str,
    url: String,
    /// Below the cache folder.
    rel: String,
    size: &'static str,
    setting: Option<&'static str>,
}

impl Download {
    fn file_name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or(&self.rel)
    }

    /// The service's own by-hand instructions (models.py `by_hand`), for `container`.
    fn by_hand(&self, container: &str) -> String {
        let how = format!(
            "download {} on the host and copy it into the model cache: docker cp {} {container}:{CACHE_TARGET}/{}",
            self.url,
            self.file_name(),
            self.rel
        );
        match self.setting {
            Some(s) => format!(
                "set {s} in .env to a reachable copy of {} and run `devstack up`, or {how}",
                self.file_name()
            ),
            None => how,
        }
    }
}

/// The SMPL part: Ok(summary) or Err((summary, fix)).
fn smpl(f: &Facts, project: &Project, cache: &ModelCache) -> Result<String, (String, String)> {
    let dir = f.env("SMPL_DIR").unwrap_or("data/smpl");
    let dir = if Path::new(dir).is_absolute() {
        PathBuf::from(dir)
    } else {
        project.dir.join(dir.trim_start_matches("./"))
    };
    if let Some(found) = SMPL_FILES.iter().map(|n| dir.join(n)).find(|p| p.is_file()) {
        return Ok(format!("SMPL model present: {}", found.display()));
    }
    if let ModelCache::Readable(c) = cache {
        if SMPL_IN_CACHE.iter().all(|r| c.join(r).is_file()) {
            return Ok(format!(
                "SMPL model present (converted) in the model cache: {CACHE_TARGET}/{}",
                SMPL_IN_CACHE[0]
            ));
        }
    }
    Err((
        format!("the SMPL model is missing from {} (the pose service cannot load without it)", dir.display()),
        format!("register at https://smplify.is.tue.mpg.de, download the neutral model and save it as {}/{} (or set SMPL_DIR in .env)", dir.display(), SMPL_FILES[0]),
    ))
}

fn gb(bytes: u64) -> String {
    if bytes < 1_000_000_000 {
        format!("{} MB", bytes / 1_000_000)
    } else {
        format!("{:.1} GB", bytes as f64 / 1e9)
    }
}

/// [`models`] as a pure function of its probes: `cache` is what the model-cache volume holds.
pub fn models_with(
    f: &Facts,
    project: &Result<Project, ProjectError>,
    cache: &ModelCache,
) -> Check {
    let Ok(project) = project else {
        return Check::new(
            "stack.models",
            Status::Skip,
            "the project does not load (see stack.env)",
        );
    };
    let Some(svc) = project.model.services.get("pose-service") else {
        return Check::new(
            "stack.models",
            Status::Skip,
            "no pose-service in this stack",
        );
    };
    let mut found = Findings::default();
    match smpl(f, project, cache) {
        Ok(s) => found.parts.push(s),
        Err((s, fix)) => found.warn(s, fix),
    }
    let (url, url_from) = download_source(f, project, svc);
    let downloads = downloads(svc, &url);
    let from = format!("HMR2 data from {url} ({url_from})");
    let Some(volume) = model_cache_volume(project) else {
        found.warn(
            format!("pose-service mounts no named volume at {CACHE_TARGET}: every new container downloads the weights again (~6 GB), {from}"),
            format!("mount a named volume at {CACHE_TARGET} (the template's `model-cache`)"),
        );
        return found.finish(json!({ "hmr2_data_url": url, "url_from": url_from, "volume": null }));
    };
    let container = project.container_name("pose-service", 1);
    let (state, mount, files) = match cache {
        ModelCache::Unknown(why) => {
            found
                .parts
                .push(format!("weights in {volume}: unknown ({why}); {from}"));
            ("unknown", None, Vec::new())
        }
        ModelCache::Unreadable { why, mountpoint } => {
            found
                .parts
                .push(format!("weights in {volume}: unknown ({why}); {from}"));
            ("unknown", Some(mountpoint.clone()), Vec::new())
        }
        ModelCache::NotCreated => {
            let all: Vec<&Download> = downloads.iter().collect();
            found.warn(
                format!("model-cache volume {volume} not created yet: the first `devstack up` downloads the weights (~6 GB), {from}"),
                by_hand(&container, &all, " (`docker cp` needs the container, which `devstack up` creates)"),
            );
            ("not created", None, Vec::new())
        }
        ModelCache::Readable(dir) => {
            let what = Cached {
                dir,
                volume: &volume,
                container: &container,
                from: &from,
            };
            let (state, files) = what.report(&downloads, &mut found);
            (state, Some(dir.display().to_string()), files)
        }
    };
    found.finish(json!({ "hmr2_data_url": url, "url_from": url_from, "volume": volume, "mountpoint": mount, "cache": state, "files": files }))
}

/// What the check found: its parts, whether any warns, and the fixes.
#[derive(Default)]
struct Findings {
    warn: bool,
    parts: Vec<String>,
    fixes: Vec<String>,
}

impl Findings {
    fn warn(&mut self, part: String, fix: String) {
        self.warn = true;
        self.parts.push(part);
        self.fixes.push(fix);
    }

    fn finish(self, details: serde_json::Value) -> Check {
        let status = if self.warn { Status::Warn } else { Status::Ok };
        let mut c = Check::new("stack.models", status, self.parts.join("; ")).details(details);
        if !self.fixes.is_empty() {
            c = c.fix(self.fixes.join("\n"));
        }
        c
    }
}

/// Where the service downloads from, and who said so: its rendered environment (.env, then
/// the process environment, then the template's default).
fn download_source(f: &Facts, project: &Project, svc: &Service) -> (String, &'static str) {
    match svc
        .environment
        .get("HMR2_DATA_URL")
        .filter(|u| !u.is_empty())
    {
        Some(u) if f.env("HMR2_DATA_URL") == Some(u.as_str()) => {
            let from = if project.env_file_keys.iter().any(|k| k == "HMR2_DATA_URL") {
                "HMR2_DATA_URL in .env"
            } else {
                "HMR2_DATA_URL in the environment"
            };
            (u.clone(), from)
        }
        Some(u) if u == DEFAULT_HMR2_DATA_URL => (u.clone(), "the template's default"),
        Some(u) => (u.clone(), "set in the template"),
        None => (DEFAULT_HMR2_DATA_URL.to_string(), "the service's default"),
    }
}

/// The weights the service downloads: HMR2's data, and the ViTDet detector when it uses it.
fn downloads(svc: &Service, url: &str) -> Vec<Download> {
    let detector = svc
        .environment
        .get("POSE_DETECTOR")
        .map(|d| d.to_lowercase())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "vitdet".into());
    let mut downloads = vec![Download {
        name: "hmr2_data.tar.gz",
        url: url.to_string(),
        rel: "4DHumans/hmr2_data.tar.gz".into(),
        size: "2.7 GB",
        setting: Some("HMR2_DATA_URL"),
    }];
    if detector == "vitdet" {
        // iopath mirrors the URL's path under FVCORE_CACHE (= the cache's iopath_cache).
        let path = VITDET_URL.split_once("://").map_or("", |(_, r)| r);
        let path = path.split_once('/').map_or("", |(_, p)| p);
        downloads.push(Download {
            name: "ViTDet-H detector",
            url: VITDET_URL.into(),
            rel: format!("iopath_cache/{path}"),
            size: "2.8 GB",
            setting: None,
        });
    }
    downloads
}

/// How to place `missing` by hand, as the service's /health says.
fn by_hand(container: &str, missing: &[&Download], note: &str) -> String {
    let mut lines = vec![format!(
        "`devstack up` downloads them; to place them by hand instead{note}, as the service's /health says:"
    )];
    for d in missing {
        lines.push(format!("{}: {}", d.name, d.by_hand(container)));
    }
    lines.join("\n")
}

/// A model cache whose files can be read (at `dir`, the volume's mountpoint).
struct Cached<'a> {
    dir: &'a Path,
    volume: &'a str,
    container: &'a str,
    from: &'a str,
}

impl Cached<'_> {
    /// Which downloads are there ("present") or not ("absent", with how much of each a
    /// download in progress has), and each file's details.
    fn report(
        &self,
        downloads: &[Download],
        found: &mut Findings,
    ) -> (&'static str, Vec<serde_json::Value>) {
        let (volume, from) = (self.volume, self.from);
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for d in downloads {
            let p = self.dir.join(&d.rel);
            let bytes = std::fs::metadata(&p)
                .ok()
                .filter(|m| m.is_file() && m.len() > 0)
                .map(|m| m.len());
            let part = std::fs::metadata(p.with_file_name(format!("{}.part", d.file_name())))
                .ok()
                .map(|m| m.len());
            files.push(json!({ "file": d.name, "url": d.url, "path": format!("{CACHE_TARGET}/{}", d.rel), "present": bytes.is_some(), "bytes": bytes, "downloaded_bytes": part }));
            if bytes.is_none() {
                missing.push((d, part));
            }
        }
        if missing.is_empty() {
            let names: Vec<&str> = downloads.iter().map(|d| d.name).collect();
            found
                .parts
                .push(format!("weights in {volume}: {}; {from}", names.join(", ")));
            return ("present", files);
        }
        let what: Vec<String> = missing
            .iter()
            .map(|(d, part)| match part {
                Some(b) => format!("{} ({} of ~{} downloaded)", d.name, gb(*b), d.size),
                None => format!("{} (~{})", d.name, d.size),
            })
            .collect();
        let how_much = if missing.len() == downloads.len() {
            "the first `devstack up` downloads ~6 GB"
        } else {
            "`devstack up` downloads them"
        };
        let ds: Vec<&Download> = missing.iter().map(|(d, _)| *d).collect();
        found.warn(
            format!(
                "weights not in {volume} yet: {}; {how_much}, {from}",
                what.join(", ")
            ),
            by_hand(self.container, &ds, ""),
        );
        ("absent", files)
    }
}
