//! Compose's `develop.watch` rules, read from the normalised compose document (the typed model
//! leaves `develop` to this module). `devstack watch` and `up --watch` act on them.
//!
//! ```yaml
//! develop:
//!   watch:
//!     - action: sync            # sync | sync+restart | sync+exec | restart | rebuild
//!       path: ./services/web/src
//!       target: /app/src        # required by the sync actions
//!       ignore: ["**/*.test.ts"]  # .dockerignore patterns, relative to `path`
//!       include: ["*.ts"]       # only these (relative to `path`), when given
//!     - action: rebuild
//!       path: ./services/web/package.json
//! ```

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use super::model::scalar;
use super::ProjectError;

/// What a change under a rule's `path` does (Compose's watch actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchAction {
    /// Copy the changed files into the running container at `target`; delete removed ones.
    Sync,
    /// Sync, then restart the container and wait until it is ready.
    SyncRestart,
    /// Sync, then run `exec.command` in the container.
    SyncExec,
    /// Restart the container (nothing is copied).
    Restart,
    /// Rebuild the image and recreate the container.
    Rebuild,
}

impl WatchAction {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchAction::Sync => "sync",
            WatchAction::SyncRestart => "sync+restart",
            WatchAction::SyncExec => "sync+exec",
            WatchAction::Restart => "restart",
            WatchAction::Rebuild => "rebuild",
        }
    }

    /// Whether changed files are copied into the container.
    pub fn syncs(self) -> bool {
        matches!(
            self,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
        )
    }
}

/// `exec:` of a `sync+exec` rule.
#[derive(Debug, Clone, Default)]
pub struct ExecHook {
    pub command: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub environment: Vec<String>,
    pub privileged: bool,
}

#[derive(Debug, Clone)]
pub struct WatchRule {
    pub action: WatchAction,
    /// Absolute, cleaned host path (a directory or one file).
    pub path: PathBuf,
    /// Where `path` lands in the container (sync actions).
    pub target: Option<String>,
    /// `.dockerignore`-style patterns relative to `path`.
    pub ignore: Vec<String>,
    /// When given, only paths matching one of these (relative to `path`) count.
    pub include: Vec<String>,
    pub exec: Option<ExecHook>,
    /// Copy everything under `path` when the watch starts (sync actions), so edits made while
    /// nothing watched reach the container too.
    pub initial_sync: bool,
}

/// Every service's rules (services without `develop.watch` are absent), in file order, with
/// the notes on keys that are not acted on.
#[derive(Debug, Clone, Default)]
pub struct WatchConfig {
    pub services: IndexMap<String, Vec<WatchRule>>,
    pub notes: Vec<String>,
}

/// Reads `services.*.develop.watch` from the normalised document. Relative paths are the
/// project directory's, as everywhere in the template. `file` names the document in errors.
pub fn parse(doc: &Value, project_dir: &Path, file: &str) -> Result<WatchConfig, ProjectError> {
    let mut out = WatchConfig::default();
    let Some(services) = doc.get("services").and_then(Value::as_object) else {
        return Ok(out);
    };
    let err = |at: &str, msg: &str| ProjectError(format!("{file}: {at}: {msg}"));
    for (name, svc) in services {
        // `x-develop` is Compose's older spelling, which it still reads (and which Debian's
        // docker-compose 1.29 accepts, as any `x-` key); `develop` wins.
        let (key, develop) = match (svc.get("develop"), svc.get("x-develop")) {
            (Some(d), _) if !d.is_null() => ("develop", d),
            (_, Some(d)) if !d.is_null() => ("x-develop", d),
            _ => continue,
        };
        let at = format!("services.{name}.{key}");
        let develop = develop
            .as_object()
            .ok_or_else(|| err(&at, "expected a mapping with `watch:`"))?;
        for k in develop
            .keys()
            .filter(|k| *k != "watch" && !k.starts_with("x-"))
        {
            out.notes.push(format!(
                "service {name}: key `{key}.{k}` is not acted on by devstack"
            ));
        }
        let rules = match develop.get("watch") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => return Err(err(&format!("{at}.watch"), "expected a list of rules")),
        };
        let has_build = svc.get("build").is_some_and(|b| !b.is_null());
        let mut parsed = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("{at}.watch[{i}]");
            parsed.push(parse_rule(
                rule,
                &at,
                project_dir,
                has_build,
                &err,
                &mut out.notes,
                name,
            )?);
        }
        if !parsed.is_empty() {
            out.services.insert(name.clone(), parsed);
        }
    }
    Ok(out)
}

/// `err(at, msg)`: a [`ProjectError`] naming the document and the place in it.
type ErrAt<'a> = &'a dyn Fn(&str, &str) -> ProjectError;

fn parse_rule(
    rule: &Value,
    at: &str,
    project_dir: &Path,
    has_build: bool,
    err: ErrAt,
    notes: &mut Vec<String>,
    service: &str,
) -> Result<WatchRule, ProjectError> {
    let m = rule
        .as_object()
        .ok_or_else(|| err(at, "expected a mapping with `action:` and `path:`"))?;
    let action = parse_action(m, at, err)?;
    let raw_path = m
        .get("path")
        .and_then(scalar)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| err(at, "has no `path:` (the host file or directory to watch)"))?;
    let target = m.get("target").and_then(scalar).filter(|t| !t.is_empty());
    check_target(action, target.as_deref(), &raw_path, at, err)?;
    if action == WatchAction::Rebuild && !has_build {
        return Err(err(
            at,
            "action rebuild needs the service to have a `build:` section",
        ));
    }
    let ignore = patterns(m, "ignore", at, err)?;
    let include = patterns(m, "include", at, err)?;
    let exec = match (action, m.get("exec")) {
        (WatchAction::SyncExec, Some(e)) if !e.is_null() => Some(parse_exec(e, at, err)?),
        (WatchAction::SyncExec, _) => {
            return Err(err(at, "action sync+exec needs `exec: { command: … }`"))
        }
        _ => None,
    };
    note_unknown_keys(m, at, service, notes);
    Ok(WatchRule {
        action,
        path: absolute(&raw_path, project_dir),
        target,
        ignore,
        include,
        exec,
        initial_sync: m
            .get("initial_sync")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn parse_action(
    m: &serde_json::Map<String, Value>,
    at: &str,
    err: ErrAt,
) -> Result<WatchAction, ProjectError> {
    match m.get("action").and_then(scalar).as_deref() {
        Some("sync") => Ok(WatchAction::Sync),
        Some("sync+restart") => Ok(WatchAction::SyncRestart),
        Some("sync+exec") => Ok(WatchAction::SyncExec),
        Some("restart") => Ok(WatchAction::Restart),
        Some("rebuild") => Ok(WatchAction::Rebuild),
        Some(other) => Err(err(
            &format!("{at}.action"),
            &format!(
                "unknown action {other:?}: use sync, sync+restart, sync+exec, restart or rebuild"
            ),
        )),
        None => Err(err(
            at,
            "has no `action:` (sync, sync+restart, sync+exec, restart or rebuild)",
        )),
    }
}

/// The sync actions need an absolute `target:` in the container.
fn check_target(
    action: WatchAction,
    target: Option<&str>,
    raw_path: &str,
    at: &str,
    err: ErrAt,
) -> Result<(), ProjectError> {
    if !action.syncs() {
        return Ok(());
    }
    match target {
        None => Err(err(
            at,
            &format!(
                "action {} needs `target:` (where {raw_path} goes in the container)",
                action.as_str()
            ),
        )),
        Some(t) if !t.starts_with('/') => Err(err(
            &format!("{at}.target"),
            &format!("{t:?} must be an absolute path in the container"),
        )),
        Some(_) => Ok(()),
    }
}

/// `ignore:` / `include:`: a list of patterns, or one.
fn patterns(
    m: &serde_json::Map<String, Value>,
    key: &str,
    at: &str,
    err: ErrAt,
) -> Result<Vec<String>, ProjectError> {
    let bad = || err(&format!("{at}.{key}"), "expected a list of patterns");
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|v| scalar(v).ok_or_else(bad)).collect(),
        Some(v) => scalar(v).map(|s| vec![s]).ok_or_else(bad),
    }
}

/// Keys of a rule that devstack does not act on are said, not refused (`x-` keys are quiet).
fn note_unknown_keys(
    m: &serde_json::Map<String, Value>,
    at: &str,
    service: &str,
    notes: &mut Vec<String>,
) {
    for k in m.keys() {
        let known = matches!(
            k.as_str(),
            "action" | "path" | "target" | "ignore" | "include" | "exec" | "initial_sync"
        );
        if !known && !k.starts_with("x-") {
            notes.push(format!(
                "service {service}: key `{}.{k}` is not acted on by devstack",
                at.trim_start_matches(&format!("services.{service}."))
            ));
        }
    }
}

fn parse_exec(v: &Value, at: &str, err: ErrAt) -> Result<ExecHook, ProjectError> {
    let at = format!("{at}.exec");
    let m = v
        .as_object()
        .ok_or_else(|| err(&at, "expected a mapping with `command:`"))?;
    let command = match m.get("command") {
        Some(Value::String(s)) => vec!["/bin/sh".to_string(), "-c".to_string(), s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        _ => Vec::new(),
    };
    if command.is_empty() {
        return Err(err(&at, "needs `command:` (a string or a list)"));
    }
    let environment = match m.get("environment") {
        Some(Value::Object(env)) => env
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v).unwrap_or_default()))
            .collect(),
        Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        _ => Vec::new(),
    };
    Ok(ExecHook {
        command,
        user: m.get("user").and_then(scalar),
        working_dir: m.get("working_dir").and_then(scalar),
        environment,
        privileged: m
            .get("privileged")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// `p` against `dir` when relative (`~/` is the home directory), cleaned without touching the
/// filesystem.
fn absolute(p: &str, dir: &Path) -> PathBuf {
    let joined = if let Some(rest) = p.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(rest))
            .unwrap_or_else(|| dir.join(p))
    } else {
        dir.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(develop: Value) -> Value {
        json!({"services": {"site": {"build": {"context": "/p/site"}, "develop": develop}}})
    }

    #[test]
    fn rules_parse_with_compose_meaning() {
        let d = doc(json!({"watch": [
            {"action": "sync", "path": "./site/src", "target": "/app/src", "ignore": ["*.tmp"], "include": ["*.js"]},
            {"action": "sync+restart", "path": "site/conf", "target": "/etc/site"},
            {"action": "rebuild", "path": "site/package.json"},
            {"action": "restart", "path": "site/.env"},
            {"action": "sync+exec", "path": "site/x", "target": "/x", "exec": {"command": "kill -HUP 1"}},
        ]}));
        let c = parse(&d, Path::new("/p"), "compose.yaml").unwrap();
        let rules = &c.services["site"];
        assert_eq!(rules.len(), 5);
        assert_eq!(rules[0].action, WatchAction::Sync);
        assert_eq!(rules[0].path, PathBuf::from("/p/site/src"));
        assert_eq!(rules[0].target.as_deref(), Some("/app/src"));
        assert_eq!(rules[0].ignore, vec!["*.tmp"]);
        assert_eq!(rules[0].include, vec!["*.js"]);
        assert_eq!(rules[1].action, WatchAction::SyncRestart);
        assert_eq!(rules[2].action, WatchAction::Rebuild);
        assert_eq!(rules[2].path, PathBuf::from("/p/site/package.json"));
        assert_eq!(rules[3].action, WatchAction::Restart);
        assert_eq!(
            rules[4].exec.as_ref().unwrap().command,
            vec!["/bin/sh", "-c", "kill -HUP 1"]
        );
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn bad_rules_name_the_place_and_the_fix() {
        let e = parse(
            &doc(json!({"watch": [{"action": "copy", "path": "a"}]})),
            Path::new("/p"),
            "f.yaml",
        )
        .unwrap_err();
        assert!(
            e.0.contains("f.yaml: services.site.develop.watch[0].action"),
            "{e}"
        );
        assert!(e.0.contains("use sync, sync+restart"), "{e}");
        let e = parse(
            &doc(json!({"watch": [{"action": "sync", "path": "a"}]})),
            Path::new("/p"),
            "f.yaml",
        )
        .unwrap_err();
        assert!(e.0.contains("needs `target:`"), "{e}");
        let e = parse(
            &doc(json!({"watch": [{"action": "sync", "target": "/a"}]})),
            Path::new("/p"),
            "f.yaml",
        )
        .unwrap_err();
        assert!(e.0.contains("has no `path:`"), "{e}");
        let no_build = json!({"services": {"db": {"image": "x", "develop": {"watch": [{"action": "rebuild", "path": "a"}]}}}});
        let e = parse(&no_build, Path::new("/p"), "f.yaml").unwrap_err();
        assert!(e.0.contains("needs the service to have a `build:`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_noted_not_fatal() {
        let d = doc(
            json!({"watch": [{"action": "sync", "path": "a", "target": "/a", "frobnicate": 1}], "other": 1}),
        );
        let c = parse(&d, Path::new("/p"), "f.yaml").unwrap();
        assert_eq!(c.services["site"].len(), 1);
        assert!(
            c.notes.iter().any(|n| n.contains("`develop.other`")),
            "{:?}",
            c.notes
        );
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("`develop.watch[0].frobnicate`")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn x_develop_is_read_too_and_develop_wins() {
        let rule = |p: &str| json!({"watch": [{"action": "rebuild", "path": p}]});
        let d = json!({"services": {
            "a": {"build": ".", "x-develop": rule("old")},
            "b": {"build": ".", "develop": rule("new"), "x-develop": rule("old")},
        }});
        let c = parse(&d, Path::new("/p"), "f").unwrap();
        assert_eq!(c.services["a"][0].path, PathBuf::from("/p/old"));
        assert_eq!(c.services["b"][0].path, PathBuf::from("/p/new"));
    }

    #[test]
    fn services_without_develop_are_absent() {
        let d = json!({"services": {"a": {"image": "x"}, "b": {"image": "y", "develop": null}}});
        assert!(parse(&d, Path::new("/p"), "f").unwrap().services.is_empty());
    }
}
