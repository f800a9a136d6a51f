//! Images: build `build:` contexts and make sure `image:` references exist.
//!
//! A build goes through the engine's BuildKit (`buildkit/`), as Compose v2's do, and through
//! the classic builder (`classic.rs`) only where the engine has no BuildKit (said once, with
//! the reason). An image is rebuilt only when the hash of its context and settings
//! (`context.rs`) differs from the one recorded for it in `.devstack/builds.json`.

pub mod buildkit;
mod classic;
pub mod context;
mod inputs;

use std::sync::atomic::{AtomicBool, Ordering};

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use self::buildkit::dial::{DialError, Target};
use super::build_record::{BuildRecord, Built};
use super::{labels, Engine};
use crate::project::model::{Build, Service};
use crate::project::Project;
pub use context::{context_hash, context_tar, DockerIgnore};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("service {service}: build context {path} does not exist (fix `build.context` in the template)")]
    NoContext {
        service: String,
        path: std::path::PathBuf,
    },
    #[error("service {service}: cannot read the build context: {detail}")]
    Context { service: String, detail: String },
    #[error("service {service}: image build failed: {message}{}", if log.is_empty() { String::new() } else { format!("\n{log}") })]
    Failed {
        service: String,
        message: String,
        log: String,
    },
    /// What the build needs from this machine (a secret's file, an SSH agent) is missing.
    #[error("service {service}: {detail}")]
    Input { service: String, detail: String },
    /// The build asks for what this engine's builder cannot do.
    #[error("service {service}: {detail}")]
    Unsupported { service: String, detail: String },
    #[error("service {service}: cannot reach the engine's BuildKit: {detail}")]
    Session { service: String, detail: String },
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

impl BuildError {
    /// The user's setup must change (exit 2), rather than the build failing (exit 1).
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            BuildError::NoContext { .. }
                | BuildError::Input { .. }
                | BuildError::Unsupported { .. }
        )
    }
}

/// What a build reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum BuildUpdate<'a> {
    /// Where the build is: the step running, cached steps counted (one line, rewritten).
    Step(&'a str),
    /// A line a step printed (`[2/4] RUN … | text`), or the classic builder's output.
    Log(&'a str),
    /// Finished: Dockerfile steps seen and how many came from the cache.
    Done { steps: usize, cached: usize },
    /// Something the user should hear once (the classic builder and why).
    Note(&'a str),
}

/// Which builder the engine offers, decided once per process.
#[derive(Debug, Clone)]
pub enum Builder {
    BuildKit(Target),
    /// The classic builder, and why.
    Classic(String),
}

static BUILDER: tokio::sync::OnceCell<Builder> = tokio::sync::OnceCell::const_new();
static CLASSIC_SAID: AtomicBool = AtomicBool::new(false);

/// BuildKit unless `DOCKER_BUILDKIT=0` (as the docker CLI and Compose read it) or the engine
/// has none (its `POST /grpc` is not an upgrade: an engine built without it, Podman's API).
pub async fn builder(engine: &Engine) -> &'static Builder {
    BUILDER.get_or_init(|| probe(engine)).await
}

async fn probe(engine: &Engine) -> Builder {
    if let Ok(v) = std::env::var("DOCKER_BUILDKIT") {
        if matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        ) {
            return Builder::Classic(format!("DOCKER_BUILDKIT={v} asks for it"));
        }
    }
    let target = match Target::of(engine) {
        Ok(t) => t,
        Err(why) => return Builder::Classic(why.to_string()),
    };
    match buildkit::dial::upgrade(&target, "/grpc", &[]).await {
        Ok(_) => Builder::BuildKit(target),
        Err(e @ DialError::Refused { .. }) => Builder::Classic(format!(
            "the engine at {} has no BuildKit ({e})",
            engine.host
        )),
        // Not reachable now: the build itself will say why.
        Err(_) => Builder::BuildKit(target),
    }
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

/// The service's `pull_policy` applied where the command line says nothing (`--pull` wins):
/// `always` pulls, `never` never does, `build` builds every time, `daily`/`weekly`/
/// `every_<duration>` pull when the local copy was tagged longer ago than that.
fn with_pull_policy(
    opts: &ImageOptions,
    svc: &Service,
    existing: Option<&bollard::models::ImageInspect>,
) -> ImageOptions {
    use crate::project::model::PullPolicy;
    let mut o = *opts;
    if opts.pull_always || opts.pull_never {
        return o;
    }
    match &svc.container.pull_policy {
        Some(PullPolicy::Always) => o.pull_always = true,
        Some(PullPolicy::Never) => o.pull_never = true,
        Some(PullPolicy::Build) if svc.build.is_some() => o.force_build = true,
        Some(PullPolicy::Every(every)) => {
            let tagged = existing
                .and_then(|i| i.metadata.as_ref())
                .and_then(|m| m.last_tag_time.as_ref())
                .copied();
            let stale = tagged.is_none_or(|t| {
                chrono::Utc::now()
                    .signed_duration_since(t)
                    .to_std()
                    .unwrap_or_default()
                    > *every
            });
            o.pull_always = stale && svc.build.is_none();
        }
        _ => {}
    }
    o
}

/// Builds (when the context changed or `force`), pulls a missing `image:`, and returns the
/// local image id with what was done.
pub async fn ensure_image(
    engine: &Engine,
    project: &Project,
    svc: &Service,
    force: bool,
    no_build: bool,
    on: &(dyn Fn(&BuildUpdate) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    let opts = ImageOptions {
        force_build: force,
        no_build,
        ..Default::default()
    };
    ensure_image_with(engine, project, svc, &opts, on).await
}

/// Why an image would be built or pulled (None: it is ready as it is); what `--dry-run`
/// prints. Computes the context hash as a build would.
pub async fn image_plan(
    engine: &Engine,
    project: &Project,
    svc: &Service,
    opts: &ImageOptions,
) -> Result<Option<String>, BuildError> {
    let tag = super::spec::image_ref(&project.name, svc);
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
    let hash = hash_of(svc, build).await?;
    let built_from = existing
        .as_ref()
        .is_some_and(|img| built_from(project, &tag, img, &hash));
    Ok(match (existing.is_some(), built_from) {
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
    project: &Project,
    svc: &Service,
    opts: &ImageOptions,
    on: &(dyn Fn(&BuildUpdate) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    let tag = super::spec::image_ref(&project.name, svc);
    let existing = engine.docker.inspect_image(&tag).await.ok();
    let opts = &with_pull_policy(opts, svc, existing.as_ref());
    let force = opts.force_build || opts.no_cache || opts.pull_always;
    let Some(build) = &svc.build else {
        return match existing {
            Some(img) if !opts.pull_always => {
                Ok((img.id.unwrap_or_default(), ImageAction::Present))
            }
            None if opts.pull_never => Err(BuildError::NotPulled {
                service: svc.name.clone(),
                image: tag,
            }),
            _ => pull(engine, &svc.name, &tag, on).await,
        };
    };
    if opts.no_build {
        return match existing {
            Some(img) => Ok((img.id.unwrap_or_default(), ImageAction::Present)),
            None => Err(BuildError::Missing {
                service: svc.name.clone(),
                image: tag,
            }),
        };
    }
    let hash = hash_of(svc, build).await?;
    if !force {
        if let Some(img) = &existing {
            if built_from(project, &tag, img, &hash) {
                return Ok((img.id.clone().unwrap_or_default(), ImageAction::UpToDate));
            }
        }
    }
    let id = run_build(engine, project, svc, build, &tag, opts, on).await?;
    let id = match id.filter(|i| !i.is_empty()) {
        Some(id) => id,
        None => engine
            .docker
            .inspect_image(&tag)
            .await
            .map_err(|e| BuildError::Failed {
                service: svc.name.clone(),
                message: format!("the build finished but {tag} is not there: {e}"),
                log: String::new(),
            })?
            .id
            .unwrap_or_default(),
    };
    let built = Built {
        image: id.clone(),
        context_hash: hash,
        project: project.name.clone(),
        service: svc.name.clone(),
        named: svc.image.is_some(),
    };
    if let Err(e) = BuildRecord::note(&project.paths(), &tag, built) {
        // Only the next `up` pays for it: it rebuilds, from the layer cache.
        tracing::warn!("cannot record the build of {tag}: {e}");
    }
    Ok((id, ImageAction::Built))
}

/// The context's hash, computed off the async threads (it reads every file).
async fn hash_of(svc: &Service, build: &Build) -> Result<String, BuildError> {
    let (name, spec) = (svc.name.clone(), build.clone());
    tokio::task::spawn_blocking(move || context_hash(&name, &spec))
        .await
        .map_err(|e| BuildError::Context {
            service: svc.name.clone(),
            detail: e.to_string(),
        })?
}

/// Builds with the engine's builder; the image id when the builder said it.
async fn run_build(
    engine: &Engine,
    project: &Project,
    svc: &Service,
    build: &Build,
    tag: &str,
    opts: &ImageOptions,
    on: &(dyn Fn(&BuildUpdate) + Sync),
) -> Result<Option<String>, BuildError> {
    let mut tags = vec![tag.to_string()];
    tags.extend(build.tags.iter().filter(|t| *t != tag).cloned());
    let no_cache = opts.no_cache || build.no_cache;
    let pull = opts.pull_always || build.pull;
    match builder(engine).await {
        Builder::BuildKit(target) => {
            let job = inputs::job(engine, project, svc, build, tags, no_cache, pull)?;
            for note in inputs::ignored_by_frontend(engine, &job) {
                on(&BuildUpdate::Note(&note));
            }
            let service = svc.name.clone();
            buildkit::build(target, job, on)
                .await
                .map(Some)
                .map_err(|e| match e {
                    buildkit::BuildkitError::Failed { message, log } => BuildError::Failed {
                        service,
                        message,
                        log,
                    },
                    other => BuildError::Session {
                        service,
                        detail: other.to_string(),
                    },
                })
        }
        Builder::Classic(why) => {
            if !CLASSIC_SAID.swap(true, Ordering::SeqCst) {
                let note = format!("building with the engine's classic builder: {why}; RUN --mount, build secrets, ssh and cache import/export need BuildKit");
                on(&BuildUpdate::Note(&note));
            }
            inputs::check_classic(svc, build, why)?;
            classic::build(engine, svc, build, &tags, no_cache, pull, on).await
        }
    }
}

/// Whether `img` (now tagged `tag`) was built from a context with `hash`: devstack's record,
/// or the label an older devstack put on the images it built.
fn built_from(
    project: &Project,
    tag: &str,
    img: &bollard::models::ImageInspect,
    hash: &str,
) -> bool {
    let id = img.id.as_deref().unwrap_or_default();
    let labelled = img
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(labels::CONTEXT_HASH));
    labelled.is_some_and(|l| l == hash)
        || BuildRecord::load(&project.paths()).built_from(tag, id, hash)
}

async fn pull(
    engine: &Engine,
    service: &str,
    image: &str,
    on: &(dyn Fn(&BuildUpdate) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    // Without a tag the engine would pull every tag of the repository: Compose means latest.
    let image_tagged = crate::engine::image_ref::with_default_tag(image);
    let image = image_tagged.as_str();
    let opts = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut stream = engine.docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.status {
                    on(&BuildUpdate::Step(&s));
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

/// The services' builds in waves: one that builds on another's image
/// (`additional_contexts: {NAME: "service:OTHER"}`) comes in a later wave than that one; the
/// builds of a wave are independent and run at once. Services sharing an image are built once,
/// by the first of them.
pub fn build_waves(project: &Project, names: &[String]) -> Result<Vec<Vec<String>>, String> {
    let mut wave_of: std::collections::HashMap<String, usize> = Default::default();
    let mut images: Vec<String> = Vec::new();
    let mut order: Vec<&String> = Vec::new();
    for name in names {
        let svc = &project.model.services[name];
        let image = super::spec::image_ref(&project.name, svc);
        if !images.contains(&image) {
            images.push(image);
            order.push(name);
        }
    }
    fn wave(
        project: &Project,
        name: &str,
        seen: &mut Vec<String>,
        memo: &mut std::collections::HashMap<String, usize>,
    ) -> Result<usize, String> {
        if let Some(w) = memo.get(name) {
            return Ok(*w);
        }
        if seen.iter().any(|s| s == name) {
            seen.push(name.to_string());
            return Err(format!("build contexts form a cycle: {}", seen.join(" → ")));
        }
        seen.push(name.to_string());
        let mut w = 0;
        let deps = project.model.services[name]
            .build
            .iter()
            .flat_map(|b| b.additional_contexts.values())
            .filter_map(|v| v.strip_prefix("service:"));
        for dep in deps {
            if project
                .model
                .services
                .get(dep)
                .is_some_and(|s| s.build.is_some())
            {
                w = w.max(wave(project, dep, seen, memo)? + 1);
            }
        }
        seen.pop();
        memo.insert(name.to_string(), w);
        Ok(w)
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    for name in order {
        let w = wave(project, name, &mut Vec::new(), &mut wave_of)?;
        if waves.len() <= w {
            waves.resize(w + 1, Vec::new());
        }
        waves[w].push(name.clone());
    }
    waves.retain(|w| !w.is_empty());
    Ok(waves)
}
