//! Terminal output: tracing set-up, colours (NO_COLOR, --no-color, non-TTY), errors, tables.

pub mod attached;
pub mod color;
pub mod dash;
pub mod logline;
pub mod out;
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

/// Prints an error and its causes, one per line, the way users read them (made safe to show
/// with [`shown`]).
pub fn print_error(err: &anyhow::Error) {
    let head = console::style("error:").red().bold().for_stderr();
    crate::say!("{head} {}", shown(&err.to_string()));
    for cause in err.chain().skip(1) {
        crate::say!(
            "  {} {}",
            console::style("caused by:").dim().for_stderr(),
            shown(&cause.to_string())
        );
    }
}

/// The longest run of non-space characters a message shows in full: a 100 KB argument or
/// `.env` value is shown by its start and end.
const LONGEST_WORD: usize = 200;
/// The longest message shown in full.
const LONGEST_MESSAGE: usize = 8000;

/// A message as it may reach the terminal: control characters (an escape sequence from a
/// `.env` value, a raw byte in an argument) and bidirectional overrides are written as
/// escapes, and what the user passed in bulk is shortened, so the message stays readable
/// and cannot repaint the terminal. Newlines and tabs stay.
pub fn shown(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(LONGEST_MESSAGE + 64));
    for (i, word) in msg.split_inclusive([' ', '\n']).enumerate() {
        if out.len() > LONGEST_MESSAGE {
            let left = msg
                .split_inclusive([' ', '\n'])
                .skip(i)
                .map(str::len)
                .sum::<usize>();
            out.push_str(&format!("… (message shortened: {left} more bytes)"));
            break;
        }
        let n = word.chars().count();
        if n > LONGEST_WORD {
            let head: String = word.chars().take(LONGEST_WORD / 2).collect();
            let tail: String = word.chars().skip(n - 24).collect();
            escape_into(&mut out, &head);
            out.push_str(&format!("…({} characters)…", n - head.chars().count() - 24));
            escape_into(&mut out, &tail);
        } else {
            escape_into(&mut out, word);
        }
    }
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if ('\u{80}'..='\u{9f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_and_bulk_are_made_safe_to_show() {
        assert_eq!(shown("a\x1b[2Jb\x07"), "a\\x1b[2Jb\\x07");
        assert_eq!(shown("line one\n\tline two"), "line one\n\tline two");
        assert_eq!(shown("rtl \u{202e}x"), "rtl \\u{202e}x");
        let long = format!("no such service: `{}`", "a".repeat(100_000));
        let s = shown(&long);
        assert!(s.len() < 300, "{}", s.len());
        assert!(
            s.starts_with("no such service: `aaa") && s.contains("characters)…"),
            "{s}"
        );
        assert!(s.ends_with("aaaa`"), "{s}");
        let many = "word ".repeat(10_000);
        assert!(shown(&many).contains("message shortened"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Whatever a message holds, what reaches the terminal has no raw control character
        /// but newline and tab, and its size is bounded.
        #[test]
        fn any_message_is_shown_safely(s in "(\\PC|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{202a}-\\u{202e}]|a{200,300}| ){0,400}") {
            let out = shown(&s);
            prop_assert!(out.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'), "{:?}", out);
            prop_assert!(out.len() <= LONGEST_MESSAGE + 2000, "{}", out.len());
        }
    }
}
