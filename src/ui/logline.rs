//! One log line: its level (JSON `level`/`levelname`/`severity`/`lvl`, pino's numbers, or
//! common text forms) and a readable rendering of JSON lines.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" | "trc" => Some(Level::Trace),
            "debug" | "dbg" => Some(Level::Debug),
            "info" | "inf" | "information" | "notice" => Some(Level::Info),
            "warn" | "warning" | "wrn" => Some(Level::Warn),
            "error" | "err" | "eror" => Some(Level::Error),
            "fatal" | "critical" | "crit" | "panic" | "emerg" | "alert" => Some(Level::Fatal),
            _ => None,
        }
    }

    fn from_pino(n: i64) -> Level {
        match n {
            n if n >= 60 => Level::Fatal,
            n if n >= 50 => Level::Error,
            n if n >= 40 => Level::Warn,
            n if n >= 30 => Level::Info,
            n if n >= 20 => Level::Debug,
            _ => Level::Trace,
        }
    }
}

/// A parsed line: level when one is recognisable, message, remaining JSON fields.
pub struct Parsed {
    pub level: Option<Level>,
    /// The line's own time, as `HH:MM:SS.mmm` (UTC, like the engine's timestamps).
    pub time: Option<String>,
    pub message: String,
    pub fields: Vec<(String, String)>,
    pub json: bool,
}

const LEVEL_KEYS: [&str; 4] = ["level", "levelname", "severity", "lvl"];
const MESSAGE_KEYS: [&str; 3] = ["msg", "message", "event"];
const TIME_KEYS: [&str; 5] = ["time", "timestamp", "ts", "asctime", "@timestamp"];

pub fn parse(line: &str) -> Parsed {
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
            let level = LEVEL_KEYS.iter().find_map(|k| match map.get(*k) {
                Some(Value::String(s)) => Level::parse(s),
                Some(Value::Number(n)) => n.as_i64().map(Level::from_pino),
                _ => None,
            });
            let time = TIME_KEYS
                .iter()
                .find_map(|k| map.get(*k))
                .and_then(time_of_day);
            let message = MESSAGE_KEYS
                .iter()
                .find_map(|k| {
                    map.get(*k).map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                })
                .unwrap_or_default();
            let fields = map
                .iter()
                .filter(|(k, _)| {
                    !LEVEL_KEYS.contains(&k.as_str())
                        && !MESSAGE_KEYS.contains(&k.as_str())
                        && !TIME_KEYS.contains(&k.as_str())
                })
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect();
            return Parsed {
                level,
                time,
                message,
                fields,
                json: true,
            };
        }
    }
    Parsed {
        level: text_level(line),
        time: None,
        message: line.to_string(),
        fields: vec![],
        json: false,
    }
}

/// A JSON time field as the time of day: RFC 3339 (`2026-12-01T10:00:00.5Z`), Python's
/// `2026-12-01 10:00:00,123`, or epoch seconds / milliseconds (pino's `time`). Anything else
/// is shown as it is.
fn time_of_day(v: &Value) -> Option<String> {
    let from_epoch_ms = |ms: f64| {
        chrono::DateTime::from_timestamp_millis(ms as i64)
            .map(|t| t.format("%H:%M:%S%.3f").to_string())
    };
    match v {
        Value::Number(n) => {
            let x = n.as_f64()?;
            // Milliseconds since 1970 pass 1e12 in 2001; seconds will not for 30,000 years.
            from_epoch_ms(if x >= 1e12 { x } else { x * 1000.0 })
        }
        Value::String(s) => {
            let iso = s.replacen(' ', "T", 1).replacen(',', ".", 1);
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&iso) {
                return Some(
                    t.with_timezone(&chrono::Utc)
                        .format("%H:%M:%S%.3f")
                        .to_string(),
                );
            }
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&iso, "%Y-%m-%dT%H:%M:%S%.f") {
                return Some(t.format("%H:%M:%S%.3f").to_string());
            }
            Some(s.clone())
        }
        _ => None,
    }
}

/// `ERROR …`, `[warn] …`, `level=info`, `2026-… WARNING …`, glog's `W1122 12:00:00 …`.
fn text_level(line: &str) -> Option<Level> {
    let b = line.as_bytes();
    if b.len() > 5
        && matches!(b[0], b'I' | b'W' | b'E' | b'F')
        && b[1..5].iter().all(u8::is_ascii_digit)
    {
        return Some(match b[0] {
            b'I' => Level::Info,
            b'W' => Level::Warn,
            b'E' => Level::Error,
            _ => Level::Fatal,
        });
    }
    if let Some(pos) = line.find("level=") {
        let rest = &line[pos + 6..];
        let word: String = rest
            .trim_start_matches('"')
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if let Some(l) = Level::parse(&word) {
            return Some(l);
        }
    }
    for token in line.split(|c: char| c.is_whitespace() || c == ':').take(6) {
        let t = token.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | '|' | '<' | '>'));
        if t.len() >= 4 && t.chars().all(|c| c.is_ascii_uppercase()) || token.starts_with('[') {
            if let Some(l) = Level::parse(t) {
                return Some(l);
            }
        }
    }
    None
}

/// JSON lines as `time LEVEL message k=v …`; other lines unchanged.
pub fn readable(p: &Parsed, original: &str) -> String {
    if !p.json {
        return original.to_string();
    }
    let mut s = String::new();
    if let Some(t) = &p.time {
        s.push_str(&crate::ui::color::dim(t));
        s.push(' ');
    }
    if let Some(l) = p.level {
        let tag = format!("{:<5}", format!("{l:?}").to_uppercase());
        s.push_str(&match l {
            Level::Error | Level::Fatal => crate::ui::color::bad(&tag),
            Level::Warn => crate::ui::color::warn(&tag),
            _ => crate::ui::color::dim(&tag),
        });
        s.push(' ');
    }
    s.push_str(&p.message);
    for (k, v) in &p.fields {
        s.push_str(&format!(" {}={v}", crate::ui::color::dim(k)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(
            parse(r#"{"level":"warn","msg":"x"}"#).level,
            Some(Level::Warn)
        );
        assert_eq!(parse(r#"{"level":50,"msg":"x"}"#).level, Some(Level::Error));
        assert_eq!(
            parse(r#"{"levelname":"ERROR","message":"x"}"#).level,
            Some(Level::Error)
        );
        assert_eq!(parse(r#"{"severity":"INFO"}"#).level, Some(Level::Info));
        assert_eq!(parse("ERROR something broke").level, Some(Level::Error));
        assert_eq!(parse("[warn] disk almost full").level, Some(Level::Warn));
        assert_eq!(
            parse("W1122 12:00:00.000 1 main.go:1] slow").level,
            Some(Level::Warn)
        );
        assert_eq!(parse("time=1 level=debug msg=x").level, Some(Level::Debug));
        assert_eq!(
            parse("2026-11-22 12:00:00 WARNING low memory").level,
            Some(Level::Warn)
        );
        assert_eq!(parse("just a line with an error inside").level, None);
    }

    #[test]
    fn json_is_made_readable() {
        console::set_colors_enabled(false);
        let line = r#"{"level":"info","msg":"started","port":3000}"#;
        assert_eq!(readable(&parse(line), line), "INFO  started port=3000");
        let pino = r#"{"level":30,"time":1764583200123,"pid":7,"msg":"listening"}"#;
        assert_eq!(
            readable(&parse(pino), pino),
            "10:00:00.123 INFO  listening pid=7"
        );
    }

    #[test]
    fn json_times_become_the_time_of_day() {
        let t = |v: &str| parse(&format!(r#"{{"time":{v},"msg":"x"}}"#)).time;
        assert_eq!(t("1764583200.5").as_deref(), Some("10:00:00.500"));
        assert_eq!(
            t(r#""2026-12-01T10:00:00Z""#).as_deref(),
            Some("10:00:00.000")
        );
        assert_eq!(
            t(r#""2026-12-01T11:00:00.25+01:00""#).as_deref(),
            Some("10:00:00.250")
        );
        let py = parse(r#"{"asctime":"2026-12-01 10:00:00,123","message":"x"}"#);
        assert_eq!(py.time.as_deref(), Some("10:00:00.123"));
        assert_eq!(t(r#""yesterday""#).as_deref(), Some("yesterday"));
    }
}
