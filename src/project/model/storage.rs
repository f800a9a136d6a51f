//! Storage: a service's `volumes:` (short `SOURCE:TARGET[:MODE]` and long syntax): named
//! volumes (declared at the top level), bind mounts (made absolute by normalisation) and tmpfs.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{read_mapping, scalar, truthy, Key};
use super::{ComposeModel, Ctx};
use crate::errors::ProjectError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Volume key (named volume), absolute host path (bind), or None (anonymous/tmpfs).
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

/// The long syntax of a mount.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMount {
    #[serde(rename = "type")]
    kind: Key,
    source: Key,
    target: Key,
    read_only: Key,
}

pub(super) fn parse_mounts(
    v: &Value,
    at: &str,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<Vec<Mount>, ProjectError> {
    let items = v.as_array().ok_or_else(|| cx.err(at, "expected a list"))?;
    let mut out = Vec::new();
    for item in items {
        let mount = match item {
            Value::Object(_) => long_mount(item, at, cx)?,
            other => {
                let s = scalar(other)
                    .ok_or_else(|| cx.err(at, "expected a volume string or mapping"))?;
                short_mount(&s).map_err(|e| cx.err(at, e))?
            }
        };
        check_source(&mount, at, model, cx)?;
        out.push(mount);
    }
    Ok(out)
}

/// `{type, source, target, read_only}`; the type defaults to a volume.
fn long_mount(item: &Value, at: &str, cx: &Ctx) -> Result<Mount, ProjectError> {
    let raw: RawMount = read_mapping(item).unwrap_or_default();
    let kind = match raw.kind.get().and_then(scalar).as_deref() {
        Some("bind") => MountKind::Bind,
        Some("tmpfs") => MountKind::Tmpfs,
        Some("volume") | None => MountKind::Volume,
        Some(other) => return Err(cx.err(at, format!("volume type {other:?} is not supported"))),
    };
    Ok(Mount {
        kind,
        source: raw.source.get().and_then(scalar),
        target: raw
            .target
            .get()
            .and_then(scalar)
            .ok_or_else(|| cx.err(at, "a volume needs `target`"))?,
        read_only: raw.read_only.get().is_some_and(truthy),
    })
}

/// `TARGET`, `SOURCE:TARGET` or `SOURCE:TARGET:MODE`; a source that is a path is a bind mount.
fn short_mount(s: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, t.to_string(), ""),
        [src, t] => (Some(src.to_string()), t.to_string(), ""),
        [src, t, mode] => (Some(src.to_string()), t.to_string(), *mode),
        _ => return Err(format!("invalid volume {s:?}: use SOURCE:TARGET[:ro]")),
    };
    let kind = match &source {
        Some(src) if src.starts_with('/') || src.starts_with('.') || src.starts_with('~') => {
            MountKind::Bind
        }
        _ => MountKind::Volume,
    };
    Ok(Mount {
        kind,
        source,
        target,
        read_only: mode.split(',').any(|m| m == "ro"),
    })
}

/// A named volume is declared at the top level; a bind source was made absolute.
fn check_source(
    mount: &Mount,
    at: &str,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<(), ProjectError> {
    if mount.kind == MountKind::Volume {
        if let Some(src) = &mount.source {
            if !model.volumes.contains_key(src) {
                // `data/x` is a path meant relative (a volume name cannot hold `/`): Compose
                // reads a source without `.`, `/` or `~` in front as a volume's name.
                let msg = if src.contains('/') {
                    format!("`{src}` is read as a named volume, not a path: a relative path starts with ./ (./{src})")
                } else {
                    format!("named volume `{src}` is not declared in the top-level `volumes:`; declare it there")
                };
                return Err(cx.bad_value(at, msg));
            }
        }
    }
    if mount.kind == MountKind::Bind
        && mount
            .source
            .as_deref()
            .is_some_and(|p| !Path::new(p).is_absolute())
    {
        return Err(cx.err(
            at,
            "bind-mount source should have been made absolute; this is a devstack bug",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model_with_volume(name: &str) -> ComposeModel {
        let mut m = ComposeModel::default();
        m.volumes.insert(name.into(), Default::default());
        m
    }

    fn mounts(v: Value) -> Result<Vec<Mount>, ProjectError> {
        parse_mounts(
            &v,
            "services.db.volumes",
            &model_with_volume("data"),
            &Ctx::new("f", None),
        )
    }

    #[test]
    fn short_syntax_tells_binds_from_volumes() {
        let m = mounts(json!([
            "data:/var/lib/db",
            "/srv/conf:/etc/conf:ro,z",
            "/cache"
        ]))
        .unwrap();
        assert_eq!(
            (m[0].kind.clone(), m[0].source.as_deref(), m[0].read_only),
            (MountKind::Volume, Some("data"), false)
        );
        assert_eq!(
            (m[1].kind.clone(), m[1].target.as_str(), m[1].read_only),
            (MountKind::Bind, "/etc/conf", true)
        );
        assert_eq!(
            (m[2].kind.clone(), &m[2].source),
            (MountKind::Volume, &None)
        );
    }

    #[test]
    fn long_syntax_reads_type_source_target() {
        let m = mounts(json!([
            {"type": "tmpfs", "target": "/tmp"},
            {"type": "bind", "source": "/srv", "target": "/srv", "read_only": true},
            {"source": "data", "target": "/d"}
        ]))
        .unwrap();
        assert_eq!(m[0].kind, MountKind::Tmpfs);
        assert!(m[1].read_only && m[1].kind == MountKind::Bind);
        assert_eq!(m[2].kind, MountKind::Volume);
    }

    #[test]
    fn mistakes_are_named() {
        let e = |v| mounts(v).unwrap_err().0;
        assert_eq!(
            e(json!(["undeclared:/d"])),
            "f: services.db.volumes: named volume `undeclared` is not declared in the top-level `volumes:`; declare it there"
        );
        assert_eq!(
            e(json!(["a:b:c:d"])),
            "f: services.db.volumes: invalid volume \"a:b:c:d\": use SOURCE:TARGET[:ro]"
        );
        assert_eq!(
            e(json!([{"type": "npipe", "target": "/t"}])),
            "f: services.db.volumes: volume type \"npipe\" is not supported"
        );
        assert_eq!(
            e(json!([{"source": "data"}])),
            "f: services.db.volumes: a volume needs `target`"
        );
        assert_eq!(e(json!("x")), "f: services.db.volumes: expected a list");
    }
}
