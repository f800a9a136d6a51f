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
    pub pid: Option<i32>,
    /// The process group to kill on `down` (== pid: each host process leads its own group).
    pub pgid: Option<i32>,
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

impl State {
    pub fn load(paths: &Paths) -> State {
        crate::project::paths::read_json_or_default(&paths.state_file())
    }

    /// Written to a temp file and renamed, so readers never see half a file.
    pub fn save(&self, paths: &Paths) -> std::io::Result<()> {
        crate::project::paths::write_json_atomically(&paths.state_file(), self)
    }
}
