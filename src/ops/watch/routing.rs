//! Routing: which services watch, with which compiled rules, and which of a service's rules a
//! changed host path triggers. Pure: no engine, no file watcher.

use std::path::{Path, PathBuf};

use crate::engine::build::DockerIgnore;
use crate::engine::remote;
use crate::project::model::{MountKind, Service};
use crate::project::watch::{WatchAction, WatchConfig, WatchRule};
use crate::project::Project;

use super::WatchError;

/// One rule with its patterns compiled.
pub(crate) struct Rule {
    pub rule: WatchRule,
    ignore: DockerIgnore,
    include: Option<DockerIgnore>,
}

/// A service's rules and the ignore rules of its build context.
pub(crate) struct Watched {
    pub name: String,
    pub rules: Vec<Rule>,
    context: Option<PathBuf>,
    dockerfile: String,
    dockerignore: DockerIgnore,
    /// Sync rules not acted on, with why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// A changed host path and the rule it came through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pending {
    pub host: PathBuf,
    pub rule: usize,
}

impl Watched {
    /// The rules `path` triggers (empty when none does, or it is ignored).
    pub fn route(&self, path: &Path) -> Vec<Pending> {
        if self.ignored(path) {
            return Vec::new();
        }
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.accepts(path))
            .map(|(i, _)| Pending {
                host: path.to_path_buf(),
                rule: i,
            })
            .collect()
    }

    /// Ruled out for every rule: the build context's `.dockerignore` (the Dockerfile and the
    /// `.dockerignore` itself always count, as in a build).
    fn ignored(&self, path: &Path) -> bool {
        let Some(ctx) = &self.context else {
            return false;
        };
        let Ok(rel) = path.strip_prefix(ctx) else {
            return false;
        };
        let rel = rel.to_string_lossy();
        if rel.is_empty() || rel == self.dockerfile || rel == ".dockerignore" {
            return false;
        }
        self.dockerignore.excluded(&rel)
    }

    /// Whether `path` (found under a synced directory) is copied: some sync rule takes it.
    pub fn keeps(&self, path: &Path) -> bool {
        !self.ignored(path)
            && self
                .rules
                .iter()
                .any(|r| r.rule.action.syncs() && r.accepts(path))
    }
}

impl Rule {
    fn compile(rule: WatchRule) -> Rule {
        let ignore = DockerIgnore::from_patterns(rule.ignore.iter().map(String::as_str));
        let include = (!rule.include.is_empty())
            .then(|| DockerIgnore::from_patterns(rule.include.iter().map(String::as_str)));
        Rule {
            rule,
            ignore,
            include,
        }
    }

    fn accepts(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.rule.path) else {
            return false;
        };
        if rel.as_os_str().is_empty() {
            return true;
        }
        if ephemeral(rel) {
            return false;
        }
        let rel = rel.to_string_lossy();
        if self.ignore.excluded(&rel) {
            return false;
        }
        match &self.include {
            Some(inc) => inc.excluded(&rel),
            None => true,
        }
    }

    /// Where a host path under the rule's path goes in the container.
    pub fn container_path(&self, host: &Path) -> Option<String> {
        let target = self.rule.target.as_deref()?;
        let rel = host.strip_prefix(&self.rule.path).ok()?;
        if rel.as_os_str().is_empty() {
            return Some(target.to_string());
        }
        Some(format!(
            "{}/{}",
            target.trim_end_matches('/'),
            rel.to_string_lossy()
        ))
    }
}

/// `.git/` and editors' temporary files (Compose's `EphemeralPathMatcher`): JetBrains'
/// `*___jb_old___`/`*___jb_tmp___` and `.idea/`, Emacs' `.#*` and `#*#`, Vim's `4913`, `*~`
/// and `.*.sw[pxon]`, Kate's `.*.kate-swp`, Go's `*-go-tmp-umask`.
fn ephemeral(rel: &Path) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.iter().any(|p| p == ".git" || p == ".idea") {
        return true;
    }
    let Some(name) = parts.last() else {
        return false;
    };
    let dot = name.starts_with('.');
    name.ends_with("___jb_old___")
        || name.ends_with("___jb_tmp___")
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || name.ends_with('~')
        || (dot
            && [".swp", ".swx", ".swo", ".swn", ".kate-swp"]
                .iter()
                .any(|s| name.ends_with(s)))
        || name.ends_with("-go-tmp-umask")
}

/// The services to watch, with their compiled rules; sync rules on bind-mounted paths are
/// set aside (Compose: "also declared by a bind mount volume, this path won't be monitored").
/// On a remote engine, project binds are copies instead ([`crate::engine::remote`]): each is
/// kept in sync by a rule of its own (unless a sync rule covers it), with an initial sync.
pub(crate) fn select(
    project: &Project,
    config: &WatchConfig,
    named: &[String],
    strict: bool,
    remote: bool,
) -> Result<Vec<Watched>, WatchError> {
    let copies = |n: &str| match (remote, project.model.services.get(n)) {
        (true, Some(svc)) => remote::project_binds(svc, &project.dir),
        _ => Vec::new(),
    };
    let names = services_with_rules(project, named, strict, &|n| {
        config.services.contains_key(n) || !copies(n).is_empty()
    })?;
    Ok(names
        .into_iter()
        .map(|name| {
            let declared = config.services.get(&name).cloned().unwrap_or_default();
            let copied = copies(&name);
            compile(&project.model.services[&name], declared, &copied)
        })
        .collect())
}

/// The named services that have rules (every active one with rules when none is named); a
/// named service without rules is an error when `strict` (the verb), else left out.
fn services_with_rules(
    project: &Project,
    named: &[String],
    strict: bool,
    has_rules: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, WatchError> {
    let names: Vec<String> = if named.is_empty() {
        crate::engine::converge::active_services(project)
            .into_iter()
            .filter(|n| has_rules(n))
            .collect()
    } else {
        let mut out = Vec::new();
        for n in named {
            if has_rules(n) {
                out.push(n.clone());
            } else if project.model.services.contains_key(n) && strict {
                return Err(WatchError::NoRules { service: n.clone() });
            }
        }
        out
    };
    if names.is_empty() {
        return Err(WatchError::NothingSelected);
    }
    Ok(names)
}

/// One service's rules compiled: its declared ones, and one sync rule (with an initial sync)
/// per copied bind that no declared sync rule covers; sync rules on a bind-mounted path are
/// set aside in `skipped`.
fn compile(svc: &Service, declared: Vec<WatchRule>, copied: &[remote::Copy]) -> Watched {
    let binds: Vec<PathBuf> = svc
        .volumes
        .iter()
        .filter(|m| m.kind == MountKind::Bind)
        .filter_map(|m| m.source.as_ref().map(PathBuf::from))
        .filter(|b| !copied.iter().any(|c| &c.host == b))
        .collect();
    let implicit: Vec<WatchRule> = copied
        .iter()
        .filter(|c| {
            !declared
                .iter()
                .any(|r| r.action.syncs() && c.host.starts_with(&r.path))
        })
        .map(|c| WatchRule {
            action: WatchAction::Sync,
            path: c.host.clone(),
            target: Some(c.target.clone()),
            ignore: Vec::new(),
            include: Vec::new(),
            exec: None,
            initial_sync: true,
        })
        .collect();
    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    for rule in declared.into_iter().chain(implicit) {
        if rule.action.syncs() {
            if let Some(b) = binds.iter().find(|b| rule.path.starts_with(b)) {
                skipped.push((rule.path.clone(), b.display().to_string()));
                continue;
            }
        }
        rules.push(Rule::compile(rule));
    }
    let (context, dockerfile, dockerignore) = match &svc.build {
        Some(b) => (
            Some(b.context.clone()),
            b.dockerfile.clone(),
            DockerIgnore::load(&b.context),
        ),
        None => (None, String::new(), DockerIgnore::default()),
    };
    Watched {
        name: svc.name.clone(),
        rules,
        context,
        dockerfile,
        dockerignore,
        skipped,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rule(
        action: WatchAction,
        path: &str,
        target: Option<&str>,
        ignore: &[&str],
        include: &[&str],
    ) -> Rule {
        Rule::compile(WatchRule {
            action,
            path: PathBuf::from(path),
            target: target.map(str::to_string),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            include: include.iter().map(|s| s.to_string()).collect(),
            exec: None,
            initial_sync: false,
        })
    }

    pub(crate) fn site() -> Watched {
        Watched {
            name: "site".into(),
            rules: vec![
                rule(
                    WatchAction::Sync,
                    "/p/site/src",
                    Some("/app/src"),
                    &["*.tmp", "gen/"],
                    &[],
                ),
                rule(
                    WatchAction::Sync,
                    "/p/site/static",
                    Some("/www"),
                    &[],
                    &["*.html", "css"],
                ),
                rule(WatchAction::Rebuild, "/p/site/Dockerfile", None, &[], &[]),
            ],
            context: Some(PathBuf::from("/p/site")),
            dockerfile: "Dockerfile".into(),
            dockerignore: DockerIgnore::parse("**/*.log\nDockerfile\n"),
            skipped: vec![],
        }
    }

    fn routed(w: &Watched, p: &str) -> Vec<usize> {
        w.route(Path::new(p)).into_iter().map(|x| x.rule).collect()
    }

    #[test]
    fn changes_route_to_the_rules_that_cover_them() {
        let w = site();
        assert_eq!(routed(&w, "/p/site/src/a.js"), vec![0]);
        assert_eq!(routed(&w, "/p/site/src/deep/b.js"), vec![0]);
        assert_eq!(
            routed(&w, "/p/site/Dockerfile"),
            vec![2],
            "the Dockerfile always counts"
        );
        assert!(routed(&w, "/p/site/README").is_empty());
        assert!(routed(&w, "/p/other/src/a.js").is_empty());
        assert_eq!(
            w.rules[0]
                .container_path(Path::new("/p/site/src/deep/b.js"))
                .as_deref(),
            Some("/app/src/deep/b.js")
        );
        assert_eq!(
            w.rules[0]
                .container_path(Path::new("/p/site/src"))
                .as_deref(),
            Some("/app/src")
        );
    }

    #[test]
    fn ignore_include_dockerignore_and_editor_files_rule_changes_out() {
        let w = site();
        // The rule's ignore, relative to its path.
        assert!(routed(&w, "/p/site/src/x.tmp").is_empty());
        assert!(routed(&w, "/p/site/src/gen/a.js").is_empty());
        assert_eq!(
            routed(&w, "/p/site/src/sub/x.tmp"),
            vec![0],
            "`*.tmp` stops at /"
        );
        // include: only these.
        assert_eq!(routed(&w, "/p/site/static/index.html"), vec![1]);
        assert_eq!(routed(&w, "/p/site/static/css/site.css"), vec![1]);
        assert!(routed(&w, "/p/site/static/app.js").is_empty());
        // The build context's .dockerignore.
        assert!(routed(&w, "/p/site/src/a/debug.log").is_empty());
        // Editors' files and .git.
        for p in [
            "src/.a.js.swp",
            "src/a.js~",
            "src/.#a.js",
            "src/#a.js#",
            "src/4913",
            "src/.git/HEAD",
            "src/x___jb_tmp___",
        ] {
            assert!(routed(&w, &format!("/p/site/{p}")).is_empty(), "{p}");
        }
    }

    #[test]
    fn a_path_covered_by_two_rules_triggers_both_and_keeps_follows_sync_rules_only() {
        let mut w = site();
        w.rules.push(rule(
            WatchAction::Restart,
            "/p/site/src/conf",
            None,
            &[],
            &[],
        ));
        assert_eq!(routed(&w, "/p/site/src/conf/app.ini"), vec![0, 3]);
        assert!(w.keeps(Path::new("/p/site/src/a.js")));
        assert!(
            !w.keeps(Path::new("/p/site/src/x.tmp")),
            "the rule's ignore"
        );
        assert!(
            !w.keeps(Path::new("/p/site/Dockerfile")),
            "a rebuild rule copies nothing"
        );
        assert!(
            !w.keeps(Path::new("/p/site/src/debug.log")),
            "the context's .dockerignore"
        );
    }

    #[test]
    fn a_rules_own_path_is_always_accepted_and_its_target_is_the_rules() {
        let w = site();
        assert_eq!(routed(&w, "/p/site/static"), vec![1]);
        let r = rule(WatchAction::Rebuild, "/p/site/x", None, &[], &[]);
        assert_eq!(r.container_path(Path::new("/p/site/x/y")), None);
    }
}
