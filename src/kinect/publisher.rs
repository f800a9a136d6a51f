//! The Redis writer: one `XADD key MAXLEN ~ N * field value …` per capture. Redis going away
//! never reaches the camera: the writer reconnects with backoff while the hand-off keeps only
//! the newest frames.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::frame::Frame;
use super::handoff::Handoff;
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

/// The XADD for one frame. Field names and order are the stream contract consumers read.
pub fn xadd(target: &PublishTarget, f: &Frame) -> redis::Cmd {
    let (depth, depth_w, depth_h) = f
        .depth
        .as_ref()
        .map_or((&[][..], 0, 0), |d| (&d.data[..], d.width, d.height));
    let (color, color_format, color_w, color_h) =
        f.color.as_ref().map_or((&[][..], "off", 0, 0), |(c, fmt)| {
            (&c.data[..], fmt.name(), c.width, c.height)
        });
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&target.stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(target.maxlen)
        .arg("*")
        .arg("seq")
        .arg(f.seq)
        .arg("device_ts_usec")
        .arg(f.device_ts_usec)
        .arg("host_ts_ns")
        .arg(f.host_ts_ns)
        .arg("source")
        .arg(target.source)
        .arg("depth_w")
        .arg(depth_w)
        .arg("depth_h")
        .arg(depth_h)
        .arg("color_format")
        .arg(color_format)
        .arg("color_w")
        .arg(color_w)
        .arg("color_h")
        .arg(color_h)
        .arg("depth")
        .arg(depth)
        .arg("color")
        .arg(color);
    cmd
}

async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Publishes frames until the hand-off is closed and drained.
pub async fn run(
    target: PublishTarget,
    handoff: Arc<Handoff>,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let client = redis::Client::open(target.url.as_str()).map_err(|e| {
        crate::exit::UsageError(format!(
            "--redis {:?} is not a Redis URL ({e}); use redis://HOST:PORT[/DB]",
            target.url
        ))
    })?;
    let mut backoff = BACKOFF_MIN;
    let mut connection: Option<MultiplexedConnection> = None;
    let mut ever_connected = false;
    let mut down_reported = false;
    while let Some(frame) = handoff.pop().await {
        let con = match connection.as_mut() {
            Some(con) => con,
            None => match connect(&client).await {
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
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        let cmd = xadd(&target, &frame);
        match cmd.query_async::<redis::Value>(con).await {
            Ok(_) => counters.record_publish(frame.captured_at.elapsed(), frame.payload_bytes()),
            Err(err) => {
                counters.publish_errors.fetch_add(1, Relaxed);
                counters.set_error(format!("XADD {} failed: {err}", target.stream));
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.is_timeout()
                    || err.is_unrecoverable_error()
                {
                    tracing::warn!("redis {} connection lost ({err}); reconnecting", target.url);
                    counters.redis_connected.store(false, Relaxed);
                    connection = None;
                    down_reported = true;
                } else {
                    tracing::warn!("XADD {} rejected by redis: {err}", target.stream);
                }
            }
        }
    }
    Ok(())
}
