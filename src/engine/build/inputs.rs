//! A service's `build:` resolved on this machine for BuildKit: where the Dockerfile is (an
//! inline one is written under `.devstack/build/`), named contexts, secret values, SSH agent
//! sockets, cache directories; and what this engine's builder cannot do, refused before the
//! build starts with the reason and the fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::buildkit::Job;
use super::BuildError;
use crate::engine::Engine;
use crate::project::model::{Build, CacheEntry, FileSource, Service};
use crate::project::Project;

/// What a build needs from this machine and could not have, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot write the inline Dockerfile under {}: {error}", .dir.display())]
    InlineDockerfile { dir: PathBuf, error: String },
    #[error("Dockerfile {} does not exist: fix `build.dockerfile` (relative to the context {})", .path.display(), .context.display())]
    NoDockerfile { path: PathBuf, context: PathBuf },
    #[error("build.additional_contexts.{name}: service {service} does not exist")]
    NoContextService { name: String, service: String },
    #[error("build.additional_contexts.{name}: {} is not a directory", .dir.display())]
    ContextNotADirectory { name: String, dir: PathBuf },
    #[error("build secret `{0}` is not defined")]
    UndefinedSecret(String),
    #[error("build secret `{secret}`: cannot read {}: {error}", .path.display())]
    UnreadableSecret {
        secret: String,
        path: PathBuf,
        error: String,
    },
    #[error("build secret `{secret}` is read from the variable {var}, which is not set: set it in .env or the environment")]
    UnsetSecretVariable { secret: String, var: String },
    #[error("build secret `{0}` is external (Swarm's)")]
    ExternalSecret(String),
    #[error("build.ssh `{0}` means the agent of $SSH_AUTH_SOCK, which is not set: start one (`eval $(ssh-agent) && ssh-add`) or give `{0}=/path/to/agent.sock`")]
    NoAgent(String),
    #[error("build.ssh `{id}`: {}: {error}", .path.display())]
    AgentUnreadable {
        id: String,
        path: PathBuf,
        error: String,
    },
    #[error("build.ssh `{id}`: {} is not an agent socket: devstack forwards SSH agents; load the key into one (`ssh-add {}`) and use `default`, or give the agent's socket", .path.display(), .path.display())]
    NotASocket { id: String, path: PathBuf },
}

pub fn job<'a>(
    engine: &Engine,
    project: &Project,
    svc: &Service,
    build: &'a Build,
    tags: Vec<String>,
    no_cache: bool,
    pull: bool,
) -> Result<Job<'a>, BuildError> {
    let input = |e: InputError| BuildError::Input {
        service: svc.name.clone(),
        detail: e.to_string(),
    };
    let (dockerfile_dir, dockerfile_name) = dockerfile(project, svc, build).map_err(input)?;
    check_buildkit(engine, svc, build, &dockerfile_dir.join(&dockerfile_name))?;
    let (local_contexts, other_contexts) = named_contexts(project, build).map_err(input)?;
    Ok(Job {
        service: svc.name.clone(),
        build,
        tags,
        dockerfile_dir,
        dockerfile_name,
        local_contexts,
        other_contexts,
        secrets: secrets(project, build).map_err(input)?,
        ssh: ssh_agents(project, build).map_err(input)?,
        no_cache,
        pull,
        cache_from: build.cache_from.clone(),
        cache_to: build.cache_to.clone(),
        shared_key: shared_key(&project.dir, &svc.name),
    })
}

/// The Dockerfile's directory and name: `dockerfile` against the context, or the inline text
/// written to `.devstack/build/<service>/Dockerfile`.
fn dockerfile(
    project: &Project,
    svc: &Service,
    b: &Build,
) -> Result<(PathBuf, String), InputError> {
    if let Some(text) = &b.dockerfile_inline {
        let dir = project.paths().root().join("build").join(&svc.name);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("Dockerfile"), text))
            .map_err(|e| InputError::InlineDockerfile {
                dir: dir.clone(),
                error: e.to_string(),
            })?;
        return Ok((dir, "Dockerfile".into()));
    }
    let path = b.context.join(&b.dockerfile);
    if !path.is_file() {
        return Err(InputError::NoDockerfile {
            path,
            context: b.context.clone(),
        });
    }
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((dir, name))
}

/// Named contexts that are directories (served by the session), and the others by reference.
type NamedContexts = (HashMap<String, PathBuf>, HashMap<String, String>);

/// Named contexts: directories (served by the session), and the rest by their reference:
/// `docker-image://…` and URLs as written, `service:NAME` as that service's image.
fn named_contexts(project: &Project, b: &Build) -> Result<NamedContexts, InputError> {
    let mut local = HashMap::new();
    let mut other = HashMap::new();
    for (name, value) in &b.additional_contexts {
        if let Some(svc) = value.strip_prefix("service:") {
            let s =
                project
                    .model
                    .services
                    .get(svc)
                    .ok_or_else(|| InputError::NoContextService {
                        name: name.clone(),
                        service: svc.into(),
                    })?;
            let image = crate::engine::spec::image_ref(&project.name, s);
            other.insert(name.clone(), format!("docker-image://{image}"));
        } else if value.contains("://") || value.starts_with("target:") {
            other.insert(name.clone(), value.clone());
        } else {
            let dir = project.dir.join(value);
            if !dir.is_dir() {
                return Err(InputError::ContextNotADirectory {
                    name: name.clone(),
                    dir,
                });
            }
            local.insert(name.clone(), dir);
        }
    }
    Ok((local, other))
}

/// The values of the build's secrets, read now (held in memory for the build only).
fn secrets(project: &Project, b: &Build) -> Result<HashMap<String, Vec<u8>>, InputError> {
    let mut out = HashMap::new();
    for s in &b.secrets {
        let def = project
            .model
            .secrets
            .get(&s.source)
            .ok_or_else(|| InputError::UndefinedSecret(s.source.clone()))?;
        let value = match &def.source {
            FileSource::File(path) => {
                std::fs::read(path).map_err(|e| InputError::UnreadableSecret {
                    secret: s.source.clone(),
                    path: path.clone(),
                    error: e.to_string(),
                })?
            }
            FileSource::Environment(var) => project
                .env
                .get(var)
                .ok_or_else(|| InputError::UnsetSecretVariable {
                    secret: s.source.clone(),
                    var: var.clone(),
                })?
                .clone()
                .into_bytes(),
            FileSource::Content(c) => c.clone().into_bytes(),
            FileSource::External => return Err(InputError::ExternalSecret(s.source.clone())),
        };
        out.insert(s.id.clone(), value);
    }
    Ok(out)
}

/// The agent socket of each `build.ssh` entry: `default` is `$SSH_AUTH_SOCK`.
fn ssh_agents(project: &Project, b: &Build) -> Result<HashMap<String, PathBuf>, InputError> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = HashMap::new();
    for agent in &b.ssh {
        let path = match agent.paths.first() {
            Some(p) => project.dir.join(p),
            None => std::env::var_os("SSH_AUTH_SOCK")
                .map(PathBuf::from)
                .ok_or_else(|| InputError::NoAgent(agent.id.clone()))?,
        };
        let meta = std::fs::metadata(&path).map_err(|e| InputError::AgentUnreadable {
            id: agent.id.clone(),
            path: path.clone(),
            error: e.to_string(),
        })?;
        if !meta.file_type().is_socket() {
            return Err(InputError::NotASocket {
                id: agent.id.clone(),
                path,
            });
        }
        out.insert(agent.id.clone(), path);
    }
    Ok(out)
}

/// The key under which the engine keeps what it received of this service's directories, so
/// the next build sends only what changed.
fn shared_key(dir: &Path, service: &str) -> String {
    let h = sha2::Sha256::digest(format!("{}\0{service}", dir.display()).as_bytes());
    hex::encode(&h[..16])
}

/// What the engine's BuildKit cannot do, said before the build starts.
fn check_buildkit(
    engine: &Engine,
    svc: &Service,
    b: &Build,
    dockerfile: &Path,
) -> Result<(), BuildError> {
    let unsupported = |detail: String| BuildError::Unsupported {
        service: svc.name.clone(),
        detail,
    };
    if b.platforms.len() > 1 {
        return Err(unsupported(format!(
            "build.platforms lists {} platforms; the engine's image store keeps one per tag (a multi-platform image needs the containerd image store): keep one",
            b.platforms.len()
        )));
    }
    for (key, value) in [("provenance", &b.provenance), ("sbom", &b.sbom)] {
        if value
            .as_deref()
            .is_some_and(|v| !matches!(v, "false" | "0" | ""))
        {
            return Err(unsupported(format!(
                "build.{key}: the engine's image store cannot keep attestations (they need the containerd image store): set `{key}: false` or remove it"
            )));
        }
    }
    // Without the containerd image store the engine's BuildKit exports a cache only inline and
    // imports only images (buildx's docker driver refuses the rest too); a local or registry
    // cache would also need a content store served by the client, which devstack does not.
    let only = |key: &str, kind: &str, allowed: &str| {
        unsupported(format!(
            "build.{key} type={kind}: the engine's BuildKit takes only {allowed} here (a local, registry or gha cache needs the containerd image store, and a content store devstack does not serve): use `cache_to: [type=inline]` on the image and `cache_from: [IMAGE]`"
        ))
    };
    if let Some(c) = b.cache_to.iter().find(|c| c.kind != "inline") {
        return Err(only("cache_to", &c.kind, "type=inline"));
    }
    let image_ref = |c: &CacheEntry| c.kind == "registry" && c.attrs.contains_key("ref");
    if let Some(c) = b.cache_from.iter().find(|c| !image_ref(c)) {
        return Err(only(
            "cache_from",
            &c.kind,
            "images (IMAGE or type=registry,ref=IMAGE)",
        ));
    }
    if !b.additional_contexts.is_empty() && old_frontend(engine, dockerfile) {
        return Err(unsupported(format!(
            "build.additional_contexts needs the Dockerfile frontend 1.4 (Docker 23 or newer); this engine (Docker {}, API {}.{}) has an older one: upgrade Docker, or start the Dockerfile with `# syntax=docker/dockerfile:1.4` (pulled from Docker Hub)",
            engine.server_version, engine.api.0, engine.api.1
        )));
    }
    Ok(())
}

/// The engine's own Dockerfile frontend predates 1.4 (Docker before 23, API 1.42) and the
/// Dockerfile does not pick another with a `# syntax=` line.
fn old_frontend(engine: &Engine, dockerfile: &Path) -> bool {
    let has_syntax = std::fs::read_to_string(dockerfile)
        .map(|t| {
            t.lines()
                .take_while(|l| l.starts_with('#'))
                .any(|l| l.contains("syntax="))
        })
        .unwrap_or(false);
    !engine.api_at_least(1, 42) && !has_syntax
}

/// Settings an old frontend ignores (as it does under Compose too): said, not refused, since
/// the build itself works without them.
pub fn ignored_by_frontend(engine: &Engine, job: &Job) -> Vec<String> {
    let b = job.build;
    if !old_frontend(engine, &job.dockerfile_dir.join(&job.dockerfile_name)) {
        return Vec::new();
    }
    [("shm_size", b.shm_size.is_some()), ("ulimits", !b.ulimits.is_empty())]
        .into_iter()
        .filter(|(_, used)| *used)
        .map(|(k, _)| format!(
            "service {}: build.{k} is not applied: this engine's Dockerfile frontend (Docker {}) predates it (Docker 23 or newer, or a `# syntax=docker/dockerfile:1.4` line)",
            job.service, engine.server_version
        ))
        .collect()
}

/// What the classic builder cannot do, refused rather than ignored.
pub fn check_classic(svc: &Service, b: &Build, why: &str) -> Result<(), BuildError> {
    let needs: Vec<&str> = [
        ("build.secrets", !b.secrets.is_empty()),
        ("build.ssh", !b.ssh.is_empty()),
        (
            "build.additional_contexts",
            !b.additional_contexts.is_empty(),
        ),
        ("build.cache_to", !b.cache_to.is_empty()),
        ("build.no_cache_filter", !b.no_cache_filter.is_empty()),
        ("build.dockerfile_inline", b.dockerfile_inline.is_some()),
        ("build.ulimits", !b.ulimits.is_empty()),
        ("build.privileged", b.privileged),
    ]
    .into_iter()
    .filter_map(|(k, used)| used.then_some(k))
    .collect();
    if needs.is_empty() {
        return Ok(());
    }
    Err(BuildError::Unsupported {
        service: svc.name.clone(),
        detail: format!(
            "{} need{} BuildKit, and the engine's classic builder is in use ({why})",
            needs.join(", "),
            if needs.len() == 1 { "s" } else { "" }
        ),
    })
}
