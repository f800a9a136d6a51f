use std::io::Write;
use std::time::Duration;

use regex::Regex;
use tokio::sync::mpsc;

use crate::cli::{GlobalOpts, LogsArgs};
use crate::engine::logs::{follow, history, Line};
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

    let mut all = Vec::new();
    for (service, name) in &targets {
        let engine_lines = history(&engine, service, name, a.tail, since, until).await?;
        // The copy fills in what the engine no longer has (older containers of the service).
        let first = engine_lines.first().map(|l| l.ts.clone());
        let mut lines = file_history(
            &log_dir.join(format!("{service}.log")),
            service,
            None,
            since,
            until,
            first.as_deref(),
        );
        lines.extend(engine_lines);
        keep_tail(&mut lines, a.tail);
        all.extend(lines);
    }
    // Host processes, and services whose containers are gone: only the copies remain.
    for name in wanted
        .iter()
        .filter(|w| !targets.iter().any(|(s, _)| s == *w))
    {
        all.extend(file_history(
            &log_dir.join(format!("{name}.log")),
            name,
            a.tail,
            since,
            until,
            None,
        ));
    }
    let host_targets: Vec<String> = hosts
        .iter()
        .filter(|h| wanted.contains(h))
        .cloned()
        .collect();
    // Merge by the engine's timestamps (RFC 3339 with nanoseconds sorts as text).
    if wanted.len() > 1 {
        all.sort_by(|x, y| x.ts.cmp(&y.ts));
    }
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

/// Lines from one of devstack's own log files (and its rotated predecessor).
fn file_history(
    path: &std::path::Path,
    name: &str,
    tail: Option<usize>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<&str>,
) -> Vec<Line> {
    let in_range = |ts: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(ts)
            .map(|t| t.timestamp())
            .unwrap_or(0);
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
    };
    let mut lines: Vec<Line> = crate::supervisor::logfile::read_lines_before(path, before)
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
    keep_tail(&mut lines, tail);
    lines
}

fn keep_tail(lines: &mut Vec<Line>, tail: Option<usize>) {
    if let Some(n) = tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
}

/// Follows a host process's log file (polling; it is appended to by the supervisor).
async fn follow_file(
    path: std::path::PathBuf,
    name: String,
    mut after: String,
    tx: mpsc::Sender<Line>,
) {
    loop {
        for l in file_history(&path, &name, None, None, None, None) {
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
    if let Some(re) = &f.grep {
        if !re.is_match(&l.text) {
            return Ok(());
        }
    }
    // Levels are only looked for when something needs them (a hot path on 200k-line logs).
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
        let style = crate::ui::color::for_name(&l.service);
        write!(
            out,
            "{} ",
            style.apply_to(format_args!("{:<width$} |", l.service))
        )?;
    }
    if a.timestamps {
        write!(out, "{} ", crate::ui::color::dim(&l.ts))?;
    }
    match &parsed {
        Some(p) if p.json => writeln!(out, "{}", logline::readable(p, &l.text)),
        _ => writeln!(out, "{}", l.text),
    }
}
