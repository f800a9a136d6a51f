//! What the supervisor asks of the graph walks above it: auto-heal's `restart: true`
//! dependents follow a healed service, and the engine's return starts the stack again. The
//! executor implements [`Walks`] and whoever starts a supervisor passes it in, so the
//! supervisor (below the executor: the executor reaches host processes through it) imports
//! nothing above it.

use futures_util::future::BoxFuture;

use super::Controls;
use crate::engine::observed::ContainerState;
use crate::engine::Engine;
use crate::project::Project;

/// One dependent that followed a healed service (or was left alone, and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub service: String,
    /// The node whose restart it followed.
    pub because: Option<String>,
    /// Not restarted (a disabled host process, one that cannot be reached); `state` says why.
    pub skipped: bool,
    pub state: String,
}

pub trait Walks: Send + Sync {
    /// Restarts the `restart: true` dependents of `service` (of either kind, theirs after
    /// them), without waiting until they are ready.
    fn restart_dependents<'a>(
        &'a self,
        engine: &'a Engine,
        project: &'a Project,
        controls: Controls,
        service: &'a str,
    ) -> BoxFuture<'a, Vec<Followed>>;

    /// Starts what `existing` has and the host processes that were up, in dependency order,
    /// waiting until each is ready; the names of those started again.
    fn bring_back<'a>(
        &'a self,
        engine: &'a Engine,
        project: &'a Project,
        controls: Controls,
        existing: Vec<ContainerState>,
    ) -> BoxFuture<'a, Result<Vec<String>, String>>;
}
