//! The file watcher: one inotify watch (the `notify` crate) over every rule's path, its events
//! on a channel, and the dispatch of each changed path to the services whose rules take it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::routing::{Pending, Watched};
use super::WatchError;
use crate::ui::color;

/// A running watcher and its events; the watch ends when this is dropped.
pub(crate) struct FileWatcher {
    _watcher: RecommendedWatcher,
    events: UnboundedReceiver<notify::Result<notify::Event>>,
}

impl FileWatcher {
    /// Watches [`roots`] of `watched`.
    pub fn start(watched: &[Watched]) -> Result<FileWatcher, WatchError> {
        let (tx, events) = unbounded_channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(move |res| {
            let _ = tx.send(res);
        })
        .map_err(WatchError::WatcherStart)?;
        for (root, mode) in roots(watched) {
            watcher
                .watch(&root, mode)
                .map_err(|source| WatchError::Watch { root, source })?;
        }
        Ok(FileWatcher {
            _watcher: watcher,
            events,
        })
    }

    /// Sends every changed path to the workers of the services whose rules take it; returns
    /// when the watcher stops.
    pub async fn dispatch(
        mut self,
        watched: &[Watched],
        senders: &HashMap<String, UnboundedSender<Pending>>,
    ) {
        while let Some(res) = self.events.recv().await {
            let ev = match res {
                Ok(ev) => ev,
                Err(e) => {
                    crate::ui::attached::say(&format!(
                        "{} file watcher: {e}",
                        color::warn("note:")
                    ));
                    continue;
                }
            };
            if !relevant(&ev.kind) {
                continue;
            }
            for path in &ev.paths {
                for w in watched {
                    for p in w.route(path) {
                        let _ = senders[&w.name].send(p);
                    }
                }
            }
        }
    }
}

/// Creations, writes, removals and renames; reads and opens are not changes.
fn relevant(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// What the watcher watches: each rule's directory recursively, the directory of a rule that
/// names one file (editors replace files by renaming, which a watch on the file itself
/// loses); nothing twice.
fn roots(watched: &[Watched]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut recursive: BTreeSet<PathBuf> = BTreeSet::new();
    let mut flat: BTreeSet<PathBuf> = BTreeSet::new();
    for w in watched {
        for r in &w.rules {
            let p = &r.rule.path;
            if p.is_dir() {
                recursive.insert(p.clone());
            } else if let Some(parent) = p.parent() {
                flat.insert(existing_dir(parent));
            }
        }
    }
    let rec: Vec<PathBuf> = recursive.iter().cloned().collect();
    let covered = |p: &Path, strict_under: bool| {
        rec.iter()
            .any(|r| p.starts_with(r) && (!strict_under || p != r.as_path()))
    };
    let mut out: Vec<(PathBuf, RecursiveMode)> = recursive
        .iter()
        .filter(|p| !covered(p, true))
        .map(|p| (p.clone(), RecursiveMode::Recursive))
        .collect();
    out.extend(
        flat.into_iter()
            .filter(|p| !covered(p, false))
            .map(|p| (p, RecursiveMode::NonRecursive)),
    );
    out
}

/// A file's directory, or for a path that does not exist yet, its nearest existing ancestor.
fn existing_dir(parent: &Path) -> PathBuf {
    let mut dir = parent.to_path_buf();
    while !dir.is_dir() {
        match dir.parent() {
            Some(up) => dir = up.to_path_buf(),
            None => break,
        }
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::watch::routing::tests::{rule, site};
    use crate::project::watch::WatchAction;

    #[test]
    fn roots_watch_directories_once_and_files_through_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/f"), "").unwrap();
        std::fs::write(d.join("Dockerfile"), "").unwrap();
        let mut w = site();
        w.rules = vec![
            rule(
                WatchAction::Sync,
                d.join("a").to_str().unwrap(),
                Some("/a"),
                &[],
                &[],
            ),
            rule(
                WatchAction::Sync,
                d.join("a/b").to_str().unwrap(),
                Some("/b"),
                &[],
                &[],
            ),
            rule(
                WatchAction::Rebuild,
                d.join("a/b/f").to_str().unwrap(),
                None,
                &[],
                &[],
            ),
            rule(
                WatchAction::Rebuild,
                d.join("Dockerfile").to_str().unwrap(),
                None,
                &[],
                &[],
            ),
            // Not there yet: watched through the nearest directory that is.
            rule(
                WatchAction::Rebuild,
                d.join("later/deeper/x").to_str().unwrap(),
                None,
                &[],
                &[],
            ),
        ];
        let r = roots(&[w]);
        assert_eq!(
            r,
            vec![
                (d.join("a"), RecursiveMode::Recursive),
                (d.to_path_buf(), RecursiveMode::NonRecursive),
            ]
        );
    }

    #[test]
    fn reads_are_not_changes_but_a_write_close_is() {
        use notify::event::{AccessKind, AccessMode, CreateKind};
        assert!(!relevant(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!relevant(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(relevant(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(relevant(&EventKind::Create(CreateKind::File)));
    }
}
