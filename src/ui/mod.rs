//! Terminal output: tracing set-up, colours (NO_COLOR, --no-color, non-TTY), errors, tables.

pub mod attached;
pub mod color;
pub mod dash;
pub mod logline;
pub mod printer;
pub mod progress;
pub mod table;

use tracing_subscriber::EnvFilter;

use crate::cli::GlobalOpts;

/// Sets colour policy and the tracing subscriber (to stderr). `DEVSTACK_LOG` takes a filter.
pub fn init(g: &GlobalOpts) {
    if g.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    let default = match g.verbose {
        0 => "warn",
        1 => "devstack=debug,info",
        _ => "devstack=trace,debug",
    };
    let filter =
        EnvFilter::try_from_env("DEVSTACK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(console::colors_enabled_stderr())
        .with_target(false)
        .try_init();
}

/// Prints an error and its causes, one per line, the way users read them.
pub fn print_error(err: &anyhow::Error) {
    let head = console::style("error:").red().bold().for_stderr();
    eprintln!("{head} {err}");
    for cause in err.chain().skip(1) {
        eprintln!(
            "  {} {cause}",
            console::style("caused by:").dim().for_stderr()
        );
    }
}

/// Whether stdout is an interactive terminal (spinners, redraws).
pub fn stdout_is_tty() -> bool {
    console::Term::stdout().is_term()
}

pub fn stderr_is_tty() -> bool {
    console::Term::stderr().is_term()
}

/// `42s`, `3m05s`, `2h07m`, `1d03h`: uptimes in tables.
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}
