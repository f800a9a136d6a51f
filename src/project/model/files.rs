//! Secrets and configs: the top-level definitions (`file`, `environment`, `content`) and a
//! service's references to them (`target`, `uid`, `gid`, `mode`). A secret is placed at
//! `/run/secrets/NAME` unless its target says otherwise; a config at `/NAME`.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::storage::mode;
use super::values::{boolean, check_keys, scalar, text};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Secret,
    Config,
}

impl FileKind {
    pub fn noun(self) -> &'static str {
        match self {
            FileKind::Secret => "secret",
            FileKind::Config => "config",
        }
    }

    fn section(self) -> &'static str {
        match self {
            FileKind::Secret => "secrets",
            FileKind::Config => "configs",
        }
    }
}

/// Where a secret's or config's content comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileSource {
    /// A file on this machine (absolute).
    File(PathBuf),
    /// A variable of `.env` or the shell, read when the container is made.
    Environment(String),
    Content(String),
    /// Swarm's: refused when a service uses it (Compose cannot create it).
    External,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileDef {
    pub name: String,
    pub source: FileSource,
}

/// A service's use of a secret or config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileMount {
    pub kind: FileKind,
    /// The key in the top-level section.
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub mode: Option<u32>,
}

/// Top-level `secrets:` or `configs:`.
pub(super) fn parse_defs(
    v: Option<&Value>,
    kind: FileKind,
    cx: &Ctx,
) -> Result<IndexMap<String, FileDef>, ProjectError> {
    let mut out = IndexMap::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let section = kind.section();
    let m = v
        .as_object()
        .ok_or_else(|| cx.err(section, "expected a mapping of names"))?;
    for (key, def) in m {
        let at = format!("{section}.{key}");
        let d = def.as_object().ok_or_else(|| {
            cx.err(
                &at,
                "expected a mapping with `file`, `environment` or `content`",
            )
        })?;
        check_keys(
            d,
            &[
                "name",
                "file",
                "environment",
                "content",
                "external",
                "labels",
                "driver",
                "driver_opts",
                "template_driver",
            ],
            &at,
            cx,
        )?;
        for unsupported in ["driver", "template_driver"] {
            if d.contains_key(unsupported) {
                return Err(cx.err(
                    &format!("{at}.{unsupported}"),
                    format!("`{unsupported}` is for Swarm; Compose (and devstack) use `file`, `environment` or `content`"),
                ));
            }
        }
        let external = boolean(d.get("external"), &format!("{at}.external"), cx)?.unwrap_or(false);
        let source = match (
            text(d.get("file")),
            text(d.get("environment")),
            d.get("content"),
        ) {
            (None, None, None) if external => FileSource::External,
            (Some(f), None, None) => FileSource::File(PathBuf::from(f)),
            (None, Some(e), None) => FileSource::Environment(e),
            (None, None, Some(c)) => FileSource::Content(scalar(c).unwrap_or_default()),
            _ => {
                return Err(cx.err(
                    &at,
                    format!(
                        "a {} takes exactly one of `file`, `environment` or `content`",
                        kind.noun()
                    ),
                ))
            }
        };
        out.insert(
            key.clone(),
            FileDef {
                name: text(d.get("name")).unwrap_or_else(|| key.clone()),
                source,
            },
        );
    }
    Ok(out)
}

/// A service's `secrets:` or `configs:`: names, or `{source, target, uid, gid, mode}`; each
/// must be defined at the top level.
pub(super) fn parse_mounts(
    m: &Map<String, Value>,
    kind: FileKind,
    service: &str,
    defined: &IndexMap<String, FileDef>,
    cx: &Ctx,
) -> Result<Vec<FileMount>, ProjectError> {
    let section = kind.section();
    let at = format!("services.{service}.{section}");
    let Some(items) = m.get(section).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = items
        .as_array()
        .ok_or_else(|| cx.err(&at, "expected a list"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let (source, target, uid, gid, mode) = match item {
            Value::Object(o) => {
                check_keys(o, &["source", "target", "uid", "gid", "mode"], &here, cx)?;
                (
                    text(o.get("source")).ok_or_else(|| cx.err(&here, "`source` is required"))?,
                    text(o.get("target")),
                    text(o.get("uid")),
                    text(o.get("gid")),
                    mode(o.get("mode"), &format!("{here}.mode"), cx)?,
                )
            }
            other => (
                scalar(other).ok_or_else(|| cx.err(&here, "expected a name or a mapping"))?,
                None,
                None,
                None,
                None,
            ),
        };
        match defined.get(&source).map(|d| &d.source) {
            None => {
                return Err(cx.err(
                    &here,
                    format!("{} `{source}` is not defined in the top-level `{section}:`; define it there", kind.noun()),
                ))
            }
            Some(FileSource::External) => {
                return Err(cx.err(
                    &here,
                    format!("{} `{source}` is external: external ones live in Swarm, which Compose does not use; give it a `file`, `environment` or `content`", kind.noun()),
                ))
            }
            Some(FileSource::Environment(var)) if cx.env.is_some_and(|e| !e.contains_key(var)) => {
                return Err(cx.err(
                    &here,
                    format!("{} `{source}` is read from the variable {var}, which is not set: set it in .env or the environment", kind.noun()),
                ))
            }
            Some(_) => {}
        }
        out.push(FileMount {
            kind,
            target: target_path(kind, &source, target.as_deref()),
            source,
            uid,
            gid,
            mode,
        });
    }
    Ok(out)
}

/// Compose's rule: a secret without a target is `/run/secrets/NAME`, a relative target is
/// under `/run/secrets/`; a config without a target is `/NAME`.
fn target_path(kind: FileKind, source: &str, target: Option<&str>) -> String {
    let base = match kind {
        FileKind::Secret => "/run/secrets/",
        FileKind::Config => "/",
    };
    match target {
        None | Some("") => format!("{base}{source}"),
        Some(t) if t.starts_with('/') => t.to_string(),
        Some(t) => format!("{base}{t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn definitions_and_references() {
        let cx = Ctx::new("f", None);
        let defs = parse_defs(
            Some(&json!({"token": {"environment": "TOKEN"}, "cert": {"file": "/p/cert.pem"}, "conf": {"content": "a=1"}})),
            FileKind::Secret,
            &cx,
        )
        .unwrap();
        assert_eq!(
            defs["token"].source,
            FileSource::Environment("TOKEN".into())
        );
        assert_eq!(defs["cert"].source, FileSource::File("/p/cert.pem".into()));
        let svc = json!({"secrets": ["token", {"source": "cert", "target": "tls.pem", "uid": "1000", "mode": 0o400}, {"source": "conf", "target": "/etc/c"}]});
        let m = parse_mounts(
            svc.as_object().unwrap(),
            FileKind::Secret,
            "web",
            &defs,
            &cx,
        )
        .unwrap();
        assert_eq!(m[0].target, "/run/secrets/token");
        assert_eq!(
            (m[1].target.as_str(), m[1].uid.as_deref(), m[1].mode),
            ("/run/secrets/tls.pem", Some("1000"), Some(0o400))
        );
        assert_eq!(m[2].target, "/etc/c");
        assert_eq!(target_path(FileKind::Config, "app", None), "/app");
    }

    #[test]
    fn mistakes_are_named() {
        let cx = Ctx::new("f", None);
        let e = parse_defs(
            Some(&json!({"s": {"file": "/a", "content": "b"}})),
            FileKind::Secret,
            &cx,
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "f: secrets.s: a secret takes exactly one of `file`, `environment` or `content`"
        );
        let defs = parse_defs(
            Some(&json!({"s": {"external": true}})),
            FileKind::Secret,
            &cx,
        )
        .unwrap();
        let svc = json!({"secrets": ["s"]});
        let e = parse_mounts(
            svc.as_object().unwrap(),
            FileKind::Secret,
            "web",
            &defs,
            &cx,
        )
        .unwrap_err();
        assert!(e.0.contains("secret `s` is external"), "{e}");
        let svc = json!({"configs": ["missing"]});
        let e = parse_mounts(
            svc.as_object().unwrap(),
            FileKind::Config,
            "web",
            &IndexMap::new(),
            &cx,
        )
        .unwrap_err();
        assert_eq!(e.0, "f: services.web.configs[0]: config `missing` is not defined in the top-level `configs:`; define it there");
    }
}
