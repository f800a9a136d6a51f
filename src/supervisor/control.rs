//! The control socket (`.devstack/supervisor.sock`): how `up -d`, `restart`, `stop`, `down`
//! and `dash` reach the project's supervisor. Only the user may command it: the socket is
//! 0600 inside the 0700 `.devstack/`, and every connection's peer is checked (SO_PEERCRED):
//! a request from another uid is refused and logged, whatever the file modes became.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;

use super::{hosts, Controls, SupEvent};
use crate::project::paths::Paths;

/// Binds the project's control socket, replacing a stale one: the user's alone (0600, in the
/// private `.devstack/`).
pub fn bind(paths: &Paths) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    paths.ensure_private()?;
    let sock = paths.socket();
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Why a connection is refused, when it is: its peer is not this process's user.
pub fn refusal(stream: &UnixStream) -> Option<String> {
    let me = nix::unistd::geteuid().as_raw();
    match stream.peer_cred() {
        Ok(c) if c.uid() == me => None,
        Ok(c) => Some(format!(
            "refused a request from uid {} (pid {}): only uid {me}, who runs this supervisor, \
             may command it",
            c.uid(),
            c.pid().map_or("?".to_string(), |p| p.to_string())
        )),
        Err(e) => Some(format!(
            "refused a request whose sender cannot be told ({e}): only uid {me} may command \
             this supervisor"
        )),
    }
}

/// Answers the control socket, one JSON request per connection (see [`hosts::Request`]);
/// anything else is a ping, answered with the pid.
pub async fn serve(listener: UnixListener, controls: Controls) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if let Some(why) = refusal(&stream) {
            // Logged (the background supervisor's log; an attached `up`'s terminal).
            if let Some(events) = &controls.events {
                let _ = events.send(SupEvent::Note("supervisor".into(), why.clone()));
            }
            tokio::spawn(async move {
                // Its request is read (a little of it, briefly) before the answer, so the
                // client is not cut off mid-write and reads why.
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, 64 * 1024));
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    reader.read_line(&mut line),
                )
                .await;
                let reply = serde_json::json!({ "error": why });
                let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
            });
            continue;
        }
        let controls = controls.clone();
        tokio::spawn(answer(stream, controls));
    }
}

/// One connection: a request line, then its answer (or, for a subscriber, the event stream).
async fn answer(stream: UnixStream, controls: Controls) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    // One request line; a client that sends megabytes without a newline is cut off.
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(read, 1024 * 1024));
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    if let Some(mut events) = hosts::wants_events(line.trim())
        .then(|| controls.subscribe())
        .flatten()
    {
        // A subscriber (`devstack dash`): every event as a JSON line until it leaves.
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Ok(json) = serde_json::to_string(&ev) else {
                continue;
            };
            if write
                .write_all(format!("{json}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let reply = hosts::answer(&controls, line.trim()).await;
    let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
}
