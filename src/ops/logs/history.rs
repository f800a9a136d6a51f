//! The history half of the log stream: each node's lines in time order (devstack's copy for
//! what the engine no longer has, then the engine's), and several nodes merged by timestamp.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use super::LogsError;
use crate::engine::logs::{EngineLines, Line};

/// Emits the lines of several time-ordered sources in timestamp order (RFC 3339 with
/// nanoseconds sorts as text; ties keep the sources' order), pulling one line at a time so
/// output starts at once and memory stays flat. Returns each node's last timestamp shown.
pub async fn merge(
    sources: &mut [History],
    mut emit: impl FnMut(&Line) -> std::io::Result<()>,
) -> Result<HashMap<String, String>, LogsError> {
    let mut heads = Vec::with_capacity(sources.len());
    for s in sources.iter_mut() {
        heads.push(s.next().await?);
    }
    let mut last_ts = HashMap::new();
    // The earliest head; `min_by` keeps the first of equals, so ties go in the sources' order.
    let earliest = |heads: &[Option<Line>]| {
        (0..heads.len())
            .filter(|&i| heads[i].is_some())
            .min_by(|&x, &y| {
                let ts = |i: usize| heads[i].as_ref().map(|l: &Line| l.ts.as_str());
                ts(x).cmp(&ts(y))
            })
    };
    while let Some(i) = earliest(&heads) {
        let Some(line) = heads[i].take() else { break };
        emit(&line).map_err(LogsError::Write)?;
        heads[i] = sources[i].next().await?;
        if heads[i].is_none() {
            last_ts.insert(line.service, line.ts);
        }
    }
    Ok(last_ts)
}

/// One node's history in time order: devstack's copy for what the engine no longer has
/// (older containers of the service, or all of it once the container is gone, or a host
/// process's whole output), then the engine's own lines as they arrive.
pub struct History {
    node: String,
    front: Box<dyn Iterator<Item = Line> + Send>,
    engine: Option<EngineLines>,
}

impl History {
    /// A container's history: the engine's lines, preceded by the copy's older ones.
    pub async fn container(
        mut engine: EngineLines,
        copy: &Path,
        service: &str,
        tail: Option<usize>,
        range: &TimeRange,
    ) -> Result<History, LogsError> {
        if let Some(n) = tail {
            // The last n of copy + engine: the engine's tail, topped up from the copy.
            let mut lines = VecDeque::new();
            while let Some(l) = engine_next(&mut engine, service).await? {
                lines.push_back(l);
            }
            let first = lines.front().map(|l| l.ts.clone());
            let older = copy_lines(copy, service, first.as_deref(), range);
            let mut older = last_n(older, n.saturating_sub(lines.len()));
            older.extend(lines);
            return Ok(History::of_lines(older).of(service));
        }
        let first = engine_next(&mut engine, service).await?;
        let older = copy_lines(copy, service, first.as_ref().map(|l| l.ts.as_str()), range);
        Ok(History {
            node: service.to_string(),
            front: Box::new(older.chain(first)),
            engine: Some(engine),
        })
    }

    /// Only devstack's copy: a host process, or a service whose containers are gone.
    pub fn copy_only(copy: &Path, name: &str, tail: Option<usize>, range: &TimeRange) -> History {
        let lines = copy_lines(copy, name, None, range);
        match tail {
            Some(n) => History::of_lines(last_n(lines, n)).of(name),
            None => History {
                node: name.to_string(),
                front: Box::new(lines),
                engine: None,
            },
        }
    }

    /// Lines already in memory, in time order.
    pub fn of_lines<I>(lines: I) -> History
    where
        I: IntoIterator<Item = Line>,
        I::IntoIter: Send + 'static,
    {
        History {
            node: String::new(),
            front: Box::new(lines.into_iter()),
            engine: None,
        }
    }

    /// Names the node (for errors).
    fn of(mut self, node: &str) -> History {
        self.node = node.to_string();
        self
    }

    async fn next(&mut self) -> Result<Option<Line>, LogsError> {
        if let Some(l) = self.front.next() {
            return Ok(Some(l));
        }
        match &mut self.engine {
            Some(e) => engine_next(e, &self.node).await,
            None => Ok(None),
        }
    }
}

/// The engine's next line; a container removed since it was listed has no more lines (its
/// copy already gave what devstack kept).
async fn engine_next(e: &mut EngineLines, node: &str) -> Result<Option<Line>, LogsError> {
    match e.next().await {
        Ok(l) => Ok(l),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(source) => Err(LogsError::Engine {
            node: node.to_string(),
            source,
        }),
    }
}

fn last_n(lines: impl Iterator<Item = Line>, n: usize) -> VecDeque<Line> {
    let mut ring = VecDeque::with_capacity(n.min(4096));
    if n == 0 {
        return ring;
    }
    for l in lines {
        if ring.len() == n {
            ring.pop_front();
        }
        ring.push_back(l);
    }
    ring
}

/// `--since`/`--until` as timestamps in devstack's copies' format, compared as text.
#[derive(Debug, Clone, Default)]
pub struct TimeRange {
    since: Option<String>,
    until: Option<String>,
}

impl TimeRange {
    pub fn new(since: Option<i64>, until: Option<i64>) -> TimeRange {
        TimeRange {
            since: since.map(stamp),
            until: until.map(stamp),
        }
    }

    /// Its start as a timestamp, when it has one.
    pub fn since(&self) -> Option<&str> {
        self.since.as_deref()
    }

    pub fn contains(&self, ts: &str) -> bool {
        self.since.as_deref().is_none_or(|s| ts >= s)
            && self.until.as_deref().is_none_or(|u| ts < u)
    }
}

/// Unix seconds as a timestamp in the copies' format (nine-digit fraction, so it sorts as
/// text against the engine's and the copies' stamps).
pub fn stamp(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// Lines from one of devstack's own log files (and its rotated predecessor), lazily.
fn copy_lines(
    path: &Path,
    name: &str,
    before: Option<&str>,
    range: &TimeRange,
) -> impl Iterator<Item = Line> + Send + 'static {
    let name = name.to_string();
    let range = range.clone();
    crate::supervisor::logfile::Reader::open(path, before)
        .filter(move |(ts, _, _)| range.contains(ts))
        .map(move |(ts, stream, text)| copy_line(&name, ts, &stream, text))
}

/// A line of one of devstack's copies as a [`Line`] of `name`.
pub fn copy_line(name: &str, ts: String, stream: &str, text: String) -> Line {
    Line {
        ts,
        service: name.to_string(),
        stream: if stream == "stderr" {
            "stderr"
        } else {
            "stdout"
        },
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(node: &str, ts: &str, text: &str) -> Line {
        copy_line(node, ts.to_string(), "stdout", text.to_string())
    }

    fn t(s: u32) -> String {
        format!("2026-01-01T00:00:{s:02}.000000000Z")
    }

    async fn merged(sources: &mut [History]) -> (Vec<String>, HashMap<String, String>) {
        let mut out = Vec::new();
        let last = merge(sources, |l| {
            out.push(format!("{} {}", l.service, l.text));
            Ok(())
        })
        .await
        .unwrap();
        (out, last)
    }

    /// A copy file in a fresh directory, as the supervisor writes it.
    fn copy_file(tag: &str, lines: &[(u32, &str)]) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("devstack-hist-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.log");
        let body: String = lines
            .iter()
            .map(|(s, text)| format!("{} stdout {text}\n", t(*s)))
            .collect();
        std::fs::write(&path, body).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn merges_by_time_across_nodes_and_reports_each_nodes_last_line() {
        let mut sources = [
            History::of_lines(vec![line("api", &t(1), "a1"), line("api", &t(4), "a2")]),
            History::of_lines(vec![line("cam", &t(2), "c1"), line("cam", &t(3), "c2")]),
            History::of_lines(Vec::new()),
        ];
        let (out, last) = merged(&mut sources).await;
        assert_eq!(out, ["api a1", "cam c1", "cam c2", "api a2"]);
        assert_eq!(last.get("api"), Some(&t(4)));
        assert_eq!(last.get("cam"), Some(&t(3)));
        assert_eq!(last.len(), 2);
    }

    #[tokio::test]
    async fn ties_keep_the_sources_order_and_each_sources_own_order() {
        let mut sources = [
            History::of_lines(vec![line("b", &t(1), "b1"), line("b", &t(1), "b2")]),
            History::of_lines(vec![line("a", &t(1), "a1"), line("a", &t(2), "a2")]),
        ];
        let (out, _) = merged(&mut sources).await;
        assert_eq!(out, ["b b1", "b b2", "a a1", "a a2"]);
    }

    #[tokio::test]
    async fn tail_is_per_node_and_the_range_filters_copies() {
        let (dir_a, a) = copy_file("tail-a", &[(1, "a1"), (3, "a2"), (5, "a3"), (7, "a4")]);
        let (dir_b, b) = copy_file("tail-b", &[(2, "b1"), (4, "b2")]);
        let all = TimeRange::default();
        let mut sources = [
            History::copy_only(&a, "a", Some(2), &all),
            History::copy_only(&b, "b", Some(2), &all),
        ];
        let (out, _) = merged(&mut sources).await;
        assert_eq!(
            out,
            ["b b1", "b b2", "a a3", "a a4"],
            "the last 2 of each node"
        );

        let mut none = [History::copy_only(&a, "a", Some(0), &all)];
        assert!(
            merged(&mut none).await.0.is_empty(),
            "--tail 0 shows nothing"
        );

        // --since is inclusive, --until exclusive (as the engine's).
        let epoch = |s: u32| {
            chrono::DateTime::parse_from_rfc3339(&t(s))
                .unwrap()
                .timestamp()
        };
        let range = TimeRange::new(Some(epoch(3)), Some(epoch(7)));
        let mut sources = [
            History::copy_only(&a, "a", None, &range),
            History::copy_only(&b, "b", None, &range),
        ];
        let (out, _) = merged(&mut sources).await;
        assert_eq!(out, ["a a2", "b b2", "a a3"]);

        // The tail is taken within the range.
        let mut sources = [History::copy_only(&a, "a", Some(1), &range)];
        assert_eq!(merged(&mut sources).await.0, ["a a3"]);
        std::fs::remove_dir_all(dir_a).unwrap();
        std::fs::remove_dir_all(dir_b).unwrap();
    }

    #[test]
    fn stamps_sort_as_text_against_the_engines() {
        assert_eq!(stamp(0), "1970-01-01T00:00:00.000000000Z");
        let r = TimeRange::new(Some(10), None);
        assert!(r.contains("1970-01-01T00:00:10.000000000Z"));
        assert!(!r.contains("1970-01-01T00:00:09.999999999Z"));
        assert_eq!(r.since(), Some("1970-01-01T00:00:10.000000000Z"));
    }
}
