use std::io::Write;
use std::time::Duration;

use regex::Regex;
use tokio::sync::mpsc;

use crate::cli::{GlobalOpts, LogsArgs};
use crate::engine::logs::{follow, EngineLines, Line};
use crate::engine::observed;
use crate::errors::UsageError;
use crate::history::{self, copy_line, History, TimeRange};
use crate::project::ProjectSource;
use crate::ui::logline::Level;
use crate::ui::printer::{LogPrinter, PrintOptions};

pub async fn run(g: &GlobalOpts, a: &LogsArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    let opts = PrintOptions {
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
        json: a.json,
        no_prefix: a.no_prefix,
        timestamps: a.timestamps,
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
    let paths = source.paths();
    let log_dir = paths.logs_dir();
    let hosts: Vec<String> = crate::supervisor::state::State::load(&paths)
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
    // devstack's copies outlive the engine: when it cannot be reached (stopped, crashed),
    // they are still shown, and the user is told what is missing.
    let engine = match crate::engine::Engine::connect().await {
        Ok(e) => Some(e),
        Err(e) if !copies.is_empty() => {
            crate::say!(
                "{} {e}\n  showing devstack's own copies only (.devstack/logs/); lines the engine has but the supervisor did not copy are missing",
                crate::ui::color::warn("warning:")
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let containers = match &engine {
        Some(engine) => observed::list(engine, &source.name).await?,
        None => Vec::new(),
    };
    // The rendered model, when it loads, adds aliases and, for `-f`, the services and host
    // processes that have not started yet (they are followed from their first line).
    let loaded = super::load_source(source.clone(), super::FactsFrom::Cached);
    let (model, load_error) = match loaded {
        Ok(p) => (Some(p.model), None),
        Err(e) => (None, Some(e)),
    };
    let (model_services, model_hosts): (Vec<String>, Vec<String>) = match &model {
        Some(m) if a.follow => (
            m.services.keys().cloned().collect(),
            m.x_devstack.host.keys().cloned().collect(),
        ),
        _ => Default::default(),
    };
    let known: Vec<String> = {
        let mut v: Vec<String> = containers
            .iter()
            .map(|c| c.service.clone())
            .chain(hosts.iter().cloned())
            .chain(copies.iter().cloned())
            .chain(model_services.iter().cloned())
            .chain(model_hosts.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    // Names resolve against everything the project knows: what ran, and the rendered model
    // (a service that has not started yet is still a service).
    let resolvable: Vec<String> = {
        let mut v = known.clone();
        if let Some(m) = &model {
            v.extend(m.services.keys().cloned());
            v.extend(m.x_devstack.host.keys().cloned());
        }
        v.sort();
        v.dedup();
        v
    };
    let wanted: Vec<String> = if a.services.is_empty() {
        known.clone()
    } else if resolvable.is_empty() {
        let why = format!(
            "no such service: `{}`: project {} has no containers and no devstack log copies, \
             and its configuration does not load",
            a.services[0], source.name
        );
        return Err(match load_error {
            Some(e) => anyhow::Error::new(e).context(why),
            None => UsageError(why).into(),
        });
    } else {
        let aliases = model
            .as_ref()
            .map(|m| m.x_devstack.aliases.clone())
            .unwrap_or_default();
        a.services
            .iter()
            .map(|n| crate::project::resolve_name(n, resolvable.iter(), &aliases))
            .collect::<Result<_, _>>()?
    };
    let width = wanted.iter().map(String::len).max().unwrap_or(0);
    // Each container by its log name: the service, or `service-N` for further replicas.
    let targets: Vec<(String, String)> = containers
        .iter()
        .filter(|c| wanted.contains(&c.service))
        .map(|c| {
            (
                crate::engine::labels::log_name(&c.service, c.number),
                c.name.clone(),
            )
        })
        .collect();
    let range = TimeRange::new(since, until);
    // Named services with nothing to show yet (no container, no copy): said, not silent.
    let nothing: Vec<&String> = if a.services.is_empty() {
        Vec::new()
    } else {
        wanted
            .iter()
            .filter(|w| !containers.iter().any(|c| &c.service == *w) && !paths.log(w).exists())
            .collect()
    };
    let is_host = |n: &str| {
        hosts.iter().any(|h| h == n)
            || model
                .as_ref()
                .is_some_and(|m| m.x_devstack.host.contains_key(n))
    };
    for n in &nothing {
        let what = if is_host(n) {
            format!("host process {n} has not run yet")
        } else {
            format!("no containers yet for {n}")
        };
        if a.follow {
            crate::say!(
                "{} {what}: waiting for it (start it with `devstack up`)",
                crate::ui::color::dim("note:")
            );
        } else {
            crate::say!(
                "{} {what} (start it with `devstack up`)",
                crate::ui::color::warn("note:")
            );
        }
    }
    if !a.follow && !nothing.is_empty() && nothing.len() == wanted.len() {
        return Ok(1);
    }

    // History: one time-ordered source per service, merged by timestamp while it streams.
    let mut sources = Vec::new();
    for (service, name) in &targets {
        let copy = paths.log(service);
        let Some(engine) = &engine else { break };
        let engine_lines = EngineLines::open(engine, service, name, a.tail, since, until);
        sources.push(History::container(engine_lines, &copy, service, a.tail, &range).await?);
    }
    // Host processes, and services whose containers are gone: only the copies remain.
    for name in wanted
        .iter()
        .filter(|w| !containers.iter().any(|c| &c.service == *w))
    {
        let copy = paths.log(name);
        sources.push(History::copy_only(&copy, name, a.tail, &range));
    }
    let host_targets: Vec<String> = hosts
        .iter()
        .chain(model_hosts.iter())
        .filter(|h| wanted.contains(h))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // Services without a container yet: followed by the name their container will have.
    let not_yet: Vec<(String, String)> = model_services
        .iter()
        .filter(|s| wanted.contains(s) && !containers.iter().any(|c| &c.service == *s))
        .map(|s| {
            let container = model
                .as_ref()
                .and_then(|m| m.services.get(s.as_str()))
                .and_then(|svc| svc.container.container_name.clone())
                .unwrap_or_else(|| crate::engine::labels::container_name(&source.name, s));
            (s.clone(), container)
        })
        .collect();
    let mut printer = LogPrinter::new(opts, width);
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    // A write error is stdout's (a closed pipe ends `logs | head` quietly), not the history's.
    let mut write_err = None;
    let merged = history::merge(&mut sources, |l| {
        printer.print(&mut out, l).inspect_err(|e| {
            write_err = Some(std::io::Error::new(e.kind(), e.to_string()));
        })
    })
    .await;
    if let Some(e) = write_err {
        return Err(crate::ui::out::stdout_err(e).into());
    }
    let last_ts = merged?;
    out.flush().map_err(crate::ui::out::stdout_err)?;
    drop(out);
    if !a.follow {
        return Ok(0);
    }
    let (tx, mut rx) = mpsc::channel::<Line>(1024);
    for (service, name) in targets.into_iter().chain(not_yet) {
        let Some(engine) = engine.clone() else { break };
        let tx = tx.clone();
        let after = last_ts.get(&service).cloned().unwrap_or_default();
        tokio::spawn(follow(engine, service, name, after, tx));
    }
    for h in host_targets {
        let tx = tx.clone();
        let after = last_ts.get(&h).cloned().unwrap_or_default();
        tokio::spawn(follow_file(paths.log(&h), h, after, tx));
    }
    drop(tx);
    loop {
        tokio::select! {
            line = rx.recv() => {
                let Some(l) = line else { break };
                let mut out = std::io::stdout().lock();
                printer
                    .print(&mut out, &l)
                    .and_then(|_| out.flush())
                    .map_err(crate::ui::out::stdout_err)?;
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
            "{flag} {s}: {e}, or an RFC 3339 time (2026-01-02T15:04:05Z)"
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
