use std::io::Write;
use std::time::Duration;

use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use regex::Regex;
use tokio::sync::mpsc;

use crate::cli::{GlobalOpts, LogsArgs};
use crate::engine::{observed, Engine};
use crate::exit::UsageError;
use crate::project::ProjectSource;
use crate::ui::logline::{self, Level};

/// One line from one service, with the engine's timestamp.
#[derive(Debug, Clone)]
struct Line {
    ts: String,
    service: String,
    stream: &'static str,
    text: String,
}

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
    let known: Vec<String> = {
        let mut v: Vec<String> = containers
            .iter()
            .map(|c| c.service.clone())
            .chain(hosts.iter().cloned())
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

    let mut all = Vec::new();
    for (service, name) in &targets {
        all.extend(history(&engine, service, name, a.tail, since, until).await?);
    }
    let host_targets: Vec<String> = hosts
        .iter()
        .filter(|h| wanted.contains(h))
        .cloned()
        .collect();
    for h in &host_targets {
        all.extend(host_history(
            &log_dir.join(format!("{h}.log")),
            h,
            a.tail,
            since,
            until,
        ));
    }
    // Merge by the engine's timestamps (RFC 3339 with nanoseconds sorts as text).
    all.sort_by(|x, y| x.ts.cmp(&y.ts));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut last_ts: std::collections::HashMap<String, String> = Default::default();
    for l in &all {
        print_line(&mut out, l, a, &filter, width)?;
        last_ts.insert(l.service.clone(), l.ts.clone());
    }
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
                print_line(&mut out, &l, a, &filter, width)?;
                out.flush()?;
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(0)
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

/// Splits the engine's timestamp off a line, padding its fraction to nine digits (Go trims
/// trailing zeros) so timestamps sort correctly as text.
fn split_ts(raw: &str) -> (String, String) {
    match raw.split_once(' ') {
        Some((ts, rest)) if ts.len() > 19 && ts.ends_with('Z') => {
            let body = &ts[..ts.len() - 1];
            let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
            (format!("{secs}.{frac:0<9}Z"), rest.to_string())
        }
        _ => (String::new(), raw.to_string()),
    }
}

async fn history(
    engine: &Engine,
    service: &str,
    name: &str,
    tail: Option<usize>,
    since: Option<i64>,
    until: Option<i64>,
) -> anyhow::Result<Vec<Line>> {
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
async fn follow(
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

/// Host-process lines from the supervisor's log file (and its rotated predecessor).
fn host_history(
    path: &std::path::Path,
    name: &str,
    tail: Option<usize>,
    since: Option<i64>,
    until: Option<i64>,
) -> Vec<Line> {
    let in_range = |ts: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(ts)
            .map(|t| t.timestamp())
            .unwrap_or(0);
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
    };
    let mut lines: Vec<Line> = crate::supervisor::logfile::read_lines(path)
        .into_iter()
        .filter(|(ts, _, _)| in_range(ts))
        .map(|(ts, stream, text)| Line {
            ts,
            service: name.to_string(),
            stream: if stream == "stderr" {
                "stderr"
            } else {
                "stdout"
            },
            text,
        })
        .collect();
    if let Some(n) = tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    lines
}

/// Follows a host process's log file (polling; it is appended to by the supervisor).
async fn follow_file(
    path: std::path::PathBuf,
    name: String,
    mut after: String,
    tx: mpsc::Sender<Line>,
) {
    loop {
        for l in host_history(&path, &name, None, None, None) {
            if l.ts <= after {
                continue;
            }
            after = l.ts.clone();
            if tx.send(l).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_line(
    out: &mut impl Write,
    l: &Line,
    a: &LogsArgs,
    f: &Filter,
    width: usize,
) -> std::io::Result<()> {
    let parsed = logline::parse(&l.text);
    if let (Some(min), Some(level)) = (f.level, parsed.level) {
        if level < min {
            return Ok(());
        }
    }
    if let Some(re) = &f.grep {
        if !re.is_match(&l.text) {
            return Ok(());
        }
    }
    if a.json {
        let obj = serde_json::json!({
            "service": l.service, "stream": l.stream, "timestamp": l.ts,
            "level": parsed.level, "message": if parsed.json { parsed.message.clone() } else { l.text.clone() },
        });
        return writeln!(out, "{obj}");
    }
    let mut s = String::new();
    if !a.no_prefix {
        s.push_str(
            &crate::ui::color::for_name(&l.service)
                .apply_to(format!("{:<width$} |", l.service))
                .to_string(),
        );
        s.push(' ');
    }
    if a.timestamps {
        s.push_str(&crate::ui::color::dim(&l.ts));
        s.push(' ');
    }
    s.push_str(&logline::readable(&parsed, &l.text));
    writeln!(out, "{s}")
}
