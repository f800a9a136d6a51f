//! Copies of the default stack embedded in the binary: the template fallback for projects
//! without `templates/`, and what `devstack init` writes.

/// Embedded templates by name (as `templates/NAME` on disk).
pub fn template(name: &str) -> Option<&'static str> {
    match name {
        "compose.yaml.j2" => Some(include_str!("../templates/compose.yaml.j2")),
        _ => None,
    }
}
