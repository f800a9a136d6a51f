//! Builds through the engine's BuildKit, as Compose v2 (buildx's `docker` driver) makes them:
//! a session (`POST /session`) that serves the context, the Dockerfile, named contexts,
//! secrets and SSH agents; BuildKit's controller (`POST /grpc`) asked to solve the Dockerfile
//! frontend with the `moby` exporter, which tags the image in the engine; its status stream
//! read for progress and for the log of a failed step.

pub mod dial;
mod filesync;
pub mod progress;
mod session;

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::moby::buildkit::v1::control_client::ControlClient;
use bollard::moby::buildkit::v1::{CacheOptions, CacheOptionsEntry, SolveRequest, StatusRequest};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tonic::transport::Channel;

use self::dial::{DialError, Target};
use self::progress::Tracker;
use super::BuildUpdate;
use crate::project::model::{Build, CacheEntry};

/// Messages up to BuildKit's own limit (16 MiB).
const MAX_MESSAGE: usize = 16 << 20;

/// Everything one build needs, resolved on this machine.
pub struct Job<'a> {
    pub service: String,
    pub build: &'a Build,
    /// Every tag the image gets (the service's first).
    pub tags: Vec<String>,
    /// Where the Dockerfile is: its directory and its name there.
    pub dockerfile_dir: PathBuf,
    pub dockerfile_name: String,
    /// Named contexts that are directories, by name.
    pub local_contexts: HashMap<String, PathBuf>,
    /// `context:NAME` values that are not directories (images, URLs), by name.
    pub other_contexts: HashMap<String, String>,
    pub secrets: HashMap<String, Vec<u8>>,
    pub ssh: HashMap<String, PathBuf>,
    pub no_cache: bool,
    pub pull: bool,
    /// Cache imports (images) and exports (inline).
    pub cache_from: Vec<CacheEntry>,
    pub cache_to: Vec<CacheEntry>,
    /// Keys the engine's BuildKit reuses the directories it received under.
    pub shared_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildkitError {
    #[error("{0}")]
    Dial(#[from] DialError),
    #[error("BuildKit: {0}")]
    Grpc(String),
    /// The build ran and failed: the step, its error, its log.
    #[error("{message}")]
    Failed { message: String, log: String },
}

/// Opens a client of the engine's BuildKit controller (each connection an upgraded
/// `POST /grpc`).
pub async fn control(target: &Target) -> Result<ControlClient<Channel>, BuildkitError> {
    let target = target.clone();
    let connector = tower::service_fn(move |_: http::Uri| {
        let target = target.clone();
        async move {
            let io = dial::upgrade(&target, "/grpc", &[])
                .await
                .map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(TokioIo::new(io))
        }
    });
    let channel = tonic::transport::Endpoint::from_static("http://buildkit.engine")
        .connect_with_connector(connector)
        .await
        .map_err(|e| match find_dial_error(&e) {
            Some(d) => d,
            None => BuildkitError::Grpc(e.to_string()),
        })?;
    Ok(ControlClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// The upgrade's own error when the connector failed with one (a refused `/grpc`).
fn find_dial_error(e: &(dyn std::error::Error + 'static)) -> Option<BuildkitError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|e| e.downcast_ref::<DialError>());
        if let Some(DialError::Refused { path, status, body }) =
            err.downcast_ref::<DialError>().or(inner)
        {
            return Some(BuildkitError::Dial(DialError::Refused {
                path: path.clone(),
                status: *status,
                body: body.clone(),
            }));
        }
        cur = err.source();
    }
    None
}

/// Builds `job`; returns the image id. `on` hears the progress line and the steps' output.
pub async fn build(
    target: &Target,
    job: Job<'_>,
    on: &(dyn Fn(&BuildUpdate) + Sync),
) -> Result<String, BuildkitError> {
    let mut dirs = HashMap::from([
        ("context".to_string(), job.build.context.clone()),
        ("dockerfile".to_string(), job.dockerfile_dir.clone()),
    ]);
    dirs.extend(job.local_contexts.clone());
    let offer = session::Offer {
        dirs,
        secrets: job.secrets.clone(),
        ssh: job.ssh.clone(),
    };
    let session = session::start(target, &job.shared_key, offer).await?;
    let mut control = control(target).await?;
    let build_ref = session::new_id();
    let req = solve_request(&job, &session.id, &build_ref);
    let mut status_client = control.clone();
    let status_ref = build_ref.clone();
    let mut tracker = Tracker::default();
    let follow = async {
        let req = StatusRequest { r#ref: status_ref };
        let Ok(resp) = status_client.status(req).await else {
            return;
        };
        let mut stream = resp.into_inner();
        let mut last = String::new();
        while let Some(Ok(msg)) = stream.next().await {
            for line in tracker.update(msg) {
                on(&BuildUpdate::Log(&line));
            }
            if let Some(line) = tracker.line().filter(|l| *l != last) {
                on(&BuildUpdate::Step(&line));
                last = line;
            }
        }
    };
    let (solved, ()) = tokio::join!(control.solve(req), follow);
    drop(session);
    let (steps, cached) = tracker.counts();
    match solved {
        Ok(resp) => {
            on(&BuildUpdate::Done { steps, cached });
            let r = resp.into_inner().exporter_response;
            Ok(r.get("containerimage.digest").cloned().unwrap_or_default())
        }
        Err(status) => Err(failure(status.message(), &tracker)),
    }
}

fn failure(message: &str, tracker: &Tracker) -> BuildkitError {
    match tracker.failure() {
        Some(f) => BuildkitError::Failed {
            message: format!(
                "step `{}` failed: {}",
                progress::short(&f.step, 100),
                progress::step_error(&f.error)
            ),
            log: f
                .log
                .lines()
                .map(|l| format!("  │ {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        },
        None => BuildkitError::Failed {
            message: message.trim().to_string(),
            log: String::new(),
        },
    }
}

/// The solve as buildx's docker driver sends it: the Dockerfile frontend with Compose's
/// settings as its attributes, the `moby` exporter with the tags, cache imports and exports,
/// and the entitlements the build asks for.
fn solve_request(job: &Job, session: &str, build_ref: &str) -> SolveRequest {
    let entry = |e: &CacheEntry| CacheOptionsEntry {
        r#type: e.kind.clone(),
        attrs: e
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let imports: Vec<CacheOptionsEntry> = job.cache_from.iter().map(entry).collect();
    let mut attrs = frontend_attrs(job);
    if !imports.is_empty() {
        let json: Vec<serde_json::Value> = imports
            .iter()
            .map(|i| serde_json::json!({"Type": i.r#type, "Attrs": i.attrs}))
            .collect();
        attrs.insert(
            "cache-imports".into(),
            serde_json::Value::from(json).to_string(),
        );
    }
    SolveRequest {
        r#ref: build_ref.to_string(),
        exporter_deprecated: "moby".into(),
        exporter_attrs_deprecated: HashMap::from([("name".to_string(), job.tags.join(","))]),
        session: session.to_string(),
        frontend: "dockerfile.v0".into(),
        frontend_attrs: attrs,
        cache: Some(CacheOptions {
            exports: job.cache_to.iter().map(entry).collect(),
            imports,
            ..Default::default()
        }),
        entitlements: entitlements(job.build),
        ..Default::default()
    }
}

fn entitlements(b: &Build) -> Vec<String> {
    let mut e = b.entitlements.clone();
    if b.network.as_deref() == Some("host") {
        e.push("network.host".into());
    }
    if b.privileged {
        e.push("security.insecure".into());
    }
    e.sort();
    e.dedup();
    e
}

/// The Dockerfile frontend's attributes for the service's `build:`.
pub fn frontend_attrs(job: &Job) -> HashMap<String, String> {
    let b = job.build;
    let mut a = HashMap::from([("filename".to_string(), job.dockerfile_name.clone())]);
    if let Some(t) = &b.target {
        a.insert("target".into(), t.clone());
    }
    for (k, v) in &b.args {
        a.insert(format!("build-arg:{k}"), v.clone());
    }
    for (k, v) in &b.labels {
        a.insert(format!("label:{k}"), v.clone());
    }
    if !b.extra_hosts.is_empty() {
        let hosts: Vec<String> = b
            .extra_hosts
            .iter()
            .map(|h| h.replacen(':', "=", 1))
            .collect();
        a.insert("add-hosts".into(), hosts.join(","));
    }
    if let Some(n) = b.network.as_deref().filter(|n| *n != "default") {
        a.insert("force-network-mode".into(), n.to_string());
    }
    if let Some(s) = b.shm_size {
        a.insert("shm-size".into(), s.to_string());
    }
    if !b.ulimits.is_empty() {
        let u: Vec<String> = b
            .ulimits
            .iter()
            .map(|u| format!("{}={}:{}", u.name, u.soft, u.hard))
            .collect();
        a.insert("ulimit".into(), u.join(","));
    }
    if job.no_cache {
        a.insert("no-cache".into(), String::new());
    } else if !b.no_cache_filter.is_empty() {
        a.insert("no-cache".into(), b.no_cache_filter.join(","));
    }
    if job.pull {
        a.insert("image-resolve-mode".into(), "pull".into());
    }
    if let Some(p) = b.platforms.first() {
        a.insert("platform".into(), p.clone());
    }
    for name in job.local_contexts.keys() {
        a.insert(format!("context:{name}"), format!("local:{name}"));
    }
    for (name, value) in &job.other_contexts {
        a.insert(format!("context:{name}"), value.clone());
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::model::Ulimit;

    fn job(b: &Build) -> Job<'_> {
        Job {
            service: "web".into(),
            build: b,
            tags: vec!["p-web".into(), "web:dev".into()],
            dockerfile_dir: "/p/web".into(),
            dockerfile_name: "Dockerfile.dev".into(),
            local_contexts: HashMap::from([("base".to_string(), PathBuf::from("/p/base"))]),
            other_contexts: HashMap::from([(
                "img".to_string(),
                "docker-image://alpine:3".to_string(),
            )]),
            secrets: HashMap::new(),
            ssh: HashMap::new(),
            no_cache: false,
            pull: true,
            cache_from: vec![CacheEntry::parse("app:cache").unwrap()],
            cache_to: vec![CacheEntry::parse("type=inline").unwrap()],
            shared_key: "k".into(),
        }
    }

    #[test]
    fn compose_settings_become_frontend_attributes() {
        let b = Build {
            target: Some("dev".into()),
            args: [("A".to_string(), "1".to_string())].into_iter().collect(),
            labels: [("team".to_string(), "pose".to_string())]
                .into_iter()
                .collect(),
            extra_hosts: vec!["db:10.0.0.2".into(), "v6:::1".into()],
            network: Some("host".into()),
            shm_size: Some(1 << 30),
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            no_cache_filter: vec!["deps".into()],
            platforms: vec!["linux/amd64".into()],
            ..Default::default()
        };
        let j = job(&b);
        let a = frontend_attrs(&j);
        assert_eq!(a["filename"], "Dockerfile.dev");
        assert_eq!(a["target"], "dev");
        assert_eq!(a["build-arg:A"], "1");
        assert_eq!(a["label:team"], "pose");
        assert_eq!(a["add-hosts"], "db=10.0.0.2,v6=::1");
        assert_eq!(a["force-network-mode"], "host");
        assert_eq!(a["shm-size"], "1073741824");
        assert_eq!(a["ulimit"], "nofile=1024:2048");
        assert_eq!(a["no-cache"], "deps");
        assert_eq!(a["image-resolve-mode"], "pull");
        assert_eq!(a["platform"], "linux/amd64");
        assert_eq!(a["context:base"], "local:base");
        assert_eq!(a["context:img"], "docker-image://alpine:3");
        let r = solve_request(&j, "sess", "ref");
        assert_eq!(r.exporter_deprecated, "moby");
        assert_eq!(r.exporter_attrs_deprecated["name"], "p-web,web:dev");
        assert_eq!(r.entitlements, ["network.host"]);
        let cache = r.cache.unwrap();
        assert_eq!(cache.imports[0].r#type, "registry");
        assert_eq!(cache.imports[0].attrs["ref"], "app:cache");
        assert_eq!(cache.exports[0].r#type, "inline");
        assert!(r.frontend_attrs["cache-imports"].contains("app:cache"));
    }
}
