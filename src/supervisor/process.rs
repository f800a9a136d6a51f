//! Which process a pid is: alive (a zombie is not), and the same one as recorded (its start
//! time, so a pid the kernel reused for another program is never adopted, signalled or shown
//! as running).

use nix::unistd::Pid;

/// Whether `pid` runs. A zombie (exited, not yet reaped by its parent) does not: signals
/// still reach it, but it will never act on them.
pub fn alive(pid: i32) -> bool {
    if pid <= 1 || nix::sys::signal::kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    stat_fields(pid).is_none_or(|f| f.first().is_none_or(|s| *s != "Z"))
}

/// When `pid` started, in clock ticks since boot (`/proc/PID/stat`, field 22): with the pid,
/// it names one process for the machine's uptime.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Whether `pid` is alive and is the process that started at `start` (when that is known).
pub fn same_process(pid: i32, start: Option<u64>) -> bool {
    alive(pid) && start.is_none_or(|s| start_time(pid) == Some(s))
}

/// The fields of `/proc/PID/stat` after the command name (field 3, the state, first); the
/// name may hold spaces and parentheses, so the split is at the last `)`.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_known_by_pid_and_start_time() {
        let me = std::process::id() as i32;
        let start = start_time(me).expect("own start time");
        assert!(same_process(me, Some(start)));
        assert!(same_process(me, None));
        assert!(!same_process(me, Some(start + 1)));
        assert!(!alive(0) && !alive(1));
    }

    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Not reaped yet: a zombie once it exits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while alive(pid) {
            assert!(std::time::Instant::now() < deadline, "still alive");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok(),
            "a zombie"
        );
        child.wait().unwrap();
    }
}
