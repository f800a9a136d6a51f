//! The readiness devstack verified itself. `up` and `restart` print "healthy" the moment
//! devstack's own probe passes (the healthcheck's command run in the container), which can be
//! up to one healthcheck interval before the engine's next check says so. Recorded here per
//! container start, so `ps`, `dash` and `top` tell what `up` told, and show the engine's own
//! word beside it until the two agree.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::project::paths::Paths;

/// Containers verified ready, by id: the start they were verified in.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Readiness {
    containers: BTreeMap<String, Verified>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Verified {
    /// The container's `State.StartedAt` when it was verified: a later start is not verified.
    started_at: String,
    /// When devstack verified it (RFC 3339).
    at: String,
}

/// At most this many entries are kept (the newest): a project has far fewer containers.
const KEEP: usize = 512;

/// One writer at a time in this process (services become ready in parallel).
static WRITE: Mutex<()> = Mutex::new(());

fn file(paths: &Paths) -> PathBuf {
    paths.root().join("readiness.json")
}

impl Readiness {
    /// What was recorded for the project (nothing when the file is absent or unreadable).
    pub fn load(paths: &Paths) -> Readiness {
        std::fs::read(file(paths))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Whether devstack verified container `id` ready in the start that began at `started_at`.
    pub fn verified(&self, id: &str, started_at: Option<&str>) -> bool {
        match (self.containers.get(id), started_at) {
            (Some(v), Some(s)) => v.started_at == s,
            _ => false,
        }
    }

    fn insert(&mut self, id: &str, started_at: &str, at: String) {
        self.containers.insert(
            id.to_string(),
            Verified {
                started_at: started_at.to_string(),
                at,
            },
        );
        while self.containers.len() > KEEP {
            let oldest = self
                .containers
                .iter()
                .min_by(|a, b| a.1.at.cmp(&b.1.at))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.containers.remove(&k),
                None => break,
            };
        }
    }
}

/// Records that devstack verified container `id` ready in its start at `started_at`. Best
/// effort: a record that cannot be written only delays the agreement to the engine's check.
pub fn record(paths: &Paths, id: &str, started_at: Option<&str>) {
    let Some(started_at) = started_at else {
        return;
    };
    let _one = WRITE.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = Readiness::load(paths);
    r.insert(id, started_at, chrono::Utc::now().to_rfc3339());
    let path = file(paths);
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    let written = paths
        .ensure_private()
        .and_then(|()| serde_json::to_vec(&r).map_err(std::io::Error::other))
        .and_then(|b| std::fs::write(&tmp, b))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::debug!("cannot record readiness in {}: {e}", path.display());
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Records every state that devstack's wait found healthy (see [`record`]).
pub fn record_healthy(paths: &Paths, states: &[crate::engine::observed::ContainerState]) {
    for st in states
        .iter()
        .filter(|st| st.health.as_deref() == Some("healthy"))
    {
        record(paths, &st.id, st.started_at.as_deref());
    }
}

/// The health to show: the engine's, except that a container the engine still calls
/// `starting` is `healthy` when devstack verified it in this start. An `unhealthy` from the
/// engine is a later check than devstack's, and wins.
pub fn shown_health(engine: Option<&str>, verified: bool) -> Option<String> {
    match engine {
        Some("starting") if verified => Some("healthy".into()),
        other => other.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_start_is_healthy_until_the_engine_says_otherwise() {
        assert_eq!(
            shown_health(Some("starting"), true).as_deref(),
            Some("healthy")
        );
        assert_eq!(
            shown_health(Some("starting"), false).as_deref(),
            Some("starting")
        );
        assert_eq!(
            shown_health(Some("unhealthy"), true).as_deref(),
            Some("unhealthy")
        );
        assert_eq!(
            shown_health(Some("healthy"), false).as_deref(),
            Some("healthy")
        );
        assert_eq!(shown_health(None, true), None);
    }

    #[test]
    fn only_the_start_that_was_verified_counts() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        record(&paths, "abc", Some("2026-12-07T05:00:00.1Z"));
        let r = Readiness::load(&paths);
        assert!(r.verified("abc", Some("2026-12-07T05:00:00.1Z")));
        // Restarted since (auto-heal, the restart policy): not verified any more.
        assert!(!r.verified("abc", Some("2026-12-07T05:01:00.1Z")));
        assert!(!r.verified("other", Some("2026-12-07T05:00:00.1Z")));
        assert!(!r.verified("abc", None));
    }

    #[test]
    fn the_record_keeps_the_newest_entries() {
        let mut r = Readiness::default();
        for i in 0..KEEP + 3 {
            r.insert(&format!("c{i}"), "s", format!("2026-12-07T05:{:05}Z", i));
        }
        assert_eq!(r.containers.len(), KEEP);
        assert!(!r.containers.contains_key("c0"));
        assert!(r.containers.contains_key(&format!("c{}", KEEP + 2)));
    }
}
