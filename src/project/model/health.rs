//! `healthcheck:` (of a service or a host process): the test and its timings, or `disable`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{dur, read_mapping, scalar, string_list, truthy, Key};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<i64>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
}

impl Healthcheck {
    /// A test of the file's own (an empty one leaves the image's, which devstack cannot see).
    pub fn enabled(&self) -> bool {
        self.test.first().is_some_and(|t| t != "NONE")
    }

    fn disabled() -> Healthcheck {
        Healthcheck {
            test: vec!["NONE".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHealthcheck {
    test: Key,
    interval: Key,
    timeout: Key,
    retries: Key,
    start_period: Key,
    start_interval: Key,
    disable: Key,
}

/// `null` is no healthcheck (the image's own applies).
pub(super) fn parse_healthcheck(
    v: &Value,
    at: &str,
    cx: &Ctx,
) -> Result<Option<Healthcheck>, ProjectError> {
    let raw: RawHealthcheck = match v {
        Value::Object(_) => read_mapping(v).unwrap_or_default(),
        Value::Null => return Ok(None),
        _ => return Err(cx.err(at, "expected a mapping")),
    };
    if raw.disable.get().is_some_and(truthy) {
        return Ok(Some(Healthcheck::disabled()));
    }
    let test = test(raw.test.get(), at, cx)?;
    let field = |k: &str| format!("{at}.{k}");
    Ok(Some(Healthcheck {
        test,
        interval: dur(raw.interval.get(), &field("interval"), cx)?,
        timeout: dur(raw.timeout.get(), &field("timeout"), cx)?,
        retries: raw
            .retries
            .get()
            .and_then(scalar)
            .and_then(|r| r.parse().ok()),
        start_period: dur(raw.start_period.get(), &field("start_period"), cx)?,
        start_interval: dur(raw.start_interval.get(), &field("start_interval"), cx)?,
    }))
}

/// A string is a shell command (`CMD-SHELL`); a list starts with CMD, CMD-SHELL or NONE; no
/// test keeps the image's own with these timings (compose-go checks a test only when given).
fn test(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<String>, ProjectError> {
    let at_test = format!("{at}.test");
    match v {
        Some(Value::String(s)) => Ok(vec!["CMD-SHELL".to_string(), s.clone()]),
        Some(list @ Value::Array(_)) => {
            let t = string_list(list, &at_test, cx, false)?;
            if !matches!(
                t.first().map(String::as_str),
                Some("CMD" | "CMD-SHELL" | "NONE")
            ) {
                return Err(cx.err(&at_test, "a list must start with CMD, CMD-SHELL or NONE"));
            }
            Ok(t)
        }
        None => Ok(Vec::new()),
        Some(_) => Err(cx.err(&at_test, "expected a string or list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::interpolate::Blame;
    use serde_json::json;

    fn hc(v: Value) -> Result<Option<Healthcheck>, ProjectError> {
        parse_healthcheck(&v, "services.web.healthcheck", &Ctx::new("f", None))
    }

    #[test]
    fn timings_without_a_test_keep_the_image_s_test() {
        let h = hc(json!({"interval": "10s", "retries": 2}))
            .unwrap()
            .unwrap();
        assert!(h.test.is_empty(), "the engine keeps the image's test");
        assert_eq!(h.interval, Some(Duration::from_secs(10)));
        assert!(!h.enabled());
    }

    #[test]
    fn a_string_test_runs_in_a_shell() {
        let h = hc(json!({"test": "curl -f localhost", "interval": "5s", "retries": "3"}))
            .unwrap()
            .unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "curl -f localhost"]);
        assert_eq!(h.interval, Some(Duration::from_secs(5)));
        assert_eq!(h.retries, Some(3));
        assert!(h.enabled());
    }

    #[test]
    fn disable_and_none_turn_it_off() {
        assert!(!hc(json!({"disable": true})).unwrap().unwrap().enabled());
        assert!(!hc(json!({"test": ["NONE"]})).unwrap().unwrap().enabled());
        assert!(hc(Value::Null).unwrap().is_none());
    }

    #[test]
    fn mistakes_are_named_at_their_path() {
        let e = |v| hc(v).unwrap_err().0;
        assert_eq!(
            e(json!({"test": ["curl"]})),
            "f: services.web.healthcheck.test: a list must start with CMD, CMD-SHELL or NONE"
        );
        assert_eq!(
            e(json!({"test": 5})),
            "f: services.web.healthcheck.test: expected a string or list"
        );
        assert_eq!(
            e(json!(5)),
            "f: services.web.healthcheck: expected a mapping"
        );
    }

    #[test]
    fn a_bad_duration_from_a_variable_is_blamed_on_it() {
        let blame = |at: &str| {
            (at == "services.web.healthcheck.start_period").then(|| Blame {
                text: "/p/.env:2: START=1e30".into(),
                names: vec!["START".into()],
                place: "/p/.env".into(),
            })
        };
        let cx = Ctx::new("/p/.devstack/compose.yaml", Some(&blame));
        let v = json!({"test": ["CMD", "x"], "start_period": "1e30", "interval": "1e30"});
        let e = parse_healthcheck(&v, "services.web.healthcheck", &cx).unwrap_err();
        // `interval` is read first and did not come from a variable: the generated file.
        assert!(
            e.0.starts_with(
                "/p/.devstack/compose.yaml: services.web.healthcheck.interval: invalid duration"
            ),
            "{e}"
        );
        let v = json!({"test": ["CMD", "x"], "start_period": "1e30"});
        let e = parse_healthcheck(&v, "services.web.healthcheck", &cx).unwrap_err();
        assert!(
            e.0.starts_with("/p/.env:2: START=1e30: services.web.healthcheck.start_period: invalid duration \"1e30\"")
                && e.0.ends_with("; fix START in /p/.env"),
            "{e}"
        );
    }
}
