//! A one-off container of a service, as `docker compose run` makes one: the service's container spec with the
//! command replaced, named `{project}-{service}-run-{6 hex}`, labelled `oneoff=True` (so `ps`,
//! `down`, `up` and Compose do not take it for the service's container), no published ports
//! and no network alias of the service. Its dependencies start first through the executor, as
//! `up -d` starts them (unless `--no-deps`); its output is attached and its exit code is
//! devstack's; `--rm` removes it afterwards.

use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::{AttachContainerOptions, ResizeContainerTTYOptions};

use super::exec::{self, Ended, ExecOptions};
use super::up::Plan;
use crate::engine::build::ImageAction;
use crate::engine::converge::{self, Event, Reporter, UpOptions};
use crate::engine::spec::ContainerSpec;
use crate::engine::{container, labels, Engine};
use crate::executor::Ctx;
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::ui::color;

/// Compose's label for a one-off container's unique slug.
const SLUG: &str = "com.docker.compose.slug";

/// `run`'s flags.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The command instead of the service's (`CMD…`), its environment, user, directory and
    /// whether it gets a TTY.
    pub exec: ExecOptions,
    /// `--name`: instead of `{project}-{service}-run-{6 hex}`.
    pub name: Option<String>,
    /// `--rm`: removed when it ends.
    pub rm: bool,
    /// `--no-deps`: its dependencies are not started.
    pub no_deps: bool,
    /// How long the dependencies may take to become ready.
    pub wait: Duration,
    pub verbose: bool,
}

/// Runs a one-off container of `service` attached to this terminal; its exit code.
pub async fn run(
    engine: &Engine,
    project: &Project,
    service: &str,
    a: &RunOptions,
) -> anyhow::Result<u8> {
    if !a.no_deps {
        start_dependencies(a.verbose, engine, project, service, a.wait).await?;
    }
    let engine = engine.clone();
    let image = own_image(&engine, project, service).await?;
    let svc = &project.model.services[service];
    let tty = a.exec.tty;
    let slug = random_hex(32);
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service}-run-{}", project.name, &slug[..6]));
    let mut spec = crate::engine::remote::container_spec(&engine, project, svc, &image).await;
    one_off(&mut spec, name, &slug, &a.exec, tty);
    let id = container::create_oneoff(&engine, svc, spec).await?;
    let outcome = attach_start_wait(&engine, svc, &id, tty).await;
    if a.rm {
        if let Err(e) = container::remove(&engine, &id).await {
            crate::say!(
                "{} could not remove the one-off container: {}",
                color::warn("!"),
                container::docker_message(&e)
            );
        }
    }
    outcome
}

/// The service's spec turned into a one-off's (what `docker compose run` changes).
fn one_off(spec: &mut ContainerSpec, name: String, slug: &str, a: &ExecOptions, tty: bool) {
    spec.name = name;
    let body = &mut spec.body;
    if !a.command.is_empty() {
        body.cmd = Some(a.command.clone());
    }
    body.env
        .get_or_insert_with(Vec::new)
        .extend(exec::env_pairs(&a.env));
    if a.user.is_some() {
        body.user = a.user.clone();
    }
    if a.workdir.is_some() {
        body.working_dir = a.workdir.clone();
    }
    body.tty = Some(tty);
    body.open_stdin = Some(true);
    body.stdin_once = Some(true);
    body.attach_stdin = Some(true);
    body.attach_stdout = Some(true);
    body.attach_stderr = Some(true);
    if let Some(host) = body.host_config.as_mut() {
        // The service's ports stay with the service (Compose: unless --service-ports), and a
        // one-off command is not restarted.
        host.port_bindings = None;
        host.restart_policy = None;
    }
    // Nor does it answer to the service's name on its networks (Compose: unless --use-aliases).
    if let Some(endpoints) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    {
        for e in endpoints.values_mut() {
            e.aliases = None;
        }
    }
    for (_, endpoint) in spec.extra_networks.iter_mut() {
        endpoint.aliases = None;
    }
    let l = body.labels.get_or_insert_with(Default::default);
    l.insert(labels::ONEOFF.into(), "True".into());
    l.insert(SLUG.into(), slug.to_string());
    l.remove(labels::NUMBER);
}

/// Attaches (before the start, so no output is missed), starts, streams until the container's
/// output ends and returns its exit code. Without a TTY, Ctrl-C or SIGTERM stops the container
/// (its grace period, then SIGKILL) and exits 130.
async fn attach_start_wait(
    engine: &Engine,
    svc: &crate::project::model::Service,
    id: &str,
    tty: bool,
) -> anyhow::Result<u8> {
    let opts = AttachContainerOptions {
        stream: true,
        stdin: true,
        stdout: true,
        stderr: true,
        logs: false,
        detach_keys: None,
    };
    let attached = engine.docker.attach_container(id, Some(opts)).await?;
    container::start(engine, svc, id).await?;
    let resize = |rows: u16, cols: u16| async move {
        let opts = ResizeContainerTTYOptions {
            h: i32::from(rows),
            w: i32::from(cols),
        };
        let _ = engine.docker.resize_container_tty(id, opts).await;
    };
    let ended = exec::pump(attached.output, attached.input, tty, resize).await?;
    if ended == Ended::Interrupted {
        container::stop(engine, id, svc.stop_grace_secs()).await;
        return Ok(130);
    }
    let code = container::wait_exit(engine, id).await?;
    Ok(exec::exit_byte(code))
}

/// The service's dependencies (of both kinds, with theirs), started and waited on as `up -d`
/// does; host processes through the project's background supervisor.
async fn start_dependencies(
    verbose: bool,
    engine: &Engine,
    project: &Project,
    service: &str,
    wait: Duration,
) -> anyhow::Result<()> {
    let direct: Vec<String> = project
        .graph
        .get(service)
        .map(|n| n.deps.keys().cloned().collect())
        .unwrap_or_default();
    if direct.is_empty() {
        return Ok(());
    }
    let nodes = project.graph.with_dependencies(&direct);
    let hosts = if nodes.iter().any(|n| project.graph.is_host(n)) {
        crate::supervisor::ensure_background(project).await?;
        Hosts::Socket(project.paths())
    } else {
        Hosts::Absent("no host process among the dependencies".into())
    };
    let plan = Plan::new(project, nodes, UpOptions::default(), wait, verbose);
    let ctx = Ctx::new(engine, project, hosts, plan.reporter.clone());
    match plan.converge(&ctx).await {
        Ok(actions) => {
            plan.finish(&actions);
            Ok(())
        }
        Err(e) => {
            plan.progress.abandon();
            Err(e.into())
        }
    }
}

/// The service's image (built when its context changed, pulled when missing), its networks and
/// volumes; its published ports are not checked, since a one-off does not publish them.
async fn own_image(engine: &Engine, project: &Project, service: &str) -> anyhow::Result<String> {
    let report: Reporter = Arc::new(|ev: Event| match ev {
        Event::Image(s, ImageAction::Built) => crate::say!("{} {s} image built", color::ok("✓")),
        Event::Image(s, ImageAction::Pulled) => crate::say!("{} {s} image pulled", color::ok("✓")),
        Event::Note(n) => crate::say!("{} {n}", color::warn("note:")),
        _ => {}
    });
    let opts = UpOptions {
        services: vec![service.to_string()],
        skip_preflight: true,
        ..Default::default()
    };
    let prepared = converge::prepare(engine, project, &opts, &report).await?;
    Ok(prepared.images[service].clone())
}

/// `n` random bytes as hex (Compose's slug is 32).
fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if ok.is_err() {
        // No /dev/urandom: the time and pid are unique enough for a name.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        return hex::encode(<sha2::Sha256 as sha2::Digest>::digest(seed.as_bytes()))
            .chars()
            .take(2 * n)
            .collect();
    }
    hex::encode(buf)
}
