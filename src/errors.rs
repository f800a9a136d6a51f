//! The typed errors every layer returns, in one place: `project/` and the commands construct
//! them, `exit.rs` maps them to exit codes. Nothing here depends on the rest of the crate.

/// A configuration error (exit code 2): it names the file and place, and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProjectError(pub String);

/// A usage or configuration error (exit 2) that is not a [`ProjectError`]: an unknown flag
/// value, an unknown service name.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An operation failed and its story was already printed; exit 1 with this one-line summary.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);
