//! Everything that talks to Docker: connect, labels/hash, container specs, build, converge,
//! health, logs.

pub mod build;
pub mod build_record;
pub mod container;
pub mod converge;
pub mod health;
pub mod image_ref;
pub mod labels;
pub mod lifecycle;
pub mod logs;
pub mod observed;
pub mod readiness;
pub mod remote;
pub mod spec;
pub mod ssh;
pub mod stats;
pub mod sync;

use std::path::PathBuf;

use bollard::Docker;

/// The oldest engine devstack drives: Debian's docker.io 20.10.
pub const MIN_API: (u32, u32) = (1, 41);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no Docker daemon at {host} ({source_of_host}): {detail}. Start it (`sudo systemctl start docker`, or `dockerd &`), or point DOCKER_HOST at a running engine")]
    NoDaemon {
        host: String,
        source_of_host: String,
        detail: String,
    },
    #[error("permission denied on {host}: add yourself to the docker group (`sudo usermod -aG docker $USER`, then log out and in, or `newgrp docker`)")]
    PermissionDenied { host: String },
    #[error("the Docker engine at {host} speaks API {version}; devstack needs {}.{} or newer (Docker 20.10+): upgrade Docker", MIN_API.0, MIN_API.1)]
    TooOld { host: String, version: String },
    #[error("cannot use {host} ({source_of_host}): {detail}")]
    BadHost {
        host: String,
        source_of_host: String,
        detail: String,
    },
    #[error(transparent)]
    Docker(#[from] bollard::errors::Error),
}

/// A connected engine and what it is.
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    pub host: String,
    pub api: (u32, u32),
    pub server_version: String,
    /// On this machine or another one (binds become copies, ports are at its host).
    pub site: remote::Site,
    /// The ssh bridge of an `ssh://` engine, alive as long as a clone of this is.
    _tunnel: Option<std::sync::Arc<ssh::Tunnel>>,
}

impl Engine {
    pub async fn connect() -> Result<Engine, EngineError> {
        let ep = endpoint();
        let bad = |detail: String| EngineError::BadHost {
            host: ep.host.clone(),
            source_of_host: ep.source.clone(),
            detail,
        };
        let mut tunnel = None;
        let docker = match (&ep.tls_dir, ep.host.as_str()) {
            (Some(dir), h) if h.starts_with("tcp://") || h.starts_with("https://") => {
                Docker::connect_with_ssl(
                    h,
                    &dir.join("key.pem"),
                    &dir.join("cert.pem"),
                    &dir.join("ca.pem"),
                    120,
                    bollard::API_DEFAULT_VERSION,
                )
            }
            (_, h) if h.starts_with("ssh://") => {
                let t = ssh::start(h).map_err(|e| bad(e.to_string()))?;
                let socket = format!("unix://{}", t.socket.display());
                tunnel = Some(std::sync::Arc::new(t));
                Docker::connect_with_unix(&socket, 120, bollard::API_DEFAULT_VERSION)
            }
            (_, h) => Docker::connect_with_host(h),
        };
        let docker = match docker {
            Ok(d) => d,
            Err(bollard::errors::Error::SocketNotFoundError(path)) => {
                return Err(EngineError::NoDaemon {
                    host: ep.host.clone(),
                    source_of_host: ep.source.clone(),
                    detail: format!("socket {path} does not exist"),
                })
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let version = match docker.version().await {
            Ok(v) => v,
            // What ssh said says more than "connection closed".
            Err(e) => match match &tunnel {
                Some(t) => t.last_error().await,
                None => None,
            } {
                Some(said) => {
                    return Err(bad(format!(
                        "ssh said: {said}. Check that `{}` works without a prompt (key or agent, known host) and that the docker CLI is installed there",
                        ssh::check_command(&ep.host)
                    )))
                }
                None => return Err(classify(e, &ep)),
            },
        };
        let api_str = version.api_version.clone().unwrap_or_default();
        let api = parse_api(&api_str).unwrap_or((0, 0));
        if api < MIN_API {
            return Err(EngineError::TooOld {
                host: ep.host,
                version: api_str,
            });
        }
        let site = remote::Site::of(&ep, std::env::var("DEVSTACK_REMOTE").ok().as_deref());
        Ok(Engine {
            docker,
            site,
            _tunnel: tunnel,
            host: ep.host,
            api,
            server_version: version.version.unwrap_or_default(),
        })
    }

    /// The local socket of an `ssh://` engine's bridge (BuildKit dials it for its sessions).
    pub fn tunnel_socket(&self) -> Option<PathBuf> {
        self._tunnel.as_ref().map(|t| t.socket.clone())
    }

    /// Whether the engine's API is at least `major.minor` (feature gates).
    pub fn api_at_least(&self, major: u32, minor: u32) -> bool {
        self.api >= (major, minor)
    }
}

fn parse_api(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Turns a first-request failure into "no daemon" or "permission denied" when it is one.
fn classify(e: bollard::errors::Error, ep: &Endpoint) -> EngineError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cur) = src {
        if let Some(io) = cur.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    return EngineError::PermissionDenied {
                        host: ep.host.clone(),
                    }
                }
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                    return EngineError::NoDaemon {
                        host: ep.host.clone(),
                        source_of_host: ep.source.clone(),
                        detail: io.to_string(),
                    }
                }
                _ => {}
            }
        }
        src = cur.source();
    }
    if matches!(
        e,
        bollard::errors::Error::HyperLegacyError { .. }
            | bollard::errors::Error::RequestTimeoutError
    ) {
        return EngineError::NoDaemon {
            host: ep.host.clone(),
            source_of_host: ep.source.clone(),
            detail: e.to_string(),
        };
    }
    EngineError::Docker(e)
}

/// Where the engine is: `DOCKER_HOST`, else the current docker CLI context, else the default socket.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub source: String,
    pub tls_dir: Option<PathBuf>,
}

pub fn endpoint() -> Endpoint {
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        if !host.is_empty() {
            let tls_dir = std::env::var_os("DOCKER_TLS_VERIFY")
                .filter(|v| !v.is_empty())
                .map(|_| {
                    std::env::var_os("DOCKER_CERT_PATH")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| home().join(".docker"))
                });
            return Endpoint {
                host,
                source: "DOCKER_HOST".into(),
                tls_dir,
            };
        }
    }
    if let Some(ep) = context_endpoint() {
        return ep;
    }
    Endpoint {
        host: "unix:///var/run/docker.sock".into(),
        source: "default socket".into(),
        tls_dir: None,
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The docker CLI's current context (`DOCKER_CONTEXT` or `currentContext` in config.json);
/// bollard does not read contexts itself.
fn context_endpoint() -> Option<Endpoint> {
    use sha2::Digest;
    let config_dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".docker"));
    let name = std::env::var("DOCKER_CONTEXT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            let cfg: serde_json::Value =
                serde_json::from_slice(&std::fs::read(config_dir.join("config.json")).ok()?)
                    .ok()?;
            cfg.get("currentContext")?.as_str().map(str::to_string)
        })?;
    if name == "default" {
        return None;
    }
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            config_dir
                .join("contexts/meta")
                .join(&digest)
                .join("meta.json"),
        )
        .ok()?,
    )
    .ok()?;
    let docker = meta.pointer("/Endpoints/docker")?;
    let host = docker.get("Host")?.as_str()?.to_string();
    let tls = config_dir.join("contexts/tls").join(&digest).join("docker");
    let skip_verify = docker
        .get("SkipTLSVerify")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Some(Endpoint {
        host,
        source: format!("docker context `{name}`"),
        tls_dir: (tls.join("ca.pem").is_file() && !skip_verify).then_some(tls),
    })
}
