//! Renders `templates/compose.yaml.j2` (or the embedded copy) with minijinja, strict undefined.

use std::path::Path;

use indexmap::IndexMap;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::ProjectError;

pub const ENTRY: &str = "compose.yaml.j2";

/// Renders the entry template. `templates_dir` wins over the embedded copies, name by name.
pub fn render(templates_dir: &Path, context: &impl Serialize) -> Result<String, ProjectError> {
    render_named(templates_dir, ENTRY, context)
}

/// The fuel a render may burn (minijinja counts one unit per instruction and one per 64 bytes
/// of text or data): the default stack's template takes about 300; a loop that would run for
/// hours or build gigabytes stops here, in a second or two, with a message.
pub const FUEL: u64 = 2_000_000;
/// minijinja's runtime recursion limit (macros, includes, nested loops); its own default and
/// its maximum without stack growth.
pub const RECURSION: usize = 500;
/// The most operators (`-`, `|filter`, `.attr`, `+`, `and`…) one `{{ }}` or `{% %}` tag may
/// hold: minijinja builds such an expression as a tree as deep as it is long, and walks it
/// recursively, so a 20,000-operator line would overflow the stack.
pub const MAX_OPERATORS: usize = 1000;
/// The render runs on a thread with this stack: room for the recursion the limits above allow.
const STACK: usize = 64 * 1024 * 1024;

/// Renders template `name` of `templates_dir` (an override file, a `-f` template); includes
/// resolve in that directory, then among the embedded copies.
pub fn render_named(
    templates_dir: &Path,
    name: &str,
    context: &impl Serialize,
) -> Result<String, ProjectError> {
    let context = serde_json::to_value(context)
        .map_err(|e| ProjectError(format!("cannot build the template context: {e}")))?;
    let dir = templates_dir.to_path_buf();
    let name = name.to_string();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("template".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || render_here(&dir, &name, &context, FUEL))
            .map_err(|e| ProjectError(format!("cannot start the template renderer: {e}")))?
            .join()
            .unwrap_or_else(|_| {
                Err(ProjectError(format!(
                    "template error in {}: the renderer failed",
                    dir.join(&name).display()
                )))
            })
    })
}

fn render_here(
    templates_dir: &Path,
    name: &str,
    context: &serde_json::Value,
    fuel: u64,
) -> Result<String, ProjectError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(fuel));
    env.set_recursion_limit(RECURSION);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    // A template refused before parsing (too long an expression) says why here: the loader
    // can only hand minijinja a bare error.
    let refused: std::sync::Arc<std::sync::Mutex<Option<ProjectError>>> = Default::default();
    let dir = templates_dir.to_path_buf();
    let refused_in_loader = refused.clone();
    env.set_loader(move |name| {
        let on_disk = dir.join(name);
        if name.split('/').any(|p| p == ".." || p.starts_with('.')) {
            return Ok(None);
        }
        let text = match std::fs::read_to_string(&on_disk) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match crate::embedded::template(name) {
                    Some(t) => t.to_string(),
                    None => return Ok(None),
                }
            }
            Err(e) => {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", on_disk.display()),
                ))
            }
        };
        if let Err(e) = check_expressions(&shown(&dir, name), &text) {
            let msg = e.0.clone();
            *refused_in_loader.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                msg,
            ));
        }
        Ok(Some(text))
    });
    let describe = |e: minijinja::Error| {
        let stashed = refused.lock().unwrap_or_else(|p| p.into_inner()).take();
        stashed.unwrap_or_else(|| template_error(templates_dir, e, context))
    };
    let tmpl = env.get_template(name).map_err(describe)?;
    tmpl.render(minijinja::value::Serde(context))
        .map_err(describe)
}

/// Refuses a tag with more than [`MAX_OPERATORS`] operators, naming its line (see there why).
/// Counts outside string literals; comments are skipped.
fn check_expressions(shown: &str, src: &str) -> Result<(), ProjectError> {
    let b = src.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        let open = (b[i], b[i + 1]);
        let close = match open {
            (b'{', b'{') => b'}',
            (b'{', b'%') => b'%',
            (b'{', b'#') => {
                i = src[i..].find("#}").map_or(b.len(), |e| i + e + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i;
        let (end, operators) = scan_tag(b, i + 2, close);
        if operators > MAX_OPERATORS {
            let line = 1 + src[..start].matches('\n').count();
            return Err(ProjectError(format!(
                "template error at {shown}:{line}: an expression with {operators} operators \
                 (devstack's limit for one tag is {MAX_OPERATORS}, so that rendering cannot \
                 overflow the stack): split it into steps with `{{% set x = … %}}`"
            )));
        }
        i = end;
    }
    Ok(())
}

/// Scans one tag from `i` to its closing `close` + `}`: where it ends and how many operators
/// it holds.
fn scan_tag(b: &[u8], mut i: usize, close: u8) -> (usize, usize) {
    let mut operators = 0;
    let mut word = 0usize;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            word += 1;
            i += 1;
            continue;
        }
        if word > 0 {
            let w = &b[i - word..i];
            if matches!(w, b"not" | b"and" | b"or" | b"is" | b"in" | b"if") {
                operators += 1;
            }
            word = 0;
        }
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ if c == close && b.get(i + 1) == Some(&b'}') => return (i + 2, operators),
            b'-' | b'+' | b'*' | b'/' | b'%' | b'~' | b'|' | b'.' | b'(' | b'[' | b'<' | b'>'
            | b'=' | b'!' => operators += 1,
            _ => {}
        }
        i += 1;
    }
    (b.len(), operators)
}

fn template_error(dir: &Path, e: minijinja::Error, context: &serde_json::Value) -> ProjectError {
    let name = e.name().unwrap_or(ENTRY).to_string();
    let shown_name = shown_file(dir, &name);
    let at = match e.line() {
        Some(l) => format!("{shown_name}:{l}"),
        None => shown_name,
    };
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        return undefined_error(dir, &name, &at, &e, context);
    }
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let hint = match e.kind() {
        minijinja::ErrorKind::SyntaxError if detail.contains("maximum recursion") => {
            " (blocks, brackets or parentheses nested deeper than minijinja's parser allows, \
             150: flatten them)"
        }
        minijinja::ErrorKind::SyntaxError => " (fix the template syntax at that line)",
        minijinja::ErrorKind::TemplateNotFound => {
            " (add it under templates/ or remove the include)"
        }
        minijinja::ErrorKind::OutOfFuel => {
            return ProjectError(format!(
                "template error at {at}: the template ran out of fuel: it did more than \
                 devstack's limit of {FUEL} steps (or built more than about {} MB of text), \
                 so a loop there runs too long or builds too much: make it smaller",
                FUEL * 64 / 1_000_000
            ))
        }
        minijinja::ErrorKind::InvalidOperation if detail.contains("recursion limit") => {
            return ProjectError(format!(
                "template error at {at}: recursion limit exceeded: macros, includes or loops \
                 nest deeper than devstack's limit of {RECURSION}: a macro that calls itself \
                 without end, or an include of itself"
            ))
        }
        _ => "",
    };
    ProjectError(format!(
        "template error at {at}: {}{detail}{hint}",
        e.kind()
    ))
}

/// The source of a template as rendering saw it: `templates/NAME`, else the embedded copy.
pub(crate) fn source_of(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .or_else(|| crate::embedded::template(name).map(str::to_string))
}

/// A template's name in messages: its path, or that it is the embedded copy.
fn shown_file(dir: &Path, name: &str) -> String {
    if dir.join(name).exists() {
        dir.join(name).display().to_string()
    } else {
        format!("{name} (embedded default)")
    }
}

/// "`env.X` is undefined": names the expression and the variable, and a fix that renders: set
/// the variable or give it a default when it is not set; when it is set, the expression asks
/// a plain string for an attribute or item, so the fix is the variable itself.
fn undefined_error(
    dir: &Path,
    name: &str,
    at: &str,
    e: &minijinja::Error,
    context: &serde_json::Value,
) -> ProjectError {
    // minijinja's detail is "`env.X` is undefined"; without it, the expression's own text.
    let expr = e
        .detail()
        .and_then(|d| d.split('`').nth(1).map(str::to_string))
        .or_else(|| {
            let src = source_of(dir, name)?;
            src.get(e.range()?).map(|s| s.trim().to_string())
        })
        .map(|x| crate::ui::shown(&x));
    let var = expr.as_deref().and_then(env_variable);
    let set = var
        .as_deref()
        .and_then(|v| context.get("env")?.get(v)?.as_str().map(str::to_string));
    let what = match &expr {
        Some(x) => format!("`{x}` is undefined"),
        None => "a value is undefined".to_string(),
    };
    let fix = match (&var, &expr, set) {
        (Some(v), _, Some(value)) => format!(
            "{v} is set (to {:?}), but every `env` value is a plain string, with no \
             attributes or items: write `{{{{ env.{v} }}}}`, or split it with a filter \
             (`{{{{ env.{v} | split(',') }}}}`)",
            crate::ui::shown(&value)
        ),
        (Some(v), _, None) => format!(
            "set {v} in .env (or the environment), or give it a default in the template: \
             `{{{{ env.{v} | default('…') }}}}`"
        ),
        (None, Some(x), _) => format!(
            "define `{x}` before this line, or give it a default: `{{{{ {x} | default('…') }}}}`"
        ),
        (None, None, _) => "give the value a default with `| default('…')`".to_string(),
    };
    ProjectError(format!("template error at {at}: {what}: {fix}"))
}

/// `env.X` or `env['X']` / `env["X"]` → `X`.
pub(crate) fn env_variable(expr: &str) -> Option<String> {
    let rest = expr.trim().strip_prefix("env")?;
    let name = if let Some(r) = rest.strip_prefix('.') {
        r.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()?
    } else {
        let r = rest.strip_prefix('[')?.trim_start();
        let q = r.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        r[1..].split(q).next()?
    };
    (!name.is_empty()).then(|| name.to_string())
}

/// An error that names a position in a template's rendering (`.devstack/rendered/NAME:L:C`)
/// also names the template line it came from, when that can be told: the user fixes the
/// template, not its rendering.
pub fn point_into_templates(e: ProjectError, templates_dir: &Path) -> ProjectError {
    let msg = &e.0;
    let Some(start) = msg.find("/.devstack/rendered/") else {
        return e;
    };
    let rest = &msg[start + "/.devstack/rendered/".len()..];
    let Some((stem, after)) = rest.split_once(':') else {
        return e;
    };
    let line: Option<usize> = after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok());
    let path_start = msg[..start].rfind([' ', '(']).map_or(0, |i| i + 1);
    let rendered_path = format!("{}/.devstack/rendered/{stem}", &msg[path_start..start]);
    let (Some(line), Ok(rendered)) = (line, std::fs::read_to_string(&rendered_path)) else {
        return e;
    };
    let name = format!("{stem}.j2");
    let key = msg
        .split("duplicate key `")
        .nth(1)
        .and_then(|k| k.split('`').next());
    let Some(n) = source_of(templates_dir, &name)
        .and_then(|src| template_line_of(&rendered, &src, line, key))
    else {
        return e;
    };
    let end = start + "/.devstack/rendered/".len() + stem.len() + 1;
    let pos_end = end
        + msg[end..]
            .find(|c: char| !(c.is_ascii_digit() || c == ':'))
            .unwrap_or(msg.len() - end);
    let pos_end = if msg[..pos_end].ends_with(':') {
        pos_end - 1
    } else {
        pos_end
    };
    ProjectError(format!(
        "{} (from {}:{n}){}",
        &msg[..pos_end],
        shown(templates_dir, &name),
        &msg[pos_end..]
    ))
}

pub(crate) fn shown(dir: &Path, name: &str) -> String {
    if dir.join(name).exists() {
        dir.join(name).display().to_string()
    } else {
        format!("templates/{name} (embedded default)")
    }
}

/// The template line a rendered line came from, when it can be told: the k-th rendered line
/// with this text (or, for a key, this indentation and key) is the k-th such template line
/// when both have the same number of them.
pub(crate) fn template_line_of(
    rendered: &str,
    template: &str,
    line: usize,
    key: Option<&str>,
) -> Option<usize> {
    let lines: Vec<&str> = rendered.lines().collect();
    let target = *lines.get(line.checked_sub(1)?)?;
    let same_text = |a: &str| a.trim_end() == target.trim_end();
    let indent = target.len() - target.trim_start().len();
    let key_prefix = key.map(|k| format!("{}{k}:", &target[..indent]));
    let same_key = |a: &str| key_prefix.as_deref().is_some_and(|p| a.starts_with(p));
    let tlines: Vec<&str> = template.lines().collect();
    for matches in [&same_text as &dyn Fn(&str) -> bool, &same_key] {
        let k = lines[..line].iter().filter(|l| matches(l)).count();
        let in_rendered = lines.iter().filter(|l| matches(l)).count();
        let found: Vec<usize> = tlines
            .iter()
            .enumerate()
            .filter(|(_, l)| matches(l))
            .map(|(i, _)| i + 1)
            .collect();
        if k > 0 && found.len() == in_rendered {
            return found.get(k - 1).copied();
        }
    }
    None
}

/// A variable whose value must be one of a documented set (templates/compose.yaml.j2 and
/// .env.example): a typo would otherwise be accepted and fail later inside a container, or
/// silently mean the default.
struct Choice {
    var: &'static str,
    allowed: &'static [&'static str],
    ignore_case: bool,
    /// An empty value means the default (`${VAR:-default}` in the template).
    empty_ok: bool,
    what: &'static str,
}

const LEVELS: &[&str] = &[
    "debug", "info", "warn", "error", "trace", "warning", "fatal",
];

const CHOICES: &[Choice] = &[
    Choice {
        var: "POSE_MODE",
        allowed: &["jobs", "kinect", "both"],
        ignore_case: false,
        empty_ok: true,
        what: "what the pose service works on",
    },
    Choice {
        var: "POSE_DETECTOR",
        allowed: &["vitdet", "maskrcnn"],
        ignore_case: false,
        empty_ok: true,
        what: "the pose service's person detector",
    },
    Choice {
        var: "LOG_LEVEL",
        allowed: LEVELS,
        ignore_case: true,
        empty_ok: false,
        what: "every service's log level",
    },
    Choice {
        var: "LOG_LEVEL_POSE",
        allowed: LEVELS,
        ignore_case: true,
        empty_ok: false,
        what: "pose-service's log level",
    },
    Choice {
        var: "LOG_LEVEL_BACKEND",
        allowed: LEVELS,
        ignore_case: true,
        empty_ok: false,
        what: "backend-api's log level",
    },
    Choice {
        var: "LOG_LEVEL_FRONTEND",
        allowed: LEVELS,
        ignore_case: true,
        empty_ok: false,
        what: "frontend's log level",
    },
    Choice {
        var: "LOG_LEVEL_REDIS",
        allowed: &["debug", "verbose", "notice", "warning"],
        ignore_case: true,
        empty_ok: false,
        what: "Redis's own log level names",
    },
    Choice {
        var: "KINECT_FORCE",
        allowed: &["1", "true", "yes", "on", "0", "false", "no", "off"],
        ignore_case: true,
        empty_ok: true,
        what: "whether the Kinect capture runs without a camera",
    },
];

/// The documented enumerations, for the variables the entry template reads (a project with
/// its own template and its own meaning of LOG_LEVEL is left alone): a value outside them is
/// a configuration error naming the variable, where it was set, and the allowed values.
pub fn check_env_values(
    templates_dir: &Path,
    env: &IndexMap<String, String>,
    env_file: Option<&Path>,
) -> Result<(), ProjectError> {
    let Some(src) = source_of(templates_dir, ENTRY) else {
        return Ok(());
    };
    for c in CHOICES {
        let Some(value) = env.get(c.var) else {
            continue;
        };
        if !reads_variable(&src, c.var) {
            continue;
        }
        let v = value.trim();
        let ok = (v.is_empty() && c.empty_ok)
            || c.allowed.iter().any(|a| {
                if c.ignore_case {
                    a.eq_ignore_ascii_case(v)
                } else {
                    *a == v
                }
            });
        if ok {
            continue;
        }
        let allowed = c.allowed.join(", ");
        let shown = if v.is_empty() {
            "(empty)"
        } else {
            value.as_str()
        };
        return Err(ProjectError(match super::dotenv::where_set(c.var, env_file) {
            super::dotenv::SetIn::File(f, line) => format!(
                "{}:{line}: {}={shown} is not one of {allowed} ({}); set one of them there, or remove the line for the default",
                f.display(),
                c.var,
                c.what
            ),
            super::dotenv::SetIn::Process => format!(
                "{}={shown} (from the environment) is not one of {allowed} ({}); export one of them, or unset {}",
                c.var, c.what, c.var
            ),
            super::dotenv::SetIn::Unknown => format!(
                "{}={shown} is not one of {allowed} ({}); set one of them in .env or the environment",
                c.var, c.what
            ),
        }));
    }
    Ok(())
}

/// Whether the template text names `var` as a whole word (`env.VAR`, `${VAR…}`).
fn reads_variable(src: &str, var: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    src.match_indices(var).any(|(i, _)| {
        !src[..i].chars().next_back().is_some_and(word)
            && !src[i + var.len()..].chars().next().is_some_and(word)
    })
}

/// A note for a directory that has neither `templates/` nor `services/`: devstack then uses
/// its built-in stack and writes `.devstack/` there, which the user may not expect.
pub fn builtin_note(dir: &Path) -> Option<String> {
    if dir.join("templates").is_dir() || dir.join("services").is_dir() {
        return None;
    }
    Some(format!(
        "{} has no templates/ or services/: using devstack's built-in stack and writing {}; \
         run `devstack init {}` to put the stack there, or pass -C with your project's directory",
        dir.display(),
        dir.join(".devstack").display(),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_template(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ENTRY), text).unwrap();
        dir
    }

    fn ctx() -> serde_json::Value {
        serde_json::json!({"env": {"A": "1"}, "project": {"name": "p", "dir": "/p"}})
    }

    /// The default stack's template renders with a thousandth of the fuel devstack allows.
    #[test]
    fn the_default_template_needs_little_fuel() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = serde_json::json!({
            "env": {"KINECT_SOURCE": "synthetic", "POSE_GPU_MEMORY_FRACTION": "0.5"},
            "project": {"name": "p", "dir": "/p"},
            "gpu": {"available": true, "devices": [{"index": 0, "uuid": "GPU-0", "name": "RTX", "memory_mib": 1024}], "selected": ["0"], "request": "all"},
            "host": {"wsl": false, "kinect": true, "display": ":0"},
            "engine": {"host": "127.0.0.1", "remote": false},
        });
        let needed = |ctx: &serde_json::Value| {
            let (mut lo, mut hi) = (1u64, FUEL);
            while lo < hi {
                let mid = (lo + hi) / 2;
                match render_here(dir.path(), ENTRY, ctx, mid) {
                    Ok(_) => hi = mid,
                    Err(e) => {
                        assert!(e.0.contains("ran out of fuel"), "{e}");
                        lo = mid + 1;
                    }
                }
            }
            lo
        };
        let with_gpu = needed(&ctx);
        ctx["gpu"]["request"] = "none".into();
        ctx["host"]["kinect"] = false.into();
        let without = needed(&ctx);
        eprintln!("fuel: {with_gpu} with a GPU and camera, {without} without");
        assert!(with_gpu.max(without) * 1000 < FUEL, "{with_gpu} {without}");
    }

    /// Each kind of operator, as many as one tag may hold, renders on the renderer's stack (a
    /// debug build's frames are the largest); one more is refused with the line.
    #[test]
    fn expressions_at_the_operator_limit_render_and_longer_ones_are_refused() {
        let n = MAX_OPERATORS;
        let cases = [
            format!("{}1", "-".repeat(n)),
            format!("1{}", "|abs".repeat(n)),
            format!("1{}", "+1".repeat(n)),
            format!("'a'{}", "~'a'".repeat(n)),
            format!("{}true", "not ".repeat(n)),
            format!("{}1", "1 if true else ".repeat(n)),
            format!("1{}", "<2".repeat(n)),
        ];
        for expr in cases {
            let dir = with_template(&format!("x: {{{{ {expr} }}}}\n"));
            let r = render(dir.path(), &ctx());
            assert!(r.is_ok(), "{}: {r:?}", &expr[..20]);
            let dir = with_template(&format!("\nx: {{{{ {expr}+1 }}}}\n"));
            let e = render(dir.path(), &ctx()).unwrap_err().0;
            assert!(
                e.contains(&format!("{ENTRY}:2: an expression with"))
                    && e.contains("limit for one tag is 1000"),
                "{e}"
            );
        }
    }

    #[test]
    fn runaway_templates_stop_at_a_named_limit() {
        for (t, limit) in [
            (
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                "ran out of fuel",
            ),
            (
                "{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}",
                "ran out of fuel",
            ),
            ("{{ 'x' | indent(99999999999) }}", "ran out of fuel"),
            (
                "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}",
                "recursion limit exceeded",
            ),
            ("{% if true %}{% if true %}", "syntax error"),
        ] {
            let dir = with_template(t);
            let e = render(dir.path(), &ctx()).unwrap_err().0;
            assert!(
                e.contains(limit) && e.contains(&format!("{ENTRY}:1")),
                "{t}: {e}"
            );
        }
        let deep = format!(
            "{}x{}",
            "{% if true %}".repeat(200),
            "{% endif %}".repeat(200)
        );
        let dir = with_template(&deep);
        let e = render(dir.path(), &ctx()).unwrap_err().0;
        assert!(
            e.contains("nested deeper than minijinja's parser allows"),
            "{e}"
        );
    }

    #[test]
    fn an_attribute_of_a_set_variable_is_not_called_unset() {
        let dir = with_template("a:\n  b: {{ env.A.x }}\n");
        let e = render(dir.path(), &ctx()).unwrap_err().0;
        assert!(e.contains("A is set (to \"1\")"), "{e}");
        assert!(!e.contains("set A in .env"), "{e}");
        // The fix it gives renders.
        let fix = e
            .split("write `")
            .nth(1)
            .unwrap()
            .split('`')
            .next()
            .unwrap();
        assert_eq!(fix, "{{ env.A }}");
        let dir = with_template(fix);
        assert_eq!(render(dir.path(), &ctx()).unwrap(), "1");
    }

    #[test]
    fn an_undefined_variable_is_named_with_both_fixes() {
        let dir = with_template("services:\n  a:\n    image: {{ env.NO_SUCH_X }}\n");
        let e = render(dir.path(), &ctx()).unwrap_err();
        assert!(
            e.0.contains(&format!("{}:3", dir.path().join(ENTRY).display())),
            "{e}"
        );
        assert!(e.0.contains("`env.NO_SUCH_X` is undefined"), "{e}");
        assert!(e.0.contains("set NO_SUCH_X in .env"), "{e}");
        assert!(e.0.contains("{{ env.NO_SUCH_X | default('…') }}"), "{e}");
        assert!(!e.0.contains("devstack doctor"), "{e}");
        let dir = with_template("{% if env['OTHER'] == 'x' %}y{% endif %}\n");
        let e = render(dir.path(), &ctx()).unwrap_err();
        assert!(e.0.contains("set OTHER in .env"), "{e}");
        let dir = with_template("{{ nothing }}\n");
        let e = render(dir.path(), &ctx()).unwrap_err();
        assert!(
            e.0.contains("`nothing` is undefined") && e.0.contains("define `nothing`"),
            "{e}"
        );
    }

    #[test]
    fn env_variables_are_found_in_expressions() {
        assert_eq!(env_variable("env.X_1"), Some("X_1".into()));
        assert_eq!(env_variable("env.X | lower"), Some("X".into()));
        assert_eq!(env_variable("env['Y']"), Some("Y".into()));
        assert_eq!(env_variable("env[\"Z\"]"), Some("Z".into()));
        assert_eq!(env_variable("gpu.selected"), None);
        assert_eq!(env_variable("env["), None);
        assert_eq!(env_variable("env.é"), None);
    }

    #[test]
    fn a_duplicate_key_names_the_key_and_both_places() {
        let template = "services:\n  a:\n{% if true %}\n    image: x\n{% endif %}\n    image: y\n";
        let dir = with_template(template);
        let rendered = render(dir.path(), &ctx()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let bad = out.path().join(".devstack/rendered/compose.yaml");
        std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
        std::fs::write(&bad, &rendered).unwrap();
        let e = crate::project::yaml::parse(&rendered, &bad.display().to_string()).unwrap_err();
        let e = crate::project::loader::yaml_error(e);
        let msg = point_into_templates(e, dir.path()).0;
        assert!(msg.contains(&format!("{}:4:5", bad.display())), "{msg}");
        assert!(
            msg.contains(&format!("{}:6", dir.path().join(ENTRY).display())),
            "{msg}"
        );
        assert!(msg.contains("duplicate key `image`"), "{msg}");
        assert!(msg.contains("remove one of the two or merge them"), "{msg}");
    }

    #[test]
    fn template_lines_are_found_only_when_unambiguous() {
        let t = "a:\n  b: 1\n{% for i in x %}\n  c: {{ i }}\n{% endfor %}\n";
        let r = "a:\n  b: 1\n  c: 1\n  c: 2\n";
        assert_eq!(template_line_of(r, t, 2, None), Some(2));
        assert_eq!(template_line_of(r, t, 4, Some("c")), None);
        assert_eq!(template_line_of(r, t, 9, None), None);
        assert_eq!(template_line_of(r, t, 0, None), None);
    }

    #[test]
    fn documented_enumerations_are_checked_where_the_template_reads_them() {
        let dir = with_template("x: ${POSE_MODE:-jobs} {{ env.LOG_LEVEL | default('info') }}\n");
        let envf = dir.path().join(".env");
        std::fs::write(&envf, "# c\nX_DEVSTACK_T=1\nPOSE_MODE=dance\n").unwrap();
        let env = |kv: &[(&str, &str)]| -> IndexMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let e =
            check_env_values(dir.path(), &env(&[("POSE_MODE", "dance")]), Some(&envf)).unwrap_err();
        assert_eq!(
            e.0,
            format!(
                "{}:3: POSE_MODE=dance is not one of jobs, kinect, both (what the pose service works on); set one of them there, or remove the line for the default",
                envf.display()
            )
        );
        check_env_values(
            dir.path(),
            &env(&[("POSE_MODE", "kinect"), ("LOG_LEVEL", "WARN")]),
            Some(&envf),
        )
        .unwrap();
        check_env_values(dir.path(), &env(&[("POSE_MODE", "")]), Some(&envf)).unwrap();
        let e = check_env_values(dir.path(), &env(&[("LOG_LEVEL", "loud")]), None).unwrap_err();
        assert!(
            e.0.contains("LOG_LEVEL=loud is not one of debug, info, warn, error"),
            "{e}"
        );
        // A variable the template does not read is not ours to judge.
        check_env_values(
            dir.path(),
            &env(&[("POSE_DETECTOR", "yolo"), ("LOG_LEVEL_POSE", "x")]),
            None,
        )
        .unwrap();
        assert!(reads_variable("${LOG_LEVEL:-x}", "LOG_LEVEL"));
        assert!(!reads_variable("${LOG_LEVEL_POSE:-x}", "LOG_LEVEL"));
        assert!(!reads_variable("XLOG_LEVEL", "LOG_LEVEL"));
    }

    #[test]
    fn the_builtin_stack_is_noted_only_for_a_bare_directory() {
        let dir = tempfile::tempdir().unwrap();
        let note = builtin_note(dir.path()).unwrap();
        assert!(
            note.contains(&dir.path().display().to_string()) && note.contains("devstack init"),
            "{note}"
        );
        std::fs::create_dir(dir.path().join("services")).unwrap();
        assert_eq!(builtin_note(dir.path()), None);
    }

    /// The issue's generated template cases, as a strategy: operator chains of any length,
    /// loops of any size, huge filter arguments, deep nesting, undefined attributes.
    fn issue_shapes() -> impl Strategy<Value = String> {
        let n = prop_oneof![0usize..20, 990usize..1010, 1000usize..30_000];
        let small = 0u64..200_000;
        prop_oneof![
            n.clone()
                .prop_map(|n| format!("{{{{ {}1 }}}}", "-".repeat(n))),
            n.clone()
                .prop_map(|n| format!("{{{{ 1{} }}}}", "|abs".repeat(n))),
            n.clone()
                .prop_map(|n| format!("{{{{ 1{} }}}}", "+1".repeat(n))),
            n.clone()
                .prop_map(|n| format!("{{{{ {}true }}}}", "not ".repeat(n))),
            n.clone()
                .prop_map(|n| format!("{{{{ env{} }}}}", ".A".repeat(n))),
            n.prop_map(|n| format!(
                "{}x{}",
                "{% if true %}".repeat(n.min(400)),
                "{% endif %}".repeat(n.min(400))
            )),
            (small.clone(), small.clone()).prop_map(|(a, b)| format!(
                "{{% for i in range({a}) %}}{{% for j in range({b}) %}}{{% endfor %}}{{% endfor %}}"
            )),
            (small.clone(), small.clone()).prop_map(|(a, b)| format!(
                "{{% for i in range({a}) %}}{{{{ 'x' * {b} }}}}{{% endfor %}}"
            )),
            (0u64..u64::MAX).prop_map(|w| format!("{{{{ 'x\ny' | indent({w}) }}}}")),
            small.prop_map(|n| format!("{{{{ range({n}) | list | join(',') }}}}")),
            Just("{{ env.A.x }}".to_string()),
            Just("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Every shape renders or fails with a template error at a line, in bounded time: no
        /// stack overflow, no allocation failure, no hang.
        #[test]
        fn the_issues_template_shapes_render_or_name_a_limit(t in issue_shapes(), line in 1usize..4) {
            let dir = with_template(&format!("{}{t}\n", "\n".repeat(line - 1)));
            let started = std::time::Instant::now();
            match render(dir.path(), &ctx()) {
                Ok(out) => prop_assert!(out.len() < 200 * 1024 * 1024),
                Err(e) => prop_assert!(
                    e.0.starts_with("template error at ") && e.0.contains(&format!("{ENTRY}:")),
                    "{}", e
                ),
            }
            prop_assert!(started.elapsed() < std::time::Duration::from_secs(20));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_template_text_renders_or_errs(s in "(\\PC|[{][{%#]|[}%#][}]|env[.]A|env[.]B| if | for | in |endif|endfor|[|]|default[(]|'|\n){0,60}") {
            let dir = with_template(&s);
            match render(dir.path(), &ctx()) {
                Ok(text) => {
                    if let Err(e) = crate::project::yaml::parse(&text, "/x/.devstack/rendered/compose.yaml") {
                        let _ = point_into_templates(crate::project::loader::yaml_error(e), dir.path());
                    }
                }
                Err(e) => prop_assert!(e.0.starts_with("template error at "), "{}", e),
            }
        }
    }
}
