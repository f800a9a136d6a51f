//! `build:`: a context path, or a mapping with every key of compose-go's `BuildConfig`
//! (context, dockerfile or dockerfile_inline, args, labels, target, secrets, ssh, cache_from,
//! cache_to, additional_contexts, network, extra_hosts, shm_size, ulimits, tags, platforms, …).
//! Any other key is refused with the closest one, as Compose's schema refuses it.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::files::{FileDef, FileSource};
use super::networking::extra_hosts;
use super::security::{ulimits, Ulimit};
use super::values::{
    boolean, bytes, check_keys, scalar, string_map, string_map_or_empty, strings, text,
};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Build {
    pub context: PathBuf,
    /// The Dockerfile, relative to the context (or absolute).
    pub dockerfile: String,
    /// The Dockerfile's text, given in the compose file instead of a file.
    pub dockerfile_inline: Option<String>,
    /// Build arguments; a bare `KEY` takes the variable's value, and is left out when unset.
    pub args: IndexMap<String, String>,
    pub target: Option<String>,
    pub labels: IndexMap<String, String>,
    /// Top-level secrets the build may mount (`RUN --mount=type=secret,id=…`).
    pub secrets: Vec<BuildSecret>,
    /// SSH agents the build may use (`RUN --mount=type=ssh`).
    pub ssh: Vec<SshAgent>,
    pub cache_from: Vec<CacheEntry>,
    pub cache_to: Vec<CacheEntry>,
    pub no_cache: bool,
    /// Stages built without the cache.
    pub no_cache_filter: Vec<String>,
    /// Named contexts (`FROM name`, `COPY --from=name`): a directory, `docker-image://…`,
    /// `service:NAME`, or a URL.
    pub additional_contexts: IndexMap<String, String>,
    /// The network of `RUN` steps: `default`, `host` or `none`.
    pub network: Option<String>,
    pub pull: bool,
    /// `host:ip` lines for the build's /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub shm_size: Option<i64>,
    /// More tags for the image, beside the service's.
    pub tags: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    pub platforms: Vec<String>,
    pub privileged: bool,
    pub entitlements: Vec<String>,
    pub provenance: Option<String>,
    pub sbom: Option<String>,
    pub isolation: Option<String>,
}

/// A top-level secret offered to the build under `id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildSecret {
    /// What `RUN --mount=type=secret,id=…` names.
    pub id: String,
    /// The key in the top-level `secrets:`.
    pub source: String,
}

/// `default` (the agent of `SSH_AUTH_SOCK`) or `id=path[,path…]`: agent sockets or key files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SshAgent {
    pub id: String,
    pub paths: Vec<String>,
}

/// Why a `cache_from`/`cache_to` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheEntryError {
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    #[error("no `type=`: give type=local,src=DIR, type=inline or type=registry,ref=IMAGE")]
    NoType,
}

/// A `cache_from`/`cache_to` entry: `type=local,src=DIR`, `type=inline`, or an image
/// reference (a `registry` cache).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheEntry {
    pub kind: String,
    pub attrs: IndexMap<String, String>,
}

impl CacheEntry {
    /// As written in a compose file (buildx's CSV of `key=value`).
    pub fn parse(s: &str) -> Result<CacheEntry, CacheEntryError> {
        if !s.contains('=') {
            let attrs = IndexMap::from([("ref".to_string(), s.to_string())]);
            return Ok(CacheEntry {
                kind: "registry".into(),
                attrs,
            });
        }
        let mut kind = None;
        let mut attrs = IndexMap::new();
        for field in s.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| CacheEntryError::NotKeyValue(field.into()))?;
            let v = v.trim_matches('"').to_string();
            match k.trim() {
                "type" => kind = Some(v),
                k => {
                    attrs.insert(k.to_string(), v);
                }
            }
        }
        let kind = match (kind, attrs.get("ref")) {
            (Some(k), _) => k,
            (None, Some(_)) => "registry".to_string(),
            (None, None) => return Err(CacheEntryError::NoType),
        };
        Ok(CacheEntry { kind, attrs })
    }
}

/// Every key of compose-go's `BuildConfig`.
pub const BUILD_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "args",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "no_cache_filter",
    "additional_contexts",
    "network",
    "pull",
    "target",
    "shm_size",
    "extra_hosts",
    "isolation",
    "privileged",
    "secrets",
    "tags",
    "ulimits",
    "platforms",
    "entitlements",
    "provenance",
    "sbom",
];

pub(super) fn parse_build(
    v: Option<&Value>,
    service: &str,
    secrets: &IndexMap<String, FileDef>,
    cx: &mut Ctx,
) -> Result<Option<Build>, ProjectError> {
    let at = format!("services.{service}.build");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(context)) => Ok(Some(Build {
            context: PathBuf::from(context),
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        })),
        Some(Value::Object(m)) => long_syntax(m, &at, secrets, cx).map(Some),
        Some(_) => Err(cx.err(&at, "expected a path or a mapping with `context:`")),
    }
}

fn long_syntax(
    m: &Map<String, Value>,
    at: &str,
    secrets: &IndexMap<String, FileDef>,
    cx: &mut Ctx,
) -> Result<Build, ProjectError> {
    check_keys(m, BUILD_KEYS, at, cx)?;
    let here = |k: &str| format!("{at}.{k}");
    let mut b = Build {
        context: PathBuf::from(text(m.get("context")).unwrap_or_else(|| ".".into())),
        dockerfile: text(m.get("dockerfile")).unwrap_or_else(|| "Dockerfile".into()),
        dockerfile_inline: text(m.get("dockerfile_inline")),
        target: text(m.get("target")).filter(|t| !t.is_empty()),
        network: text(m.get("network")).filter(|n| !n.is_empty()),
        isolation: text(m.get("isolation")),
        provenance: text(m.get("provenance")),
        sbom: text(m.get("sbom")),
        no_cache: boolean(m.get("no_cache"), &here("no_cache"), cx)?.unwrap_or(false),
        pull: boolean(m.get("pull"), &here("pull"), cx)?.unwrap_or(false),
        privileged: boolean(m.get("privileged"), &here("privileged"), cx)?.unwrap_or(false),
        shm_size: bytes(m.get("shm_size"), &here("shm_size"), cx)?,
        no_cache_filter: strings(m.get("no_cache_filter"), &here("no_cache_filter"), cx)?,
        tags: strings(m.get("tags"), &here("tags"), cx)?,
        platforms: strings(m.get("platforms"), &here("platforms"), cx)?,
        entitlements: strings(m.get("entitlements"), &here("entitlements"), cx)?,
        ulimits: ulimits(m.get("ulimits"), &here("ulimits"), cx)?,
        ..Default::default()
    };
    if m.contains_key("dockerfile") && b.dockerfile_inline.is_some() {
        return Err(cx.err(
            &here("dockerfile_inline"),
            "`dockerfile` and `dockerfile_inline` are mutually exclusive: keep one",
        ));
    }
    if let Some(a) = m.get("args").filter(|a| !a.is_null()) {
        b.args = args(a, &here("args"), cx)?;
    }
    if let Some(l) = m.get("labels").filter(|l| !l.is_null()) {
        b.labels = string_map_or_empty(l, &here("labels"), cx)?;
    }
    if let Some(h) = m.get("extra_hosts").filter(|h| !h.is_null()) {
        b.extra_hosts = extra_hosts(h, &here("extra_hosts"), cx)?;
    }
    if let Some(c) = m.get("additional_contexts").filter(|c| !c.is_null()) {
        b.additional_contexts = string_map_or_empty(c, &here("additional_contexts"), cx)?;
    }
    b.cache_from = cache_entries(m.get("cache_from"), &here("cache_from"), cx)?;
    b.cache_to = cache_entries(m.get("cache_to"), &here("cache_to"), cx)?;
    b.ssh = ssh(m.get("ssh"), &here("ssh"), cx)?;
    b.secrets = build_secrets(m.get("secrets"), &here("secrets"), secrets, cx)?;
    check_values(&b, at, cx)?;
    if let Some(iso) = &b.isolation {
        cx.notes.push(format!(
            "{at}: key `isolation` ({iso}) is not acted on by devstack: it is for Windows engines"
        ));
    }
    Ok(b)
}

/// Values Compose (or the builder) would refuse, refused here with the file and line.
fn check_values(b: &Build, at: &str, cx: &Ctx) -> Result<(), ProjectError> {
    let here = |k: &str| format!("{at}.{k}");
    if let Some(n) = &b.network {
        if n.is_empty() || n.contains(char::is_whitespace) {
            return Err(cx.bad_value(&here("network"), "expected `default`, `host` or `none`"));
        }
    }
    for e in &b.entitlements {
        if !matches!(e.as_str(), "network.host" | "security.insecure") {
            return Err(cx.bad_value(
                &here("entitlements"),
                format!("unknown entitlement {e:?}: use network.host or security.insecure"),
            ));
        }
    }
    for (name, value) in &b.additional_contexts {
        if name.is_empty() || value.is_empty() {
            return Err(cx.bad_value(
                &here("additional_contexts"),
                "expected NAME: a directory, docker-image://IMAGE or service:NAME",
            ));
        }
    }
    Ok(())
}

/// `args`: a bare `KEY` (no `=`) takes the variable's value from `.env` or the shell, and is
/// left out when it is unset, so the Dockerfile's `ARG` default applies (compose-go's
/// `Resolve`, then Compose drops the unset ones).
fn args(v: &Value, at: &str, cx: &Ctx) -> Result<IndexMap<String, String>, ProjectError> {
    Ok(string_map(v, at, cx)?
        .into_iter()
        .filter_map(|(k, v)| {
            let v = v.or_else(|| cx.env.and_then(|e| e.get(&k).cloned()))?;
            Some((k, v))
        })
        .collect())
}

fn cache_entries(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<CacheEntry>, ProjectError> {
    strings(v, at, cx)?
        .iter()
        .map(|s| CacheEntry::parse(s).map_err(|e| cx.bad_value(at, format!("{s:?}: {e}"))))
        .collect()
}

/// `ssh: [default, "key=/path"]` or `ssh: {default: …, key: /path}`.
fn ssh(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<SshAgent>, ProjectError> {
    let entries: Vec<(String, Option<String>)> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), scalar(v).filter(|s| !s.is_empty())))
            .collect(),
        Some(other) => strings(Some(other), at, cx)?
            .into_iter()
            .map(|s| match s.split_once('=') {
                Some((k, p)) => (k.to_string(), Some(p.to_string())),
                None => (s, None),
            })
            .collect(),
    };
    let mut out = Vec::new();
    for (id, paths) in entries {
        if id.is_empty() {
            return Err(cx.bad_value(at, "expected `default` or ID=PATH"));
        }
        if paths.is_none() && id != "default" {
            return Err(cx.bad_value(
                at,
                format!("ssh `{id}` has no path: write `{id}=/path/to/agent.sock` (or a key file), or `default` for $SSH_AUTH_SOCK"),
            ));
        }
        let paths = paths
            .map(|p| p.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        out.push(SshAgent { id, paths });
    }
    Ok(out)
}

/// `secrets: [name]` or `[{source, target}]`: each a top-level secret; the build sees it under
/// `target` (else its name), as `RUN --mount=type=secret,id=…` names it.
fn build_secrets(
    v: Option<&Value>,
    at: &str,
    defined: &IndexMap<String, FileDef>,
    cx: &Ctx,
) -> Result<Vec<BuildSecret>, ProjectError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = v.as_array().ok_or_else(|| cx.err(at, "expected a list"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let (source, target) = match item {
            Value::Object(o) => {
                check_keys(o, &["source", "target", "uid", "gid", "mode"], &here, cx)?;
                let source =
                    text(o.get("source")).ok_or_else(|| cx.err(&here, "`source` is required"))?;
                (source, text(o.get("target")).filter(|t| !t.is_empty()))
            }
            other => (
                scalar(other).ok_or_else(|| cx.err(&here, "expected a name or a mapping"))?,
                None,
            ),
        };
        match defined.get(&source).map(|d| &d.source) {
            None => {
                return Err(cx.err(
                    &here,
                    format!("secret `{source}` is not defined in the top-level `secrets:`; define it there (file: or environment:)"),
                ))
            }
            Some(FileSource::External) => {
                return Err(cx.err(
                    &here,
                    format!("secret `{source}` is external: external ones live in Swarm; give it a `file` or `environment`"),
                ))
            }
            Some(FileSource::Environment(var)) if cx.env.is_some_and(|e| !e.contains_key(var)) => {
                return Err(cx.err(
                    &here,
                    format!("secret `{source}` is read from the variable {var}, which is not set: set it in .env or the environment"),
                ))
            }
            Some(_) => {}
        }
        out.push(BuildSecret {
            id: target.unwrap_or_else(|| source.clone()),
            source,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> IndexMap<String, FileDef> {
        IndexMap::from([
            (
                "token".to_string(),
                FileDef {
                    name: "token".into(),
                    source: FileSource::File("/p/token.txt".into()),
                },
            ),
            (
                "api_key".to_string(),
                FileDef {
                    name: "api_key".into(),
                    source: FileSource::Environment("API_KEY".into()),
                },
            ),
        ])
    }

    fn build(v: Value) -> (Result<Option<Build>, ProjectError>, Vec<String>) {
        let env = IndexMap::from([
            ("FROM_ENV".to_string(), "e".to_string()),
            ("API_KEY".to_string(), "k".to_string()),
        ]);
        let mut cx = Ctx::new("f", None);
        cx.env = Some(&env);
        let b = parse_build(Some(&v), "web", &defs(), &mut cx);
        (b, cx.notes)
    }

    #[test]
    fn a_path_is_the_context_with_the_default_dockerfile() {
        let b = build(json!("/p/web")).0.unwrap().unwrap();
        assert_eq!(
            (b.context, b.dockerfile.as_str()),
            (PathBuf::from("/p/web"), "Dockerfile")
        );
        assert!(build(Value::Null).0.unwrap().is_none());
    }

    #[test]
    fn the_long_syntax_reads_every_build_key() {
        let (b, notes) = build(json!({
            "context": "/p/web", "dockerfile": "Dev.Dockerfile", "target": "dev",
            "args": ["A=1", "FROM_ENV", "UNSET"], "ssh": ["default", "gh=/run/gh.sock"],
            "labels": {"team": "pose"}, "cache_from": ["type=local,src=/c", "app:cache"],
            "cache_to": ["type=inline"], "no_cache": true, "no_cache_filter": "deps",
            "additional_contexts": {"base": "/p/base"}, "network": "host", "pull": "yes",
            "shm_size": "256m", "extra_hosts": ["db=10.0.0.2"], "secrets": ["token", {"source": "api_key", "target": "key"}],
            "tags": ["pose:dev"], "ulimits": {"nofile": 1024}, "platforms": ["linux/amd64"],
            "privileged": false, "entitlements": ["network.host"], "provenance": false,
            "sbom": "false", "isolation": "process"
        }));
        let b = b.unwrap().unwrap();
        assert_eq!(b.dockerfile, "Dev.Dockerfile");
        assert_eq!(b.target.as_deref(), Some("dev"));
        assert_eq!(b.args["A"], "1");
        assert_eq!(b.args["FROM_ENV"], "e", "a bare KEY takes the variable");
        assert!(
            !b.args.contains_key("UNSET"),
            "an unset bare KEY is left out"
        );
        assert_eq!(
            b.ssh[0],
            SshAgent {
                id: "default".into(),
                paths: vec![]
            }
        );
        assert_eq!(b.ssh[1].paths, ["/run/gh.sock"]);
        assert_eq!(b.labels["team"], "pose");
        assert_eq!(b.cache_from[0].kind, "local");
        assert_eq!(b.cache_from[0].attrs["src"], "/c");
        assert_eq!(b.cache_from[1].kind, "registry");
        assert_eq!(b.cache_from[1].attrs["ref"], "app:cache");
        assert_eq!(b.cache_to[0].kind, "inline");
        assert!(b.no_cache && b.pull && !b.privileged);
        assert_eq!(b.no_cache_filter, ["deps"]);
        assert_eq!(b.additional_contexts["base"], "/p/base");
        assert_eq!(b.network.as_deref(), Some("host"));
        assert_eq!(b.shm_size, Some(256 << 20));
        assert_eq!(b.extra_hosts, ["db:10.0.0.2"]);
        assert_eq!(
            b.secrets,
            [
                BuildSecret {
                    id: "token".into(),
                    source: "token".into()
                },
                BuildSecret {
                    id: "key".into(),
                    source: "api_key".into()
                }
            ]
        );
        assert_eq!(b.tags, ["pose:dev"]);
        assert_eq!((b.ulimits[0].soft, b.ulimits[0].hard), (1024, 1024));
        assert_eq!(b.platforms, ["linux/amd64"]);
        assert_eq!(b.provenance.as_deref(), Some("false"));
        assert_eq!(
            notes,
            ["services.web.build: key `isolation` (process) is not acted on by devstack: it is for Windows engines"]
        );
        let b = build(json!({})).0.unwrap().unwrap();
        assert_eq!(b.context, PathBuf::from("."));
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_closest_one() {
        let e = build(json!({"context": ".", "cache-from": ["x"]}))
            .0
            .unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.build.cache-from: `cache-from` is not a Compose key here: did you mean `cache_from`?"
        );
        let e = build(json!({"secret": ["token"]})).0.unwrap_err();
        assert!(e.0.contains("did you mean `secrets`?"), "{e}");
        // Extensions are fine.
        build(json!({"x-note": 1})).0.unwrap();
    }

    #[test]
    fn secrets_must_be_defined_and_set() {
        let e = build(json!({"secrets": ["nope"]})).0.unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.build.secrets[0]: secret `nope` is not defined in the top-level `secrets:`; define it there (file: or environment:)"
        );
        let e = build(json!({"secrets": [{"target": "x"}]})).0.unwrap_err();
        assert!(e.0.contains("`source` is required"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = build(json!({"ssh": ["gh"]})).0.unwrap_err();
        assert!(
            e.0.contains("services.web.build.ssh: ssh `gh` has no path"),
            "{e}"
        );
        let e = build(json!({"cache_from": ["mode=max"]})).0.unwrap_err();
        assert!(
            e.0.contains("services.web.build.cache_from: \"mode=max\": no `type=`"),
            "{e}"
        );
        let e = build(json!({"dockerfile": "D", "dockerfile_inline": "FROM x"}))
            .0
            .unwrap_err();
        assert!(e.0.contains("mutually exclusive"), "{e}");
        let e = build(json!({"entitlements": ["root"]})).0.unwrap_err();
        assert!(e.0.contains("unknown entitlement \"root\""), "{e}");
        let e = build(json!({"no_cache": "maybe"})).0.unwrap_err();
        assert!(e.0.contains("services.web.build.no_cache"), "{e}");
    }

    #[test]
    fn anything_else_is_an_error_at_its_path() {
        let e = build(json!(5)).0.unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.build: expected a path or a mapping with `context:`"
        );
        let e = build(json!({"args": {"A": [1]}})).0.unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.build.args.A: expected a string, number or boolean"
        );
    }

    #[test]
    fn cache_entries_read_as_buildx_reads_them() {
        let c = CacheEntry::parse("type=local,dest=/tmp/c,mode=max").unwrap();
        assert_eq!(c.kind, "local");
        assert_eq!(c.attrs["dest"], "/tmp/c");
        assert_eq!(c.attrs["mode"], "max");
        let c = CacheEntry::parse("ref=reg/app:cache").unwrap();
        assert_eq!(c.kind, "registry");
        assert!(CacheEntry::parse("type=local,oops").is_err());
    }
}
