//! The supervisor's state file (`.devstack/supervisor.json`): what `ps`, `down` and the next
//! `up` read, so a killed supervisor leaves nothing they cannot find.

use crate::project::paths::Paths;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// The supervisor's pid (also its process group), when one runs in the background.
    pub pid: Option<i32>,
    /// Hash of the configuration it supervises; `up -d` keeps a supervisor whose hash matches.
    pub config_hash: String,
    pub host: BTreeMap<String, HostState>,
    pub autoheal: BTreeMap<String, HealState>,
}

/// Where a host process is, as the state file and the control socket say it (the same
/// lowercase words as before the type existed, so older files still read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostPhase {
    /// Not started yet: waits for its dependencies (and the executor's start).
    #[default]
    Waiting,
    /// Spawned; an older supervisor wrote it for a process whose health was not known yet.
    Starting,
    Running,
    /// Exited; restarting after a backoff.
    Backoff,
    /// Exited and its policy does not restart it.
    Exited,
    /// Could not be spawned.
    Failed,
    Stopped,
    Disabled,
}

impl HostPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            HostPhase::Waiting => "waiting",
            HostPhase::Starting => "starting",
            HostPhase::Running => "running",
            HostPhase::Backoff => "backoff",
            HostPhase::Exited => "exited",
            HostPhase::Failed => "failed",
            HostPhase::Stopped => "stopped",
            HostPhase::Disabled => "disabled",
        }
    }

    /// Up, or about to be again: what a supervisor that goes away leaves to be stopped.
    pub fn is_up(self) -> bool {
        matches!(
            self,
            HostPhase::Running | HostPhase::Backoff | HostPhase::Waiting
        )
    }
}

impl std::fmt::Display for HostPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostState {
    pub state: HostPhase,
    /// The command's pid.
    pub pid: Option<i32>,
    /// The process group to kill on `down`: its relay's pid (the relay leads the group and
    /// runs the command in it; see `relay.rs`).
    pub pgid: Option<i32>,
    /// When the relay started (clock ticks since boot): with `pgid`, which process it is, so
    /// a reused pid is never adopted or signalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid_start: Option<u64>,
    /// When the command started (ticks), for the same reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// Hash of its configuration: a new supervisor adopts it only when that is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    pub restarts: u32,
    pub started_at: Option<String>,
    pub last_exit: Option<i32>,
    pub health: Option<String>,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HealState {
    pub restarts: u32,
    pub recreated: bool,
    pub last_reason: Option<String>,
    pub last_action_at: Option<String>,
    pub crash_looping: bool,
    pub last_exit_code: Option<i64>,
    pub oom_killed: bool,
}

impl HostState {
    /// Whether its relay (and so the command) still runs: the recorded group leader, alive
    /// and started when recorded.
    pub fn group_alive(&self) -> bool {
        self.pgid
            .is_some_and(|g| super::process::same_process(g, self.pgid_start))
    }

    /// Whether the command itself still runs.
    pub fn command_alive(&self) -> bool {
        self.pid
            .is_some_and(|p| super::process::same_process(p, self.pid_start))
    }

    /// Its state as `ps`, `graph` and `dash` show it: what the file says when a supervisor
    /// keeps it true; without one, what the processes say (a dead or zombie pid is not
    /// running; "unsupervised" only while it really runs).
    pub fn shown_state(&self, supervised: bool) -> String {
        let was_up = self.state.is_up();
        match self.state {
            HostPhase::Disabled => format!(
                "disabled: {}",
                self.disabled_reason.clone().unwrap_or_default()
            ),
            HostPhase::Running if !self.command_alive() => {
                if supervised {
                    "exited".into()
                } else {
                    "exited (no supervisor)".into()
                }
            }
            _ if was_up && !supervised && self.command_alive() => "running (unsupervised)".into(),
            _ if was_up && !supervised => "stopped (no supervisor)".into(),
            s => s.to_string(),
        }
    }
}

impl State {
    pub fn load(paths: &Paths) -> State {
        crate::project::paths::read_json_or_default(&paths.state_file())
    }

    /// Written to a temp file and renamed, so readers never see half a file.
    pub fn save(&self, paths: &Paths) -> std::io::Result<()> {
        crate::project::paths::write_json_atomically(&paths.state_file(), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_keep_their_words_on_disk() {
        for (phase, word) in [
            (HostPhase::Waiting, "waiting"),
            (HostPhase::Starting, "starting"),
            (HostPhase::Running, "running"),
            (HostPhase::Backoff, "backoff"),
            (HostPhase::Exited, "exited"),
            (HostPhase::Failed, "failed"),
            (HostPhase::Stopped, "stopped"),
            (HostPhase::Disabled, "disabled"),
        ] {
            assert_eq!(
                serde_json::to_string(&phase).unwrap(),
                format!("\"{word}\"")
            );
            assert_eq!(phase.to_string(), word);
        }
        // A file an older devstack wrote reads as it did.
        let old = r#"{"state":"backoff","pid":null,"pgid":null,"restarts":2,
            "started_at":null,"last_exit":1,"health":null,"disabled_reason":null}"#;
        let h: HostState = serde_json::from_str(old).unwrap();
        assert_eq!(
            (h.state, h.restarts, h.last_exit),
            (HostPhase::Backoff, 2, Some(1))
        );
    }

    fn host(state: HostPhase, pid: Option<i32>) -> HostState {
        HostState {
            state,
            pid,
            pid_start: pid.and_then(crate::supervisor::process::start_time),
            ..Default::default()
        }
    }

    #[test]
    fn shown_state_believes_the_processes_over_the_file() {
        let me = Some(std::process::id() as i32);
        // A dead pid: the file's "running" is not true.
        let dead = Some(i32::MAX - 1);
        assert_eq!(host(HostPhase::Running, dead).shown_state(true), "exited");
        assert_eq!(
            host(HostPhase::Running, dead).shown_state(false),
            "exited (no supervisor)"
        );
        assert_eq!(host(HostPhase::Running, me).shown_state(true), "running");
        // Unsupervised only while it really runs.
        assert_eq!(
            host(HostPhase::Running, me).shown_state(false),
            "running (unsupervised)"
        );
        assert_eq!(
            host(HostPhase::Backoff, None).shown_state(false),
            "stopped (no supervisor)"
        );
        assert_eq!(host(HostPhase::Exited, None).shown_state(false), "exited");
        let off = HostState {
            state: HostPhase::Disabled,
            disabled_reason: Some("no camera".into()),
            ..Default::default()
        };
        assert_eq!(off.shown_state(true), "disabled: no camera");
    }
}
