//! Exit codes: 0 success, 1 operation failed, 2 usage or configuration error.

/// A usage or configuration error (exit 2) that is not a [`crate::project::ProjectError`]:
/// an unknown flag value, an unknown service name.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An operation failed and its story was already printed; exit 1 with this one-line summary.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<crate::project::ProjectError>() {
            return 2;
        }
    }
    1
}

pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
