//! Images: build `build:` contexts (tar honouring `.dockerignore`; rebuild only when the
//! context, Dockerfile or build args changed) and make sure `image:` references exist.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::Digest;

use super::build_record::{BuildRecord, Built};
use super::{labels, Engine};
use crate::project::model::{Build, Service};
use crate::project::Project;

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

/// `.dockerignore` rules with Docker's own matching (moby/patternmatcher, as the engine and
/// BuildKit apply them): each pattern is matched against the whole path relative to the
/// context; `*` and `?` do not cross `/`, `**` spans any number of directories, `[a-z]`
/// classes and `\\` escapes as in Go's `filepath.Match`; a pattern that matches a directory
/// also excludes everything under it; `!` re-includes; the last matching rule wins. Lines
/// starting with `#` are comments; patterns are cleaned like Go's `filepath.Clean`, and a
/// leading `/` (or `./`) is dropped.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<IgnoreRule>,
}

#[derive(Debug, Clone)]
struct IgnoreRule {
    regex: regex::Regex,
    exclusion: bool,
}

impl DockerIgnore {
    pub fn load(context: &Path) -> Self {
        let text = std::fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
        Self::parse(&text)
    }

    /// The lines of a `.dockerignore` file (moby's `ignorefile.ReadAll`, then
    /// `NewPatternMatcher`). A pattern Go would reject (an unclosed `[`) is skipped.
    pub fn parse(text: &str) -> Self {
        Self::from_patterns(
            text.trim_start_matches('\u{feff}')
                .lines()
                .filter(|l| !l.starts_with('#')),
        )
    }

    /// Patterns given one by one (a watch rule's `ignore:` list), with the same meaning.
    pub fn from_patterns<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut rules = Vec::new();
        for line in patterns {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exclusion, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            if pat.is_empty() {
                continue;
            }
            let cleaned = clean_pattern(pat);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_string(),
                _ => cleaned,
            };
            if let Some(regex) = pattern_regex(&cleaned) {
                rules.push(IgnoreRule { regex, exclusion });
            }
        }
        DockerIgnore { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `rel` (relative to the context, `/`-separated) is excluded: moby's
    /// `MatchesOrParentMatches`.
    pub fn excluded(&self, rel: &str) -> bool {
        let file = clean_pattern(rel);
        let parents: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for rule in &self.rules {
            // An inclusion is only worth evaluating while not excluded, and vice versa.
            if rule.exclusion != matched {
                continue;
            }
            let mut hit = rule.regex.is_match(&file);
            if !hit {
                for i in 1..=parents.len() {
                    if rule.regex.is_match(&parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !rule.exclusion;
            }
        }
        matched
    }
}

/// Go's `filepath.Clean` on a `/`-separated path.
fn clean_pattern(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// moby/patternmatcher's translation of a pattern into an anchored regular expression.
fn pattern_regex(pattern: &str) -> Option<regex::Regex> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if in_class {
            match ch {
                ']' => {
                    in_class = false;
                    re.push(']');
                }
                '\\' if i < chars.len() => {
                    re.push_str(&regex::escape(&chars[i].to_string()));
                    i += 1;
                }
                '[' => re.push_str("\\["),
                c => re.push(c),
            }
            continue;
        }
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is `**`: the slash is eaten.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                in_class = true;
                re.push('[');
                if chars.get(i) == Some(&'^') {
                    re.push('^');
                    i += 1;
                }
            }
            '\\' if i < chars.len() => {
                re.push_str(&regex::escape(&chars[i].to_string()));
                i += 1;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if in_class {
        // Go's filepath.Match: "syntax error in pattern".
        return None;
    }
    re.push('$');
    regex::Regex::new(&re).ok()
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
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t.to_string()).ok());
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
    let (name, spec) = (svc.name.clone(), build.clone());
    let (_, hash) = tokio::task::spawn_blocking(move || context_tar(&name, &spec))
        .await
        .map_err(|e| BuildError::Context {
            service: svc.name.clone(),
            detail: e.to_string(),
        })??;
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
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(String, ImageAction), BuildError> {
    let tag = super::spec::image_ref(&project.name, svc);
    let existing = engine.docker.inspect_image(&tag).await.ok();
    let opts = &with_pull_policy(opts, svc, existing.as_ref());
    let (force, no_build) = (
        opts.force_build || opts.no_cache || opts.pull_always,
        opts.no_build,
    );
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
            if built_from(project, &tag, img, &hash) {
                return Ok((img.id.clone().unwrap_or_default(), ImageAction::UpToDate));
            }
        }
    }
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
    // Without a tag the engine would pull every tag of the repository: Compose means latest.
    let last = image.rsplit('/').next().unwrap_or(image);
    let image_tagged = if last.contains(':') || last.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    };
    let image = image_tagged.as_str();
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
    fn dockerignore_star_does_not_cross_slashes() {
        let ig = DockerIgnore::parse("*.log\n");
        assert!(ig.excluded("a.log"));
        // Docker keeps these: `*` stops at `/`, and the pattern is anchored at the context.
        assert!(!ig.excluded("sub/a.log"));
        assert!(!ig.excluded("a/b/c.log"));
        let ig = DockerIgnore::parse("*/*.tmp\n?.txt\n");
        assert!(ig.excluded("sub/x.tmp"));
        assert!(!ig.excluded("x.tmp"));
        assert!(!ig.excluded("a/b/x.tmp"));
        assert!(ig.excluded("a.txt"));
        assert!(!ig.excluded("ab.txt"));
        assert!(!ig.excluded("/.txt"));
    }

    #[test]
    fn dockerignore_double_star_spans_directories() {
        let ig = DockerIgnore::parse("**/*.log\n");
        assert!(ig.excluded("a.log"));
        assert!(ig.excluded("sub/a.log"));
        assert!(ig.excluded("a/b/c/d.log"));
        assert!(!ig.excluded("a.logx"));
        let ig = DockerIgnore::parse("a/**/z\n");
        assert!(ig.excluded("a/z"));
        assert!(ig.excluded("a/b/c/z"));
        assert!(!ig.excluded("b/a/z"));
        let ig = DockerIgnore::parse("cache/**\n");
        assert!(ig.excluded("cache/x"));
        assert!(ig.excluded("cache/x/y"));
        assert!(!ig.excluded("cachex"));
        // `**` alone: everything.
        let ig = DockerIgnore::parse("**\n!src\n");
        assert!(ig.excluded("Dockerfile"));
        assert!(!ig.excluded("src"));
        assert!(!ig.excluded("src/main.rs"));
    }

    #[test]
    fn dockerignore_directory_match_excludes_its_contents() {
        let ig = DockerIgnore::parse("target\nsub/gen*\n");
        assert!(ig.excluded("target"));
        assert!(ig.excluded("target/debug/x"));
        assert!(!ig.excluded("src/target"), "anchored at the context root");
        assert!(ig.excluded("sub/generated/a/b.rs"));
        assert!(!ig.excluded("other/generated/a.rs"));
    }

    #[test]
    fn dockerignore_negation_and_last_match_wins() {
        let ig = DockerIgnore::parse("*.md\n!README.md\nREADME*\n");
        assert!(ig.excluded("CHANGES.md"));
        assert!(
            ig.excluded("README.md"),
            "the later README* excludes it again"
        );
        let ig = DockerIgnore::parse("docs\n!docs/keep.md\n");
        assert!(ig.excluded("docs/a.md"));
        assert!(!ig.excluded("docs/keep.md"));
        let ig = DockerIgnore::parse("!a.txt\n");
        assert!(!ig.excluded("a.txt"), "a lone re-include excludes nothing");
    }

    #[test]
    fn dockerignore_leading_slash_dot_slash_and_cleaning() {
        let ig = DockerIgnore::parse("/abs.txt\n./rel.txt\nx//y/../z\n  spaced.txt  \n");
        assert!(ig.excluded("abs.txt"));
        assert!(ig.excluded("rel.txt"));
        assert!(ig.excluded("x/z"));
        assert!(ig.excluded("spaced.txt"));
        assert!(ig.excluded("./abs.txt"), "paths are cleaned too");
        // Only a line that starts with `#` is a comment.
        let ig = DockerIgnore::parse("#x\n \\#y\n");
        assert!(!ig.excluded("#x"));
        assert!(ig.excluded("#y"));
    }

    #[test]
    fn dockerignore_classes_and_escapes() {
        let ig = DockerIgnore::parse("file[0-9].txt\nno[^a].bin\nlit\\*.c\n");
        assert!(ig.excluded("file3.txt"));
        assert!(!ig.excluded("filex.txt"));
        assert!(ig.excluded("nob.bin"));
        assert!(!ig.excluded("noa.bin"));
        assert!(ig.excluded("lit*.c"));
        assert!(!ig.excluded("litx.c"));
        // Regex metacharacters are literal.
        let ig = DockerIgnore::parse("a+b(c).txt\n");
        assert!(ig.excluded("a+b(c).txt"));
        assert!(!ig.excluded("aab(c)xtxt"));
        // A malformed pattern is skipped, not fatal.
        let ig = DockerIgnore::parse("bad[\nok.txt\n");
        assert!(ig.excluded("ok.txt"));
    }

    #[test]
    fn context_tar_keeps_nested_files_that_a_root_star_pattern_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
        std::fs::write(dir.path().join("a.log"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.log"), "y").unwrap();
        let build = Build {
            context: dir.path().into(),
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        };
        let (bytes, _) = context_tar("s", &build).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"sub/a.log".to_string()), "{names:?}");
        assert!(!names.contains(&"a.log".to_string()), "{names:?}");
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
