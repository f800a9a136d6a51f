//! Raw connections to the engine for BuildKit. `POST /session` and `POST /grpc` answer
//! `101 Switching Protocols` and become HTTP/2 (h2c) streams: on the first the engine calls
//! devstack's session services, on the second devstack calls the engine's BuildKit controller.
//! bollard's client does not hand such streams out, so devstack opens its own connection to
//! the same endpoint (unix socket, the ssh bridge's socket, TCP, or TCP with TLS).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::engine::Engine;

/// Where the engine listens.
#[derive(Debug, Clone)]
pub enum Target {
    Unix(PathBuf),
    Tcp(String),
    Tls {
        addr: String,
        host: String,
        certs: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The engine is reached over something BuildKit's session cannot ride (ssh:// without
    /// a tunnel, a named pipe).
    #[error("no BuildKit session over {0}")]
    NoSession(String),
    #[error("cannot connect to the engine at {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS to the engine: {0}")]
    Tls(String),
    /// The engine answered, but not with an upgrade: no BuildKit behind this endpoint.
    #[error("POST {path} answered {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
    #[error("the engine's answer to POST {0} was cut short: {1}")]
    Io(String, std::io::Error),
}

impl Target {
    pub fn of(engine: &Engine) -> Result<Target, DialError> {
        if let Some(sock) = engine.tunnel_socket() {
            return Ok(Target::Unix(sock));
        }
        let host = engine.host.as_str();
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let addr = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("https://"))
            .or_else(|| host.strip_prefix("http://"))
            .ok_or_else(|| DialError::NoSession(host.to_string()))?
            .trim_end_matches('/')
            .to_string();
        let ep = crate::engine::endpoint();
        match ep.tls_dir.filter(|_| ep.host == engine.host) {
            Some(certs) => Ok(Target::Tls {
                host: addr
                    .rsplit_once(':')
                    .map_or(addr.as_str(), |(h, _)| h)
                    .trim_matches(['[', ']'])
                    .to_string(),
                addr,
                certs,
            }),
            None => Ok(Target::Tcp(addr)),
        }
    }

    fn name(&self) -> String {
        match self {
            Target::Unix(p) => format!("unix://{}", p.display()),
            Target::Tcp(a) | Target::Tls { addr: a, .. } => format!("tcp://{a}"),
        }
    }
}

/// Anything a connection to the engine can be.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An upgraded stream: HTTP/2 from here on.
pub struct Upgraded(Box<dyn Io>);

impl tonic::transport::server::Connected for Upgraded {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

async fn connect(target: &Target) -> Result<Box<dyn Io>, DialError> {
    let fail = |e| DialError::Connect(target.name(), e);
    match target {
        Target::Unix(path) => Ok(Box::new(
            tokio::net::UnixStream::connect(path).await.map_err(fail)?,
        )),
        Target::Tcp(addr) => Ok(Box::new(
            tokio::net::TcpStream::connect(addr).await.map_err(fail)?,
        )),
        Target::Tls { addr, host, certs } => {
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(fail)?;
            let config = tls_config(certs)?;
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| DialError::Tls(format!("{host}: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(fail)?;
            Ok(Box::new(tls))
        }
    }
}

/// The docker CLI's TLS: the engine's CA, and this client's certificate and key.
fn tls_config(dir: &std::path::Path) -> Result<rustls::ClientConfig, DialError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |what: &str, e: &dyn std::fmt::Display| DialError::Tls(format!("{what}: {e}"));
    let read = |f: &str| {
        let path = dir.join(f);
        std::fs::read(&path).map_err(|e| tls(&path.display().to_string(), &e))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read("ca.pem")?) {
        roots
            .add(cert.map_err(|e| tls("ca.pem", &e))?)
            .map_err(|e| tls("ca.pem", &e))?;
    }
    let chain = CertificateDer::pem_slice_iter(&read("cert.pem")?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls("cert.pem", &e))?;
    let key = PrivateKeyDer::from_pem_slice(&read("key.pem")?).map_err(|e| tls("key.pem", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DialError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| DialError::Tls(e.to_string()))
}

/// `POST path` with `Upgrade: h2c` and `headers`; the stream once the engine switched.
pub async fn upgrade(
    target: &Target,
    path: &str,
    headers: &[(&str, String)],
) -> Result<Upgraded, DialError> {
    let mut io = connect(target).await?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: devstack\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let io_err = |e| DialError::Io(path.to_string(), e);
    io.write_all(req.as_bytes()).await.map_err(io_err)?;
    io.flush().await.map_err(io_err)?;
    let head = read_head(&mut io).await.map_err(io_err)?;
    let status = status_of(&head);
    if status == 101 {
        return Ok(Upgraded(io));
    }
    let body = read_body(&mut io, &head).await;
    Err(DialError::Refused {
        path: path.to_string(),
        status,
        body,
    })
}

/// The response's head, read a byte at a time so nothing of the HTTP/2 stream behind it is
/// taken.
async fn read_head(io: &mut Box<dyn Io>) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if io.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("response head over 64 KiB"));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// An error body (the engine's `{"message": …}`), at most 4 KiB of it.
async fn read_body(io: &mut Box<dyn Io>, head: &str) -> String {
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(4096);
    let mut body = vec![0u8; len];
    let read = tokio::time::timeout(std::time::Duration::from_secs(2), io.read_exact(&mut body));
    if !matches!(read.await, Ok(Ok(_))) {
        return String::new();
    }
    let text = String::from_utf8_lossy(&body).trim().to_string();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of("HTTP/1.1 101 Switching Protocols\r\n\r\n"), 101);
        assert_eq!(status_of("HTTP/1.1 404 Not Found\r\n"), 404);
        assert_eq!(status_of("garbage"), 0);
    }
}
