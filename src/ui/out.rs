//! Standard output and standard error for what commands print. `println!` panics when stdout
//! is a closed pipe (`devstack graph | head -c0`) or a full disk (`>/dev/full`); these return
//! the error instead, wrapped in [`StdoutError`], so `lib.rs` ends the command as coreutils
//! do: quietly on a closed pipe, with one line and exit 1 on any other write error.
//! Diagnostics on stderr ([`say!`](crate::say)) are dropped when stderr cannot take them.

use std::io::Write;

/// Standard output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(pub std::io::Error);

impl StdoutError {
    /// The reader went away (`| head`): not an error for the user.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// `print!` that returns the error: `out!("{x}")?`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::ui::out::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` that returns the error: `outln!("{x}")?`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::ui::out::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::ui::out::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that cannot panic: a diagnostic that stderr cannot take is dropped (a full
/// disk under `2>file`, a terminal gone after SIGHUP), as coreutils drop them.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::ui::out::say_fmt(format_args!($($arg)*))
    };
}

pub fn write_fmt(args: std::fmt::Arguments) -> Result<(), StdoutError> {
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(StdoutError)
}

/// Writes bytes as they are (a rendered file, a completion script).
pub fn write_bytes(bytes: &[u8]) -> Result<(), StdoutError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|_| out.flush())
        .map_err(StdoutError)
}

/// Flushes what is buffered: a write error in the last line surfaces here, not at exit (where
/// the standard library drops it).
pub fn flush() -> Result<(), StdoutError> {
    std::io::stdout().lock().flush().map_err(StdoutError)
}

pub fn say_fmt(args: std::fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|_| err.write_all(b"\n"));
}

/// Wraps an io error from a write to stdout (a `BufWriter` over it, a printer).
pub fn stdout_err(e: std::io::Error) -> StdoutError {
    StdoutError(e)
}
