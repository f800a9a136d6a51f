//! What the attached `up` prints once the stack runs: every service's and host process's
//! lines and the supervisor's events (health transitions, restarts), as one story. The
//! orchestration (walk, follow, stop) is `commands::attached`'s; this only prints.

use std::io::Write;

use tokio::sync::broadcast::error::RecvError;

use crate::engine::logs::Line;
use crate::supervisor::SupEvent;
use crate::ui::printer::LogPrinter;

/// One printer for the containers' lines, the host processes' lines and the supervisor's
/// events (health transitions, restarts), so they read as one story.
pub async fn print_live(
    mut printer: LogPrinter,
    mut lines: tokio::sync::mpsc::Receiver<Line>,
    mut events: tokio::sync::broadcast::Receiver<SupEvent>,
) {
    let (mut events_open, mut lines_open) = (true, true);
    while events_open || lines_open {
        let line = tokio::select! {
            ev = events.recv(), if events_open => match ev {
                // Host processes' lines come with the log stream.
                Ok(SupEvent::Line(..)) => continue,
                Ok(other) => {
                    if let Some(d) = other.describe() {
                        say(&d);
                    }
                    continue;
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => {
                    events_open = false;
                    continue;
                }
            },
            l = lines.recv(), if lines_open => match l {
                Some(l) => l,
                None => {
                    lines_open = false;
                    continue;
                }
            },
        };
        print_quietly(&mut printer, &line);
    }
}

/// A message on stderr that cannot fail: after SIGHUP the terminal is gone, and `eprintln!`
/// would panic in the middle of stopping the stack.
pub fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A closed stdout (`up | head`) must not stop the stack: the line is dropped.
pub fn print_quietly(printer: &mut LogPrinter, line: &Line) {
    let mut out = std::io::stdout().lock();
    let _ = printer.print(&mut out, line).and_then(|_| out.flush());
}
