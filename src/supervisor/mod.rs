//! Host processes, auto-heal, background mode.

use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::project::ProjectSource;

pub fn pid_file(source: &ProjectSource) -> std::path::PathBuf {
    source.devstack_dir().join("supervisor.pid")
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
}

/// Stops the background supervisor and its process group (host processes included):
/// SIGTERM, then SIGKILL after a grace period. A stale pid file is just removed.
pub async fn stop_background(source: &ProjectSource) -> anyhow::Result<()> {
    let path = pid_file(source);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    };
    if pid > 1 && alive(pid) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while alive(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if alive(pid) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}
