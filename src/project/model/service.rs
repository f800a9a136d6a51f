//! A service: the keys Compose defines (an unknown one is refused with "did you mean"), the
//! thin parser that hands each area its keys (in the order devstack has always checked
//! them, so the first error reported is the same), and the process settings (command,
//! environment, restart, labels, logging, user, stop, tty…).

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::values::{
    check_keys, dur, scalar, string_list, string_map, string_map_or_empty, truthy,
};
use super::{
    build, container, depends, deploy, files, health, networking, resources, security, storage,
    x_devstack, Build, ComposeModel, ContainerOptions, Ctx, Dependency, FileMount, GpuRequest,
    Healthcheck, Mount, Networking, PortMapping, Resources, Security, Storage,
};
use crate::errors::ProjectError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// Final environment: env_file entries, then `environment` on top.
    pub environment: IndexMap<String, String>,
    pub ports: Vec<PortMapping>,
    pub volumes: Vec<Mount>,
    /// Network keys (as in the top-level `networks`) with how the service joins each; the
    /// first is the primary one.
    pub networks: IndexMap<String, networking::Attachment>,
    pub depends_on: IndexMap<String, Dependency>,
    /// `x-devstack: { depends_on: … }`: dependencies on host processes (an `x-` key, so
    /// `docker compose config` still accepts the file). One graph with `depends_on`.
    pub host_depends_on: IndexMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    /// GPU and other device requests (`gpus:`, `deploy.resources.reservations.devices`).
    pub gpus: Vec<GpuRequest>,
    pub labels: IndexMap<String, String>,
    pub logging: Option<Logging>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_grace_period: Option<Duration>,
    pub stop_signal: Option<String>,
    pub profiles: Vec<String>,
    pub tty: bool,
    pub init: Option<bool>,
    pub extra_hosts: Vec<String>,
    pub container: ContainerOptions,
    pub security: Security,
    pub resources: Resources,
    pub networking: Networking,
    pub storage: Storage,
    /// Secrets and configs placed in the container.
    pub files: Vec<FileMount>,
    /// Containers of this service (`deploy.replicas`, `scale`; 1 by default).
    pub replicas: u32,
    /// `provider.type`: a service a Compose provider plugin runs instead of a container (it
    /// needs neither `image:` nor `build:`).
    pub provider: Option<String>,
}

impl Service {
    /// Seconds between SIGTERM and SIGKILL on stop/restart (Compose's default is 10).
    pub fn stop_grace_secs(&self) -> i32 {
        self.stop_grace_period
            .map_or(10, |d| d.as_secs().min(i32::MAX as u64) as i32)
    }

    /// Whether the file gives it a healthcheck (`test: ["NONE"]` disables one).
    pub fn has_healthcheck(&self) -> bool {
        self.healthcheck.as_ref().is_some_and(Healthcheck::enabled)
    }

    /// The memory limit (`mem_limit`, or `deploy.resources.limits.memory`).
    pub fn memory_limit(&self) -> Option<i64> {
        self.resources.memory
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Logging {
    pub driver: String,
    pub options: IndexMap<String, String>,
}

/// Every service key of the compose-spec (compose-go's `ServiceConfig`).
pub const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "log_driver",
    "log_opt",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "models",
    "net",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes",
    "volumes_from",
    "working_dir",
];

pub(super) fn parse_service(
    name: &str,
    spec: &Value,
    model: &ComposeModel,
    cx: &mut Ctx,
) -> Result<Service, ProjectError> {
    let m: &Map<String, Value> = spec
        .as_object()
        .ok_or_else(|| cx.err(&format!("services.{name}"), "expected a mapping"))?;
    check_keys(m, SERVICE_KEYS, &format!("services.{name}"), cx)?;
    note_keys_not_acted_on(m, name, cx);
    let mut s = Service {
        name: name.to_string(),
        ..Default::default()
    };
    what_runs(&mut s, m, model, cx)?;
    connections(&mut s, m, model, cx)?;
    lifecycle(&mut s, m, cx)?;
    let d = deploy::parse_deploy(m.get("deploy"), name, cx)?;
    s.gpus = d.devices.clone();
    s.gpus
        .extend(deploy::parse_gpus(m.get("gpus"), &at(name, "gpus"), cx)?);
    s.labels = labels(m, name, cx)?;
    s.logging = logging(m, &at(name, "logging"), cx)?;
    s.working_dir = m.get("working_dir").and_then(scalar);
    s.user = m.get("user").and_then(scalar);
    if let Some(p) = m.get("profiles").filter(|p| !p.is_null()) {
        s.profiles = string_list(p, &at(name, "profiles"), cx, false)?;
    }
    s.tty = super::values::boolean(m.get("tty"), &at(name, "tty"), cx)?.unwrap_or(false);
    s.init = m.get("init").map(truthy);
    s.container = container::parse_container(m, name, cx)?;
    s.security = security::parse_security(m, name, cx)?;
    s.resources = resources::parse_resources(m, name, cx)?;
    apply_deploy(&mut s, d.clone());
    s.storage = storage::parse_storage(m, name, cx)?;
    s.files = files::parse_mounts(m, files::FileKind::Secret, name, &model.secrets, cx)?;
    s.files.extend(files::parse_mounts(
        m,
        files::FileKind::Config,
        name,
        &model.configs,
        cx,
    )?);
    s.replicas = replicas(m, &d, name, cx)?;
    if s.replicas > 1 && s.container.container_name.is_some() {
        return Err(cx.err(
            &at(name, "container_name"),
            format!(
                "{} containers cannot share one `container_name`; remove it, or run one replica",
                s.replicas
            ),
        ));
    }
    implicit_dependencies(&mut s);
    Ok(s)
}

/// `services.NAME.KEY`.
fn at(name: &str, key: &str) -> String {
    format!("services.{name}.{key}")
}

/// Keys Compose knows that devstack reads but does not act on, each with why.
fn note_keys_not_acted_on(m: &Map<String, Value>, name: &str, cx: &mut Ctx) {
    for (key, why) in [
        (
            "models",
            "it needs Docker Model Runner, which devstack does not drive",
        ),
        (
            "provider",
            "it runs a Compose provider plugin, which devstack does not drive",
        ),
        (
            "pre_start",
            "devstack runs `post_start` and `pre_stop` hooks, not `pre_start` ones yet",
        ),
        ("credential_spec", "it is for Windows containers"),
    ] {
        if m.contains_key(key) {
            cx.notes.push(format!(
                "service {name}: key `{key}` is not acted on by devstack: {why}"
            ));
        }
    }
}

/// What the container runs: its image (or build, or provider), command, entrypoint and
/// environment.
fn what_runs(
    s: &mut Service,
    m: &Map<String, Value>,
    model: &ComposeModel,
    cx: &mut Ctx,
) -> Result<(), ProjectError> {
    let name = s.name.clone();
    s.image = m.get("image").and_then(scalar);
    s.build = build::parse_build(m.get("build"), &name, &model.secrets, cx)?;
    s.provider = m
        .get("provider")
        .map(|p| p.get("type").and_then(scalar).unwrap_or_default());
    // compose-go: a provider service is made by its plugin, not from an image.
    if s.image.is_none() && s.build.is_none() && s.provider.is_none() {
        return Err(cx.err(
            &format!("services.{name}"),
            "has neither `image:` nor `build:`; add one of them",
        ));
    }
    s.command = command(m.get("command"), &at(&name, "command"), cx)?;
    s.entrypoint = command(m.get("entrypoint"), &at(&name, "entrypoint"), cx)?;
    s.environment = environment(m, &name, cx)?;
    Ok(())
}

/// What the container is connected to: published ports, volumes, its network mode and
/// networks, extra hosts.
fn connections(
    s: &mut Service,
    m: &Map<String, Value>,
    model: &ComposeModel,
    cx: &mut Ctx,
) -> Result<(), ProjectError> {
    let name = s.name.clone();
    if let Some(ports) = m.get("ports").filter(|p| !p.is_null()) {
        s.ports = networking::parse_ports(ports, &at(&name, "ports"), cx)?;
    }
    if let Some(vols) = m.get("volumes").filter(|v| !v.is_null()) {
        s.volumes = storage::parse_mounts(vols, &at(&name, "volumes"), model, cx)?;
    }
    let mut with_net = m.clone();
    if let Some(legacy) = m.get("net").filter(|_| !m.contains_key("network_mode")) {
        with_net.insert("network_mode".into(), legacy.clone());
    }
    s.networking = networking::parse_networking(&with_net, &name, cx)?;
    if s.networking.network_mode.is_none() {
        s.networks =
            networking::service_networks(m.get("networks"), &at(&name, "networks"), model, cx)?;
    }
    if let Some(h) = m.get("extra_hosts").filter(|h| !h.is_null()) {
        s.extra_hosts = networking::extra_hosts(h, &at(&name, "extra_hosts"), cx)?;
    }
    Ok(())
}

/// When it starts and stops: dependencies, healthcheck, restart policy, stop signal and grace.
fn lifecycle(s: &mut Service, m: &Map<String, Value>, cx: &mut Ctx) -> Result<(), ProjectError> {
    let name = s.name.clone();
    if let Some(dep) = m.get("depends_on") {
        s.depends_on = depends::parse_depends(dep, &at(&name, "depends_on"), cx)?;
    }
    s.host_depends_on = x_devstack::service_extension(m.get("x-devstack"), &name, cx)?;
    if let Some(hc) = m.get("healthcheck") {
        s.healthcheck = health::parse_healthcheck(hc, &at(&name, "healthcheck"), cx)?;
    }
    s.restart = restart_policy(m.get("restart"), &at(&name, "restart"), cx)?;
    s.stop_grace_period = dur(
        m.get("stop_grace_period"),
        &at(&name, "stop_grace_period"),
        cx,
    )?;
    s.stop_signal = m.get("stop_signal").and_then(scalar);
    Ok(())
}

/// `deploy.resources` on top of the service's own keys, and `deploy.restart_policy` over
/// `restart:`, as Compose applies them.
fn apply_deploy(s: &mut Service, d: deploy::Deploy) {
    let r = &mut s.resources;
    r.memory = d.memory.or(r.memory);
    r.nano_cpus = d.nano_cpus.or(r.nano_cpus);
    r.pids_limit = d.pids.filter(|p| *p > 0).or(r.pids_limit);
    r.memory_reservation = d.memory_reservation.or(r.memory_reservation);
    if d.restart.is_some() {
        s.restart = d.restart;
    }
}

/// `scale` or `deploy.replicas` (1 when neither is set); two different counts are refused.
fn replicas(
    m: &Map<String, Value>,
    d: &deploy::Deploy,
    name: &str,
    cx: &Ctx,
) -> Result<u32, ProjectError> {
    let scale = deploy::replicas(m.get("scale"), &format!("services.{name}.scale"), cx)?;
    match (scale, d.replicas) {
        (Some(a), Some(b)) if a != b => Err(cx.err(
            &format!("services.{name}.scale"),
            format!("`scale: {a}` and `deploy.replicas: {b}` disagree; keep one"),
        )),
        (a, b) => Ok(a.or(b).unwrap_or(1)),
    }
}

/// Compose's implicit dependencies: a service linked to, or whose network, IPC or PID
/// namespace or volumes this one uses, starts first (and a restart of it restarts this one,
/// but for `volumes_from`).
fn implicit_dependencies(s: &mut Service) {
    let mut needs: Vec<(String, bool)> = Vec::new();
    for (svc, _) in &s.networking.links {
        needs.push((svc.clone(), true));
    }
    let namespaces = [
        s.networking.network_mode.as_deref(),
        s.container.ipc.as_deref(),
        s.container.pid.as_deref(),
        s.container.uts.as_deref(),
        s.container.cgroup.as_deref(),
    ];
    for ns in namespaces.into_iter().flatten() {
        if let Some(svc) = ns.strip_prefix("service:") {
            needs.push((svc.to_string(), true));
        }
    }
    for v in &s.storage.volumes_from {
        if !v.starts_with("container:") {
            needs.push((v.split(':').next().unwrap_or_default().to_string(), false));
        }
    }
    for (svc, restart) in needs {
        s.depends_on.entry(svc).or_insert(Dependency {
            condition: super::Condition::ServiceStarted,
            restart,
            required: true,
        });
    }
}

/// `command:` or `entrypoint:`: a list, or a string split like a shell; `null` is unset.
fn command(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<Vec<String>>, ProjectError> {
    match v.filter(|v| !v.is_null()) {
        Some(c) => string_list(c, at, cx, true).map(Some),
        None => Ok(None),
    }
}

/// The final environment: each `env_file` in order (`{path, required: false}` may be
/// missing), then `environment` on top. Env files are interpolated with the project's
/// variables first, as Compose reads them.
fn environment(
    m: &Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, String>, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let own: IndexMap<String, String> = match m.get("environment") {
        // `KEY` without a value: Compose takes it from the environment it interpolated with;
        // after interpolation an unset one is dropped.
        Some(vars) => string_map(vars, &at("environment"), cx)?
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        None => IndexMap::new(),
    };
    let mut env = IndexMap::new();
    for (path, required) in env_files(m.get("env_file"), &at("env_file"), cx)? {
        if !required && !path.exists() {
            continue;
        }
        env.extend(read_env_file(path, &at("env_file"), &own, &env, cx)?);
    }
    env.extend(own);
    Ok(env)
}

/// `env_file:` (and `label_file:`): a path, a list of paths, or `{path, required}` entries.
fn env_files(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<(PathBuf, bool)>, ProjectError> {
    let items: Vec<Value> = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            Value::Object(o) => {
                check_keys(o, &["path", "required", "format"], at, cx)?;
                let path = o
                    .get("path")
                    .and_then(scalar)
                    .ok_or_else(|| cx.err(at, "an env file entry needs `path`"))?;
                let required = super::values::boolean(o.get("required"), at, cx)?.unwrap_or(true);
                Ok((PathBuf::from(path), required))
            }
            other => scalar(other)
                .map(|p| (PathBuf::from(p), true))
                .ok_or_else(|| cx.err(at, "expected a path or {path, required}")),
        })
        .collect()
}

/// One env file of a service. Its `$VAR`s are looked up as Compose does: the project's
/// variables, then the service's own `environment:`, then the earlier env files.
fn read_env_file(
    path: PathBuf,
    at: &str,
    own: &IndexMap<String, String>,
    earlier: &IndexMap<String, String>,
    cx: &Ctx,
) -> Result<Vec<(String, String)>, ProjectError> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| cx.err(at, format!("cannot read {}: {e}", path.display())))?;
    let first = |k: &str| {
        cx.env
            .and_then(|e| e.get(k).cloned())
            .or_else(|| own.get(k).cloned())
    };
    let last = |k: &str| earlier.get(k).cloned();
    let parsed = super::super::dotenv::parse_traced(&text, &path, &first, &last)?;
    Ok(parsed.vars.into_iter().map(|v| (v.key, v.value)).collect())
}

/// `label_file` entries, then `labels:` on top.
fn labels(
    m: &Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, String>, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let mut labels = IndexMap::new();
    for (path, _) in env_files(m.get("label_file"), &at("label_file"), cx)? {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            cx.err(
                &at("label_file"),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        labels.extend(super::super::dotenv::parse(&text, &path, &|_| None)?);
    }
    if let Some(l) = m.get("labels").filter(|l| !l.is_null()) {
        labels.extend(string_map_or_empty(l, &at("labels"), cx)?);
    }
    Ok(labels)
}

/// `restart:` as the engine knows it: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
fn restart_policy(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<String>, ProjectError> {
    let Some(r) = v.and_then(scalar) else {
        return Ok(None);
    };
    let known = matches!(
        r.as_str(),
        "no" | "always" | "unless-stopped" | "on-failure"
    ) || r
        .strip_prefix("on-failure:")
        .is_some_and(|n| n.parse::<u32>().is_ok());
    if !known {
        return Err(cx.bad_value(
            at,
            format!("unknown policy {r:?}: use no, always, unless-stopped or on-failure[:N]"),
        ));
    }
    Ok(Some(r))
}

/// `logging:` (or the older `log_driver` and `log_opt`): the driver, `json-file` by default.
fn logging(m: &Map<String, Value>, at: &str, cx: &Ctx) -> Result<Option<Logging>, ProjectError> {
    let (driver, options) = match m.get("logging").and_then(Value::as_object) {
        Some(l) => {
            check_keys(l, &["driver", "options"], at, cx)?;
            (l.get("driver").and_then(scalar), l.get("options"))
        }
        None if m.contains_key("log_driver") || m.contains_key("log_opt") => {
            (m.get("log_driver").and_then(scalar), m.get("log_opt"))
        }
        None => return Ok(None),
    };
    let options = match options {
        Some(o) if !o.is_null() => string_map_or_empty(o, &format!("{at}.options"), cx)?,
        _ => IndexMap::new(),
    };
    Ok(Some(Logging {
        driver: driver.unwrap_or_else(|| "json-file".into()),
        options,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{parse, parse_traced};
    use super::*;
    use crate::project::interpolate::Blame;

    fn doc(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn web(yaml: &str) -> Result<Service, ProjectError> {
        parse(&doc(&format!("services:\n  web: {yaml}\n")), "f", "p")
            .map(|mut m| m.services.shift_remove("web").unwrap())
    }

    #[test]
    fn every_compose_key_is_read_and_an_unknown_one_is_refused() {
        let d = doc("services:\n  web:\n    image: x\n    shm_size: 1g\n    x-team: vision\n    cap_add: [NET_ADMIN]\n    develop: {watch: []}\n    deploy: {replicas: 2}\n    x-devstack: {color: red}\n");
        let m = parse(&d, "f", "p").unwrap();
        assert_eq!(
            m.not_acted_on,
            ["service web: key `x-devstack.color` is not acted on by devstack"]
        );
        let web = &m.services["web"];
        assert_eq!(web.resources.shm_size, Some(1 << 30));
        assert_eq!(web.security.cap_add, ["NET_ADMIN"]);
        assert_eq!(web.replicas, 2);
        let d = doc("services:\n  web:\n    image: x\n    restat: always\n");
        assert_eq!(
            parse(&d, "f", "p").unwrap_err().0,
            "f: services.web.restat: `restat` is not a Compose key here: did you mean `restart`?"
        );
        let d = doc("services:\n  web:\n    image: x\n    frobnicate: 1\n");
        assert!(parse(&d, "f", "p")
            .unwrap_err()
            .0
            .contains("remove it, or prefix it with `x-`"));
    }

    #[test]
    fn replicas_scale_and_implicit_dependencies() {
        let d = doc("services:\n  db: {image: x}\n  web:\n    image: x\n    scale: 3\n    network_mode: service:db\n    volumes_from: [db]\n    links: [\"db:database\"]\n");
        let m = parse(&d, "f", "p").unwrap();
        let web = &m.services["web"];
        assert_eq!(web.replicas, 3);
        assert!(web.networks.is_empty(), "network_mode joins no networks");
        assert!(web.depends_on["db"].restart);
        let d = doc("services:\n  web:\n    image: x\n    scale: 3\n    deploy: {replicas: 2}\n");
        assert!(parse(&d, "f", "p")
            .unwrap_err()
            .0
            .contains("`scale: 3` and `deploy.replicas: 2` disagree"));
        let d = doc("services:\n  web:\n    image: x\n    scale: 2\n    container_name: w\n");
        assert!(parse(&d, "f", "p")
            .unwrap_err()
            .0
            .contains("cannot share one `container_name`"));
    }

    #[test]
    fn a_service_needs_an_image_or_a_build() {
        assert_eq!(
            web("{command: x}").unwrap_err().0,
            "f: services.web: has neither `image:` nor `build:`; add one of them"
        );
        assert_eq!(
            web("5").unwrap_err().0,
            "f: services.web: expected a mapping"
        );
        let s = web("{provider: {type: model, options: {model: ai/smollm2}}}").unwrap();
        assert_eq!(
            s.provider.as_deref(),
            Some("model"),
            "a provider needs no image"
        );
    }

    #[test]
    fn commands_are_lists_or_shell_words() {
        let s = web("{image: x, command: \"sh -c 'a b'\", entrypoint: [tini, --]}").unwrap();
        assert_eq!(s.command.unwrap(), ["sh", "-c", "a b"]);
        assert_eq!(s.entrypoint.unwrap(), ["tini", "--"]);
        assert_eq!(web("{image: x, command: null}").unwrap().command, None);
        assert_eq!(
            web("{image: x, command: \"'open\"}").unwrap_err().0,
            "f: services.web.command: unterminated single quote in command \"'open\""
        );
    }

    #[test]
    fn environment_wins_over_env_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.env");
        std::fs::write(&file, "A=from_file\nB=from_file\n").unwrap();
        let s = web(&format!(
            "{{image: x, env_file: {}, environment: {{B: set, C: 3, D: null}}}}",
            file.display()
        ))
        .unwrap();
        let env: Vec<_> = s
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("A", "from_file"), ("B", "set"), ("C", "3")]);
        let e = web("{image: x, env_file: /nonexistent/web.env}").unwrap_err();
        assert!(
            e.0.starts_with("f: services.web.env_file: cannot read /nonexistent/web.env: "),
            "{e}"
        );
    }

    #[test]
    fn restart_policies_are_checked_and_blamed_on_their_variable() {
        assert_eq!(
            web("{image: x, restart: on-failure:3}")
                .unwrap()
                .restart
                .as_deref(),
            Some("on-failure:3")
        );
        let d = doc("services:\n  web: {image: x, restart: sometimes}\n");
        let blame = |at: &str| {
            (at == "services.web.restart").then(|| Blame {
                text: "/p/.env:1: POLICY=sometimes".into(),
                names: vec!["POLICY".into()],
                place: "/p/.env".into(),
            })
        };
        let e = parse_traced(&d, "f", "p", Some(&blame)).unwrap_err();
        assert_eq!(
            e.0,
            "/p/.env:1: POLICY=sometimes: services.web.restart: unknown policy \"sometimes\": use no, always, unless-stopped or on-failure[:N]; fix POLICY in /p/.env"
        );
    }

    #[test]
    fn process_settings() {
        let s = web("{image: x, labels: [a=b, c], logging: {options: {max-size: 10m}}, working_dir: /app, user: 1000, stop_grace_period: 1m30s, stop_signal: SIGINT, profiles: debug, tty: yes, init: null}").unwrap();
        assert_eq!(s.labels["a"], "b");
        assert_eq!(s.labels["c"], "");
        let logging = s.logging.clone().unwrap();
        assert_eq!(logging.driver, "json-file");
        assert_eq!(logging.options["max-size"], "10m");
        assert_eq!(s.working_dir.as_deref(), Some("/app"));
        assert_eq!(s.user.as_deref(), Some("1000"));
        assert_eq!(s.stop_grace_secs(), 90);
        assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(s.profiles, ["debug"]);
        assert!(s.tty);
        // `init: null` is written, so it is an explicit "no" (absent leaves the engine's default).
        assert_eq!(s.init, Some(false));
        assert_eq!(web("{image: x}").unwrap().init, None);
        assert_eq!(web("{image: x}").unwrap().stop_grace_secs(), 10);
    }
}
