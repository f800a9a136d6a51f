//! `devstack logs`: the flags read, the names resolved, `ops::logs`'s stream printed.

use std::io::Write;

use regex::Regex;

use crate::cli::{GlobalOpts, LogsArgs};
use crate::engine::{observed, Engine};
use crate::errors::UsageError;
use crate::ops::logs::{self, Known, LogStream, LogsError, Missing, Targets, TargetsError, Window};
use crate::project::paths::Paths;
use crate::project::ProjectSource;
use crate::ui::logline::Level;
use crate::ui::out::stdout_err;
use crate::ui::printer::{LogPrinter, PrintOptions};

pub async fn run(g: &GlobalOpts, a: &LogsArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    let opts = print_options(a)?;
    let window = Window {
        tail: a.tail,
        since: a
            .since
            .as_deref()
            .map(|s| parse_time("--since", s))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| parse_time("--until", s))
            .transpose()?,
    };
    let paths = source.paths();
    let engine = connect(&paths).await?;
    let containers = match &engine {
        Some(engine) => observed::list(engine, &source.name).await?,
        None => Vec::new(),
    };
    // The rendered model, when it loads, adds aliases and, for `-f`, the services and host
    // processes that have not started yet (they are followed from their first line).
    let (model, load_error) = match super::load_source(source.clone(), super::FactsFrom::Cached) {
        Ok(p) => (Some(p.model), None),
        Err(e) => (None, Some(e)),
    };
    let known = Known {
        containers: &containers,
        model: model.as_ref(),
        load_error,
    };
    let targets = Targets::resolve(&source.name, &paths, known, &a.services, a.follow).map_err(
        |e| match e {
            TargetsError::Usage(u) => anyhow::Error::from(u),
            e => e.into(),
        },
    )?;
    say_missing(&targets.missing, a.follow);
    if !a.follow && targets.nothing_to_show() {
        return Ok(1);
    }
    let width = targets.wanted.iter().map(String::len).max().unwrap_or(0);
    let mut printer = LogPrinter::new(opts, width);
    let mut stream = LogStream::new(engine, &source.name, paths, targets.nodes, window)
        .picking_up(targets.pick_up);
    print_history(&mut stream, &mut printer).await?;
    if a.follow {
        print_live(stream.follow(), &mut printer).await?;
    }
    Ok(0)
}

fn print_options(a: &LogsArgs) -> Result<PrintOptions, UsageError> {
    let level = a.level.as_deref().map(|l| {
        Level::parse(l).ok_or_else(|| {
            UsageError(format!(
                "--level {l}: use trace, debug, info, warn, error or fatal"
            ))
        })
    });
    let grep = a
        .grep
        .as_deref()
        .map(|re| Regex::new(re).map_err(|e| UsageError(format!("--grep {re:?}: {e}"))));
    Ok(PrintOptions {
        level: level.transpose()?,
        grep: grep.transpose()?,
        json: a.json,
        no_prefix: a.no_prefix,
        timestamps: a.timestamps,
    })
}

/// The engine; when it cannot be reached, devstack's copies (which outlive it) are still
/// shown, and the user is told what is missing.
async fn connect(paths: &Paths) -> anyhow::Result<Option<Engine>> {
    match Engine::connect().await {
        Ok(e) => Ok(Some(e)),
        Err(e) if !logs::copies(paths).is_empty() => {
            crate::say!(
                "{} {e}\n  showing devstack's own copies only (.devstack/logs/); lines the engine has but the supervisor did not copy are missing",
                crate::ui::color::warn("warning:")
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Named services with nothing to show yet (no container, no copy): said, not silent.
fn say_missing(missing: &[Missing], follow: bool) {
    for m in missing {
        let what = match m.host {
            true => format!("host process {} has not run yet", m.name),
            false => format!("no containers yet for {}", m.name),
        };
        if follow {
            let note = crate::ui::color::dim("note:");
            crate::say!("{note} {what}: waiting for it (start it with `devstack up`)");
        } else {
            let note = crate::ui::color::warn("note:");
            crate::say!("{note} {what} (start it with `devstack up`)");
        }
    }
}

/// The history, buffered: a write error is stdout's (a closed pipe ends `logs | head`
/// quietly), not the history's.
async fn print_history(stream: &mut LogStream, printer: &mut LogPrinter) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout());
    match stream.history(|l| printer.print(&mut out, l)).await {
        Err(LogsError::Write(e)) => return Err(stdout_err(e).into()),
        r => r?,
    }
    out.flush().map_err(stdout_err)?;
    Ok(())
}

/// New lines as they come, each flushed, until Ctrl-C.
async fn print_live(mut live: logs::Live, printer: &mut LogPrinter) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            line = live.next() => {
                let Some(l) = line else { return Ok(()) };
                let mut out = std::io::stdout().lock();
                printer.print(&mut out, &l).and_then(|_| out.flush()).map_err(stdout_err)?;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn parse_time(flag: &str, s: &str) -> Result<i64, UsageError> {
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
