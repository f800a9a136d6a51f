//! devstack: one command for a GPU pose-estimation development stack.
//!
//! `main.rs` is thin; [`main_entry`] parses the command line, sets up tracing, runs the command
//! and maps errors to exit codes (0 ok, 1 operation failed, 2 usage or configuration error).

pub mod cli;
pub mod commands;
pub mod doctor;
pub mod embedded;
pub mod engine;
pub mod errors;
pub mod executor;
pub mod exit;
pub mod gpu;
pub mod host_facts;
pub mod kinect;
pub mod ops;
pub mod project;
pub mod supervisor;
pub mod ui;

use std::process::ExitCode;

use clap::Parser;

pub fn main_entry() -> ExitCode {
    // `COMPLETE=bash devstack …`: the shell asks for completions (see `devstack completion`).
    clap_complete::CompleteEnv::with_factory(<cli::Cli as clap::CommandFactory>::command)
        .complete();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    // The relay of a host process (see `supervisor::relay`) needs no runtime: two reader
    // threads and a wait.
    if let cli::Command::Supervise(cli::SuperviseArgs {
        relay_log: Some(log),
        status: Some(status),
        command,
        ..
    }) = &cli.command
    {
        let code = supervisor::relay::run(log, status, command);
        return ExitCode::from(u8::try_from(code).unwrap_or(255));
    }
    ui::init(&cli.global);
    // One thread: devstack's work is I/O on the engine's socket, and a multi-threaded runtime
    // paid two futex wake-ups per log line handed between threads (7.5 s vs 1.3 s for
    // `docker logs` on 200k lines). Blocking work goes to spawn_blocking.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            crate::say!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let result = runtime
        .block_on(commands::run(cli))
        .and_then(|code| Ok(ui::out::flush().map(|_| code)?));
    // Streams (logs -f, events) may still hold tasks; do not wait on them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // The reader went away (`| head`): coreutils end quietly.
            if exit::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            ui::print_error(&err);
            ExitCode::from(exit::code_for(&err))
        }
    }
}

/// `--help`, `--version` and usage errors: clap's own text, but a help that cannot be written
/// (`--help >/dev/full`) says so and exits 1 instead of exiting 0 having printed nothing.
fn clap_exit(e: clap::Error) -> ExitCode {
    let code = ExitCode::from(e.exit_code().clamp(0, 255) as u8);
    if e.use_stderr() {
        // A usage error quotes the argument: a 100 KB one or raw escapes are shown safely
        // (and without colours); anything else as clap prints it.
        let plain = e.render().to_string();
        let safe = ui::shown(plain.trim_end());
        if safe != plain.trim_end() {
            say!("{safe}");
        } else {
            let _ = e.print();
        }
        return code;
    }
    match e.print() {
        Err(io) if io.kind() != std::io::ErrorKind::BrokenPipe => {
            ui::print_error(&ui::out::StdoutError(io).into());
            ExitCode::from(1)
        }
        _ => code,
    }
}
