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

/// Renders template `name` of `templates_dir` (an override file, a `-f` template); includes
/// resolve in that directory, then among the embedded copies.
pub fn render_named(
    templates_dir: &Path,
    name: &str,
    context: &impl Serialize,
) -> Result<String, ProjectError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    let dir = templates_dir.to_path_buf();
    env.set_loader(move |name| {
        let on_disk = dir.join(name);
        if name.split('/').any(|p| p == ".." || p.starts_with('.')) {
            return Ok(None);
        }
        match std::fs::read_to_string(&on_disk) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(crate::embedded::template(name).map(str::to_string))
            }
            Err(e) => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read {}: {e}", on_disk.display()),
            )),
        }
    });
    let describe = |e: minijinja::Error| template_error(templates_dir, e);
    let tmpl = env.get_template(name).map_err(describe)?;
    tmpl.render(minijinja::value::Serde(context))
        .map_err(describe)
}

fn template_error(dir: &Path, e: minijinja::Error) -> ProjectError {
    let name = e.name().unwrap_or(ENTRY).to_string();
    let shown = if dir.join(&name).exists() {
        dir.join(&name).display().to_string()
    } else {
        format!("{name} (embedded default)")
    };
    let at = match e.line() {
        Some(l) => format!("{shown}:{l}"),
        None => shown,
    };
    if e.kind() == minijinja::ErrorKind::UndefinedError {
        return undefined_error(dir, &name, &at, &e);
    }
    let hint = match e.kind() {
        minijinja::ErrorKind::SyntaxError => " (fix the template syntax at that line)",
        minijinja::ErrorKind::TemplateNotFound => {
            " (add it under templates/ or remove the include)"
        }
        _ => "",
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    ProjectError(format!(
        "template error at {at}: {}{detail}{hint}",
        e.kind()
    ))
}

/// The source of a template as rendering saw it: `templates/NAME`, else the embedded copy.
fn source_of(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .or_else(|| crate::embedded::template(name).map(str::to_string))
}

/// "`env.X` is undefined": names the expression and the variable, and the two fixes.
fn undefined_error(dir: &Path, name: &str, at: &str, e: &minijinja::Error) -> ProjectError {
    // minijinja's detail is "`env.X` is undefined"; without it, the expression's own text.
    let expr = e
        .detail()
        .and_then(|d| d.split('`').nth(1).map(str::to_string))
        .or_else(|| {
            let src = source_of(dir, name)?;
            src.get(e.range()?).map(|s| s.trim().to_string())
        });
    let var = expr.as_deref().and_then(env_variable);
    let what = match &expr {
        Some(x) => format!("`{x}` is undefined"),
        None => "a value is undefined".to_string(),
    };
    let fix = match (&var, &expr) {
        (Some(v), _) => format!(
            "set {v} in .env (or the environment), or give it a default in the template: \
             `{{{{ env.{v} | default('…') }}}}`"
        ),
        (None, Some(x)) => format!(
            "define `{x}` before this line, or give it a default: `{{{{ {x} | default('…') }}}}`"
        ),
        (None, None) => "give the value a default with `| default('…')`".to_string(),
    };
    ProjectError(format!("template error at {at}: {what}: {fix}"))
}

/// `env.X` or `env['X']` / `env["X"]` → `X`.
fn env_variable(expr: &str) -> Option<String> {
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

/// A source's name for the rendered file's header: a template's rendering is named by its
/// template (`templates/compose.yaml.j2`).
pub fn source_name(name: &str) -> String {
    match name.split_once("/.devstack/rendered/") {
        Some((_, stem)) => format!("templates/{stem}.j2"),
        None => name.to_string(),
    }
}

fn shown(dir: &Path, name: &str) -> String {
    if dir.join(name).exists() {
        dir.join(name).display().to_string()
    } else {
        format!("templates/{name} (embedded default)")
    }
}

/// The template line a rendered line came from, when it can be told: the k-th rendered line
/// with this text (or, for a key, this indentation and key) is the k-th such template line
/// when both have the same number of them.
fn template_line_of(
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
