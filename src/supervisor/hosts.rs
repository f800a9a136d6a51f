//! How the executor reaches host processes: in process (attached `up`, the supervisor's own
//! auto-heal and engine watch) or over the project's control socket (`up -d`, `restart`, `down`,
//! talking to the background supervisor or to an attached `up` in another terminal). Either
//! way the same four operations: start, wait until ready, stop, restart.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::host::{HostAction, Readiness};
use super::{Controls, HostError};
use crate::project::paths::Paths;

#[derive(Clone)]
pub enum Hosts {
    Local(Controls),
    Socket(Paths),
    /// No supervisor runs (or `--no-host`): host processes cannot be reached.
    Absent(String),
}

/// One request on the control socket (a JSON line), answered by one [`Reply`] line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Start {
        name: String,
    },
    Restart {
        name: String,
    },
    Stop {
        name: String,
    },
    WaitReady {
        name: String,
        timeout_ms: u64,
    },
    /// A container service was found ready (auto-heal looks after it from then on).
    Ready {
        name: String,
    },
    /// Stream every event of the supervisor, one JSON line each, until the client leaves.
    Events,
    Ping,
}

/// Whether a request line asks for the event stream.
pub fn wants_events(line: &str) -> bool {
    matches!(serde_json::from_str::<Request>(line), Ok(Request::Events))
}

/// The supervisor's events from the project's control socket (`devstack dash` beside an
/// `up -d` or an attached `up`); `None` when no supervisor answers.
pub async fn subscribe(paths: &Paths) -> Option<tokio::sync::mpsc::Receiver<super::SupEvent>> {
    let stream = tokio::net::UnixStream::connect(paths.socket()).await.ok()?;
    let (read, mut write) = stream.into_split();
    let line = serde_json::to_string(&Request::Events).ok()?;
    write.write_all(format!("{line}\n").as_bytes()).await.ok()?;
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        let _keep = write;
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if let Ok(ev) = serde_json::from_str(&l) {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
    });
    Some(rx)
}

/// What a request did, as the socket says it (snake_case words on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Started,
    AlreadyRunning,
    Disabled,
    Healthy,
    Running,
    Completed,
    Stopped,
    Noted,
    Pong,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Reply {
    fn ok(result: Outcome) -> Reply {
        Reply {
            result: Some(result),
            ..Default::default()
        }
    }

    fn error(e: String) -> Reply {
        Reply {
            error: Some(e),
            ..Default::default()
        }
    }
}

/// The supervisor's side of the socket.
pub async fn answer(controls: &Controls, line: &str) -> String {
    let reply = match serde_json::from_str::<Request>(line) {
        Ok(Request::Start { name }) => action_reply(controls.start(&name).await),
        Ok(Request::Restart { name }) => action_reply(controls.restart(&name).await),
        Ok(Request::Stop { name }) => match controls.stop(&name).await {
            Ok(()) => Reply::ok(Outcome::Stopped),
            Err(e) => Reply::error(e.to_string()),
        },
        Ok(Request::WaitReady { name, timeout_ms }) => {
            let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
            match controls.wait_ready(&name, deadline).await {
                Ok(r) => Reply::ok(r.outcome()),
                Err(e) => Reply::error(e.to_string()),
            }
        }
        Ok(Request::Ready { name }) => {
            controls.mark_ready(&name);
            Reply::ok(Outcome::Noted)
        }
        Ok(Request::Ping) | Ok(Request::Events) | Err(_) => Reply {
            pid: Some(std::process::id()),
            ..Reply::ok(Outcome::Pong)
        },
    };
    serde_json::to_string(&reply).unwrap_or_default()
}

fn action_reply(r: Result<HostAction, HostError>) -> Reply {
    match r {
        Ok(HostAction::Started) => Reply::ok(Outcome::Started),
        Ok(HostAction::AlreadyRunning) => Reply::ok(Outcome::AlreadyRunning),
        Ok(HostAction::Disabled(why)) => Reply {
            detail: Some(why),
            ..Reply::ok(Outcome::Disabled)
        },
        Err(e) => Reply::error(e.to_string()),
    }
}

fn action_of(reply: Reply) -> Result<HostAction, HostError> {
    if let Some(e) = reply.error {
        return Err(HostError::Remote(e));
    }
    match reply.result {
        Some(Outcome::Started) => Ok(HostAction::Started),
        Some(Outcome::AlreadyRunning) => Ok(HostAction::AlreadyRunning),
        Some(Outcome::Disabled) => Ok(HostAction::Disabled(reply.detail.unwrap_or_default())),
        other => Err(HostError::BadAnswer(format!("{other:?}"))),
    }
}

fn readiness_of(reply: Reply) -> Result<Readiness, HostError> {
    if let Some(e) = reply.error {
        return Err(HostError::Remote(e));
    }
    match reply.result {
        Some(Outcome::Healthy) => Ok(Readiness::Healthy),
        Some(Outcome::Running) => Ok(Readiness::Running),
        Some(Outcome::Completed) => Ok(Readiness::Completed),
        Some(Outcome::Disabled) => Ok(Readiness::Disabled),
        other => Err(HostError::BadAnswer(format!("{other:?}"))),
    }
}

impl Hosts {
    async fn call(paths: &Paths, req: &Request) -> Result<Reply, HostError> {
        let sock = paths.socket();
        let stream = tokio::net::UnixStream::connect(&sock).await.map_err(|_| {
            HostError::NoSupervisor(
                "no supervisor runs for this project (start one with `devstack up -d` or `devstack up`)"
                    .into(),
            )
        })?;
        let (read, mut write) = stream.into_split();
        let line = serde_json::to_string(req).map_err(|e| HostError::BadAnswer(e.to_string()))?;
        let gone = |e: std::io::Error| HostError::Gone(e.to_string());
        write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(gone)?;
        let mut answer = String::new();
        BufReader::new(read)
            .read_line(&mut answer)
            .await
            .map_err(gone)?;
        if answer.trim().is_empty() {
            return Err(HostError::NoAnswer);
        }
        serde_json::from_str(answer.trim()).map_err(|e| HostError::BadAnswer(e.to_string()))
    }

    /// Starts it unless it runs; returns once it has been spawned.
    pub async fn start(&self, name: &str) -> Result<HostAction, HostError> {
        match self {
            Hosts::Local(c) => c.start(name).await,
            Hosts::Socket(p) => action_of(
                Self::call(
                    p,
                    &Request::Start {
                        name: name.to_string(),
                    },
                )
                .await?,
            ),
            Hosts::Absent(why) => Err(HostError::NoSupervisor(why.clone())),
        }
    }

    pub async fn restart(&self, name: &str) -> Result<HostAction, HostError> {
        match self {
            Hosts::Local(c) => c.restart(name).await,
            Hosts::Socket(p) => action_of(
                Self::call(
                    p,
                    &Request::Restart {
                        name: name.to_string(),
                    },
                )
                .await?,
            ),
            Hosts::Absent(why) => Err(HostError::NoSupervisor(why.clone())),
        }
    }

    /// Stops it; nothing to do when no supervisor runs (its orphans are cleaned by `down`).
    pub async fn stop(&self, name: &str) -> Result<(), HostError> {
        match self {
            Hosts::Local(c) => c.stop(name).await,
            Hosts::Socket(p) => {
                let r = Self::call(
                    p,
                    &Request::Stop {
                        name: name.to_string(),
                    },
                )
                .await?;
                r.error.map_or(Ok(()), |e| Err(HostError::Remote(e)))
            }
            Hosts::Absent(_) => Ok(()),
        }
    }

    /// Tells the supervisor that the container service `name` is ready: `up` trusts its own
    /// probe, which may say so before the engine's first health check, and a service that
    /// breaks in between must still be healed. Without a supervisor there is no one to tell.
    pub async fn container_ready(&self, name: &str) {
        match self {
            Hosts::Local(c) => c.mark_ready(name),
            Hosts::Socket(p) => {
                let req = Request::Ready {
                    name: name.to_string(),
                };
                if let Err(e) = Self::call(p, &req).await {
                    tracing::debug!("telling the supervisor {name} is ready: {e}");
                }
            }
            Hosts::Absent(_) => {}
        }
    }

    /// Waits until it is ready (healthy with a healthcheck, else running).
    pub async fn wait_ready(
        &self,
        name: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Readiness, HostError> {
        match self {
            Hosts::Local(c) => c.wait_ready(name, deadline).await,
            Hosts::Socket(p) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let r = Self::call(
                    p,
                    &Request::WaitReady {
                        name: name.to_string(),
                        timeout_ms: left.as_millis() as u64,
                    },
                )
                .await?;
                readiness_of(r)
            }
            Hosts::Absent(why) => Err(HostError::NoSupervisor(why.clone())),
        }
    }
}
