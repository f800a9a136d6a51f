use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::time::Duration;

use regex::Regex;
use tokio::sync::mpsc;

use crate::cli::{GlobalOpts, LogsArgs};
use crate::engine::logs::{follow, EngineLines, Line};
use crate::engine::observed;
use crate::exit::UsageError;
use crate::project::ProjectSource;
use crate::ui::logline::{self, Level};

struct Filter {
    level: Option<Level>,
    grep: Option<Regex>,
}

pub async fn run(g: &GlobalOpts, a: &LogsArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(g)?;
    let filter = Filter {
        level: match &a.level {
            Some(l) => Some(Level::parse(l).ok_or_else(|| {
                UsageError(format!(
                    "--level {l}: use trace, debug, info, warn, error or fatal"
                ))
            })?),
            None => None,
        },
        grep: match &a.grep {
            Some(re) => {
                Some(Regex::new(re).map_err(|e| UsageError(format!("--grep {re:?}: {e}")))?)
            }
            None => None,
        },
    };
    let since = a
        .since
        .as_deref()
        .map(|s| parse_time("--since", s))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|s| parse_time("--until", s))
        .transpose()?;
    let engine = super::connect().await?;
    let containers = observed::list(&engine, &source.name).await?;
    let log_dir = source.devstack_dir().join("logs");
    let hosts: Vec<String> = crate::supervisor::state::State::load(&source.devstack_dir())
        .host
        .into_keys()
        .collect();
    // devstack's own copies (.devstack/logs/<name>.log): host processes, and containers'
    // history kept by the supervisor, readable after recreation and `down`.
    let copies: Vec<String> = std::fs::read_dir(&log_dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".log")
                        .map(str::to_string)
                })
                .filter(|n| n != "supervisor")
                .collect()
        })
        .unwrap_or_default();
    let known: Vec<String> = {
        let mut v: Vec<String> = containers
            .iter()
            .map(|c| c.service.clone())
            .chain(hosts.iter().cloned())
            .chain(copies.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    // Names resolve against the rendered model when it loads (aliases), else the containers.
    let wanted: Vec<String> = if a.services.is_empty() {
        known.clone()
    } else {
        let aliases = crate::project::Project::load_with_gpu(source.clone(), &Default::default())
            .map(|p| p.model.x_devstack.aliases)
            .unwrap_or_default();
        a.services
            .iter()
            .map(|n| crate::project::resolve_name(n, known.iter(), &aliases))
            .collect::<Result<_, _>>()?
    };
    let width = wanted.iter().map(String::len).max().unwrap_or(0);
    let targets: Vec<(String, String)> = containers
        .iter()
        .filter(|c| wanted.contains(&c.service))
        .map(|c| (c.service.clone(), c.name.clone()))
        .collect();
    let range = TimeRange::new(since, until);

    // History: one time-ordered source per service, merged by timestamp while it streams.
    let mut sources = Vec::new();
    for (service, name) in &targets {
        let copy = log_dir.join(format!("{service}.log"));
        let engine_lines = EngineLines::open(&engine, service, name, a.tail, since, until);
        sources.push(History::container(engine_lines, &copy, service, a.tail, &range).await?);
    }
    // Host processes, and services whose containers are gone: only the copies remain.
    for name in wanted
        .iter()
        .filter(|w| !targets.iter().any(|(s, _)| s == *w))
    {
        let copy = log_dir.join(format!("{name}.log"));
        sources.push(History::copy_only(&copy, name, a.tail, &range));
    }
    let host_targets: Vec<String> = hosts
        .iter()
        .filter(|h| wanted.contains(h))
        .cloned()
        .collect();
    let mut printer = Printer::new(a, filter, width);
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let last_ts = merge(&mut sources, &mut printer, &mut out).await?;
    out.flush()?;
    drop(out);
    if !a.follow {
        return Ok(0);
    }
    let (tx, mut rx) = mpsc::channel::<Line>(1024);
    for (service, name) in targets {
        let tx = tx.clone();
        let engine = engine.clone();
        let after = last_ts.get(&service).cloned().unwrap_or_default();
        tokio::spawn(follow(engine, service, name, after, tx));
    }
    for h in host_targets {
        let tx = tx.clone();
        let after = last_ts.get(&h).cloned().unwrap_or_default();
        tokio::spawn(follow_file(log_dir.join(format!("{h}.log")), h, after, tx));
    }
    drop(tx);
    loop {
        tokio::select! {
            line = rx.recv() => {
                let Some(l) = line else { break };
                let mut out = std::io::stdout().lock();
                printer.print(&mut out, &l)?;
                out.flush()?;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(0)
}

/// Prints the lines of several time-ordered sources in timestamp order (RFC 3339 with
/// nanoseconds sorts as text; ties keep the sources' order), pulling one line at a time so
/// output starts at once and memory stays flat. Returns each service's last timestamp.
async fn merge(
    sources: &mut [History],
    printer: &mut Printer<'_>,
    out: &mut impl Write,
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
        printer.print(out, &line)?;
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
struct History {
    front: Box<dyn Iterator<Item = Line>>,
    engine: Option<EngineLines>,
}

impl History {
    async fn container(
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

    fn copy_only(
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
struct TimeRange {
    since: Option<String>,
    until: Option<String>,
}

impl TimeRange {
    fn new(since: Option<i64>, until: Option<i64>) -> TimeRange {
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

fn copy_line(name: &str, ts: String, stream: &str, text: String) -> Line {
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

fn parse_time(flag: &str, s: &str) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    let d = crate::project::duration::parse(s).map_err(|e| {
        UsageError(format!(
            "{flag} {s}: {e} (use a duration like 10m or an RFC 3339 time)"
        ))
    })?;
    Ok(chrono::Utc::now().timestamp() - d.as_secs() as i64)
}

/// Follows a host process's log file as the supervisor appends to it (polled: the file is
/// local and a stat every 200 ms costs nothing).
async fn follow_file(
    path: std::path::PathBuf,
    name: String,
    after: String,
    tx: mpsc::Sender<Line>,
) {
    let mut follower = crate::supervisor::logfile::Follower::new(&path);
    loop {
        for (ts, stream, text) in follower.poll() {
            if ts <= after {
                continue;
            }
            if tx.send(copy_line(&name, ts, &stream, text)).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes lines as the flags ask: filtered, prefixed with the service's stable colour,
/// JSON made readable (or emitted as JSON).
struct Printer<'a> {
    args: &'a LogsArgs,
    filter: Filter,
    width: usize,
    prefixes: HashMap<String, String>,
}

impl<'a> Printer<'a> {
    fn new(args: &'a LogsArgs, filter: Filter, width: usize) -> Printer<'a> {
        Printer {
            args,
            filter,
            width,
            prefixes: HashMap::new(),
        }
    }

    fn print(&mut self, out: &mut impl Write, l: &Line) -> std::io::Result<()> {
        let (a, f) = (self.args, &self.filter);
        if let Some(re) = &f.grep {
            if !re.is_match(&l.text) {
                return Ok(());
            }
        }
        // Levels are only looked for when something needs them (a hot path on 200k lines).
        let is_json = l.text.trim_start().starts_with('{');
        let parsed = (is_json || f.level.is_some() || a.json).then(|| logline::parse(&l.text));
        let level = parsed.as_ref().and_then(|p| p.level);
        if let (Some(min), Some(level)) = (f.level, level) {
            if level < min {
                return Ok(());
            }
        }
        if a.json {
            let message = match &parsed {
                Some(p) if p.json => p.message.as_str(),
                _ => l.text.as_str(),
            };
            let obj = serde_json::json!({
                "service": l.service, "stream": l.stream, "timestamp": l.ts, "level": level, "message": message,
            });
            return writeln!(out, "{obj}");
        }
        if !a.no_prefix {
            if !self.prefixes.contains_key(&l.service) {
                let style = crate::ui::color::for_name(&l.service);
                let width = self.width;
                let prefix = style
                    .apply_to(format_args!("{:<width$} |", l.service))
                    .to_string();
                self.prefixes.insert(l.service.clone(), prefix);
            }
            out.write_all(self.prefixes[&l.service].as_bytes())?;
            out.write_all(b" ")?;
        }
        if a.timestamps {
            write!(out, "{} ", crate::ui::color::dim(&l.ts))?;
        }
        match &parsed {
            Some(p) if p.json => writeln!(out, "{}", logline::readable(p, &l.text)),
            _ => {
                out.write_all(l.text.as_bytes())?;
                out.write_all(b"\n")
            }
        }
    }
}
