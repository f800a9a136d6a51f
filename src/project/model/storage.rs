//! Storage: a service's `volumes:` (short `SOURCE:TARGET[:OPTIONS]` as compose-go's
//! `format.ParseVolume` reads it, and the long syntax with its `bind`, `volume`, `tmpfs` and
//! `image` options), `tmpfs:`, `volumes_from:` and `volume_driver:`.

use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::values::{
    boolean, bytes, check_keys, integer, scalar, string_map_or_empty, strings, text,
};
use super::{ComposeModel, Ctx};
use crate::errors::ProjectError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
    Image,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Volume key (named volume), absolute host path (bind), image reference, or None
    /// (anonymous volume, tmpfs).
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub consistency: Option<String>,
    pub bind: Option<BindOptions>,
    pub volume: Option<VolumeOptions>,
    pub tmpfs: Option<TmpfsOptions>,
    /// `image.subpath` of an image mount.
    pub image_subpath: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BindOptions {
    pub propagation: Option<String>,
    /// Create the host path when it is missing (the short syntax's and Compose's default).
    pub create_host_path: bool,
    /// `z` or `Z`.
    pub selinux: Option<String>,
    /// `enabled`, `disabled`, `writable` or `readonly`.
    pub recursive: Option<String>,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            propagation: None,
            create_host_path: true,
            selinux: None,
            recursive: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VolumeOptions {
    pub nocopy: bool,
    pub subpath: Option<String>,
    pub labels: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TmpfsOptions {
    pub size: Option<i64>,
    pub mode: Option<u32>,
}

impl Mount {
    pub fn new(kind: MountKind, source: Option<String>, target: String) -> Mount {
        Mount {
            kind,
            source,
            target,
            read_only: false,
            consistency: None,
            bind: None,
            volume: None,
            tmpfs: None,
            image_subpath: None,
        }
    }

    /// Whether the engine's plain `Binds` (`src:dst:rw,…`) can say it all, as Compose decides
    /// (`bindRequiresMountAPI`, `volumeRequiresMountAPI`): else it takes a `Mounts` entry.
    pub fn fits_bind_string(&self) -> bool {
        match self.kind {
            MountKind::Bind => self.bind.as_ref().is_none_or(|b| {
                b.create_host_path && b.propagation.is_none() && b.recursive.is_none()
            }),
            MountKind::Volume => {
                self.source.is_some()
                    && self
                        .volume
                        .as_ref()
                        .is_none_or(|v| v.labels.is_empty() && v.subpath.is_none() && !v.nocopy)
            }
            _ => false,
        }
    }
}

/// A service's storage besides `volumes:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Storage {
    /// `tmpfs:` mount points with their options (`size=64m,mode=1777`).
    pub tmpfs: IndexMap<String, String>,
    /// `service[:ro]` or `container:name[:ro]`.
    pub volumes_from: Vec<String>,
    pub volume_driver: Option<String>,
}

pub(super) fn parse_storage(
    m: &Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<Storage, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let mut tmpfs = IndexMap::new();
    for t in strings(m.get("tmpfs"), &at("tmpfs"), cx)? {
        let (path, opts) = t.split_once(':').unwrap_or((&t, ""));
        if !path.starts_with('/') {
            return Err(cx.bad_value(
                &at("tmpfs"),
                format!("{path:?} is not an absolute path in the container"),
            ));
        }
        tmpfs.insert(path.to_string(), opts.to_string());
    }
    Ok(Storage {
        tmpfs,
        volumes_from: strings(m.get("volumes_from"), &at("volumes_from"), cx)?,
        volume_driver: text(m.get("volume_driver")),
    })
}

pub(super) fn parse_mounts(
    v: &Value,
    at: &str,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<Vec<Mount>, ProjectError> {
    let items = v.as_array().ok_or_else(|| cx.err(at, "expected a list"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let mount = match item {
            Value::Object(o) => long_mount(o, &here, cx)?,
            other => {
                let s = scalar(other)
                    .ok_or_else(|| cx.err(&here, "expected a volume string or mapping"))?;
                short_mount(&s).map_err(|e| cx.bad_value(&here, e))?
            }
        };
        check_source(&mount, &here, model, cx)?;
        out.push(mount);
    }
    Ok(out)
}

const LONG_KEYS: &[&str] = &[
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];

/// The long syntax; the type defaults to a volume.
fn long_mount(o: &Map<String, Value>, at: &str, cx: &Ctx) -> Result<Mount, ProjectError> {
    check_keys(o, LONG_KEYS, at, cx)?;
    let kind = match text(o.get("type")).as_deref() {
        Some("bind") => MountKind::Bind,
        Some("tmpfs") => MountKind::Tmpfs,
        Some("image") => MountKind::Image,
        Some("volume") | None => MountKind::Volume,
        Some(other) => {
            return Err(cx.bad_value(
                &format!("{at}.type"),
                format!("volume type {other:?} is not one Docker on Linux mounts: use volume, bind, tmpfs or image"),
            ))
        }
    };
    let target = text(o.get("target")).ok_or_else(|| cx.err(at, "a volume needs `target`"))?;
    let mut m = Mount::new(kind, text(o.get("source")), clean_target(&target));
    m.read_only = boolean(o.get("read_only"), &format!("{at}.read_only"), cx)?.unwrap_or(false);
    m.consistency = text(o.get("consistency"));
    if let Some(b) = o.get("bind").and_then(Value::as_object) {
        check_keys(
            b,
            &["propagation", "create_host_path", "selinux", "recursive"],
            &format!("{at}.bind"),
            cx,
        )?;
        m.bind = Some(BindOptions {
            propagation: text(b.get("propagation")),
            create_host_path: boolean(
                b.get("create_host_path"),
                &format!("{at}.bind.create_host_path"),
                cx,
            )?
            .unwrap_or(true),
            selinux: text(b.get("selinux")),
            recursive: text(b.get("recursive")),
        });
    }
    if let Some(v) = o.get("volume").and_then(Value::as_object) {
        check_keys(
            v,
            &["nocopy", "subpath", "labels"],
            &format!("{at}.volume"),
            cx,
        )?;
        m.volume = Some(VolumeOptions {
            nocopy: boolean(v.get("nocopy"), &format!("{at}.volume.nocopy"), cx)?.unwrap_or(false),
            subpath: text(v.get("subpath")),
            labels: match v.get("labels") {
                Some(l) if !l.is_null() => {
                    string_map_or_empty(l, &format!("{at}.volume.labels"), cx)?
                }
                _ => IndexMap::new(),
            },
        });
    }
    if let Some(t) = o.get("tmpfs").and_then(Value::as_object) {
        check_keys(t, &["size", "mode"], &format!("{at}.tmpfs"), cx)?;
        m.tmpfs = Some(TmpfsOptions {
            size: bytes(t.get("size"), &format!("{at}.tmpfs.size"), cx)?,
            mode: mode(t.get("mode"), &format!("{at}.tmpfs.mode"), cx)?,
        });
    }
    if let Some(i) = o.get("image").and_then(Value::as_object) {
        m.image_subpath = text(i.get("subpath"));
    }
    Ok(m)
}

/// A file mode: a number (YAML reads `0755` as octal) or an octal string (`"0755"`).
pub(super) fn mode(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<u32>, ProjectError> {
    match v {
        Some(Value::String(s)) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .map(Some)
            .map_err(|_| {
                cx.bad_value(
                    at,
                    format!("{s:?} is not a file mode: write it in octal, e.g. 0440"),
                )
            }),
        other => Ok(integer(other, at, cx)?.map(|n| n as u32)),
    }
}

/// Why a short volume (`SOURCE:TARGET[:OPTIONS]`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume {0:?}: an empty section between colons")]
    EmptySection(String),
    #[error("invalid volume {0:?}: too many colons; use SOURCE:TARGET[:ro]")]
    TooManyColons(String),
    #[error("invalid volume {volume:?}: unknown option {option:?} (use ro, rw, nocopy, z, Z or a propagation mode)")]
    UnknownOption { volume: String, option: String },
}

/// compose-go's `ParseVolume`: `TARGET`, `SOURCE:TARGET`, `SOURCE:TARGET:OPTIONS` (ro, rw,
/// nocopy, z, Z, and bind propagation); a source that starts with `.`, `/` or `~` is a bind
/// mount (its host path is created when missing), any other a named volume.
fn short_mount(s: &str) -> Result<Mount, VolumeError> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(VolumeError::EmptySection(s.into()));
    }
    let (source, target, options) = match parts.as_slice() {
        [t] => (None, t.to_string(), ""),
        [src, t] => (Some(src.to_string()), t.to_string(), ""),
        [src, t, opts] => (Some(src.to_string()), t.to_string(), *opts),
        _ => return Err(VolumeError::TooManyColons(s.into())),
    };
    let is_path = source
        .as_deref()
        .is_some_and(|s| s.starts_with(['.', '/', '~']));
    let kind = if is_path {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    let mut m = Mount::new(kind, source, clean_target(&target));
    if is_path {
        m.bind = Some(BindOptions::default());
    }
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => m.read_only = true,
            "rw" => m.read_only = false,
            "nocopy" => m.volume.get_or_insert_with(Default::default).nocopy = true,
            "z" | "Z" => m.bind.get_or_insert_with(Default::default).selinux = Some(opt.into()),
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                m.bind.get_or_insert_with(Default::default).propagation = Some(opt.into())
            }
            "cached" | "delegated" | "consistent" => m.consistency = Some(opt.into()),
            other => {
                return Err(VolumeError::UnknownOption {
                    volume: s.into(),
                    option: other.into(),
                })
            }
        }
    }
    if m.kind == MountKind::Volume {
        m.bind = None;
    }
    Ok(m)
}

/// A target path cleaned as compose-go cleans it (`/data/` → `/data`).
fn clean_target(t: &str) -> String {
    if t.is_empty() || t == "/" {
        return t.to_string();
    }
    let cleaned = crate::project::normalize::clean(Path::new(t));
    if cleaned.is_empty() {
        t.to_string()
    } else {
        cleaned
    }
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
    match mount.kind {
        MountKind::Bind if mount.source.is_none() => {
            Err(cx.err(at, "a bind mount needs `source`: the host path"))
        }
        MountKind::Bind
            if mount
                .source
                .as_deref()
                .is_some_and(|p| !Path::new(p).is_absolute()) =>
        {
            Err(cx.err(
                at,
                "bind-mount source should have been made absolute; this is a devstack bug",
            ))
        }
        MountKind::Image if mount.source.is_none() => {
            Err(cx.err(at, "an image mount needs `source`: the image"))
        }
        _ => Ok(()),
    }
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
    fn short_syntax_options_as_compose_go_reads_them() {
        let m = mounts(json!([
            "/h:/c/:ro,z,rshared",
            "data:/d:nocopy",
            "/x:/x:cached"
        ]))
        .unwrap();
        let b = m[0].bind.clone().unwrap();
        assert_eq!((m[0].target.as_str(), m[0].read_only), ("/c", true));
        assert_eq!(
            (
                b.selinux.as_deref(),
                b.propagation.as_deref(),
                b.create_host_path
            ),
            (Some("z"), Some("rshared"), true)
        );
        assert!(!m[0].fits_bind_string(), "propagation needs the Mount API");
        assert!(m[1].volume.as_ref().unwrap().nocopy && !m[1].fits_bind_string());
        assert_eq!(m[2].consistency.as_deref(), Some("cached"));
        assert!(mounts(json!(["/a:/b:bogus"]))
            .unwrap_err()
            .0
            .contains("unknown option \"bogus\""));
    }

    #[test]
    fn long_syntax_options() {
        let m = mounts(json!([
            {"type": "bind", "source": "/h", "target": "/c", "bind": {"create_host_path": false, "propagation": "rslave", "selinux": "Z"}},
            {"type": "volume", "source": "data", "target": "/d", "volume": {"nocopy": true, "subpath": "sub"}},
            {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "64m", "mode": 0o1777}},
            {"type": "bind", "source": "/h", "target": "/plain"}
        ])).unwrap();
        assert!(!m[0].bind.as_ref().unwrap().create_host_path);
        assert_eq!(
            m[1].volume.as_ref().unwrap().subpath.as_deref(),
            Some("sub")
        );
        assert_eq!(
            m[2].tmpfs,
            Some(TmpfsOptions {
                size: Some(64 << 20),
                mode: Some(0o1777)
            })
        );
        assert!(m[3].fits_bind_string());
        let e = mounts(
            json!([{"type": "bind", "source": "/h", "target": "/c", "bind": {"propagaton": "x"}}]),
        )
        .unwrap_err();
        assert!(e.0.contains("did you mean `propagation`"), "{e}");
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
            "f: services.db.volumes[0]: named volume `undeclared` is not declared in the top-level `volumes:`; declare it there"
        );
        assert_eq!(
            e(json!(["a:b:c:d"])),
            "f: services.db.volumes[0]: invalid volume \"a:b:c:d\": too many colons; use SOURCE:TARGET[:ro]"
        );
        assert_eq!(
            e(json!([{"type": "npipe", "target": "/t"}])),
            "f: services.db.volumes[0].type: volume type \"npipe\" is not one Docker on Linux mounts: use volume, bind, tmpfs or image"
        );
        assert_eq!(
            e(json!([{"source": "data"}])),
            "f: services.db.volumes[0]: a volume needs `target`"
        );
        assert_eq!(e(json!("x")), "f: services.db.volumes: expected a list");
    }
}
