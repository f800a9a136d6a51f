//! A service's log history in time order, and several of them merged by timestamp: what
//! `devstack logs` prints and what attached `up` shows before it follows.

use std::collections::{HashMap, VecDeque};

use crate::engine::logs::{EngineLines, Line};

/// Prints the lines of several time-ordered sources in timestamp order (RFC 3339 with
/// nanoseconds sorts as text; ties keep the sources' order), pulling one line at a time so
/// output starts at once and memory stays flat. Returns each service's last timestamp.
pub async fn merge(
    sources: &mut [History],
    mut emit: impl FnMut(&Line) -> std::io::Result<()>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut heads = Vec::with_capacity(sources.len());
    for s in sources.iter_mut() {
        heads.push(s.next().await?);
    }
    let mut last_ts = HashMap::new();
    loop {
        let next = (0..heads.len())
            .filter(|&i| heads[i].is_some())
            .min_by(|&x, &y| {
                let ts = |i: usize| heads[i].as_ref().map(|l: &Line| l.ts.as_str());
                ts(x).cmp(&ts(y))
            });
        let Some(i) = next else { break };
        let line = heads[i].take().expect("a head was chosen");
        emit(&line)?;
        heads[i] = sources[i].next().await?;
        if heads[i].is_none() {
            last_ts.insert(line.service, line.ts);
        }
    }
    Ok(last_ts)
}

/// One service's history in time order: devstack's copy for what the engine no longer has
/// (older containers of the service, or all of it once the container is gone), then the
/// engine's own lines as they arrive.
pub struct History {
    front: Box<dyn Iterator<Item = Line>>,
    engine: Option<EngineLines>,
}

impl History {
    pub async fn container(
        mut engine: EngineLines,
        copy: &std::path::Path,
        service: &str,
        tail: Option<usize>,
        range: &TimeRange,
    ) -> anyhow::Result<History> {
        if let Some(n) = tail {
            // The last n of copy + engine: the engine's tail, topped up from the copy.
            let mut lines = VecDeque::new();
            while let Some(l) = engine.next().await? {
                lines.push_back(l);
            }
            let first = lines.front().map(|l| l.ts.clone());
            let older = copy_lines(copy, service, first.as_deref(), range);
            let mut older = last_n(older, n.saturating_sub(lines.len()));
            older.extend(lines);
            return Ok(History {
                front: Box::new(older.into_iter()),
                engine: None,
            });
        }
        let first = engine.next().await?;
        let older = copy_lines(copy, service, first.as_ref().map(|l| l.ts.as_str()), range);
        Ok(History {
            front: Box::new(older.chain(first)),
            engine: Some(engine),
        })
    }

    pub fn copy_only(
        copy: &std::path::Path,
        name: &str,
        tail: Option<usize>,
        range: &TimeRange,
    ) -> History {
        let lines = copy_lines(copy, name, None, range);
        History {
            front: match tail {
                Some(n) => Box::new(last_n(lines, n).into_iter()),
                None => Box::new(lines),
            },
            engine: None,
        }
    }

    async fn next(&mut self) -> anyhow::Result<Option<Line>> {
        if let Some(l) = self.front.next() {
            return Ok(Some(l));
        }
        match &mut self.engine {
            Some(e) => Ok(e.next().await?),
            None => Ok(None),
        }
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
#[derive(Clone)]
pub struct TimeRange {
    since: Option<String>,
    until: Option<String>,
}

impl TimeRange {
    pub fn new(since: Option<i64>, until: Option<i64>) -> TimeRange {
        let stamp = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                .to_string()
        };
        TimeRange {
            since: since.map(stamp),
            until: until.map(stamp),
        }
    }

    fn contains(&self, ts: &str) -> bool {
        self.since.as_deref().is_none_or(|s| ts >= s)
            && self.until.as_deref().is_none_or(|u| ts < u)
    }
}

/// Lines from one of devstack's own log files (and its rotated predecessor), lazily.
fn copy_lines(
    path: &std::path::Path,
    name: &str,
    before: Option<&str>,
    range: &TimeRange,
) -> impl Iterator<Item = Line> + 'static {
    let name = name.to_string();
    let range = range.clone();
    crate::supervisor::logfile::Reader::open(path, before)
        .filter(move |(ts, _, _)| range.contains(ts))
        .map(move |(ts, stream, text)| copy_line(&name, ts, &stream, text))
}

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
