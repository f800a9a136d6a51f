//! `devstack config` (also `render`): the rendered compose file, its service or volume names,
//! or a validation only (`-q`).

use std::path::Path;

use crate::cli::{ConfigArgs, GlobalOpts};
use crate::errors::UsageError;

pub async fn run(g: &GlobalOpts, a: &ConfigArgs) -> anyhow::Result<u8> {
    if a.quiet {
        super::validate_project(g)?;
        return Ok(0);
    }
    let project = super::load_project_probed(g)?;
    super::report_not_acted_on(&project);
    let active: Vec<String> = crate::engine::converge::active_services(&project)
        .into_iter()
        .filter(|n| project.model.services.contains_key(n))
        .collect();
    let json = a.format.as_deref() == Some("json");
    let text = if a.variables {
        variables(&project, json)
    } else if a.services {
        lines(active.iter())
    } else if a.volumes {
        lines(project.model.volumes.keys())
    } else if json {
        let mut doc = project.document.clone();
        if let Some(s) = doc
            .get_mut("services")
            .and_then(serde_json::Value::as_object_mut)
        {
            s.retain(|n, _| active.contains(n));
        }
        format!("{}\n", serde_json::to_string_pretty(&doc)?)
    } else {
        project.config_text(&active)?
    };
    match a.output.as_deref() {
        Some(path) if path != Path::new("-") => write_output(path, &text)?,
        _ => crate::ui::out::write_bytes(text.as_bytes())?,
    }
    Ok(0)
}

/// `config --variables`: Compose's table (NAME, REQUIRED, DEFAULT VALUE, ALTERNATE VALUE), or
/// JSON.
fn variables(project: &crate::project::Project, json: bool) -> String {
    let vars = project.variables();
    if json {
        let m: serde_json::Map<String, serde_json::Value> = vars
            .values()
            .map(|v| {
                (
                    v.name.clone(),
                    serde_json::json!({"name": v.name, "required": v.required, "defaultValue": v.default, "presenceValue": v.presence}),
                )
            })
            .collect();
        return format!("{}\n", serde_json::Value::Object(m));
    }
    let rows: Vec<Vec<String>> = vars
        .values()
        .map(|v| {
            vec![
                v.name.clone(),
                v.required.to_string(),
                v.default.clone(),
                v.presence.clone(),
            ]
        })
        .collect();
    crate::ui::table::render(
        &["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"],
        &rows,
    )
}

fn lines<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(|n| format!("{n}\n")).collect()
}

/// Writes `-o FILE`; a path that cannot be written is the user's to fix (exit 2), named.
fn write_output(path: &Path, text: &str) -> Result<(), UsageError> {
    std::fs::write(path, text).map_err(|e| {
        let fix = match e.kind() {
            std::io::ErrorKind::NotFound => match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => format!(
                    "the directory {} does not exist: create it first (mkdir -p {}) or write elsewhere",
                    dir.display(),
                    dir.display()
                ),
                _ => "write to an existing directory".to_string(),
            },
            std::io::ErrorKind::PermissionDenied => {
                "you may not write there: pick another path".to_string()
            }
            std::io::ErrorKind::IsADirectory => {
                "that is a directory: name a file in it".to_string()
            }
            _ => "pick another path, or `-o -` for standard output".to_string(),
        };
        let e = e.to_string();
        let e = e.split(" (os error").next().unwrap_or(&e).to_string();
        UsageError(format!("-o {}: cannot write: {e}; {fix}", path.display()))
    })
}
