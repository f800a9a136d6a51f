//! A BuildKit session: `POST /session` upgraded to HTTP/2, on which devstack serves what the
//! engine's BuildKit asks the client for during a build (as the docker CLI and buildx do):
//! the health check, local directories (`filesync`), secrets, and SSH agents. The build's
//! `SolveRequest` names the session by its id. Secrets are held in memory only.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;

use bollard::health::health_server::{Health, HealthServer};
use bollard::health::{
    health_check_response::ServingStatus, HealthCheckRequest, HealthCheckResponse,
    HealthListRequest, HealthListResponse,
};
use bollard::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard::moby::filesync::packet::file_sync_server::FileSyncServer;
use bollard::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard::moby::sshforward::v1::{BytesMessage, CheckAgentRequest, CheckAgentResponse};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::dial::{self, DialError, Target};
use super::filesync::LocalDirs;

/// Messages up to BuildKit's own limit (16 MiB).
const MAX_MESSAGE: usize = 16 << 20;

/// What a session offers.
pub struct Offer {
    /// Directories by the name BuildKit asks for (`context`, `dockerfile`, named contexts).
    pub dirs: HashMap<String, PathBuf>,
    /// Secret values by id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// SSH agent sockets by id.
    pub ssh: HashMap<String, PathBuf>,
}

/// A running session; dropping it ends it.
pub struct Session {
    pub id: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A random id as BuildKit's `identity.NewID` makes them (25 base-36 characters).
pub fn new_id() -> String {
    use std::fmt::Write;
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    let mut n = u128::from_le_bytes(bytes);
    let mut s = String::new();
    for _ in 0..25 {
        let d = (n % 36) as u32;
        n /= 36;
        let _ = write!(s, "{}", char::from_digit(d, 36).unwrap_or('0'));
    }
    s
}

/// The methods devstack serves, announced in the upgrade's headers (the engine calls only
/// what is announced).
fn methods(offer: &Offer) -> Vec<&'static str> {
    let mut m = vec![
        "/grpc.health.v1.Health/Check",
        "/moby.filesync.v1.FileSync/DiffCopy",
        "/moby.filesync.v1.FileSync/TarStream",
    ];
    if !offer.secrets.is_empty() {
        m.push("/moby.buildkit.secrets.v1.Secrets/GetSecret");
    }
    if !offer.ssh.is_empty() {
        m.push("/moby.sshforward.v1.SSH/CheckAgent");
        m.push("/moby.sshforward.v1.SSH/ForwardAgent");
    }
    m
}

/// Opens the session on the engine and serves it until dropped. `shared_key` lets the engine
/// reuse what it received for the same directories in an earlier session.
pub async fn start(target: &Target, shared_key: &str, offer: Offer) -> Result<Session, DialError> {
    let id = new_id();
    let mut headers = vec![
        ("X-Docker-Expose-Session-Uuid", id.clone()),
        ("X-Docker-Expose-Session-Name", "devstack".to_string()),
        ("X-Docker-Expose-Session-Sharedkey", shared_key.to_string()),
    ];
    for m in methods(&offer) {
        headers.push(("X-Docker-Expose-Session-Grpc-Method", m.to_string()));
    }
    let io = dial::upgrade(target, "/session", &headers).await?;
    let files = FileSyncServer::new(LocalDirs { dirs: offer.dirs })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let secrets = SecretsServer::new(SecretStore(offer.secrets));
    let ssh = SshServer::new(Agents(offer.ssh))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let router = tonic::transport::Server::builder()
        .add_service(HealthServer::new(Healthy))
        .add_service(files)
        .add_service(secrets)
        .add_service(ssh);
    let task = tokio::spawn(async move {
        let incoming = futures_util::stream::iter([Ok::<_, std::io::Error>(io)]);
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::debug!("BuildKit session ended: {e}");
        }
    });
    Ok(Session { id, task })
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

/// Build secrets, in memory for the build's length.
struct SecretStore(HashMap<String, Vec<u8>>);

#[tonic::async_trait]
impl Secrets for SecretStore {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match self.0.get(id) {
            Some(data) => Ok(Response::new(GetSecretResponse { data: data.clone() })),
            // NotFound is what lets `required=false` mounts go without it.
            None => Err(Status::not_found(format!(
                "secret {id} is not among the service's build.secrets"
            ))),
        }
    }
}

/// SSH agent sockets by id; BuildKit names the one it wants in `buildkit.ssh.id`.
struct Agents(HashMap<String, PathBuf>);

impl Agents {
    fn socket(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { "default" } else { id };
        self.0.get(id).ok_or_else(|| {
            Status::not_found(format!("ssh {id} is not among the service's build.ssh"))
        })
    }
}

#[tonic::async_trait]
impl Ssh for Agents {
    async fn check_agent(
        &self,
        request: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket(&request.get_ref().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = ReceiverStream<Result<BytesMessage, Status>>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request
            .metadata()
            .get("buildkit.ssh.id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("default")
            .to_string();
        let path = self.socket(&id)?.clone();
        let sock = tokio::net::UnixStream::connect(&path)
            .await
            .map_err(|e| Status::unavailable(format!("ssh agent {}: {e}", path.display())))?;
        let (mut rd, mut wr) = sock.into_split();
        let mut incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(Ok(m)) = incoming.next().await {
                if wr.write_all(&m.data).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let m = BytesMessage {
                            data: buf[..n].to_vec(),
                        };
                        if tx.send(Ok(m)).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_buildkits() {
        let a = new_id();
        assert_eq!(a.len(), 25);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, new_id());
    }
}
