//! Container logs as timestamped lines: history, and following a container across restarts
//! and recreations (re-attach by name from the last line seen).

use std::time::Duration;

use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{observed, Engine};

/// One line from one service, with the engine's timestamp.
#[derive(Debug, Clone)]
pub struct Line {
    pub ts: String,
    pub service: String,
    pub stream: &'static str,
    pub text: String,
}

/// Splits the engine's timestamp off a line, padding its fraction to nine digits (Go trims
/// trailing zeros) so timestamps sort correctly as text.
pub fn split_ts(raw: &str) -> (String, String) {
    match raw.split_once(' ') {
        Some((ts, rest)) if ts.len() > 19 && ts.ends_with('Z') => {
            let body = &ts[..ts.len() - 1];
            let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
            (format!("{secs}.{frac:0<9}Z"), rest.to_string())
        }
        _ => (String::new(), raw.to_string()),
    }
}

pub async fn history(
    engine: &Engine,
    service: &str,
    name: &str,
    tail: Option<usize>,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Vec<Line>, bollard::errors::Error> {
    let mut b = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true);
    if let Some(n) = tail {
        b = b.tail(&n.to_string());
    }
    if let Some(s) = since {
        b = b.since(s as i32);
    }
    if let Some(u) = until {
        b = b.until(u as i32);
    }
    let mut stream = engine.docker.logs(name, Some(b.build()));
    let mut lines = Vec::new();
    let mut pending = [String::new(), String::new()];
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        push_chunk(&mut pending, chunk, service, &mut lines);
    }
    Ok(lines)
}

/// Splits daemon frames (not line-aligned) into lines, per stream.
fn push_chunk(
    pending: &mut [String; 2],
    chunk: bollard::container::LogOutput,
    service: &str,
    out: &mut Vec<Line>,
) {
    use bollard::container::LogOutput;
    let (idx, stream, bytes) = match chunk {
        LogOutput::StdErr { message } => (1, "stderr", message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => (0, "stdout", message),
        LogOutput::StdIn { .. } => return,
    };
    pending[idx].push_str(&String::from_utf8_lossy(&bytes));
    while let Some(pos) = pending[idx].find('\n') {
        let raw: String = pending[idx].drain(..=pos).collect();
        let (ts, text) = split_ts(raw.trim_end_matches(['\n', '\r']));
        out.push(Line {
            ts,
            service: service.to_string(),
            stream,
            text,
        });
    }
}

/// Follows a container across restarts and recreations: when its stream ends, wait for a
/// container of that name to run again and re-attach from the last line seen.
pub async fn follow(
    engine: Engine,
    service: String,
    name: String,
    mut after: String,
    tx: mpsc::Sender<Line>,
) {
    loop {
        let since = chrono::DateTime::parse_from_rfc3339(&after)
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let opts = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(since as i32)
            .build();
        let mut stream = engine.docker.logs(&name, Some(opts));
        let mut pending = [String::new(), String::new()];
        while let Some(Ok(chunk)) = stream.next().await {
            let mut lines = Vec::new();
            push_chunk(&mut pending, chunk, &service, &mut lines);
            for l in lines {
                if l.ts <= after {
                    continue;
                }
                after = l.ts.clone();
                if tx.send(l).await.is_err() {
                    return;
                }
            }
        }
        // Stream ended: the container stopped or was replaced. Wait for it to run again.
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if tx.is_closed() {
                return;
            }
            if observed::inspect(&engine, &name)
                .await
                .is_ok_and(|st| st.running())
            {
                break;
            }
        }
    }
}
