//! An engine on another machine (`DOCKER_HOST=tcp://gpu-box:2376` with TLS, `ssh://me@gpu-box`,
//! or a docker context naming one). A bind mount there would mount *that* machine's path, an
//! empty or wrong directory, silently. So binds of paths inside the project become copies: one
//! upload after create and before start, then `watch` keeps them in sync. Binds outside the
//! project (`/dev/bus/usb`, `/tmp/.X11-unix`) stay: they mean the engine's machine's devices.
//! Published ports are reached at the engine's host.

use std::path::{Path, PathBuf};

use super::spec::{self, ContainerSpec};
use super::sync::{self, Change, SyncError, SyncStats};
use super::{Endpoint, Engine};
use crate::project::model::{MountKind, Service};
use crate::project::Project;

/// Where the engine runs, as seen from this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The engine's machine: where published ports are reached from here (`127.0.0.1` when
    /// the engine is local or its address has no host, as with a unix socket).
    pub host: String,
    pub remote: bool,
    /// Why it counts as remote or local, for `doctor` and the notes.
    pub reason: String,
}

impl Site {
    /// This process's engine: [`super::endpoint`], with `DEVSTACK_REMOTE` forcing the answer.
    pub fn current() -> Site {
        Site::of(
            &super::endpoint(),
            std::env::var("DEVSTACK_REMOTE").ok().as_deref(),
        )
    }

    /// `forced`: `DEVSTACK_REMOTE` (`1`/`true`/`yes` remote, `0`/`false`/`no` local).
    pub fn of(ep: &Endpoint, forced: Option<&str>) -> Site {
        let host = url_host(&ep.host);
        let shown = host.clone().unwrap_or_else(|| "127.0.0.1".into());
        match forced.map(str::to_ascii_lowercase).as_deref() {
            Some("1" | "true" | "yes") => {
                return Site {
                    host: shown,
                    remote: true,
                    reason: "DEVSTACK_REMOTE=1".into(),
                }
            }
            Some("0" | "false" | "no") => {
                return Site {
                    host: shown,
                    remote: false,
                    reason: "DEVSTACK_REMOTE=0".into(),
                }
            }
            _ => {}
        }
        match host {
            Some(h) if !is_loopback(&h) => Site {
                reason: format!("{} ({}) names another machine", ep.host, ep.source),
                host: h,
                remote: true,
            },
            _ => Site {
                host: shown,
                remote: false,
                reason: format!("{} ({}) is on this machine", ep.host, ep.source),
            },
        }
    }
}

impl Site {
    /// A published port (`0.0.0.0:3000->3000/tcp`, or `0.0.0.0:3000`) as it is reached from
    /// here: on a remote engine at its host (`gpu-box:3000->3000/tcp`), since `0.0.0.0` or
    /// `127.0.0.1` there is not this machine.
    pub fn reachable(&self, port: &str) -> String {
        if !self.remote {
            return port.to_string();
        }
        let (binding, container) = match port.split_once("->") {
            Some((b, c)) => (b, Some(c)),
            None => (port, None),
        };
        let host_port = binding.rsplit_once(':').map_or(binding, |(_, p)| p);
        match container {
            Some(c) => format!("{}:{host_port}->{c}", self.host),
            None => format!("{}:{host_port}", self.host),
        }
    }
}

/// The host of `tcp://`, `http(s)://` and `ssh://` engine addresses (brackets of an IPv6
/// address removed); `None` for unix sockets and named pipes.
pub fn url_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "tcp" | "http" | "https" | "ssh") {
        return None;
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then(|| host.to_string())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A bind mount that becomes a copy on a remote engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub host: PathBuf,
    pub target: String,
}

/// Binds of paths inside the project: the ones a remote engine gets as copies.
pub fn project_binds(svc: &Service, project_dir: &Path) -> Vec<Copy> {
    svc.volumes
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .filter_map(|m| {
            let src = PathBuf::from(m.source.as_ref()?);
            src.starts_with(project_dir).then(|| Copy {
                host: src,
                target: m.target.clone(),
            })
        })
        .collect()
}

/// The service without its project binds, and those binds as copies.
pub fn without_project_binds(svc: &Service, project_dir: &Path) -> (Service, Vec<Copy>) {
    let copies = project_binds(svc, project_dir);
    let mut svc = svc.clone();
    svc.volumes.retain(|m| {
        !(m.kind == MountKind::Bind
            && m.source
                .as_ref()
                .is_some_and(|s| Path::new(s).starts_with(project_dir)))
    });
    (svc, copies)
}

/// The create body for `svc` on this engine: on a remote engine, project binds become copies
/// ([`ContainerSpec::copies`], uploaded by create before the container starts).
pub async fn container_spec(
    engine: &Engine,
    project: &Project,
    svc: &Service,
    image_id: &str,
) -> ContainerSpec {
    container_spec_n(engine, project, svc, 1, image_id).await
}

/// [`container_spec`] of the service's container number `n`. The containers its
/// `service:NAME` references mean are looked up now, by id, as Compose does.
pub async fn container_spec_n(
    engine: &Engine,
    project: &Project,
    svc: &Service,
    n: u32,
    image_id: &str,
) -> ContainerSpec {
    let api = spec::Api(engine.api.0, engine.api.1);
    let mut refs = spec::Refs::new();
    for other in spec::referenced(svc) {
        let name = project.container_name(&other, 1);
        if let Ok(c) = super::observed::inspect(engine, &name).await {
            refs.insert(name, c.id);
        }
    }
    if !engine.site.remote {
        return spec::container_spec_n(project, svc, n, image_id, api, &refs);
    }
    let (local, copies) = without_project_binds(svc, &project.dir);
    let mut spec = spec::container_spec_n(project, &local, n, image_id, api, &refs);
    if !copies.is_empty() {
        // The copies are configuration too: a changed bind recreates, as it does locally.
        let listed: Vec<String> = copies
            .iter()
            .map(|c| format!("{}:{}", c.host.display(), c.target))
            .collect();
        spec.config_hash = super::labels::hash_json(
            &serde_json::json!({ "config": spec.config_hash, "x-copies": listed }),
        );
        if let Some(l) = spec.body.labels.as_mut() {
            l.insert(super::labels::CONFIG_HASH.into(), spec.config_hash.clone());
        }
    }
    spec.copies = copies;
    spec
}

/// Uploads `copies` into container `id` (created, not started: the archive endpoint takes
/// it), in one tar, with everything under each directory.
pub async fn upload(engine: &Engine, id: &str, copies: &[Copy]) -> Result<SyncStats, SyncError> {
    let changes: Vec<Change> = copies
        .iter()
        .map(|c| Change {
            host: c.host.clone(),
            container: c.target.clone(),
        })
        .collect();
    for c in copies {
        if !c.host.exists() {
            return Err(SyncError::Read {
                path: c.host.display().to_string(),
                detail:
                    "no such file or directory (a bind mount's source, copied to the remote engine)"
                        .into(),
            });
        }
    }
    let batch = sync::batch(&changes, &|_| true)?;
    sync::apply(engine, id, batch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            source: "DOCKER_HOST".into(),
            tls_dir: None,
        }
    }

    #[test]
    fn hosts_of_engine_addresses() {
        assert_eq!(url_host("tcp://gpu-box:2376").as_deref(), Some("gpu-box"));
        assert_eq!(
            url_host("ssh://me@gpu-box.lan:2222").as_deref(),
            Some("gpu-box.lan")
        );
        assert_eq!(url_host("ssh://gpu-box").as_deref(), Some("gpu-box"));
        assert_eq!(url_host("tcp://[::1]:2375").as_deref(), Some("::1"));
        assert_eq!(
            url_host("https://10.0.0.5:2376/").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(url_host("unix:///var/run/docker.sock"), None);
        assert_eq!(url_host("npipe:////./pipe/docker_engine"), None);
        assert_eq!(url_host("garbage"), None);
    }

    #[test]
    fn remote_when_the_host_is_not_loopback() {
        let s = Site::of(&ep("tcp://gpu-box:2376"), None);
        assert!(s.remote);
        assert_eq!(s.host, "gpu-box");
        assert!(s.reason.contains("another machine"), "{}", s.reason);
        for local in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "ssh://me@[::1]",
            "tcp://127.1.2.3:1",
        ] {
            assert!(!Site::of(&ep(local), None).remote, "{local}");
        }
        assert_eq!(Site::of(&ep("unix:///x.sock"), None).host, "127.0.0.1");
    }

    #[test]
    fn devstack_remote_forces_either_way() {
        let s = Site::of(&ep("tcp://127.0.0.1:2376"), Some("1"));
        assert!(s.remote);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.reason, "DEVSTACK_REMOTE=1");
        assert!(!Site::of(&ep("tcp://gpu-box:2376"), Some("false")).remote);
        // Anything else leaves the address to decide.
        assert!(Site::of(&ep("tcp://gpu-box:2376"), Some("")).remote);
    }

    #[test]
    fn remote_ports_are_shown_at_the_engine_host() {
        let site = |remote| Site {
            host: "gpu-box".into(),
            remote,
            reason: String::new(),
        };
        assert_eq!(
            site(true).reachable("0.0.0.0:3000->3000/tcp"),
            "gpu-box:3000->3000/tcp"
        );
        assert_eq!(
            site(true).reachable(":::8000->8000/tcp"),
            "gpu-box:8000->8000/tcp"
        );
        assert_eq!(site(true).reachable("127.0.0.1:6379"), "gpu-box:6379");
        assert_eq!(
            site(false).reachable("127.0.0.1:6379->6379/tcp"),
            "127.0.0.1:6379->6379/tcp"
        );
    }

    #[test]
    fn only_binds_inside_the_project_become_copies() {
        use crate::project::model::Mount;
        let mount = |kind, source: Option<&str>, target: &str| Mount {
            read_only: true,
            ..Mount::new(kind, source.map(str::to_string), target.into())
        };
        let svc = Service {
            name: "web".into(),
            volumes: vec![
                mount(MountKind::Bind, Some("/p/services/web/src"), "/app/src"),
                mount(MountKind::Bind, Some("/dev/bus/usb"), "/dev/bus/usb"),
                mount(MountKind::Volume, Some("cache"), "/cache"),
                mount(MountKind::Bind, Some("/pother/x"), "/x"),
            ],
            ..Default::default()
        };
        let (left, copies) = without_project_binds(&svc, Path::new("/p"));
        assert_eq!(
            copies,
            vec![Copy {
                host: "/p/services/web/src".into(),
                target: "/app/src".into()
            }]
        );
        let targets: Vec<&str> = left.volumes.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, vec!["/dev/bus/usb", "/cache", "/x"]);
    }
}
