//! The signals that end an attached session.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all stop the stack the same way:
/// the graph in reverse order. Nothing is left orphaned.
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    pub fn new() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted",
            _ = self.term.recv() => "terminated",
            _ = self.hup.recv() => "the terminal went away",
        }
    }
}
