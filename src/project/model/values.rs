//! Reading compose values as Compose does: a key present or absent (`null` counts as present),
//! YAML 1.1 scalars as strings, truthy values, lists of strings (commands shell-split),
//! `KEY=VALUE` mappings and durations. Each reader reports errors at the path it is given.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::super::duration;
use super::Ctx;
use crate::errors::ProjectError;

/// A key's value as written, `null` included; `None` when the key is absent. The raw structs'
/// fields are `Key`s, so each area reads the value itself and reports today's precise errors
/// (a path and, for a value that came from a variable, its `.env` line) rather than serde's.
#[derive(Debug, Clone, Default)]
pub(super) struct Key(Option<Value>);

impl Key {
    pub(super) fn get(&self) -> Option<&Value> {
        self.0.as_ref()
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Key(Some(v)))
    }
}

/// A mapping read into its raw struct (keys devstack reads as fields, the others collected);
/// `None` when `v` is not a mapping.
pub(super) fn read_mapping<'a, T: Deserialize<'a>>(v: &'a Value) -> Option<T> {
    v.as_object()?;
    T::deserialize(v).ok()
}

/// Keys the raw structs do not name (`#[serde(flatten)]`).
pub(super) type OtherKeys = IndexMap<String, Value>;

pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "true" | "True" | "yes"),
        Value::Object(_) => true,
        _ => false,
    }
}

/// A scalar as the string Compose would see (YAML 1.1 booleans and numbers included).
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Null => None,
        _ => None,
    }
}

/// A string or a list of scalars; a string is shell-split when `shell_split` (commands).
pub(super) fn string_list(
    v: &Value,
    at: &str,
    cx: &Ctx,
    shell_split: bool,
) -> Result<Vec<String>, ProjectError> {
    match v {
        Value::String(s) if shell_split => split_command(s).map_err(|e| cx.bad_value(at, e)),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| cx.err(at, "expected a list of strings")))
            .collect(),
        _ => Err(cx.err(at, "expected a string or a list of strings")),
    }
}

/// A command string with a quote left open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unterminated single quote in command {0:?}")]
    SingleQuote(String),
    #[error("unterminated double quote in command {0:?}")]
    DoubleQuote(String),
}

/// Splits a command string like a POSIX shell would (quotes and backslashes), as Compose does.
pub fn split_command(s: &str) -> Result<Vec<String>, CommandError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(CommandError::SingleQuote(s.into())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(CommandError::DoubleQuote(s.into())),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(CommandError::DoubleQuote(s.into())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// A mapping of scalars or a list of `KEY=VALUE` (a bare `KEY` has no value).
pub(super) fn string_map(
    v: &Value,
    at: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, Option<String>>, ProjectError> {
    let mut out = IndexMap::new();
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if !val.is_null() && scalar(val).is_none() {
                    return Err(
                        cx.err(&format!("{at}.{k}"), "expected a string, number or boolean")
                    );
                }
                out.insert(k.clone(), scalar(val));
            }
        }
        Value::Array(items) => {
            for item in items {
                let s = scalar(item)
                    .ok_or_else(|| cx.err(at, "expected a list of KEY=VALUE strings"))?;
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_string(), Some(val.to_string())),
                    None => out.insert(s, None),
                };
            }
        }
        Value::Null => {}
        _ => return Err(cx.err(at, "expected a mapping or a list of KEY=VALUE")),
    }
    Ok(out)
}

/// [`string_map`] with a bare `KEY` as an empty value (labels, build args, log options).
pub(super) fn string_map_or_empty(
    v: &Value,
    at: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, String>, ProjectError> {
    Ok(string_map(v, at, cx)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// `5s`, `1m30s`; absent or `null` is `None`.
pub(super) fn dur(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<Duration>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(val) => {
            let s =
                scalar(val).ok_or_else(|| cx.err(at, "expected a duration like 5s or 1m30s"))?;
            duration::parse(&s)
                .map(Some)
                .map_err(|e| cx.bad_value(at, e))
        }
    }
}

/// A scalar key's text; absent or `null` is `None`.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(scalar)
}

/// A boolean as Compose reads one (`true`/`false`, and YAML 1.1's `yes`/`no`/`on`/`off`);
/// absent or `null` is `None`.
pub(super) fn boolean(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<bool>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => match scalar(other)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("true" | "yes" | "y" | "on") => Ok(Some(true)),
            Some("false" | "no" | "n" | "off") => Ok(Some(false)),
            _ => Err(cx.bad_value(at, "expected true or false")),
        },
    }
}

/// A whole number; absent or `null` is `None`.
pub(super) fn integer(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<i64>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::Number(n))
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9e15) =>
        {
            Ok(n.as_f64().map(|f| f as i64))
        }
        Some(other) => scalar(other)
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| cx.bad_value(at, "expected a whole number")),
    }
}

/// A number (`cpus: 1.5`); absent or `null` is `None`.
pub(super) fn number(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<f64>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => scalar(other)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| cx.bad_value(at, "expected a number")),
    }
}

/// A size in bytes (`512m`, `2g`, `1024`); absent or `null` is `None`.
pub(super) fn bytes(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<i64>, ProjectError> {
    match v.and_then(scalar) {
        None => Ok(None),
        Some(s) => parse_bytes(&s).map(Some).map_err(|e| cx.bad_value(at, e)),
    }
}

/// A string or a list of strings; absent or `null` is empty.
pub(super) fn strings(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<String>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => string_list(v, at, cx, false),
    }
}

/// A size as Docker reads one (go-units' `RAMInBytes`): a number with an optional unit
/// `b`, `k`, `m`, `g`, `t`, `p` (binary multiples; `kb`, `KiB` and the like too).
pub fn parse_bytes(s: &str) -> Result<i64, SizeError> {
    let t = s.trim().to_ascii_lowercase();
    let unit_at = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(unit_at);
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024f64.powi(2),
        "g" | "gb" | "gib" => 1024f64.powi(3),
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(SizeError(s.into())),
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 && n * mult < i64::MAX as f64 => Ok((n * mult) as i64),
        _ => Err(SizeError(s.into())),
    }
}

/// A size that is not a number with a known unit, or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {0:?}: use e.g. 512m or 2g")]
pub struct SizeError(pub String);

/// The closest of `known` to `key`, for "did you mean".
pub(super) fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (crate::project::edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// Refuses keys outside `known` (and not `x-…`), naming the closest one, as Compose's schema
/// refuses them.
pub(super) fn check_keys(
    m: &serde_json::Map<String, Value>,
    known: &[&str],
    at: &str,
    cx: &Ctx,
) -> Result<(), ProjectError> {
    for key in m.keys() {
        if key.starts_with("x-") || known.contains(&key.as_str()) {
            continue;
        }
        let hint = closest(key, known)
            .map(|k| format!(": did you mean `{k}`?"))
            .unwrap_or_else(|| {
                ": remove it, or prefix it with `x-` to keep it as an extension".into()
            });
        return Err(cx.err(
            &format!("{at}.{key}"),
            format!("`{key}` is not a Compose key here{hint}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_splitting() {
        assert_eq!(
            split_command(r#"sh -c "echo 'a b' && x""#).unwrap(),
            vec!["sh", "-c", "echo 'a b' && x"]
        );
        assert_eq!(split_command("a  b\\ c").unwrap(), vec!["a", "b c"]);
        assert!(split_command("'open").is_err());
    }

    #[test]
    fn scalars_read_as_compose_sees_them() {
        assert_eq!(scalar(&json!(2.0)).as_deref(), Some("2"));
        assert_eq!(scalar(&json!(1.5)).as_deref(), Some("1.5"));
        assert_eq!(scalar(&json!(true)).as_deref(), Some("true"));
        assert_eq!(scalar(&json!(null)), None);
        assert_eq!(scalar(&json!([1])), None);
    }

    #[test]
    fn a_key_set_to_null_is_present() {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Raw {
            a: Key,
            b: Key,
            #[serde(flatten)]
            other: OtherKeys,
        }
        let raw: Raw = read_mapping(&json!({"a": null, "c": 1})).unwrap();
        assert_eq!(raw.a.get(), Some(&Value::Null));
        assert_eq!(raw.b.get(), None);
        assert_eq!(raw.other.keys().collect::<Vec<_>>(), ["c"]);
        assert!(read_mapping::<Raw>(&json!([1])).is_none());
    }

    #[test]
    fn string_maps_take_both_spellings() {
        let cx = Ctx::new("f", None);
        let m = string_map(&json!(["A=1", "B", "C=x=y"]), "at", &cx).unwrap();
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"], None);
        assert_eq!(m["C"].as_deref(), Some("x=y"));
        let m = string_map(&json!({"A": 1, "B": null}), "at", &cx).unwrap();
        assert_eq!((m["A"].as_deref(), &m["B"]), (Some("1"), &None));
        let e = string_map(&json!({"A": [1]}), "at", &cx).unwrap_err();
        assert_eq!(e.0, "f: at.A: expected a string, number or boolean");
        let e = string_map(&json!(5), "at", &cx).unwrap_err();
        assert_eq!(e.0, "f: at: expected a mapping or a list of KEY=VALUE");
    }
}
