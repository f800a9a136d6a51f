//! `DOCKER_HOST=ssh://[user@]host[:port]`, as the docker CLI does it: every connection is an
//! `ssh … docker system dial-stdio` on the engine's machine, whose stdin and stdout are the
//! engine's socket. devstack listens on a private unix socket and bridges each connection the
//! Engine API client opens to one such ssh process; they share one ssh connection
//! (ControlMaster), so only the first pays for the handshake. `ssh` is the system's, so `~/.ssh/config`, keys and the
//! agent apply as they do for `ssh host`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::net::UnixListener;
use tokio::process::{Child, Command};

/// Why an `ssh://` engine cannot be reached through ssh.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{0} is not an ssh:// address")]
    NotSsh(String),
    #[error("{0}: a path after the host is not supported (the engine's socket on that machine is the docker CLI's default there)")]
    Path(String),
    #[error("{0}: unclosed [ in the host")]
    UnclosedBracket(String),
    #[error("{0} names no host")]
    NoHost(String),
    #[error("{url}: port `{port}` is not a number")]
    Port { url: String, port: String },
    #[error("cannot make a socket directory: {0}")]
    SocketDir(std::io::Error),
    #[error("cannot listen on {}: {error}", .socket.display())]
    Listen {
        socket: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot run ssh: {0} (install openssh-client)")]
    Spawn(std::io::Error),
    #[error("ssh started without its pipes")]
    NoPipes,
    /// ssh failed; its last line on stderr.
    #[error("{0}")]
    Said(String),
}

/// A running bridge: the socket the API client connects to, and the last words of ssh.
pub struct Tunnel {
    dir: PathBuf,
    pub socket: PathBuf,
    /// The last stderr line of an ssh that failed (for the connection error).
    last_error: Arc<Mutex<Option<String>>>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Tunnel {
    /// What ssh said when it failed, if it did. The client sees the connection close before
    /// the ssh process is reaped, so this waits for the words a moment.
    pub async fn last_error(&self) -> Option<String> {
        for _ in 0..100 {
            if let Some(said) = self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            {
                return Some(said);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        None
    }
}

/// `ssh://user@host:port` → the ssh arguments before the command (`-l user -p port host`).
pub fn ssh_args(url: &str) -> Result<Vec<String>, SshError> {
    let rest = url
        .strip_prefix("ssh://")
        .ok_or_else(|| SshError::NotSsh(url.into()))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if rest.len() > authority.len() && rest[authority.len()..] != *"/" {
        return Err(SshError::Path(url.into()));
    }
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| SshError::UnclosedBracket(url.into()))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(SshError::NoHost(url.into()));
    }
    let mut args = Vec::new();
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        args.extend(["-l".to_string(), u.to_string()]);
    }
    if let Some(p) = port {
        p.parse::<u16>().map_err(|_| SshError::Port {
            url: url.into(),
            port: p.into(),
        })?;
        args.extend(["-p".to_string(), p.to_string()]);
    }
    args.push("--".into());
    args.push(host.to_string());
    Ok(args)
}

/// ssh sessions kept ready beside the ones in use: the API client opens a connection per
/// request, and a new session (ssh, then the docker CLI on the other side) takes ~0.3 s.
const SPARES: usize = 3;

/// The command a user runs to check the link by hand: `ssh -l me -p 2222 gpu-box docker version`.
pub fn check_command(url: &str) -> String {
    let args = ssh_args(url).unwrap_or_default();
    let shown: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--")
        .collect();
    format!("ssh {} docker version", shown.join(" "))
}

/// Starts the bridge for `url` (an `ssh://` address) on this runtime.
pub fn start(url: &str) -> Result<Tunnel, SshError> {
    let args = ssh_args(url)?;
    let dir = private_dir().map_err(SshError::SocketDir)?;
    let socket = dir.join("docker.sock");
    let listener = UnixListener::bind(&socket).map_err(|error| SshError::Listen {
        socket: socket.clone(),
        error,
    })?;
    let last_error = Arc::new(Mutex::new(None));
    let errors = last_error.clone();
    let control = dir.join("cm").display().to_string();
    // Spares are made as they are taken, so a failing ssh is not retried in a loop.
    let (ready, mut spares) = tokio::sync::mpsc::channel(SPARES - 1);
    tokio::spawn(async move { while ready.send(session(&control, &args)).await.is_ok() {} });
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let Some(child) = spares.recv().await else {
                return;
            };
            let errors = errors.clone();
            tokio::spawn(async move {
                let done = match child {
                    Ok(c) => bridge(conn, c).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = done {
                    *errors.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                }
            });
        }
    });
    Ok(Tunnel {
        dir,
        socket,
        last_error,
    })
}

/// An ssh running `docker system dial-stdio` on the engine's machine. Sessions share one ssh
/// connection (a handshake is ~0.4 s, a session over the shared one ~20 ms), which ends 30 s
/// after the last session.
fn session(control: &str, args: &[String]) -> Result<Child, SshError> {
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-T"])
        .args(["-o", "ControlMaster=auto", "-o", "ControlPersist=30"])
        .arg("-o")
        .arg(format!("ControlPath={control}"))
        .args(args)
        .args(["docker", "system", "dial-stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(SshError::Spawn)
}

/// One connection: the session's stdio copied both ways; what ssh said when it failed.
async fn bridge(conn: tokio::net::UnixStream, mut child: Child) -> Result<(), SshError> {
    let (mut stdin, mut stdout, stderr) =
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => return Err(SshError::NoPipes),
        };
    let (mut from_client, mut to_client) = conn.into_split();
    let upstream = async {
        let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        drop(stdin);
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut to_client).await;
    };
    let said = async {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut last = None;
        while let Ok(Some(l)) = lines.next_line().await {
            if !l.trim().is_empty() {
                last = Some(l);
            }
        }
        last
    };
    let (_, _, last) = tokio::join!(upstream, downstream, said);
    // A line from an ssh that worked ("Permanently added … to the list of known hosts") is
    // not an error.
    match (child.wait().await, last) {
        (Ok(status), Some(line)) if !status.success() => Err(SshError::Said(line)),
        _ => Ok(()),
    }
}

/// A fresh directory only this user can enter, under `$XDG_RUNTIME_DIR` or `/tmp`; ones left
/// by processes that are gone are removed.
fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    remove_stale(&base);
    let pid = std::process::id();
    for n in 0..1000 {
        let dir = base.join(format!("devstack-ssh-{pid}-{n}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name"))
}

fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("devstack-ssh-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ssh_args;

    #[test]
    fn ssh_addresses_become_ssh_arguments() {
        assert_eq!(ssh_args("ssh://gpu-box").unwrap(), vec!["--", "gpu-box"]);
        assert_eq!(
            ssh_args("ssh://me@gpu-box:2222").unwrap(),
            vec!["-l", "me", "-p", "2222", "--", "gpu-box"]
        );
        assert_eq!(
            ssh_args("ssh://root@[::1]:22/").unwrap(),
            vec!["-l", "root", "-p", "22", "--", "::1"]
        );
        assert!(ssh_args("ssh://gpu-box:http").is_err());
        assert!(ssh_args("ssh://").is_err());
        assert!(ssh_args("ssh://gpu-box/var/run/docker.sock").is_err());
        assert!(ssh_args("tcp://gpu-box").is_err());
    }
}
