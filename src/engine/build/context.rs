//! What a build reads from this machine: the context (honouring `.dockerignore`), the
//! Dockerfile, additional local contexts, and the hash of all of it with the build's settings,
//! which decides whether the image must be rebuilt.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::BuildError;
use crate::project::model::Build;

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

/// One path component's glob (`*`, `?`, `[a-z]`) as Go's `filepath.Match` reads it.
pub fn glob_regex(component: &str) -> Option<regex::Regex> {
    pattern_regex(component)
}

/// The files of the context that reach the builder: all but what `.dockerignore` excludes
/// (the Dockerfile and `.dockerignore` themselves always go), in name order.
fn context_files(
    service: &str,
    dir: &Path,
    dockerfile: &str,
) -> Result<Vec<(String, PathBuf)>, BuildError> {
    if !dir.is_dir() {
        return Err(BuildError::NoContext {
            service: service.into(),
            path: dir.to_path_buf(),
        });
    }
    let ignore = DockerIgnore::load(dir);
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name().min_depth(1) {
        let entry = entry.map_err(|e| BuildError::Context {
            service: service.into(),
            detail: e.to_string(),
        })?;
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        let keep = rel == dockerfile || rel == ".dockerignore" || !ignore.excluded(&rel);
        if keep && !entry.file_type().is_dir() {
            files.push((rel, entry.path().to_path_buf()));
        }
    }
    Ok(files)
}

/// One file's part of the hash: its path, its executable bits, its content (a symlink: its
/// target). Unchanged since the first devstack, so existing records stay valid.
fn hash_file(
    hasher: &mut sha2::Sha256,
    rel: &str,
    path: &Path,
    meta: &std::fs::Metadata,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    hasher.update(rel.as_bytes());
    hasher.update((meta.permissions().mode() & 0o111).to_le_bytes());
    if meta.file_type().is_symlink() {
        hasher.update(std::fs::read_link(path)?.to_string_lossy().as_bytes());
        return Ok(());
    }
    hasher.update(meta.len().to_le_bytes());
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

fn context_err(service: &str, rel: &str) -> impl Fn(std::io::Error) -> BuildError {
    let (service, rel) = (service.to_string(), rel.to_string());
    move |e| BuildError::Context {
        service: service.clone(),
        detail: format!("{rel}: {e}"),
    }
}

/// The hash that decides rebuilds: the context's files, the Dockerfile, the build arguments
/// and target, and, when the build uses them, every other setting that shapes the image
/// (labels, named contexts and their files, a Dockerfile outside the context or inline, …).
/// Secrets are named, never read: their values stay out of the hash and the record.
pub fn context_hash(service: &str, build: &Build) -> Result<String, BuildError> {
    let mut hasher = sha2::Sha256::new();
    for (rel, path) in context_files(service, &build.context, &build.dockerfile)? {
        let meta = std::fs::symlink_metadata(&path).map_err(context_err(service, &rel))?;
        hash_file(&mut hasher, &rel, &path, &meta).map_err(context_err(service, &rel))?;
    }
    hash_settings(service, build, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The part of the hash beyond the context's files.
fn hash_settings(
    service: &str,
    build: &Build,
    hasher: &mut sha2::Sha256,
) -> Result<(), BuildError> {
    hasher.update(build.dockerfile.as_bytes());
    for (k, v) in &build.args {
        hasher.update(format!("{k}={v}\n").as_bytes());
    }
    hasher.update(build.target.clone().unwrap_or_default().as_bytes());
    let extras = extras(build);
    if extras != extras_of_default() {
        hasher.update(extras.to_string().as_bytes());
    }
    let dockerfile = build.context.join(&build.dockerfile);
    if build.dockerfile_inline.is_none() && !dockerfile.starts_with(&build.context) {
        let meta = std::fs::metadata(&dockerfile).map_err(|e| BuildError::Context {
            service: service.into(),
            detail: format!("Dockerfile {}: {e}", dockerfile.display()),
        })?;
        hash_file(hasher, "Dockerfile", &dockerfile, &meta)
            .map_err(context_err(service, "Dockerfile"))?;
    }
    for (name, value) in &build.additional_contexts {
        let dir = Path::new(value);
        if dir.is_absolute() && dir.is_dir() {
            hasher.update(format!("context:{name}\n").as_bytes());
            for (rel, path) in context_files(service, dir, "")? {
                let meta = std::fs::symlink_metadata(&path).map_err(context_err(service, &rel))?;
                hash_file(hasher, &rel, &path, &meta).map_err(context_err(service, &rel))?;
            }
        }
    }
    Ok(())
}

/// The settings beyond the first devstack's (context, Dockerfile, args, target), without the
/// ones that never change what is built (no_cache, pull: they make a build happen).
fn extras(build: &Build) -> serde_json::Value {
    let mut v = serde_json::to_value(build).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        for k in [
            "context",
            "dockerfile",
            "args",
            "target",
            "no_cache",
            "pull",
        ] {
            m.remove(k);
        }
    }
    v
}

fn extras_of_default() -> serde_json::Value {
    extras(&Build::default())
}

/// A deterministic tar of the context (for the classic builder) and the context's hash.
pub fn context_tar(service: &str, build: &Build) -> Result<(Vec<u8>, String), BuildError> {
    let mut hasher = sha2::Sha256::new();
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for (rel, path) in context_files(service, &build.context, &build.dockerfile)? {
        let err = context_err(service, &rel);
        let meta = std::fs::symlink_metadata(&path).map_err(&err)?;
        hash_file(&mut hasher, &rel, &path, &meta).map_err(&err)?;
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        use std::os::unix::fs::PermissionsExt;
        header.set_mode(meta.permissions().mode() & 0o7777);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(&err)?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &rel, &target).map_err(&err)?;
        } else {
            let data = std::fs::read(&path).map_err(&err)?;
            header.set_size(data.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, &rel, data.as_slice())
                .map_err(&err)?;
        }
    }
    hash_settings(service, build, &mut hasher)?;
    let bytes = tar.into_inner().map_err(|e| BuildError::Context {
        service: service.into(),
        detail: e.to_string(),
    })?;
    Ok((bytes, hex::encode(hasher.finalize())))
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
