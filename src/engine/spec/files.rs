//! Secrets and configs in the container. A file read as it is (no `uid`, `gid` or `mode`) is
//! bind-mounted read-only, as Compose does; one read from a variable, written inline
//! (`content`), or given an owner or mode is copied in before the container starts, with
//! that owner and mode (0444 unless set). Compose ignores `uid`/`gid`/`mode` for files;
//! devstack honours them by copying.

use crate::project::model::{FileDef, FileKind, FileMount, FileSource, Service};
use crate::project::Project;

/// A file placed in a container before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub target: String,
    pub content: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// The top-level definition a service's secret or config refers to.
pub fn def<'p>(project: &'p Project, f: &FileMount) -> &'p FileDef {
    let defs = match f.kind {
        FileKind::Secret => &project.model.secrets,
        FileKind::Config => &project.model.configs,
    };
    &defs[&f.source]
}

fn is_bound(project: &Project, f: &FileMount) -> bool {
    matches!(def(project, f).source, FileSource::File(_))
        && f.uid.is_none()
        && f.gid.is_none()
        && f.mode.is_none()
}

/// The secrets and configs bind-mounted from their files.
pub fn bound<'s>(project: &'s Project, svc: &'s Service) -> impl Iterator<Item = &'s FileMount> {
    svc.files.iter().filter(move |f| is_bound(project, f))
}

/// The secrets and configs copied in, with their content read now: a missing file or an
/// unset variable is an error that names the service, the secret and the fix.
pub fn injections(project: &Project, svc: &Service) -> Result<Vec<Injection>, String> {
    let mut out = Vec::new();
    for f in svc.files.iter().filter(|f| !is_bound(project, f)) {
        let what = format!("{} `{}` of service {}", f.kind.noun(), f.source, svc.name);
        let content = match &def(project, f).source {
            FileSource::File(path) => std::fs::read(path)
                .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?,
            FileSource::Environment(var) => project
                .env
                .get(var)
                .ok_or_else(|| format!("{what} is read from the variable {var}, which is not set: set it in .env or the environment"))?
                .clone()
                .into_bytes(),
            FileSource::Content(c) => c.clone().into_bytes(),
            FileSource::External => return Err(format!("{what} is external (Swarm's)")),
        };
        let id = |v: &Option<String>, which: &str| -> Result<u64, String> {
            v.as_deref().map_or(Ok(0), |s| {
                s.parse()
                    .map_err(|_| format!("{what}: {which} {s:?} is not a number"))
            })
        };
        out.push(Injection {
            target: f.target.clone(),
            content,
            mode: f.mode.unwrap_or(0o444),
            uid: id(&f.uid, "uid")?,
            gid: id(&f.gid, "gid")?,
        });
    }
    Ok(out)
}

/// One tar holding the injections at their paths (the engine's archive endpoint unpacks it
/// at `/`).
pub fn tar(files: &[Injection]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(f.content.len() as u64);
        h.set_mode(f.mode);
        h.set_uid(f.uid);
        h.set_gid(f.gid);
        h.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(
            &mut h,
            f.target.trim_start_matches('/'),
            f.content.as_slice(),
        )?;
    }
    b.into_inner()
}
