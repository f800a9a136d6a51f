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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostState {
    /// running, starting, waiting, exited, backoff, stopped, disabled
    pub state: String,
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
        let was_up = matches!(self.state.as_str(), "running" | "backoff" | "waiting");
        match self.state.as_str() {
            "disabled" => format!(
                "disabled: {}",
                self.disabled_reason.clone().unwrap_or_default()
            ),
            "running" if !self.command_alive() => {
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
