//! The Redis writer: one `XADD key MAXLEN ~ N * field value …` per capture. Redis going away
//! never reaches the camera: the writer reconnects with backoff while the hand-off keeps only
//! the newest frames.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use redis::IntoConnectionInfo;

use super::handoff::Handoff;
use super::resp::{Connection, Xadd};
use super::stats::Counters;

pub struct PublishTarget {
    pub url: String,
    pub stream: String,
    pub maxlen: usize,
    /// `k4a` or `synthetic`, written into every entry.
    pub source: &'static str,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A stalled server (paused, swapping) is waited for this long before the connection is
/// considered dead; frames keep being dropped oldest-first meanwhile.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Publishes frames until the hand-off is closed and drained.
pub async fn run(
    target: PublishTarget,
    handoff: Arc<Handoff>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let info = target.url.as_str().into_connection_info().map_err(|e| {
        crate::errors::UsageError(format!(
            "--redis {:?} is not a Redis URL ({e}); use redis://HOST:PORT[/DB]",
            target.url
        ))
    })?;
    let mut backoff = BACKOFF_MIN;
    let mut connection: Option<Connection> = None;
    let mut ever_connected = false;
    let mut down_reported = false;
    // A server-side refusal (maxmemory, wrong type) repeats on every frame: say it once.
    let mut last_rejection: Option<String> = None;
    while let Some(frame) = handoff.pop().await {
        let con = match connection.as_mut() {
            Some(con) => con,
            None => match Connection::connect(&info, CONNECT_TIMEOUT, RESPONSE_TIMEOUT).await {
                Ok(con) => {
                    if ever_connected {
                        counters.reconnects.fetch_add(1, Relaxed);
                        tracing::warn!("redis {} is back; publishing again", target.url);
                    } else {
                        tracing::info!("connected to redis {}", target.url);
                    }
                    ever_connected = true;
                    down_reported = false;
                    backoff = BACKOFF_MIN;
                    counters.redis_connected.store(true, Relaxed);
                    connection.insert(con)
                }
                Err(err) => {
                    if !down_reported {
                        tracing::warn!(
                            "redis {} unreachable ({err}); frames are dropped oldest-first while \
                             retrying (check that the redis service is up: `devstack ps`)",
                            target.url
                        );
                        counters.set_error(format!("redis {} unreachable: {err}", target.url));
                        down_reported = true;
                    }
                    // This frame is stale by the time Redis answers: count it as dropped.
                    counters.dropped.fetch_add(1, Relaxed);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = handoff.wait_closed() => {}
                    }
                    if handoff.is_closed() {
                        // the camera has stopped: nothing left is worth waiting for Redis
                        while handoff.pop().await.is_some() {
                            counters.dropped.fetch_add(1, Relaxed);
                        }
                        break;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        let xadd = Xadd::new(&target.stream, target.maxlen, target.source, &frame);
        match con.xadd(&xadd).await {
            Ok(_) => {
                counters.record_publish(frame.captured_at.elapsed(), frame.payload_bytes());
                last_rejection = None;
            }
            Err(err) => {
                counters.publish_errors.fetch_add(1, Relaxed);
                counters.set_error(format!("XADD {} failed: {err}", target.stream));
                if err.is_connection_lost() {
                    tracing::warn!("redis {} connection lost ({err}); reconnecting", target.url);
                    counters.redis_connected.store(false, Relaxed);
                    connection = None;
                    down_reported = true;
                } else if last_rejection.as_deref() != Some(&err.to_string()) {
                    tracing::warn!(
                        "XADD {} rejected by redis: {err} (repeats are counted as publish errors)",
                        target.stream
                    );
                    last_rejection = Some(err.to_string());
                }
            }
        }
    }
    Ok(())
}
