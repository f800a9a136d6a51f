//! The relay: a small process between the supervisor and a host process, so the host process
//! does not depend on the supervisor staying alive. The supervisor starts it (`devstack
//! supervise --relay-log LOG --status FILE -- COMMAND…`) as the leader of a new process group;
//! it starts COMMAND in that group with its output on pipes that only the relay holds, writes
//! each line to LOG with a timestamp (as the supervisor did), and records COMMAND's pid and,
//! at the end, its exit code in FILE. A supervisor that is killed takes nothing with it: the
//! command keeps writing, the relay keeps logging, and the next supervisor adopts the group
//! (pid and start time) and reads the exit code from FILE when it ends.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SigHandler, Signal};
use serde::{Deserialize, Serialize};

use super::logfile::LogFile;

/// A line longer than this is written in pieces (a program that never prints a newline
/// must not grow the relay without bound).
const LONGEST_LINE: usize = 64 * 1024;
/// After the command exits, how long its pipes may still deliver output (a grandchild that
/// kept them open does not hold the relay).
const DRAIN: Duration = Duration::from_secs(1);

/// What the relay records for the supervisor (`.devstack/run/<name>.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStatus {
    pub relay_pid: i32,
    /// The command's pid.
    pub pid: Option<i32>,
    pub started_at: Option<String>,
    /// Its exit code (128 + the signal that killed it), once it has ended.
    pub exit_code: Option<i32>,
    /// Why it could not be started.
    pub error: Option<String>,
}

impl RelayStatus {
    pub fn read(path: &Path) -> Option<RelayStatus> {
        let s: RelayStatus = crate::project::paths::read_json_or_default(path);
        (s.relay_pid != 0).then_some(s)
    }

    fn write(&self, path: &Path) {
        let _ = crate::project::paths::write_json_atomically(path, self);
    }
}

/// The exit code the shell would show: the code, or 128 + the signal.
pub fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

extern "C" fn ignore(_: i32) {}

/// The relay process's main: runs `command` until it ends; returns its exit code (127 when
/// it cannot be started, as a shell says).
pub fn run(log: &Path, status: &Path, command: &[String]) -> i32 {
    // SIGTERM/SIGINT/SIGHUP to the group reach the command, which decides; the relay stays
    // to log its last lines. A handler (not SIG_IGN) is reset by exec, so the command gets
    // the default dispositions.
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler does nothing, which is async-signal-safe.
        unsafe {
            let _ = signal::signal(sig, SigHandler::Handler(ignore));
        }
    }
    relay(log, status, command)
}

fn relay(log: &Path, status: &Path, command: &[String]) -> i32 {
    let relay_pid = std::process::id() as i32;
    let mut st = RelayStatus {
        relay_pid,
        ..Default::default()
    };
    let mut file = match LogFile::open(log) {
        Ok(f) => f,
        Err(e) => {
            st.error = Some(format!("cannot open {}: {e}", log.display()));
            st.exit_code = Some(127);
            st.write(status);
            return 127;
        }
    };
    let Some((program, args)) = command.split_first() else {
        st.error = Some("no command to run".into());
        st.exit_code = Some(127);
        st.write(status);
        return 127;
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The command goes when its relay goes (killed on its own): its output would have no
    // reader, and the supervisor restarts the two together.
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("cannot start `{}`: {e}", command.join(" "));
            let _ = file.write_line("stderr", &msg);
            st.error = Some(msg);
            st.exit_code = Some(127);
            st.write(status);
            return 127;
        }
    };
    st.pid = Some(child.id() as i32);
    st.started_at = Some(chrono::Utc::now().to_rfc3339());
    st.write(status);
    let code = relay_output(&mut child, &mut file);
    st.exit_code = Some(code);
    st.write(status);
    code
}

enum Msg {
    Line(&'static str, String),
    Closed,
    Exited(i32),
}

/// Writes the command's lines to the log until it has exited and its pipes are done (or
/// [`DRAIN`] has passed since it exited); returns its exit code.
fn relay_output(child: &mut std::process::Child, file: &mut LogFile) -> i32 {
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut open = 0;
    let pipes: [(&'static str, Option<Box<dyn Read + Send>>); 2] = [
        ("stdout", child.stdout.take().map(|p| Box::new(p) as _)),
        ("stderr", child.stderr.take().map(|p| Box::new(p) as _)),
    ];
    for (stream, pipe) in pipes {
        let Some(pipe) = pipe else { continue };
        open += 1;
        let tx = tx.clone();
        std::thread::spawn(move || {
            read_lines(pipe, |l| tx.send(Msg::Line(stream, l)).is_ok());
            let _ = tx.send(Msg::Closed);
        });
    }
    let pid = child.id();
    std::thread::spawn(move || {
        // waitpid on our own child: the relay's only job besides the lines.
        let st = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        let code = match st {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
            _ => -1,
        };
        let _ = tx.send(Msg::Exited(code));
    });
    let mut exited: Option<(i32, Instant)> = None;
    loop {
        let msg = match exited {
            Some((_, at)) => match rx.recv_timeout(DRAIN.saturating_sub(at.elapsed())) {
                Ok(m) => m,
                Err(_) => break,
            },
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            },
        };
        match msg {
            Msg::Line(stream, l) => {
                let _ = file.write_line(stream, &l);
            }
            Msg::Closed => open -= 1,
            Msg::Exited(code) => exited = Some((code, Instant::now())),
        }
        if open == 0 && exited.is_some() {
            break;
        }
    }
    exited.map_or(-1, |(c, _)| c)
}

/// Calls `line` with each line of `r` (lossy UTF-8, without its newline; pieces of at most
/// [`LONGEST_LINE`] bytes) until EOF or `line` returns false.
fn read_lines(r: impl Read, mut line: impl FnMut(String) -> bool) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        let (done, used) = match r.fill_buf() {
            Ok([]) | Err(_) => {
                if !buf.is_empty() {
                    line(String::from_utf8_lossy(&buf).into_owned());
                }
                return;
            }
            Ok(avail) => {
                let room = LONGEST_LINE - buf.len();
                match avail.iter().position(|&b| b == b'\n') {
                    Some(i) if i <= room => {
                        buf.extend_from_slice(&avail[..i]);
                        (true, i + 1)
                    }
                    _ => {
                        let take = avail.len().min(room);
                        buf.extend_from_slice(&avail[..take]);
                        (buf.len() >= LONGEST_LINE, take)
                    }
                }
            }
        };
        r.consume(used);
        if done {
            let text = String::from_utf8_lossy(&buf);
            if !line(text.trim_end_matches('\r').to_string()) {
                return;
            }
            buf.clear();
        }
    }
}

/// The devstack binary to run a relay with: this one, or, when it was replaced on disk while
/// the supervisor runs (`cargo install`, a package upgrade), the new one at the same path.
pub fn devstack_exe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if exe.exists() {
        return Ok(exe);
    }
    let shown = exe.to_string_lossy();
    match shown.strip_suffix(" (deleted)") {
        Some(path) if Path::new(path).exists() => Ok(PathBuf::from(path)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{shown} is gone"),
        )),
    }
}

/// Where a host process's relay records its pid and exit (see [`RelayStatus`]).
pub fn status_file(paths: &crate::project::paths::Paths, name: &str) -> PathBuf {
    paths.root().join("run").join(format!("{name}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_at_newlines_and_at_the_length_limit() {
        let mut input = b"one\r\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', LONGEST_LINE + 10));
        input.extend(b"\n\xffend");
        let mut got = Vec::new();
        read_lines(&input[..], |l| {
            got.push(l);
            true
        });
        assert_eq!(got[0], "one");
        assert_eq!(got[1], "two");
        assert_eq!(got[2].len(), LONGEST_LINE);
        assert_eq!(got[3], "x".repeat(10));
        assert_eq!(got[4], "\u{fffd}end");
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn the_relay_logs_the_output_and_records_pid_and_exit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/x.log");
        let status = dir.path().join("run/x.json");
        let cmd: Vec<String> = ["sh", "-c", "echo out; echo err >&2; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(relay(&log, &status, &cmd), 3);
        let lines: Vec<(String, String)> = super::super::logfile::read_lines(&log)
            .into_iter()
            .map(|(_, s, t)| (s, t))
            .collect();
        assert!(
            lines.contains(&("stdout".into(), "out".into())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&("stderr".into(), "err".into())),
            "{lines:?}"
        );
        let st = RelayStatus::read(&status).unwrap();
        assert_eq!(st.relay_pid, std::process::id() as i32);
        assert_eq!(st.exit_code, Some(3));
        assert!(st.pid.is_some() && st.error.is_none());
        let missing = vec!["/no/such/program".to_string()];
        assert_eq!(relay(&log, &status, &missing), 127);
        let st = RelayStatus::read(&status).unwrap();
        assert!(st
            .error
            .unwrap()
            .contains("cannot start `/no/such/program`"));
    }
}
