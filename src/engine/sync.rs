//! Files into a running container through the engine, as Compose's watch does: every changed
//! file of a batch in one tar, extracted at `/` by the archive endpoint (`PUT
//! /containers/{id}/archive`), and removed ones deleted with one `rm -rf` exec. Both go over
//! the Engine API only, so this works against an engine on another machine too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::models::ExecConfig;
use bollard::query_parameters::UploadToContainerOptionsBuilder;
use futures_util::StreamExt;

use super::Engine;

/// One changed host path and where it goes in the container (absolute).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub host: PathBuf,
    pub container: String,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Files and links copied.
    pub copied: usize,
    /// Directories copied (made in the container).
    pub dirs: usize,
    /// Container paths deleted.
    pub deleted: usize,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("the engine refused the files ({detail}){hint}")]
    Upload { detail: String, hint: String },
    #[error("cannot delete {paths} in the container: {detail}")]
    Delete { paths: String, detail: String },
}

/// The tar a batch sends, and the container paths it deletes.
#[derive(Debug, Default)]
pub struct Batch {
    pub tar: Vec<u8>,
    pub deletes: Vec<String>,
    pub stats: SyncStats,
}

/// Builds the batch: host paths that exist are copied (a directory with everything under it
/// that `keep` accepts), the others are deleted in the container. Entries carry the host
/// file's mode, owner and modification time.
pub fn batch(changes: &[Change], keep: &dyn Fn(&Path) -> bool) -> Result<Batch, SyncError> {
    let mut entries: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut deletes = Vec::new();
    for c in changes {
        match std::fs::symlink_metadata(&c.host) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => deletes.push(c.container.clone()),
            Err(e) => {
                return Err(SyncError::Read {
                    path: c.host.display().to_string(),
                    detail: e.to_string(),
                })
            }
            Ok(meta) if meta.is_dir() => {
                entries.insert(c.container.clone(), c.host.clone());
                for e in walkdir::WalkDir::new(&c.host)
                    .min_depth(1)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| keep(e.path()))
                    .filter_map(Result::ok)
                {
                    let rel = e.path().strip_prefix(&c.host).unwrap_or(e.path());
                    let inside = format!(
                        "{}/{}",
                        c.container.trim_end_matches('/'),
                        rel.to_string_lossy()
                    );
                    entries.insert(inside, e.path().to_path_buf());
                }
            }
            Ok(_) => {
                entries.insert(c.container.clone(), c.host.clone());
            }
        }
    }
    deletes.sort();
    deletes.dedup();
    let mut stats = SyncStats {
        deleted: deletes.len(),
        ..Default::default()
    };
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for (inside, host) in &entries {
        let read_err = |e: std::io::Error| SyncError::Read {
            path: host.display().to_string(),
            detail: e.to_string(),
        };
        let meta = match std::fs::symlink_metadata(host) {
            Ok(m) => m,
            // Gone since it was seen: nothing to copy (its own event deletes it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_err(e)),
        };
        let name = inside.trim_start_matches('/');
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(host).map_err(read_err)?;
            header.set_size(0);
            tar.append_link(&mut header, name, &target)
                .map_err(read_err)?;
        } else if ft.is_dir() {
            header.set_size(0);
            tar.append_data(&mut header, name, std::io::empty())
                .map_err(read_err)?;
            stats.dirs += 1;
            continue;
        } else if ft.is_file() {
            let data = match std::fs::read(host) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(read_err(e)),
            };
            header.set_size(data.len() as u64);
            stats.bytes += data.len() as u64;
            tar.append_data(&mut header, name, data.as_slice())
                .map_err(read_err)?;
        } else {
            // Sockets, fifos, devices: not something to copy into a container.
            continue;
        }
        stats.copied += 1;
    }
    let tar = tar.into_inner().map_err(|e| SyncError::Read {
        path: "the archive".into(),
        detail: e.to_string(),
    })?;
    Ok(Batch {
        tar,
        deletes,
        stats,
    })
}

/// Applies a batch to container `id`: deletions first (one `rm -rf` exec), then one upload.
pub async fn apply(engine: &Engine, id: &str, batch: Batch) -> Result<SyncStats, SyncError> {
    if !batch.deletes.is_empty() {
        let mut cmd = vec!["rm".to_string(), "-rf".to_string(), "--".to_string()];
        cmd.extend(batch.deletes.iter().cloned());
        let paths = batch.deletes.join(", ");
        match exec(engine, id, cmd, None, None, Vec::new(), false).await {
            Ok((0, _)) => {}
            Ok((code, out)) => {
                return Err(SyncError::Delete {
                    paths,
                    detail: format!("rm exited with {code}: {}", out.trim()),
                })
            }
            Err(e) => {
                return Err(SyncError::Delete {
                    paths,
                    detail: super::container::docker_message(&e),
                })
            }
        }
    }
    if batch.stats.copied + batch.stats.dirs > 0 {
        let opts = UploadToContainerOptionsBuilder::default()
            .path("/")
            .copy_uidgid("1")
            .build();
        if let Err(e) = engine
            .docker
            .upload_to_container(id, Some(opts), bollard::body_full(batch.tar.into()))
            .await
        {
            let detail = super::container::docker_message(&e);
            let hint = if detail.contains("read-only") {
                ": the target is on a read-only file system or mount; sync to a writable path"
                    .to_string()
            } else {
                String::new()
            };
            return Err(SyncError::Upload { detail, hint });
        }
    }
    Ok(batch.stats)
}

/// Runs `cmd` in container `id` and waits for it: its exit code and combined output.
pub async fn exec(
    engine: &Engine,
    id: &str,
    cmd: Vec<String>,
    user: Option<String>,
    working_dir: Option<String>,
    env: Vec<String>,
    privileged: bool,
) -> Result<(i64, String), bollard::errors::Error> {
    let config = ExecConfig {
        cmd: Some(cmd),
        user,
        working_dir,
        env: (!env.is_empty()).then_some(env),
        privileged: Some(privileged),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let created = engine.docker.create_exec(id, config).await?;
    let mut text = String::new();
    if let bollard::exec::StartExecResults::Attached { mut output, .. } =
        engine.docker.start_exec(&created.id, None).await?
    {
        while let Some(chunk) = output.next().await {
            if let Ok(c) = chunk {
                if text.len() < 4096 {
                    text.push_str(&String::from_utf8_lossy(&c.into_bytes()));
                }
            }
        }
    }
    // The stream ends with the process; the exit code may trail it by a moment.
    for _ in 0..50 {
        let ins = engine.docker.inspect_exec(&created.id).await?;
        if ins.running != Some(true) {
            return Ok((ins.exit_code.unwrap_or(-1), text));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((-1, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(b: &Batch) -> Vec<String> {
        tar::Archive::new(b.tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn existing_paths_are_copied_and_missing_ones_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.txt"), "hello").unwrap();
        std::fs::create_dir_all(d.join("new/deep")).unwrap();
        std::fs::write(d.join("new/deep/b.txt"), "b").unwrap();
        std::fs::write(d.join("new/skip.tmp"), "x").unwrap();
        let changes = vec![
            Change {
                host: d.join("a.txt"),
                container: "/app/a.txt".into(),
            },
            Change {
                host: d.join("gone.txt"),
                container: "/app/gone.txt".into(),
            },
            Change {
                host: d.join("new"),
                container: "/app/new".into(),
            },
            // Seen twice (the directory's walk and its own event): one entry.
            Change {
                host: d.join("new/deep/b.txt"),
                container: "/app/new/deep/b.txt".into(),
            },
        ];
        let keep = |p: &Path| p.extension().is_none_or(|e| e != "tmp");
        let b = batch(&changes, &keep).unwrap();
        assert_eq!(b.deletes, vec!["/app/gone.txt"]);
        assert_eq!(
            names(&b),
            vec!["app/a.txt", "app/new", "app/new/deep", "app/new/deep/b.txt"]
        );
        assert_eq!(b.stats.copied, 2);
        assert_eq!(b.stats.dirs, 2);
        assert_eq!(b.stats.deleted, 1);
        assert_eq!(b.stats.bytes, 6);
    }

    #[test]
    fn entries_keep_mode_and_mtime() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("run.sh");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        let b = batch(
            &[Change {
                host: f.clone(),
                container: "/x/run.sh".into(),
            }],
            &|_| true,
        )
        .unwrap();
        let mut ar = tar::Archive::new(b.tar.as_slice());
        let e = ar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.header().mode().unwrap() & 0o777, 0o755);
        let mtime = std::fs::metadata(&f)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(e.header().mtime().unwrap(), mtime);
    }
}
