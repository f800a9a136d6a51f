//! Container logs as timestamped lines: history as a stream (printed while the engine still
//! sends it), and following a container across restarts and recreations (re-attach by name
//! from the last line seen).

use std::collections::VecDeque;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::stream::BoxStream;
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
            let mut padded = String::with_capacity(secs.len() + 11);
            padded.push_str(secs);
            padded.push('.');
            padded.push_str(frac);
            padded.extend(std::iter::repeat_n('0', 9usize.saturating_sub(frac.len())));
            padded.push('Z');
            (padded, rest.to_string())
        }
        _ => (String::new(), raw.to_string()),
    }
}

/// Turns the engine's frames (not line-aligned; stdout and stderr interleaved) into lines.
#[derive(Default)]
struct LineSplitter {
    pending: [Vec<u8>; 2],
}

impl LineSplitter {
    fn push(&mut self, chunk: LogOutput, service: &str, out: &mut VecDeque<Line>) {
        let (idx, stream, bytes) = match chunk {
            LogOutput::StdErr { message } => (1, "stderr", message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (0, "stdout", message)
            }
            LogOutput::StdIn { .. } => return,
        };
        let pending = &mut self.pending[idx];
        let mut rest: &[u8] = &bytes;
        // The usual frame is one whole line: no copy through `pending` for it.
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            if pending.is_empty() {
                out.push_back(make_line(&rest[..pos], stream, service));
            } else {
                pending.extend_from_slice(&rest[..pos]);
                out.push_back(make_line(pending, stream, service));
                pending.clear();
            }
            rest = &rest[pos + 1..];
        }
        pending.extend_from_slice(rest);
    }

    /// A last line without its newline, when the stream ends.
    fn finish(&mut self, service: &str, out: &mut VecDeque<Line>) {
        for (idx, stream) in [(0, "stdout"), (1, "stderr")] {
            let pending = std::mem::take(&mut self.pending[idx]);
            if !pending.is_empty() {
                out.push_back(make_line(&pending, stream, service));
            }
        }
    }
}

fn make_line(raw: &[u8], stream: &'static str, service: &str) -> Line {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let (ts, text) = split_ts(&String::from_utf8_lossy(raw));
    Line {
        ts,
        service: service.to_string(),
        stream,
        text,
    }
}

/// A container's log history, line by line as the engine sends it (in time order).
pub struct EngineLines {
    service: String,
    stream: BoxStream<'static, Result<LogOutput, bollard::errors::Error>>,
    splitter: LineSplitter,
    ready: VecDeque<Line>,
    done: bool,
}

impl EngineLines {
    pub fn open(
        engine: &Engine,
        service: &str,
        name: &str,
        tail: Option<usize>,
        since: Option<i64>,
        until: Option<i64>,
    ) -> EngineLines {
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
        EngineLines {
            service: service.to_string(),
            stream: engine.docker.logs(name, Some(b.build())).boxed(),
            splitter: LineSplitter::default(),
            ready: VecDeque::new(),
            done: false,
        }
    }

    pub async fn next(&mut self) -> Result<Option<Line>, bollard::errors::Error> {
        loop {
            if let Some(l) = self.ready.pop_front() {
                return Ok(Some(l));
            }
            if self.done {
                return Ok(None);
            }
            match self.stream.next().await {
                Some(chunk) => self.splitter.push(chunk?, &self.service, &mut self.ready),
                None => {
                    self.done = true;
                    self.splitter.finish(&self.service, &mut self.ready);
                }
            }
        }
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
    let mut lines = VecDeque::new();
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
        let mut splitter = LineSplitter::default();
        let mut ended = false;
        while !ended {
            match stream.next().await {
                Some(Ok(chunk)) => splitter.push(chunk, &service, &mut lines),
                _ => {
                    splitter.finish(&service, &mut lines);
                    ended = true;
                }
            }
            for l in lines.drain(..) {
                if l.ts <= after {
                    continue;
                }
                after.clone_from(&l.ts);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> LogOutput {
        LogOutput::StdOut {
            message: bytes::Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    #[test]
    fn frames_become_lines_whatever_their_boundaries() {
        let mut sp = LineSplitter::default();
        let mut out = VecDeque::new();
        sp.push(
            frame("2026-12-01T10:00:00.5Z one\n2026-12-01T10:00:01Z tw"),
            "s",
            &mut out,
        );
        sp.push(
            frame("o\r\n2026-12-01T10:00:02.123456789Z thr"),
            "s",
            &mut out,
        );
        sp.push(
            LogOutput::StdErr {
                message: bytes::Bytes::from_static(b"2026-12-01T10:00:03Z err\n"),
            },
            "s",
            &mut out,
        );
        sp.finish("s", &mut out);
        let got: Vec<(String, &str, String)> =
            out.into_iter().map(|l| (l.ts, l.stream, l.text)).collect();
        assert_eq!(
            got,
            vec![
                (
                    "2026-12-01T10:00:00.500000000Z".into(),
                    "stdout",
                    "one".into()
                ),
                (
                    "2026-12-01T10:00:01.000000000Z".into(),
                    "stdout",
                    "two".into()
                ),
                (
                    "2026-12-01T10:00:03.000000000Z".into(),
                    "stderr",
                    "err".into()
                ),
                (
                    "2026-12-01T10:00:02.123456789Z".into(),
                    "stdout",
                    "thr".into()
                ),
            ]
        );
    }
}
