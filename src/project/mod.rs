//! The project: .env, template rendering, the typed compose model, the dependency graph.

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProjectError(pub String);
