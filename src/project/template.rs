//! Renders `templates/compose.yaml.j2` (or the embedded copy) with minijinja, strict undefined.

use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use super::ProjectError;

pub const ENTRY: &str = "compose.yaml.j2";

/// Renders the entry template. `templates_dir` wins over the embedded copies, name by name.
pub fn render(templates_dir: &Path, context: &impl Serialize) -> Result<String, ProjectError> {
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
    let tmpl = env.get_template(ENTRY).map_err(describe)?;
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
    let hint = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            " (define it in .env, or write `{{ env.NAME | default('value') }}`; `devstack doctor` lists what is missing)"
        }
        minijinja::ErrorKind::SyntaxError => " (fix the template syntax at that line)",
        minijinja::ErrorKind::TemplateNotFound => " (add it under templates/ or remove the include)",
        _ => "",
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    ProjectError(format!(
        "template error at {at}: {}{detail}{hint}",
        e.kind()
    ))
}
