//! Go-style durations as Compose writes them: `1m30s`, `500ms`, `2.5s`, `1h`, `10us`.
//!
//! Never panics: infinite, not-a-number, negative and out-of-range values are errors that
//! say what is accepted. The largest duration is Go's (and the Docker API's, which counts
//! nanoseconds in an i64): about 292 years.

use std::time::Duration;

/// Go's `time.Duration` maximum: i64::MAX nanoseconds (2562047h47m16.854775807s).
pub const MAX: Duration = Duration::new(9_223_372_036, 854_775_807);

/// Why a duration was refused; each says what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration: use e.g. 30s, 5m or 1h30m")]
    Empty,
    #[error("invalid duration {0:?}: a duration cannot be negative (use e.g. 30s, 5m or 1h30m)")]
    Negative(String),
    #[error("invalid duration {0:?}: not a finite number (use e.g. 30s, 5m or 1h30m)")]
    NotFinite(String),
    #[error("invalid duration {input:?}: expected a number at {at:?} (use e.g. 30s, 5m or 1h30m)")]
    NumberExpected { input: String, at: String },
    #[error("invalid duration {input:?}: {number:?} is not a number")]
    NotANumber { input: String, number: String },
    #[error(
        "invalid duration {input:?}: a unit is missing after {value} (use ns, us, ms, s, m, h or d)"
    )]
    MissingUnit { input: String, value: f64 },
    #[error("invalid duration {input:?}: unknown unit {unit:?} (use ns, us, ms, s, m, h or d)")]
    UnknownUnit { input: String, unit: String },
    #[error("invalid duration {0:?}: too long (at most 2562047h, about 292 years)")]
    TooLong(String),
    #[error("invalid duration {input:?}: {reason}")]
    Invalid { input: String, reason: String },
}

pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    if t.starts_with('-') {
        return Err(DurationError::Negative(s.into()));
    }
    // A bare number: seconds (Compose accepts integers as seconds in some places). Rust's f64
    // parser also takes "inf", "NaN" and "1e30": the first two are no durations, the last too long.
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() {
            return Err(DurationError::NotFinite(s.into()));
        }
        return from_secs(secs, s);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(DurationError::NumberExpected {
                input: s.into(),
                at: rest.into(),
            });
        }
        let value: f64 = rest[..num_end]
            .parse()
            .map_err(|_| DurationError::NotANumber {
                input: s.into(),
                number: rest[..num_end].into(),
            })?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => {
                return Err(DurationError::MissingUnit {
                    input: s.into(),
                    value,
                })
            }
            other => {
                return Err(DurationError::UnknownUnit {
                    input: s.into(),
                    unit: other.into(),
                })
            }
        };
        total += value * factor;
        rest = &rest[unit_end..];
    }
    from_secs(total, s)
}

fn from_secs(secs: f64, s: &str) -> Result<Duration, DurationError> {
    if !secs.is_finite() || secs > MAX.as_secs_f64() {
        return Err(DurationError::TooLong(s.into()));
    }
    Duration::try_from_secs_f64(secs)
        .map(|d| d.min(MAX))
        .map_err(|e| DurationError::Invalid {
            input: s.into(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse("5x").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn out_of_range_values_are_errors_not_panics() {
        for bad in [
            "inf",
            "-inf",
            "infinity",
            "NaN",
            "1e30",
            "-5",
            "-1s",
            "1e3s",
            "99999999999999999999h",
            "9999999999999999999999999999999999999999",
            "3000000h",
            ".",
            "1..2s",
            "5 s",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(
                e.to_string().contains(bad) || bad.trim().is_empty(),
                "{bad}: {e}"
            );
        }
        assert!(parse("1e30").unwrap_err().to_string().contains("too long"));
        assert_eq!(
            parse("2562047h").unwrap(),
            Duration::from_secs(2562047 * 3600)
        );
    }

    proptest! {
        #[test]
        fn any_text_is_ok_or_err(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn duration_like_text_is_ok_or_err(s in "[-0-9.eE]{0,30}(ns|us|µs|ms|s|m|h|d|inf|NaN|x)?([0-9.]{0,25}(s|m|h))?") {
            if let Ok(d) = parse(&s) {
                prop_assert!(d <= MAX);
            }
        }

        #[test]
        fn any_float_is_ok_or_err(f in proptest::num::f64::ANY) {
            let _ = parse(&f.to_string());
            let _ = parse(&format!("{f}s"));
            let _ = parse(&format!("{f}h"));
        }
    }
}
