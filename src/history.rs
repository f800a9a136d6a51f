//! Moved to [`crate::ops::logs::history`] (the one log stream); re-exported here only until
//! `commands/attached.rs` calls `ops::logs::LogStream` (then this file goes).

pub use crate::ops::logs::history::{copy_line, merge, History, TimeRange};
