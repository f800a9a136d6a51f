//! A command in a service's running container, as `docker compose exec` runs one: stdin
//! attached, a TTY when asked (raw mode, restored on exit, resized with the window), and the
//! command's exit code passed through. The attach plumbing here serves `run` too.

use std::io::{IsTerminal, Read, Write};
use std::pin::Pin;

use anyhow::Context;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ResizeExecOptions;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::engine::observed::{self, ContainerState};
use crate::engine::Engine;
use crate::project::Project;

/// What to run, and how (`exec`'s flags).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    /// `KEY=VALUE`, or `KEY` for devstack's own value.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
}

/// Runs `o.command` in `target` attached to this terminal; its exit code (130 when
/// interrupted).
pub async fn exec(engine: &Engine, target: &ContainerState, o: &ExecOptions) -> anyhow::Result<u8> {
    let tty = o.tty;
    let config = ExecConfig {
        cmd: Some(o.command.clone()),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(tty),
        env: Some(env_pairs(&o.env)),
        user: o.user.clone(),
        working_dir: o.workdir.clone(),
        ..Default::default()
    };
    let exec = engine
        .docker
        .create_exec(&target.id, config)
        .await
        .with_context(|| format!("cannot run a command in {}", target.name))?;
    let opts = StartExecOptions {
        detach: false,
        tty,
        output_capacity: None,
    };
    let StartExecResults::Attached { output, input } = engine
        .docker
        .start_exec(&exec.id, Some(opts))
        .await
        .with_context(|| format!("cannot run a command in {}", target.name))?
    else {
        anyhow::bail!("the engine detached the exec in {}", target.name);
    };
    let resize = |rows: u16, cols: u16| {
        let (docker, id) = (&engine.docker, exec.id.clone());
        async move {
            let opts = ResizeExecOptions {
                h: i32::from(rows),
                w: i32::from(cols),
            };
            let _ = docker.resize_exec(&id, opts).await;
        }
    };
    let ended = pump(output, input, tty, resize).await?;
    if ended == Ended::Interrupted {
        return Ok(130);
    }
    // The stream ends as the process exits; its exit code follows a moment later.
    for _ in 0..50 {
        let info = engine.docker.inspect_exec(&exec.id).await?;
        if info.running != Some(true) {
            if let Some(code) = info.exit_code {
                return Ok(exit_byte(code));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    anyhow::bail!(
        "the command in {} ended but the engine reports no exit code",
        target.name
    )
}

/// A process exit code as devstack's own (the low byte, as a shell sees it).
pub fn exit_byte(code: i64) -> u8 {
    (code & 0xff) as u8
}

/// The service a container verb acts on; a host process is refused (exit 2).
pub fn container_service(project: &Project, name: &str, verb: &str) -> anyhow::Result<String> {
    let service = project.resolve_service(name)?;
    if project.graph.is_host(&service) {
        return Err(crate::errors::UsageError(format!(
            "{service} is a host process (x-devstack.host), not a container: `devstack {verb}` \
             works on services"
        ))
        .into());
    }
    Ok(service)
}

/// The service's own container number `index` (not a one-off of `run`), when it runs; else
/// an error (exit 1) that says how to start it.
pub async fn running_container(
    engine: &Engine,
    project: &Project,
    service: &str,
    index: u32,
) -> anyhow::Result<ContainerState> {
    let replicas = project.replicas(service);
    if index == 0 || index > replicas.max(1) {
        return Err(crate::errors::UsageError(format!(
            "--index {index}: service {service} runs {replicas} container(s); pick 1 to {replicas}"
        ))
        .into());
    }
    let found = observed::list(engine, &project.name).await?;
    let mine: Vec<&ContainerState> = found
        .iter()
        .filter(|c| c.service == service && c.number == index)
        .collect();
    if let Some(c) = mine.iter().find(|c| c.running()) {
        return Ok((*c).clone());
    }
    let state = match mine.first() {
        Some(c) => format!("its container {} is {}", c.name, c.status),
        None => "it has no container".to_string(),
    };
    anyhow::bail!(
        "service {service} is not running ({state}): start it with `devstack up -d {service}`"
    )
}

/// A TTY when asked for and stdin and stdout are terminals (Compose's default).
pub fn wants_tty(no_tty: bool) -> bool {
    !no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// `-e KEY=VALUE` as given; `-e KEY` takes devstack's own value, or nothing when unset.
pub fn env_pairs(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container side closed its output (the process exited).
    Closed,
    /// Ctrl-C or SIGTERM reached devstack (without a TTY, where the terminal does not pass
    /// Ctrl-C on as a byte).
    Interrupted,
}

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// Copies stdin to `input` (its end closes the container's stdin) and `output` to stdout and
/// stderr until the output ends. With `tty`, the terminal is raw meanwhile (restored however
/// this returns) and `resize(rows, cols)` follows its size. Without one, Ctrl-C or SIGTERM
/// ends it early with [`Ended::Interrupted`].
pub async fn pump<R, F>(
    mut output: Output,
    mut input: Input,
    tty: bool,
    resize: R,
) -> anyhow::Result<Ended>
where
    R: Fn(u16, u16) -> F,
    F: std::future::Future<Output = ()>,
{
    let _raw = if tty { RawMode::enable() } else { None };
    let mut winch = if tty {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
    } else {
        None
    };
    if tty {
        if let Some((rows, cols)) = console::Term::stdout().size_checked() {
            resize(rows, cols).await;
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut stdin = stdin_chunks();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            item = output.next() => match item {
                None => return Ok(Ended::Closed),
                Some(Ok(LogOutput::StdErr { message })) => {
                    let mut err = std::io::stderr().lock();
                    err.write_all(&message)?;
                    err.flush()?;
                }
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&message)
                        .and_then(|_| out.flush())
                        .map_err(crate::ui::out::stdout_err)?;
                }
                Some(Ok(LogOutput::StdIn { .. })) => {}
                Some(Err(e)) => return Err(e).context("the container's output stream broke"),
            },
            chunk = stdin.recv(), if stdin_open => match chunk {
                Some(bytes) => {
                    // The container may have closed its stdin already: its output decides.
                    if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                        stdin_open = false;
                    }
                }
                None => {
                    stdin_open = false;
                    let _ = input.shutdown().await;
                }
            },
            Some(()) = async { winch.as_mut()?.recv().await }, if winch.is_some() => {
                if let Some((rows, cols)) = console::Term::stdout().size_checked() {
                    resize(rows, cols).await;
                }
            }
            _ = tokio::signal::ctrl_c(), if !tty => return Ok(Ended::Interrupted),
            _ = term.recv() => return Ok(Ended::Interrupted),
        }
    }
}

/// Stdin in chunks, read on a plain thread: a read blocked on a terminal must not hold the
/// runtime's shutdown, and the process exits with it.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let stdin = std::io::stdin();
        loop {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The terminal in raw mode (keys go to the container as typed, Ctrl-C included) until drop.
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enable() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.0);
    }
}
