//! Operations: what the verbs do, between the command files and the engine, executor and
//! supervisor.
//!
//! The layers, top to bottom (as Docker Compose's `cmd/compose` over `pkg/compose`, or cargo's
//! `commands/` over `ops/`):
//!
//! - `commands/`: one thin file per verb. It reads its flags, calls one operation and prints
//!   its result. No command file imports another.
//! - `ops/`: the operations. A `Session` is built in one place; the status of a node,
//!   the log stream and `watch` are each written once here and shared by every verb that shows
//!   them.
//! - `executor/`: the one walker of the dependency graph (forward for up, reverse for stop),
//!   node selection an option of the walk.
//! - `engine/` (Docker objects), `supervisor/` (host processes), `project/` (the configuration,
//!   reading no environment of the engine): the primitives.
pub mod attached;
pub mod dash;
pub mod down;
pub mod exec;
pub mod kinect;
pub mod lifecycle;
pub mod logs;
pub mod run;
pub mod session;
pub mod signals;
pub mod status;
pub mod up;
pub mod watch;
