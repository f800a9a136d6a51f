//! Variable interpolation by Compose v2's rules (compose-go's `template` package), for `.env`
//! values and for the compose file alike:
//!
//! - `$$` is a literal `$`; `$NAME` and `${NAME}`, a name being `[_A-Za-z][_A-Za-z0-9]*`
//!   (`$FOO-bar` is `$FOO` then `-bar`); a `$` that starts neither (`$1`, `$ `, `$}`, a
//!   trailing `$`) stays as it is.
//! - `${NAME:-default}` (unset or empty), `${NAME-default}` (unset), `${NAME:?error}`,
//!   `${NAME?error}`, `${NAME:+alt}` (set and not empty), `${NAME+alt}` (set). The operator is
//!   the first one after the name; the default/alt/error text is itself interpolated, only when
//!   it is used (so a nested `${B}` is neither looked up nor warned about otherwise).
//! - With an operator, the `${…}` ends at the `}` that balances its `{`, searched within the
//!   line (`${A:-{"json":1}}` has the default `{"json":1}`); a `${` that starts no such form is an
//!   invalid template, as is an operator whose `}` is not on the same line.
//! - A plain `$NAME` / `${NAME}` that is not set becomes empty, and is reported so the caller
//!   can print Compose's warning (`The "NAME" variable is not set. Defaulting to a blank
//!   string.`).

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use super::ProjectError;

#[derive(Debug, Clone, PartialEq)]
pub enum InterpolateError {
    /// `${NAME:?message}` / `${NAME?message}` with `NAME` missing (or empty for `:?`).
    Required { name: String, message: String },
    /// Text that Compose rejects as "invalid interpolation format".
    Syntax { text: String, reason: String },
}

impl std::fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Required { name, message } if message.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            Self::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
            Self::Syntax { text, reason } => {
                write!(f, "invalid interpolation format in {text:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for InterpolateError {}

/// The result of interpolating one string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expansion {
    pub value: String,
    /// Variables looked up that had a value, in order of first use.
    pub used: Vec<String>,
    /// Variables that a plain `$NAME`/`${NAME}` referred to and that were not set (no default
    /// applies), in order of first use: Compose warns about each.
    pub unset: Vec<String>,
}

pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    Ok(expand(input, lookup)?.value)
}

/// Like [`interpolate`], and also returns the names of the variables that had a value (the
/// ones a bad result can be blamed on), in order of first use.
pub fn interpolate_traced(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), InterpolateError> {
    let e = expand(input, lookup)?;
    Ok((e.value, e.used))
}

/// Interpolates `input`, reporting which variables were used and which were missing.
pub fn expand(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expansion, InterpolateError> {
    let mut ex = Expander {
        lookup,
        out: Expansion::default(),
    };
    ex.out.value = ex.substitute(input, 0)?;
    Ok(ex.out)
}

/// The text of Compose's warning for a variable that is used but not set.
pub fn unset_warning(name: &str) -> String {
    format!("The {name:?} variable is not set. Defaulting to a blank string.")
}

/// How deep `${A:-${B:-…}}` may nest: deeper input is an error, not a stack overflow.
const MAX_NESTING: usize = 32;

/// One `$…` form found in a string, as compose-go's pattern matches it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    /// `$$`.
    Escaped,
    /// `$NAME`.
    Named,
    /// `${…}`, the match running up to its end (greedy within the line when there is an
    /// operator).
    Braced,
    /// `${` that starts no valid form.
    Invalid,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn name_end(s: &[u8], from: usize) -> usize {
    from + s[from..].iter().take_while(|b| is_name_char(**b)).count()
}

/// The form starting at the `$` at `at`, and the index just past it; `None` when the `$` starts
/// no form and stays literal.
fn form_at(s: &str, at: usize) -> Option<(Form, usize)> {
    let b = s.as_bytes();
    match b.get(at + 1) {
        Some(b'$') => Some((Form::Escaped, at + 2)),
        Some(c) if is_name_start(*c) => Some((Form::Named, name_end(b, at + 1))),
        Some(b'{') => {
            Some(braced_end(s, at).map_or((Form::Invalid, at + 2), |e| (Form::Braced, e)))
        }
        _ => None,
    }
}

/// End of `${NAME}` or `${NAME<op>…}` starting at `at`: with an operator (`:-`, `-`, `:?`, `?`,
/// `:+`, `+`) the match runs to the last `}` of the line (the regex's greedy `(.*)}`).
fn braced_end(s: &str, at: usize) -> Option<usize> {
    let b = s.as_bytes();
    let start = at + 2;
    if !b.get(start).is_some_and(|c| is_name_start(*c)) {
        return None;
    }
    let end = name_end(b, start);
    let mut op = end;
    if b.get(op) == Some(&b':') {
        op += 1;
    }
    if matches!(b.get(op), Some(b'-' | b'+' | b'?')) {
        let line_end = s[op + 1..].find('\n').map_or(s.len(), |p| op + 1 + p);
        if let Some(close) = s[op + 1..line_end].rfind('}') {
            return Some(op + 1 + close + 1);
        }
    }
    (b.get(end) == Some(&b'}')).then_some(end + 1)
}

/// compose-go's closing-brace search over a `${…}` match: the `}` that brings the count of
/// `{` back to zero, where the character right after each `{` is skipped.
fn first_brace_closing(m: &str) -> Option<usize> {
    let b = m.as_bytes();
    let mut open = 0i64;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

/// The operator of a `${…}` match: of the six, the one found earliest in it.
fn operator_of(m: &str) -> Option<&'static str> {
    [":?", "?", ":-", "-", ":+", "+"]
        .into_iter()
        .filter_map(|op| m.find(op).map(|i| (i, op)))
        .min_by_key(|(i, _)| *i)
        .map(|(_, op)| op)
}

/// Why a `${` at `at` is not a valid form, for the message.
fn invalid_reason(s: &str, at: usize) -> String {
    let b = s.as_bytes();
    let start = at + 2;
    let fix = "write $$ for a literal $";
    if !b.get(start).is_some_and(|c| is_name_start(*c)) {
        return format!(
            "'${{' must be followed by a variable name (a letter or '_', then letters, digits or '_'); {fix}"
        );
    }
    let end = name_end(b, start);
    let name = &s[start..end];
    let mut op = end;
    if b.get(op) == Some(&b':') {
        op += 1;
    }
    match s[end..].chars().next() {
        None => format!("missing the closing '}}' of ${{{name}; {fix}"),
        Some(_) if matches!(b.get(op), Some(b'-' | b'+' | b'?')) => {
            format!("missing the closing '}}' of ${{{name}… on its line; {fix}")
        }
        Some(c) => format!(
            "unexpected {c:?} after ${{{name}: use ${{{name}}}, ${{{name}:-default}}, ${{{name}-default}}, \
             ${{{name}:?error}}, ${{{name}?error}}, ${{{name}:+alt}} or ${{{name}+alt}}; {fix}"
        ),
    }
}

struct Expander<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    out: Expansion,
}

impl Expander<'_> {
    fn get(&mut self, name: &str) -> Option<String> {
        let v = (self.lookup)(name);
        if v.is_some() && !self.out.used.iter().any(|u| u == name) {
            self.out.used.push(name.to_string());
        }
        v
    }

    /// A plain reference: empty when unset, which is reported.
    fn get_or_warn(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            if !self.out.unset.iter().any(|u| u == name) {
                self.out.unset.push(name.to_string());
            }
            String::new()
        })
    }

    fn substitute(&mut self, s: &str, depth: usize) -> Result<String, InterpolateError> {
        if depth > MAX_NESTING {
            return Err(InterpolateError::Syntax {
                text: s.chars().take(60).collect(),
                reason: format!("more than {MAX_NESTING} nested ${{…}}"),
            });
        }
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while let Some(p) = s[i..].find('$') {
            let at = i + p;
            out.push_str(&s[i..at]);
            let Some((form, end)) = form_at(s, at) else {
                out.push('$');
                i = at + 1;
                continue;
            };
            i = end;
            match form {
                Form::Escaped => out.push('$'),
                Form::Named => out.push_str(&self.get_or_warn(&s[at + 1..end])),
                Form::Invalid => {
                    return Err(InterpolateError::Syntax {
                        text: s.to_string(),
                        reason: invalid_reason(s, at),
                    })
                }
                Form::Braced => {
                    let m = &s[at..end];
                    let close = first_brace_closing(m).unwrap_or(m.len() - 1);
                    out.push_str(&self.braced(&m[2..close], operator_of(m), depth)?);
                    // The text after the balancing `}` is scanned as ordinary text.
                    i = at + close + 1;
                }
            }
        }
        out.push_str(&s[i..]);
        Ok(out)
    }

    /// The value of `${body}`, `body` being `NAME` or `NAME<op>arg`.
    fn braced(
        &mut self,
        body: &str,
        op: Option<&str>,
        depth: usize,
    ) -> Result<String, InterpolateError> {
        let Some((op, (name, arg))) = op.and_then(|op| Some((op, body.split_once(op)?))) else {
            return Ok(self.get_or_warn(body));
        };
        let value = self.get(name);
        let set = value.is_some();
        let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
        let use_arg = match op {
            ":-" => !non_empty,
            "-" => !set,
            ":+" => non_empty,
            "+" => set,
            ":?" => !non_empty,
            _ => !set, // "?"
        };
        if !use_arg {
            return Ok(if op.ends_with('?') || op.ends_with('-') {
                value.unwrap_or_default()
            } else {
                String::new()
            });
        }
        let arg = self.substitute(arg, depth + 1)?;
        if op.ends_with('?') {
            return Err(InterpolateError::Required {
                name: name.to_string(),
                message: arg,
            });
        }
        Ok(arg)
    }
}

/// A variable a compose document refers to, as `docker compose config --variables` lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variable {
    pub name: String,
    /// The text after `:-` / `-` (uninterpolated), empty when none.
    pub default: String,
    /// The text after `:+` / `+` (uninterpolated), empty when none.
    pub presence: String,
    /// `:?` or `?`.
    pub required: bool,
}

/// Every variable the string scalars of `doc` refer to (nested defaults included), by name;
/// when a name appears twice, the later occurrence wins (compose-go's `ExtractVariables`).
pub fn extract_variables(doc: &Value) -> IndexMap<String, Variable> {
    let mut out = IndexMap::new();
    extract_tree(doc, &mut out);
    out
}

fn extract_tree(v: &Value, out: &mut IndexMap<String, Variable>) {
    match v {
        Value::String(s) => {
            for var in extract_string(s) {
                out.insert(var.name.clone(), var);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| extract_tree(x, out)),
        Value::Object(m) => m.values().for_each(|x| extract_tree(x, out)),
        _ => {}
    }
}

fn extract_string(s: &str) -> Vec<Variable> {
    let mut vars = Vec::new();
    let mut i = 0;
    while let Some(p) = s[i..].find('$') {
        let at = i + p;
        let Some((form, end)) = form_at(s, at) else {
            i = at + 1;
            continue;
        };
        i = end;
        let body = match form {
            Form::Escaped | Form::Invalid => continue,
            Form::Named => &s[at + 1..end],
            Form::Braced => {
                let m = &s[at..end];
                match first_brace_closing(m) {
                    Some(close) => {
                        vars.extend(extract_string(&m[close + 1..]));
                        &m[2..close]
                    }
                    None => &m[2..m.len() - 1],
                }
            }
        };
        let split = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        let (name, rest) = split.map_or((body, ""), |n| body.split_at(n));
        let mut var = Variable {
            name: name.to_string(),
            ..Variable::default()
        };
        if rest.starts_with(":?") || rest.starts_with('?') {
            var.required = true;
        } else if let Some(d) = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-')) {
            var.default = d.to_string();
        } else if let Some(p) = rest.strip_prefix(":+").or_else(|| rest.strip_prefix('+')) {
            var.presence = p.to_string();
        }
        let nested = [var.default.clone(), var.presence.clone()];
        vars.push(var);
        for n in nested.iter().filter(|n| !n.is_empty()) {
            vars.extend(extract_string(n));
        }
    }
    vars
}

/// Which variables each interpolated string of the compose document used, by document path
/// (`services.frontend.ports[0]`), so a bad value can be reported against the variable and
/// where it was set instead of the generated file; and which were referred to but not set.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    uses: Vec<(String, Vec<String>)>,
    unset: Vec<(String, String)>,
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

    /// Notes that the string at `path` referred to the variable `name`, which was not set.
    pub fn record_unset(&mut self, path: &str, name: &str) {
        self.unset.push((name.to_string(), path.to_string()));
    }

    /// Each variable referred to without a value and without a default, with the first
    /// document path that did, in document order.
    pub fn unset(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for (name, path) in &self.unset {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name, path));
            }
        }
        out
    }

    /// Compose's warning for each variable of [`Origins::unset`], once per variable.
    pub fn unset_warnings(&self) -> Vec<String> {
        self.unset().iter().map(|(n, _)| unset_warning(n)).collect()
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
        let files: Vec<PathBuf> = env_file.map(Path::to_path_buf).into_iter().collect();
        self.blame_in(at, env, &files)
    }

    /// [`Origins::blame`] with several env files (`--env-file a --env-file b`), read in order.
    pub fn blame_in(
        &self,
        at: &str,
        env: &IndexMap<String, String>,
        env_files: &[PathBuf],
    ) -> Option<Blame> {
        let names = self.vars_at(at);
        if names.is_empty() {
            return None;
        }
        let mut texts = Vec::new();
        let mut places: Vec<String> = Vec::new();
        for n in &names {
            let value = env.get(*n).cloned().unwrap_or_default();
            let (text, place) = match super::dotenv::where_set_in(n, env_files) {
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
/// too; keys are left alone, as in Compose), recording in `origins` which variables each one
/// used and which were missing. `at` is the path of `v`.
pub fn interpolate_tree(
    v: Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    at: &str,
    origins: &mut Origins,
) -> Result<Value, ProjectError> {
    Ok(match v {
        Value::String(s) => {
            let e = expand(&s, lookup).map_err(|e| tree_error(at, &e))?;
            for name in &e.unset {
                origins.record_unset(at, name);
            }
            origins.record(at, e.used);
            Value::String(e.value)
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

fn tree_error(at: &str, e: &InterpolateError) -> ProjectError {
    match e {
        InterpolateError::Required { name, .. } => {
            ProjectError(format!("{at}: {e} (set {name} in .env or the environment)"))
        }
        InterpolateError::Syntax { .. } => ProjectError(format!("{at}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: [(&str, &str); 6] = [
        ("A", "1"),
        ("EMPTY", ""),
        ("FOO_BAR", "xyz"),
        ("B", "two"),
        ("FOO", "first"),
        ("JSON", r#"{"json":2}"#),
    ];

    fn look(k: &str) -> Option<String> {
        VARS.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }

    fn run(s: &str) -> Result<String, InterpolateError> {
        interpolate(s, &look)
    }

    #[test]
    fn compose_forms() {
        assert_eq!(run("$A").unwrap(), "1");
        assert_eq!(run("${A}x").unwrap(), "1x");
        assert_eq!(run("$FOO_BAR").unwrap(), "xyz");
        assert_eq!(run("$FOO-bar").unwrap(), "first-bar");
        assert_eq!(run("${MISSING:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${MISSING-d}").unwrap(), "d");
        assert_eq!(run("${A:+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(run("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(run("${MISSING+alt}").unwrap(), "");
        assert_eq!(run("${MISSING:-${B}}").unwrap(), "two");
        assert_eq!(run("${MISSING:-${NOPE:-deep}}").unwrap(), "deep");
        assert_eq!(run("${MISSING-${B} ${B}}").unwrap(), "two two");
        assert_eq!(run("cost $$5 $$A $${A}").unwrap(), "cost $5 $A ${A}");
        assert_eq!(run("a $ b $1 $} ^RE$").unwrap(), "a $ b $1 $} ^RE$");
        assert_eq!(run("$MISSING.").unwrap(), ".");
        assert_eq!(run("${EMPTY:-/non:-alnum}").unwrap(), "/non:-alnum");
        assert_eq!(run("${A:-x} ${B:-y} ${C:-z}").unwrap(), "1 two z");
    }

    #[test]
    fn braces_inside_defaults_balance() {
        assert_eq!(run(r#"${MISSING:-{"json":1}}"#).unwrap(), r#"{"json":1}"#);
        assert_eq!(run(r#"${JSON-{"json":1}}"#).unwrap(), r#"{"json":2}"#);
        assert_eq!(run("${MISSING:-x}}").unwrap(), "x}");
        assert_eq!(run("${A:-x}\n${B:-y}").unwrap(), "1\ntwo");
    }

    #[test]
    fn the_first_operator_after_the_name_decides() {
        assert_eq!(run("${MISSING-myerror?msg}").unwrap(), "myerror?msg");
        assert_eq!(run("${A:+va:?lu:-e}").unwrap(), "va:?lu:-e");
        assert_eq!(
            run("${MISSING?bar-baz}").unwrap_err(),
            InterpolateError::Required {
                name: "MISSING".into(),
                message: "bar-baz".into()
            }
        );
        assert_eq!(
            run("${EMPTY:?val?ue}").unwrap_err().to_string(),
            "required variable EMPTY is missing a value: val?ue"
        );
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
        assert_eq!(
            run("${MISSING:?}").unwrap_err().to_string(),
            "required variable MISSING is missing a value"
        );
        assert_eq!(
            run("${MISSING?need ${FOO}}").unwrap_err().to_string(),
            "required variable MISSING is missing a value: need first"
        );
        assert!(run("${EMPTY:?x}").is_err());
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        assert_eq!(run("${A?${NOPE}}").unwrap(), "1");
        for bad in [
            "${",
            "${}",
            "${ }",
            "${ foo}",
            "${foo }",
            "${foo!}",
            "${A",
            "${A:x}",
            "${1}",
            "${A:-x\n}",
        ] {
            assert!(
                matches!(run(bad), Err(InterpolateError::Syntax { .. })),
                "{bad:?}"
            );
        }
        let e = run("x ${A!}").unwrap_err().to_string();
        assert!(
            e.contains("unexpected '!' after ${A") && e.contains("$$"),
            "{e}"
        );
        let deep = format!("{}x{}", "${MISSING:-".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(run(&deep), Err(InterpolateError::Syntax { .. })));
    }

    #[test]
    fn unset_references_are_reported_only_when_used() {
        let e = expand(
            "$NOPE ${NOPE} ${NOPE2:-d} ${EMPTY:+${NOPE3}} ${EMPTY:-${NOPE4}}",
            &look,
        )
        .unwrap();
        assert_eq!(e.unset, vec!["NOPE", "NOPE4"]);
        assert!(expand("${A:+${A},}B", &look).unwrap().unset.is_empty());
        assert_eq!(expand("${X:-${Y}}", &look).unwrap().unset, vec!["Y"]);
        assert_eq!(
            unset_warning("FOO"),
            r#"The "FOO" variable is not set. Defaulting to a blank string."#
        );
        let mut o = Origins::default();
        let doc = serde_json::json!({"services": {"web": {"image": "${TAG}", "command": ["$TAG", "$NOPE"]}}});
        interpolate_tree(doc, &look, "", &mut o).unwrap();
        assert_eq!(
            o.unset(),
            vec![
                ("TAG", "services.web.image"),
                ("NOPE", "services.web.command[1]")
            ]
        );
        assert_eq!(o.unset_warnings().len(), 2);
    }

    #[test]
    fn variables_are_extracted_with_defaults() {
        let doc = serde_json::json!({
            "a": "${bar:-foo}",
            "b": {"c": "${fruit:-banana}", "d": "vegetable"},
            "e": ["foo", "$docker:${project:-cli}", "$toto", "$${escaped}"],
            "f": "${SUB:-$ROOT}.${REQ:?}",
            "g": "${p:+yes} ${q+no} ${r?x}",
        });
        let vars = extract_variables(&doc);
        let mut names: Vec<&str> = vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["REQ", "ROOT", "SUB", "bar", "docker", "fruit", "p", "project", "q", "r", "toto"]
        );
        assert_eq!(vars["bar"].default, "foo");
        assert_eq!(vars["SUB"].default, "$ROOT");
        assert!(vars["REQ"].required && vars["r"].required);
        assert_eq!(vars["p"].presence, "yes");
        assert_eq!(vars["q"].presence, "no");
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
            let _ = extract_string(&s);
        }

        #[test]
        fn dollar_heavy_text_is_ok_or_err(s in "([$]|[{]|[}]|:|-|[?]|[+]|A|EMPTY|B|_|1| |\n){0,60}") {
            let _ = run(&s);
            let _ = interpolate_traced(&s, &|_| Some("v".into()));
            let _ = extract_string(&s);
        }

        #[test]
        fn text_without_dollars_is_unchanged(s in "[^$]*") {
            proptest::prop_assert_eq!(run(&s).unwrap(), s);
        }
    }
}
