//! Compose-style variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, nesting in the default/alt part,
//! and `$$` for a literal `$`. Same rules for `.env` values and for the compose file.

use std::cell::RefCell;
use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use super::ProjectError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpolateError {
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    #[error("invalid interpolation format in {text:?}: {reason}")]
    Syntax { text: String, reason: String },
}

pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    interpolate_nested(input, lookup, 0)
}

/// How deep `${A:-${B:-…}}` may nest: deeper input is an error, not a stack overflow.
const MAX_NESTING: usize = 32;

fn interpolate_nested(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<String, InterpolateError> {
    if depth > MAX_NESTING {
        return Err(InterpolateError::Syntax {
            text: input.chars().take(60).collect(),
            reason: format!("more than {MAX_NESTING} nested ${{…}}"),
        });
    }
    let mut out = String::with_capacity(input.len());
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = input[i..].find('$').map_or(input.len(), |p| i + p);
            out.push_str(&input[i..next]);
            i = next;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close =
                    matching_brace(input, i + 1).ok_or_else(|| InterpolateError::Syntax {
                        text: input.to_string(),
                        reason: "missing closing '}'".into(),
                    })?;
                out.push_str(&expand_braced(&input[i + 2..close], input, lookup, depth)?);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let end = input[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(input.len(), |p| i + 1 + p);
                out.push_str(&lookup(&input[i + 1..end]).unwrap_or_default());
                i = end;
            }
            // A lone `$` (end of string, before a space or digit) stays as it is, as in Compose.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Like [`interpolate`], and also returns the names of the variables that had a value (the
/// ones a bad result can be blamed on), in order of first use.
pub fn interpolate_traced(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), InterpolateError> {
    let used: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let tracing = |name: &str| {
        let v = lookup(name);
        if v.is_some() && !used.borrow().iter().any(|u| u == name) {
            used.borrow_mut().push(name.to_string());
        }
        v
    };
    let out = interpolate(input, &tracing)?;
    Ok((out, used.into_inner()))
}

/// Which variables each interpolated string of the compose document used, by document path
/// (`services.frontend.ports[0]`), so a bad value can be reported against the variable and
/// where it was set instead of the generated file.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    uses: Vec<(String, Vec<String>)>,
}

/// A variable's value and where it was set, for messages about a value that came from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Blame {
    /// `/dir/.env:3: FRONTEND_PORT=abc` or `FRONTEND_PORT=abc (from the environment)`.
    pub text: String,
    /// The variables, for the fix: `FRONTEND_PORT`.
    pub names: Vec<String>,
    /// Where to change them: the .env file's path, or "the environment".
    pub place: String,
}

impl Origins {
    pub fn record(&mut self, path: &str, names: Vec<String>) {
        if !names.is_empty() {
            self.uses.push((path.to_string(), names));
        }
    }

    /// Variables used at `at` or below it (`at` itself, `at.key`, `at[0]`).
    pub fn vars_at(&self, at: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (path, names) in &self.uses {
            let under = path == at
                || path
                    .strip_prefix(at)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['));
            if under {
                for n in names {
                    if !out.contains(&n.as_str()) {
                        out.push(n);
                    }
                }
            }
        }
        out
    }

    /// The variables whose values ended up at `at`, with their values and where they were set
    /// (`.env` line, or the process environment); `None` when the value came from the template
    /// alone.
    pub fn blame(
        &self,
        at: &str,
        env: &IndexMap<String, String>,
        env_file: Option<&Path>,
    ) -> Option<Blame> {
        let names = self.vars_at(at);
        if names.is_empty() {
            return None;
        }
        let mut texts = Vec::new();
        let mut places: Vec<String> = Vec::new();
        for n in &names {
            let value = env.get(*n).cloned().unwrap_or_default();
            let (text, place) = match super::dotenv::where_set(n, env_file) {
                super::dotenv::SetIn::Process => (
                    format!("{n}={value} (from the environment)"),
                    "the environment".to_string(),
                ),
                super::dotenv::SetIn::File(f, line) => (
                    format!("{}:{line}: {n}={value}", f.display()),
                    f.display().to_string(),
                ),
                super::dotenv::SetIn::Unknown => {
                    (format!("{n}={value}"), ".env or the environment".into())
                }
            };
            texts.push(text);
            if !places.contains(&place) {
                places.push(place);
            }
        }
        Some(Blame {
            text: texts.join(", "),
            names: names.iter().map(|s| s.to_string()).collect(),
            place: places.join(" or "),
        })
    }
}

/// Interpolates every string scalar of a compose document like Compose (`x-` extension blocks
/// too), recording in `origins` which variables each one used. `at` is the path of `v`.
pub fn interpolate_tree(
    v: Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    at: &str,
    origins: &mut Origins,
) -> Result<Value, ProjectError> {
    Ok(match v {
        Value::String(s) => {
            let (out, used) = interpolate_traced(&s, lookup).map_err(|e| {
                ProjectError(format!("{at}: {e} (set it in .env or the environment)"))
            })?;
            origins.record(at, used);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, x)| interpolate_tree(x, lookup, &format!("{at}[{i}]"), origins))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                out.insert(k, interpolate_tree(x, lookup, &path, origins)?);
            }
            Value::Object(out)
        }
        other => other,
    })
}

/// Index of the `}` that closes the `{` at `open`, honouring nested `${…}`.
fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (idx, c) in s[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + idx);
                }
            }
            _ => {}
        }
    }
    None
}

fn expand_braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<String, InterpolateError> {
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_end];
    let syntax = |reason: &str| InterpolateError::Syntax {
        text: whole.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(syntax("a variable name must start with a letter or '_'"));
    }
    let rest = &body[name_end..];
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(syntax(&format!(
            "unknown modifier {rest:?} after ${{{name}"
        )));
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let expand_arg = || interpolate_nested(arg, lookup, depth + 1);
    match op {
        ":-" if non_empty => Ok(value.unwrap_or_default()),
        "-" if set => Ok(value.unwrap_or_default()),
        ":-" | "-" => expand_arg(),
        ":?" if non_empty => Ok(value.unwrap_or_default()),
        "?" if set => Ok(value.unwrap_or_default()),
        ":?" | "?" => Err(InterpolateError::Required {
            name: name.to_string(),
            message: expand_arg()?,
        }),
        ":+" if non_empty => expand_arg(),
        "+" if set => expand_arg(),
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<String, InterpolateError> {
        let vars = [("A", "1"), ("EMPTY", ""), ("FOO_BAR", "xyz"), ("B", "two")];
        interpolate(s, &|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn compose_forms() {
        assert_eq!(run("$A").unwrap(), "1");
        assert_eq!(run("${A}x").unwrap(), "1x");
        assert_eq!(run("$FOO_BAR").unwrap(), "xyz");
        assert_eq!(run("${MISSING:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${MISSING-d}").unwrap(), "d");
        assert_eq!(run("${A:+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(run("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(run("${MISSING:-${B}}").unwrap(), "two");
        assert_eq!(run("${MISSING:-${NOPE:-deep}}").unwrap(), "deep");
        assert_eq!(run("cost $$5 $$A").unwrap(), "cost $5 $A");
        assert_eq!(run("a $ b $1").unwrap(), "a $ b $1");
        assert_eq!(run("$MISSING.").unwrap(), ".");
    }

    #[test]
    fn required_and_errors() {
        assert_eq!(
            run("${MISSING:?set it in .env}").unwrap_err(),
            InterpolateError::Required {
                name: "MISSING".into(),
                message: "set it in .env".into()
            }
        );
        assert!(run("${EMPTY:?x}").is_err());
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        assert!(matches!(run("${A"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${A!}"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${}"), Err(InterpolateError::Syntax { .. })));
        let deep = format!("{}x{}", "${MISSING:-".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(run(&deep), Err(InterpolateError::Syntax { .. })));
    }

    #[test]
    fn traced_names_the_variables_that_had_a_value() {
        let vars = [("PORT", "abc"), ("EMPTY", "")];
        let look = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let (out, used) =
            interpolate_traced("127.0.0.1:${PORT:-80}:${NOPE:-1}$EMPTY", &look).unwrap();
        assert_eq!(out, "127.0.0.1:abc:1");
        assert_eq!(used, vec!["PORT", "EMPTY"]);
        let mut o = Origins::default();
        let doc = serde_json::json!({"services": {"web": {"ports": ["${PORT}:80"], "image": "x"}}});
        interpolate_tree(doc, &look, "", &mut o).unwrap();
        assert_eq!(o.vars_at("services.web.ports"), vec!["PORT"]);
        assert_eq!(o.vars_at("services.web"), vec!["PORT"]);
        assert!(o.vars_at("services.web.image").is_empty());
        assert!(o.vars_at("services.we").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_ok_or_err(s in "\\PC*") {
            let _ = run(&s);
        }

        #[test]
        fn dollar_heavy_text_is_ok_or_err(s in "([$]|[{]|[}]|:|-|[?]|[+]|A|EMPTY|B|_|1| ){0,60}") {
            let _ = run(&s);
            let _ = interpolate_traced(&s, &|_| Some("v".into()));
        }
    }
}
