//! Writes log lines the way `devstack logs` and attached `up` show them: filtered, prefixed
//! with the service's stable colour, JSON lines made readable (or emitted as JSON).

use std::collections::HashMap;
use std::io::Write;

use regex::Regex;

use crate::engine::logs::Line;
use crate::ui::logline::{self, Level};

/// What to show and how; the default shows every line, prefixed, without timestamps.
#[derive(Default)]
pub struct PrintOptions {
    pub level: Option<Level>,
    pub grep: Option<Regex>,
    pub json: bool,
    pub no_prefix: bool,
    pub timestamps: bool,
}

pub struct LogPrinter {
    opts: PrintOptions,
    /// Prefix width, so the `|` of every service lines up.
    width: usize,
    prefixes: HashMap<String, String>,
}

impl LogPrinter {
    pub fn new(opts: PrintOptions, width: usize) -> LogPrinter {
        LogPrinter {
            opts,
            width,
            prefixes: HashMap::new(),
        }
    }

    pub fn print(&mut self, out: &mut impl Write, l: &Line) -> std::io::Result<()> {
        let o = &self.opts;
        if let Some(re) = &o.grep {
            if !re.is_match(&l.text) {
                return Ok(());
            }
        }
        // Levels are only looked for when something needs them (a hot path on 200k lines).
        let is_json = l.text.trim_start().starts_with('{');
        let parsed = (is_json || o.level.is_some() || o.json).then(|| logline::parse(&l.text));
        let level = parsed.as_ref().and_then(|p| p.level);
        if let (Some(min), Some(level)) = (o.level, level) {
            if level < min {
                return Ok(());
            }
        }
        if o.json {
            let message = match &parsed {
                Some(p) if p.json => p.message.as_str(),
                _ => l.text.as_str(),
            };
            let obj = serde_json::json!({
                "service": l.service, "stream": l.stream, "timestamp": l.ts, "level": level, "message": message,
            });
            return writeln!(out, "{obj}");
        }
        if !o.no_prefix {
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
        if o.timestamps {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(service: &str, text: &str) -> Line {
        Line {
            ts: "2026-12-02T10:00:00.000000000Z".into(),
            service: service.into(),
            stream: "stdout",
            text: text.into(),
        }
    }

    fn printed(opts: PrintOptions, lines: &[Line]) -> String {
        console::set_colors_enabled(false);
        let mut p = LogPrinter::new(opts, 5);
        let mut out = Vec::new();
        for l in lines {
            p.print(&mut out, l).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn prefixes_line_up_and_json_reads_as_text() {
        let out = printed(
            PrintOptions::default(),
            &[
                line("api", r#"{"level":30,"msg":"listening","port":3000}"#),
                line("redis", "Ready to accept connections"),
            ],
        );
        assert_eq!(
            out,
            "api   | INFO  listening port=3000\nredis | Ready to accept connections\n"
        );
    }

    #[test]
    fn level_keeps_lines_at_or_above_it_and_lines_without_one() {
        let opts = PrintOptions {
            level: Some(Level::Warn),
            no_prefix: true,
            ..Default::default()
        };
        let out = printed(
            opts,
            &[
                line("a", r#"{"level":"info","msg":"i"}"#),
                line("a", "[warn] w"),
                line("a", "no level here"),
                line("a", r#"{"level":50,"msg":"e"}"#),
            ],
        );
        assert_eq!(out, "[warn] w\nno level here\nERROR e\n");
    }

    #[test]
    fn json_output_has_service_stream_timestamp_level_message() {
        let opts = PrintOptions {
            json: true,
            ..Default::default()
        };
        let out = printed(opts, &[line("api", r#"{"level":"warn","msg":"slow"}"#)]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["service"], "api");
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["timestamp"], "2026-12-02T10:00:00.000000000Z");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["message"], "slow");
    }
}
