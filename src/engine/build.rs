//! Images: build `build:` contexts (tar honouring `.dockerignore`; rebuild only when the
//! context, Dockerfile or build args changed) and make sure `image:` references exist.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use globset::{Glob, GlobMatcher};
use sha2::Digest;

use super::{labels, Engine};
use crate::project::model::{Build, Service};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("service {service}: build context {path} does not exist (fix `build.context` in the template)")]
    NoContext { service: String, path: PathBuf },
    #[error("service {service}: cannot read the build context: {detail}")]
    Context { service: String, detail: String },
    #[error("service {service}: image build failed: {message}\n{log}")]
    Failed {
        service: String,
        message: String,
        log: String,
    },
    #[error("service {service}: image {image} is not available locally and could not be pulled: {detail}")]
    Pull {
        service: String,
        image: String,
        detail: String,
    },
    #[error("service {service}: image {image} is missing and --no-build was given: run `devstack build {service}`")]
    Missing { service: String, image: String },
    #[error("service {service}: image {image} is not present and --pull never was given: pull it (`devstack pull {service}`) or leave --pull at `missing`")]
    NotPulled { service: String, image: String },
}

/// `.dockerignore` rules: ordered glob patterns, `!` re-includes, last match wins.
pub struct DockerIgnore {
    rules: Vec<(GlobMatcher, GlobMatcher, bool)>,
}

impl DockerIgnore {
    pub fn load(context: &Path) -> Self {
        let text = std::fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Self {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = pat
                .trim_start_matches("./")
                .trim_start_matches('/')
                .trim_end_matches('/');
            let (Ok(exact), Ok(under)) = (Glob::new(pat), Glob::new(&format!("{pat}/**"))) else {
                continue;
            };
            rules.push((exact.compile_matcher(), under.compile_matcher(), negate));
        }
        DockerIgnore { rules }
    }

    pub fn excluded(&self, rel: &str) -> bool {
        let mut out = false;
        for (exact, under, negate) in &self.rules {
            if exact.is_match(rel) || under.is_match(rel) {
                out = !negate;
            }
        }
        out
    }
}

/// A deterministic tar of the context and the hash that decides rebuilds.
pub fn context_tar(service: &str, build: &Build) -> Result<(Vec<u8>, String), BuildError> {
    let ctx = &build.context;
    if !ctx.is_dir() {
        return Err(BuildError::NoContext {
            service: service.into(),
            path: ctx.clone(),
        });
    }
    let ignore = DockerIgnore::load(ctx);
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in walkdir::WalkDir::new(ctx).sort_by_file_name().min_depth(1) {
        let entry = entry.map_err(|e| BuildError::Context {
            service: service.into(),
            detail: e.to_string(),
        })?;
        let rel = entry
            .path()
            .strip_prefix(ctx)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        let keep = rel == build.dockerfile || rel == ".dockerignore" || !ignore.excluded(&rel);
        if keep && !entry.file_type().is_dir() {
            files.push((rel, entry.path().to_path_buf()));
        }
    }
    let mut hasher = sha2::Sha256::new();
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for (rel, path) in &files {
        let meta = std::fs::symlink_metadata(path).map_err(|e| BuildError::Context {
            service: service.into(),
            detail: format!("{rel}: {e}"),
        })?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        use std::os::unix::fs::PermissionsExt;
        header.set_mode(meta.permissions().mode() & 0o7777);
        hasher.update(rel.as_bytes());
        hasher.update((meta.permissions().mode() & 0o111).to_le_bytes());
        let err = |e: std::io::Error| BuildError::Context {
            service: service.into(),
            detail: format!("{rel}: {e}"),
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(err)?;
            hasher.update(target.to_string_lossy().as_bytes());
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, rel, &target).map_err(err)?;
        } else {
            let data = std::fs::read(path).map_err(err)?;
            hasher.update((data.len() as u64).to_le_bytes());
            hasher.update(&data);
            header.set_size(data.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, rel, data.as_slice())
                .map_err(err)?;
        }
    }
    hasher.update(build.dockerfile.as_bytes());
    for (k, v) in &build.args {
        hasher.update(format!("{k}={v}\n").as_bytes());
    }
    hasher.update(build.target.clone().unwrap_or_default().as_bytes());
    let bytes = tar.into_inner().map_err(|e| BuildError::Context {
        service: service.into(),
        detail: e.to_string(),
    })?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// What `ensure_image` did.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageAction {
    UpToDate,
    Built,
    Pulled,
    Present,
}

/// How images are made ready: `up`'s `--build`/`--no-build`/`--pull`, `build`'s flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageOptions {
    /// Build even when the context did not change.
    pub force_build: bool,
    /// Never build: an image that is missing is an error.
    pub no_build: bool,
    /// Build without the engine's layer cache.
    pub no_cache: bool,
    /// Pull `image:` services even when present, and base images when building.
    pub pull_always: bool,
    /// Never pull: a missing `image:` is an error.
    pub pull_never: bool,
}

/// Builds (when the context changed or `force`), pulls a missing `image:`, and returns the
/// local image id with what was done.
pub async fn ensure_image(
    engine: &Engine,
    project: &str,
    svc: &Service,
    force: bool,
    no_build: bool,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    let opts = ImageOptions {
        force_build: force,
        no_build,
        ..Default::default()
    };
    ensure_image_with(engine, project, svc, &opts, on_line).await
}

/// Why an image would be built or pulled (None: it is ready as it is); what `--dry-run`
/// prints. Computes the context hash as a build would.
pub async fn image_plan(
    engine: &Engine,
    project: &str,
    svc: &Service,
    opts: &ImageOptions,
) -> Result<Option<String>, BuildError> {
    let tag = super::spec::image_ref(project, svc);
    let existing = engine.docker.inspect_image(&tag).await.ok();
    let Some(build) = &svc.build else {
        return Ok(match (&existing, opts.pull_always) {
            (_, true) => Some(format!("pull {tag} (--pull always)")),
            (None, _) if opts.pull_never => Some(format!(
                "{tag} is missing and --pull never forbids pulling it: up would fail"
            )),
            (None, _) => Some(format!("pull {tag} (not present)")),
            (Some(_), _) => None,
        });
    };
    if opts.no_build {
        return Ok(existing.is_none().then(|| {
            format!("{tag} is missing and --no-build forbids building it: up would fail")
        }));
    }
    if opts.force_build || opts.no_cache || opts.pull_always {
        return Ok(Some(format!("build {tag} (asked for)")));
    }
    let (name, spec) = (svc.name.clone(), build.clone());
    let (_, hash) = tokio::task::spawn_blocking(move || context_tar(&name, &spec))
        .await
        .map_err(|e| BuildError::Context {
            service: svc.name.clone(),
            detail: e.to_string(),
        })??;
    let old = existing
        .as_ref()
        .and_then(|img| img.config.as_ref())
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(labels::CONTEXT_HASH));
    Ok(match (existing.is_some(), old == Some(&hash)) {
        (false, _) => Some(format!("build {tag} (no image yet)")),
        (true, false) => Some(format!(
            "build {tag} (its context, Dockerfile or build args changed)"
        )),
        (true, true) => None,
    })
}

/// [`ensure_image`] with every option.
pub async fn ensure_image_with(
    engine: &Engine,
    project: &str,
    svc: &Service,
    opts: &ImageOptions,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    let (force, no_build) = (
        opts.force_build || opts.no_cache || opts.pull_always,
        opts.no_build,
    );
    let tag = super::spec::image_ref(project, svc);
    let existing = engine.docker.inspect_image(&tag).await.ok();
    let Some(build) = &svc.build else {
        match existing {
            Some(img) if !opts.pull_always => {
                return Ok((img.id.unwrap_or_default(), ImageAction::Present))
            }
            None if opts.pull_never => {
                return Err(BuildError::NotPulled {
                    service: svc.name.clone(),
                    image: tag,
                })
            }
            _ => return pull(engine, &svc.name, &tag, on_line).await,
        }
    };
    if no_build {
        return match existing {
            Some(img) => Ok((img.id.unwrap_or_default(), ImageAction::Present)),
            None => Err(BuildError::Missing {
                service: svc.name.clone(),
                image: tag,
            }),
        };
    }
    let (name, spec) = (svc.name.clone(), build.clone());
    let (tar, hash) = tokio::task::spawn_blocking(move || context_tar(&name, &spec))
        .await
        .map_err(|e| BuildError::Context {
            service: svc.name.clone(),
            detail: e.to_string(),
        })??;
    if !force {
        if let Some(img) = &existing {
            let old = img
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::CONTEXT_HASH));
            if old == Some(&hash) {
                return Ok((img.id.clone().unwrap_or_default(), ImageAction::UpToDate));
            }
        }
    }
    let image_labels = HashMap::from([
        (labels::CONTEXT_HASH.to_string(), hash),
        (labels::BUILT_FOR_PROJECT.to_string(), project.to_string()),
        (labels::BUILT_FOR_SERVICE.to_string(), svc.name.clone()),
    ]);
    let args: HashMap<String, String> = build
        .args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut builder = BuildImageOptionsBuilder::default()
        .dockerfile(&build.dockerfile)
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .nocache(opts.no_cache)
        .labels(&image_labels)
        .buildargs(&args);
    if opts.pull_always {
        builder = builder.pull("true");
    }
    if let Some(t) = &build.target {
        builder = builder.target(t);
    }
    let opts = builder;
    let mut stream =
        engine
            .docker
            .build_image(opts.build(), None, Some(bollard::body_full(tar.into())));
    let mut log: Vec<String> = Vec::new();
    let mut image_id = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(line) = info.stream.as_deref() {
                    for l in line.lines().filter(|l| !l.trim().is_empty()) {
                        on_line(l);
                        log.push(l.to_string());
                    }
                }
                if let Some(id) = info.aux.and_then(|a| a.id) {
                    image_id = Some(id);
                }
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(failed(&svc.name, e, &log));
                }
            }
            Err(e) => {
                let msg = match e {
                    bollard::errors::Error::DockerStreamError { error } => error,
                    other => other.to_string(),
                };
                return Err(failed(&svc.name, msg, &log));
            }
        }
    }
    let id = match image_id {
        Some(id) => id,
        None => engine
            .docker
            .inspect_image(&tag)
            .await
            .map_err(|e| failed(&svc.name, e.to_string(), &log))?
            .id
            .unwrap_or_default(),
    };
    Ok((id, ImageAction::Built))
}

fn failed(service: &str, message: String, log: &[String]) -> BuildError {
    let tail: Vec<&str> = log
        .iter()
        .rev()
        .take(20)
        .rev()
        .map(String::as_str)
        .collect();
    BuildError::Failed {
        service: service.into(),
        message: message.trim().to_string(),
        log: tail.join("\n"),
    }
}

async fn pull(
    engine: &Engine,
    service: &str,
    image: &str,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    let opts = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut stream = engine.docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.status {
                    on_line(&s);
                }
            }
            Err(e) => {
                return Err(BuildError::Pull {
                    service: service.into(),
                    image: image.into(),
                    detail: e.to_string(),
                });
            }
        }
    }
    let img = engine
        .docker
        .inspect_image(image)
        .await
        .map_err(|e| BuildError::Pull {
            service: service.into(),
            image: image.into(),
            detail: e.to_string(),
        })?;
    Ok((img.id.unwrap_or_default(), ImageAction::Pulled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_rules() {
        let ig =
            DockerIgnore::parse("# c\nnode_modules\n*.log\n!keep.log\n/build/\ndocs/**/*.md\n");
        assert!(ig.excluded("node_modules"));
        assert!(ig.excluded("node_modules/x/y.js"));
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(ig.excluded("build/out.bin"));
        assert!(ig.excluded("docs/a/b.md"));
        assert!(!ig.excluded("src/main.ts"));
    }

    #[test]
    fn context_hash_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("a.txt"), "1").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "ignored.txt\n").unwrap();
        let build = Build {
            context: dir.path().into(),
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        };
        let (_, h1) = context_tar("s", &build).unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "x").unwrap();
        let (_, h2) = context_tar("s", &build).unwrap();
        assert_eq!(h1, h2, "ignored files do not change the hash");
        std::fs::write(dir.path().join("a.txt"), "2").unwrap();
        let (_, h3) = context_tar("s", &build).unwrap();
        assert_ne!(h1, h3);
    }
}
