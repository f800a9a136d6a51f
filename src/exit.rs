//! Exit codes: 0 success, 1 operation failed, 2 usage or configuration error.

use crate::errors::ProjectError;
// Re-exported so code that names them `crate::exit::…` keeps compiling.
pub use crate::errors::{Failed, UsageError};

pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<ProjectError>() {
            return 2;
        }
        // A build that asks for what this machine or engine lacks is a configuration error.
        if let Some(b) = cause.downcast_ref::<crate::engine::build::BuildError>() {
            if b.is_configuration() {
                return 2;
            }
        }
    }
    1
}

/// Whether the command ended because its reader went away (`devstack graph | head -c0`):
/// only a write to standard output counts, not a broken pipe to the engine or a container.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<crate::ui::out::StdoutError>()
            .is_some_and(|e| e.is_closed_pipe())
    })
}
