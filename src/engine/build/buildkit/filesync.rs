//! The session's `FileSync` service: BuildKit asks for a local directory by name (`context`,
//! `dockerfile`, an additional context) with include, exclude and follow patterns, and
//! devstack sends it as fsutil does (`tonistiigi/fsutil` send.go): a `STAT` packet per entry
//! in walk order (ids by position), an empty `STAT` to end the list, then the content of each
//! file the engine asks for (`REQ id` → `DATA` chunks, an empty `DATA`), until `FIN`. The engine
//! keeps the directory from the previous build and asks only for files whose size, mode or
//! modification time changed, so a rebuild after a one-line edit sends one file.

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use bollard::fsutil::types::packet::PacketType;
use bollard::fsutil::types::{Packet, Stat};
use bollard::moby::filesync::packet::file_sync_server::FileSync;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::engine::build::context::{glob_regex, DockerIgnore};

/// fsutil's chunk size for file data.
const CHUNK: usize = 32 * 1024;

/// The directories this session offers, by the names BuildKit asks for.
pub struct LocalDirs {
    pub dirs: HashMap<String, PathBuf>,
}

/// One entry of the walk: its path relative to the root (`/`-separated) and its stat.
struct Entry {
    stat: Stat,
    /// Where the content is read from (a followed symlink's target).
    source: PathBuf,
}

/// The walk's filters, as BuildKit sends them in the request's metadata.
#[derive(Debug, Default)]
pub struct Filter {
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    pub follow: Vec<String>,
}

#[tonic::async_trait]
impl FileSync for LocalDirs {
    type DiffCopyStream = ReceiverStream<Result<Packet, Status>>;
    type TarStreamStream = ReceiverStream<Result<Packet, Status>>;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::DiffCopyStream>, Status> {
        let md = request.metadata();
        let all = |k: &str| -> Vec<String> {
            md.get_all(k)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect()
        };
        let name = all("dir-name").into_iter().next().unwrap_or_default();
        let root = self
            .dirs
            .get(&name)
            .ok_or_else(|| Status::not_found(format!("no access allowed to dir {name:?}")))?
            .clone();
        let filter = Filter {
            includes: all("include-patterns"),
            excludes: all("exclude-patterns"),
            follow: all("followpaths"),
        };
        let entries = tokio::task::spawn_blocking(move || walk(&root, &filter))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("reading {name}: {e}")))?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(send(entries, request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn tar_stream(
        &self,
        _request: Request<Streaming<Packet>>,
    ) -> Result<Response<Self::TarStreamStream>, Status> {
        Err(Status::unimplemented(
            "devstack sends directories with DiffCopy",
        ))
    }
}

fn packet(kind: PacketType, id: u32, stat: Option<Stat>, data: Vec<u8>) -> Packet {
    Packet {
        r#type: kind as i32,
        stat,
        id,
        data,
    }
}

/// The sender's side of the protocol.
async fn send(
    entries: Vec<Entry>,
    mut incoming: Streaming<Packet>,
    tx: mpsc::Sender<Result<Packet, Status>>,
) {
    for (id, e) in entries.iter().enumerate() {
        let p = packet(
            PacketType::PacketStat,
            id as u32,
            Some(e.stat.clone()),
            vec![],
        );
        if tx.send(Ok(p)).await.is_err() {
            return;
        }
    }
    if tx
        .send(Ok(packet(PacketType::PacketStat, 0, None, vec![])))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(p)) = incoming.next().await {
        match PacketType::try_from(p.r#type) {
            Ok(PacketType::PacketReq) => {
                let Some(e) = entries.get(p.id as usize) else {
                    let msg = format!("invalid file id {}", p.id);
                    let _ = tx.send(Err(Status::invalid_argument(msg))).await;
                    return;
                };
                if send_file(p.id, &e.source, &tx).await.is_err() {
                    return;
                }
            }
            Ok(PacketType::PacketFin) => {
                let _ = tx
                    .send(Ok(packet(PacketType::PacketFin, 0, None, vec![])))
                    .await;
                return;
            }
            Ok(PacketType::PacketErr) => {
                let msg = String::from_utf8_lossy(&p.data).into_owned();
                tracing::debug!("BuildKit's receiver failed: {msg}");
                return;
            }
            _ => {}
        }
    }
}

async fn send_file(
    id: u32,
    path: &Path,
    tx: &mpsc::Sender<Result<Packet, Status>>,
) -> Result<(), ()> {
    // A file that vanished since the walk is sent empty, as fsutil does.
    if let Ok(mut f) = tokio::fs::File::open(path).await {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match f.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let p = packet(PacketType::PacketData, id, None, buf[..n].to_vec());
            tx.send(Ok(p)).await.map_err(|_| ())?;
        }
    }
    let end = packet(PacketType::PacketData, id, None, vec![]);
    tx.send(Ok(end)).await.map_err(|_| ())
}

/// The directory's entries in fsutil's walk order (each directory's entries sorted by name,
/// a directory before its contents), filtered as asked.
fn walk(root: &Path, filter: &Filter) -> std::io::Result<Vec<Entry>> {
    let excludes = DockerIgnore::from_patterns(filter.excludes.iter().map(String::as_str));
    let has_exceptions = filter.excludes.iter().any(|p| p.trim().starts_with('!'));
    let mut includes = filter.includes.clone();
    includes.extend(followed_targets(root, &filter.follow));
    let mut out = Vec::new();
    let mut it = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = rel_path(root, entry.path());
        let is_dir = entry.file_type().is_dir();
        if !includes.is_empty() {
            match included(&includes, &rel) {
                Include::No => {
                    if is_dir {
                        it.skip_current_dir();
                    }
                    continue;
                }
                Include::Partly | Include::Fully => {}
            }
        }
        if excludes.excluded(&rel) {
            if is_dir && !has_exceptions {
                it.skip_current_dir();
            }
            if !is_dir || !has_exceptions {
                continue;
            }
        }
        let follow = filter
            .follow
            .iter()
            .any(|f| f.trim_start_matches("./") == rel);
        if let Some(e) = entry_of(entry.path(), &rel, follow)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// The targets of the symlinks among `follow` (the Dockerfile may be one), relative to root.
fn followed_targets(root: &Path, follow: &[String]) -> Vec<String> {
    follow
        .iter()
        .filter_map(|f| {
            let p = root.join(f.trim_start_matches("./"));
            let target = std::fs::canonicalize(&p).ok()?;
            let root = std::fs::canonicalize(root).ok()?;
            let rel = target.strip_prefix(&root).ok()?;
            Some(rel.to_string_lossy().into_owned())
        })
        .collect()
}

enum Include {
    No,
    /// A directory on the way to a pattern.
    Partly,
    Fully,
}

/// fsutil's `matchPrefix`: the path's components against the pattern's, one by one.
fn included(patterns: &[String], rel: &str) -> Include {
    let mut best = Include::No;
    for pat in patterns {
        let pat = pat.trim_start_matches("./");
        let pp: Vec<&str> = pat.split('/').filter(|s| !s.is_empty()).collect();
        let np: Vec<&str> = rel.split('/').collect();
        let mut ok = true;
        for (i, part) in np.iter().enumerate() {
            match pp.get(i) {
                // Under a directory the pattern named in full.
                None => break,
                Some(p) if glob_regex(p).is_some_and(|r| r.is_match(part)) => {}
                Some(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        if np.len() < pp.len() {
            best = Include::Partly;
        } else {
            return Include::Fully;
        }
    }
    best
}

fn rel_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The entry's stat as fsutil writes it: Go's `os.FileMode` bits, uid and gid reset to 0 (as
/// the docker CLI and buildx send them), nanosecond modification time. Sockets, pipes and
/// devices are left out.
fn entry_of(path: &Path, rel: &str, follow: bool) -> std::io::Result<Option<Entry>> {
    let meta = if follow {
        std::fs::metadata(path)?
    } else {
        std::fs::symlink_metadata(path)?
    };
    let ft = meta.file_type();
    if ft.is_socket() || ft.is_fifo() || ft.is_block_device() || ft.is_char_device() {
        return Ok(None);
    }
    let linkname = if ft.is_symlink() {
        std::fs::read_link(path)?.to_string_lossy().into_owned()
    } else {
        String::new()
    };
    let stat = Stat {
        path: rel.to_string(),
        mode: go_mode(&meta),
        uid: 0,
        gid: 0,
        size: if ft.is_file() { meta.len() as i64 } else { 0 },
        mod_time: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        linkname,
        ..Default::default()
    };
    Ok(Some(Entry {
        stat,
        source: path.to_path_buf(),
    }))
}

/// Go's `os.FileMode` of a file: permission bits and Go's own type and special bits.
fn go_mode(meta: &std::fs::Metadata) -> u32 {
    let raw = meta.mode();
    let ft = meta.file_type();
    let mut mode = raw & 0o777;
    for (is, bit) in [
        (ft.is_dir(), 31),
        (ft.is_symlink(), 27),
        (raw & 0o4000 != 0, 23),
        (raw & 0o2000 != 0, 22),
        (raw & 0o1000 != 0, 20),
    ] {
        if is {
            mode |= 1 << bit;
        }
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path, f: &Filter) -> Vec<String> {
        walk(root, f)
            .unwrap()
            .into_iter()
            .map(|e| e.stat.path)
            .collect()
    }

    #[test]
    fn walk_order_is_fsutils_and_filters_apply() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "a.txt",
            "a/b",
            "a/c/d",
            "Dockerfile",
            "node_modules/x",
            ".dockerignore",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        // A directory before its contents, then "a.txt" (after "a/…": components compare).
        assert_eq!(
            names(d.path(), &Filter::default()),
            [
                ".dockerignore",
                "Dockerfile",
                "a",
                "a/b",
                "a/c",
                "a/c/d",
                "a.txt",
                "node_modules",
                "node_modules/x"
            ]
        );
        let f = Filter {
            excludes: vec!["node_modules".into(), "a/c".into()],
            ..Default::default()
        };
        assert_eq!(
            names(d.path(), &f),
            [".dockerignore", "Dockerfile", "a", "a/b", "a.txt"]
        );
        let f = Filter {
            includes: vec!["Dockerfile".into()],
            ..Default::default()
        };
        assert_eq!(names(d.path(), &f), ["Dockerfile"]);
        let f = Filter {
            includes: vec!["a/c".into()],
            ..Default::default()
        };
        assert_eq!(names(d.path(), &f), ["a", "a/c", "a/c/d"]);
        // An exception under an excluded directory keeps the walk going into it.
        let f = Filter {
            excludes: vec!["a".into(), "!a/b".into()],
            ..Default::default()
        };
        assert!(names(d.path(), &f).contains(&"a/b".to_string()));
        assert!(!names(d.path(), &f).contains(&"a/c/d".to_string()));
    }

    #[test]
    fn modes_are_gos() {
        let d = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(d.path()).unwrap();
        assert_ne!(go_mode(&meta) & (1 << 31), 0);
        let f = d.path().join("x");
        std::fs::write(&f, "1").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(go_mode(&std::fs::metadata(&f).unwrap()), 0o755);
    }
}
