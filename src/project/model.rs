//! The typed subset of the compose spec that devstack acts on, parsed from the rendered,
//! interpolated and normalised YAML. Keys outside the subset stay in the rendered file and
//! are reported once as "not acted on by devstack".

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::duration;
use super::interpolate::Blame;
use super::ProjectError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ComposeModel {
    pub services: IndexMap<String, Service>,
    pub networks: IndexMap<String, NetworkDef>,
    pub volumes: IndexMap<String, VolumeDef>,
    pub x_devstack: XDevstack,
    /// "service X: key `y` is not acted on by devstack" lines.
    pub not_acted_on: Vec<String>,
}

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
    /// Network keys (as in the top-level `networks`) with their aliases; first is primary.
    pub networks: IndexMap<String, Vec<String>>,
    pub depends_on: IndexMap<String, Dependency>,
    /// `x-devstack: { depends_on: … }`: dependencies on host processes (an `x-` key, so
    /// `docker compose config` still accepts the file). One graph with `depends_on`.
    pub host_depends_on: IndexMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    pub memory_limit: Option<i64>,
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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: String,
    pub args: IndexMap<String, String>,
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Volume key (named volume), absolute host path (bind), or None (anonymous/tmpfs).
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub condition: Condition,
    pub restart: bool,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<i64>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
}

impl Healthcheck {
    pub fn enabled(&self) -> bool {
        self.test.first().is_some_and(|t| t != "NONE")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuRequest {
    pub driver: String,
    /// -1 for all.
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Logging {
    pub driver: String,
    pub options: IndexMap<String, String>,
}

/// A top-level network or named volume.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceDef {
    /// Engine-side name.
    pub name: String,
    pub external: bool,
    pub driver: Option<String>,
}

pub type NetworkDef = ResourceDef;
pub type VolumeDef = ResourceDef;

#[derive(Debug, Clone, Serialize)]
pub struct XDevstack {
    pub aliases: IndexMap<String, String>,
    pub autoheal: Autoheal,
    pub host: IndexMap<String, HostProcess>,
}

impl Default for XDevstack {
    fn default() -> Self {
        XDevstack {
            aliases: IndexMap::new(),
            autoheal: Autoheal::default(),
            host: IndexMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Autoheal {
    pub enabled: bool,
    pub unhealthy_threshold: u32,
    pub max_backoff: Duration,
}

impl Default for Autoheal {
    fn default() -> Self {
        Autoheal {
            enabled: true,
            unhealthy_threshold: 3,
            max_backoff: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostProcess {
    pub name: String,
    pub command: Vec<String>,
    pub environment: IndexMap<String, String>,
    pub working_dir: Option<PathBuf>,
    pub depends_on: IndexMap<String, Dependency>,
    pub restart: String,
    pub healthcheck: Option<Healthcheck>,
    pub enabled: bool,
    /// Why it is disabled, shown instead of an error.
    pub disabled_reason: Option<String>,
}

const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "gpus",
    "labels",
    "logging",
    "working_dir",
    "user",
    "stop_grace_period",
    "stop_signal",
    "profiles",
    "tty",
    "init",
    "extra_hosts",
    "develop",
];

/// Says which variables (and where they were set) a value at a document path came from.
pub type BlameFn<'a> = &'a dyn Fn(&str) -> Option<Blame>;

struct Ctx<'a> {
    file: &'a str,
    notes: Vec<String>,
    blame: Option<BlameFn<'a>>,
}

impl Ctx<'_> {
    /// An error about the document's shape: it names the rendered file and the path.
    fn err(&self, at: &str, msg: impl std::fmt::Display) -> ProjectError {
        ProjectError(format!("{}: {at}: {msg}", self.file))
    }

    /// An error about a value: when the value came from a variable, it is reported against
    /// the variable and where it was set (`.env` line), with the fix; else like [`Ctx::err`].
    fn bad_value(&self, at: &str, msg: impl std::fmt::Display) -> ProjectError {
        match self.blame.and_then(|b| b(at)) {
            Some(b) => ProjectError(format!(
                "{}: {at}: {msg}; fix {} in {}",
                b.text,
                b.names.join(", "),
                b.place
            )),
            None => self.err(at, msg),
        }
    }
}

/// The phrase every duplicate-host-port error carries (`doctor`'s stack.ports looks for it).
pub const PORT_CONFLICT: &str = "cannot publish one host port";

/// Whether a project error is a duplicate published host port (see [`PORT_CONFLICT`]).
pub fn is_port_conflict(e: &ProjectError) -> bool {
    e.0.contains(PORT_CONFLICT)
}

/// Parses the normalised compose document. `file` names it in messages; `project_name`
/// derives engine-side network/volume names.
pub fn parse(doc: &Value, file: &str, project_name: &str) -> Result<ComposeModel, ProjectError> {
    parse_traced(doc, file, project_name, None)
}

/// [`parse`], with `blame` telling which variables a value at a path came from, so a bad
/// value is reported against the `.env` line that set it rather than the generated file.
pub fn parse_traced(
    doc: &Value,
    file: &str,
    project_name: &str,
    blame: Option<BlameFn<'_>>,
) -> Result<ComposeModel, ProjectError> {
    let mut cx = Ctx {
        file,
        notes: Vec::new(),
        blame,
    };
    let top = doc
        .as_object()
        .ok_or_else(|| cx.err("top level", "expected a mapping with `services:`"))?;
    let mut model = ComposeModel::default();
    for key in top.keys() {
        if !matches!(
            key.as_str(),
            "services" | "networks" | "volumes" | "name" | "version"
        ) && !key.starts_with("x-")
        {
            cx.notes
                .push(format!("top-level key `{key}` is not acted on by devstack"));
        }
    }
    model.networks = parse_resources(top.get("networks"), "networks", project_name, &cx)?;
    if !model.networks.contains_key("default") {
        model.networks.insert(
            "default".into(),
            NetworkDef {
                name: format!("{project_name}_default"),
                ..Default::default()
            },
        );
    }
    model.volumes = parse_resources(top.get("volumes"), "volumes", project_name, &cx)?;
    let services = match top.get("services") {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => return Err(cx.err("services", "no services defined")),
        Some(_) => return Err(cx.err("services", "expected a mapping of service names")),
    };
    for (name, spec) in services {
        if !valid_name(name) {
            return Err(cx.err(
                &format!("services.{name}"),
                "invalid service name: use lowercase letters, digits, '-', '_' and '.'",
            ));
        }
        let svc = parse_service(name, spec, &model, &mut cx)?;
        model.services.insert(name.clone(), svc);
    }
    if let Some(x) = top.get("x-devstack") {
        model.x_devstack = parse_x_devstack(x, &model, &mut cx)?;
    }
    check_host_ports(&model, &cx)?;
    model.not_acted_on = cx.notes;
    Ok(model)
}

/// Two published ports on one host port (same protocol, overlapping addresses) would make the
/// second container fail at start, after the first was created: refuse them here, naming
/// both services and the variable that set the port.
fn check_host_ports(model: &ComposeModel, cx: &Ctx) -> Result<(), ProjectError> {
    fn wildcard(ip: &str) -> bool {
        matches!(ip, "" | "0.0.0.0" | "::" | "[::]")
    }
    let mut seen: Vec<(&str, &PortMapping)> = Vec::new();
    for (name, svc) in &model.services {
        for p in &svc.ports {
            let Some(port) = p.host_port.filter(|p| *p != 0) else {
                continue;
            };
            let clash = seen.iter().find(|(_, q)| {
                q.host_port == Some(port)
                    && q.protocol == p.protocol
                    && (q.host_ip == p.host_ip || wildcard(&q.host_ip) || wildcard(&p.host_ip))
            });
            if let Some((other, _)) = clash {
                let addr = if p.host_ip.contains(':') {
                    format!("[{}]:{port}/{}", p.host_ip, p.protocol)
                } else {
                    format!("{}:{port}/{}", p.host_ip, p.protocol)
                };
                let who = if *other == name.as_str() {
                    format!("service {name} publishes host port {addr} twice")
                } else {
                    format!("host port {addr} is published by both {other} and {name}")
                };
                let at = format!("services.{name}.ports");
                let other_at = format!("services.{other}.ports");
                let blamed = cx.blame.and_then(|b| b(&at).or_else(|| b(&other_at)));
                return Err(match blamed {
                    Some(b) => ProjectError(format!(
                        "{}: {at}: {who}; two services {PORT_CONFLICT}: set {} to a free port in {}",
                        b.text,
                        b.names.join(", "),
                        b.place
                    )),
                    None => cx.err(
                        &at,
                        format!("{who}; two services {PORT_CONFLICT}: change one of them"),
                    ),
                });
            }
            seen.push((name, p));
        }
    }
    Ok(())
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Top-level `networks:` or `volumes:`: engine-side names (`{project}_{key}` unless `name:` or
/// `external:`), drivers.
fn parse_resources(
    v: Option<&Value>,
    kind: &str,
    project: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, ResourceDef>, ProjectError> {
    let mut out = IndexMap::new();
    let Some(Value::Object(m)) = v else {
        return Ok(out);
    };
    for (key, spec) in m {
        let spec_obj = spec.as_object();
        if spec_obj.is_none() && !spec.is_null() {
            return Err(cx.err(&format!("{kind}.{key}"), "expected a mapping or nothing"));
        }
        let get = |k: &str| spec_obj.and_then(|s| s.get(k));
        let external = get("external").is_some_and(truthy);
        let name = get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                if external {
                    key.clone()
                } else {
                    format!("{project}_{key}")
                }
            });
        let driver = get("driver").and_then(Value::as_str).map(str::to_string);
        out.insert(
            key.clone(),
            ResourceDef {
                name,
                external,
                driver,
            },
        );
    }
    Ok(out)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "true" | "True" | "yes"),
        Value::Object(_) => true,
        _ => false,
    }
}

/// A scalar as the string Compose would see (YAML 1.1 booleans and numbers included).
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Null => None,
        _ => None,
    }
}

fn string_list(
    v: &Value,
    at: &str,
    cx: &Ctx,
    shell_split: bool,
) -> Result<Vec<String>, ProjectError> {
    match v {
        Value::String(s) if shell_split => split_command(s).map_err(|e| cx.bad_value(at, e)),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| scalar(i).ok_or_else(|| cx.err(at, "expected a list of strings")))
            .collect(),
        _ => Err(cx.err(at, "expected a string or a list of strings")),
    }
}

/// Splits a command string like a POSIX shell would (quotes and backslashes), as Compose does.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unterminated single quote in command {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => {
                                return Err(format!("unterminated double quote in command {s:?}"))
                            }
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unterminated double quote in command {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

fn string_map(
    v: &Value,
    at: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, Option<String>>, ProjectError> {
    let mut out = IndexMap::new();
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if !val.is_null() && scalar(val).is_none() {
                    return Err(
                        cx.err(&format!("{at}.{k}"), "expected a string, number or boolean")
                    );
                }
                out.insert(k.clone(), scalar(val));
            }
        }
        Value::Array(items) => {
            for item in items {
                let s = scalar(item)
                    .ok_or_else(|| cx.err(at, "expected a list of KEY=VALUE strings"))?;
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_string(), Some(val.to_string())),
                    None => out.insert(s, None),
                };
            }
        }
        Value::Null => {}
        _ => return Err(cx.err(at, "expected a mapping or a list of KEY=VALUE")),
    }
    Ok(out)
}

fn dur(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<Duration>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(val) => {
            let s =
                scalar(val).ok_or_else(|| cx.err(at, "expected a duration like 5s or 1m30s"))?;
            duration::parse(&s)
                .map(Some)
                .map_err(|e| cx.bad_value(at, e))
        }
    }
}

fn parse_service(
    name: &str,
    spec: &Value,
    model: &ComposeModel,
    cx: &mut Ctx,
) -> Result<Service, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let m: &Map<String, Value> = match spec {
        Value::Object(m) => m,
        _ => return Err(cx.err(&format!("services.{name}"), "expected a mapping")),
    };
    for key in m.keys() {
        if !SERVICE_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
            cx.notes.push(format!(
                "service {name}: key `{key}` is not acted on by devstack"
            ));
        }
    }
    let mut s = Service {
        name: name.to_string(),
        ..Default::default()
    };
    s.image = m.get("image").and_then(scalar);
    s.build = match m.get("build") {
        None | Some(Value::Null) => None,
        Some(Value::String(ctx)) => Some(Build {
            context: PathBuf::from(ctx),
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        }),
        Some(Value::Object(b)) => {
            let context = b
                .get("context")
                .and_then(scalar)
                .unwrap_or_else(|| ".".into());
            let args = match b.get("args") {
                Some(a) => string_map(a, &at("build.args"), cx)?
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect(),
                None => IndexMap::new(),
            };
            for k in b.keys() {
                if !matches!(k.as_str(), "context" | "dockerfile" | "args" | "target") {
                    cx.notes.push(format!(
                        "service {name}: key `build.{k}` is not acted on by devstack"
                    ));
                }
            }
            Some(Build {
                context: PathBuf::from(context),
                dockerfile: b
                    .get("dockerfile")
                    .and_then(scalar)
                    .unwrap_or_else(|| "Dockerfile".into()),
                args,
                target: b.get("target").and_then(scalar),
            })
        }
        Some(_) => return Err(cx.err(&at("build"), "expected a path or a mapping with `context:`")),
    };
    if s.image.is_none() && s.build.is_none() {
        return Err(cx.err(
            &format!("services.{name}"),
            "has neither `image:` nor `build:`; add one of them",
        ));
    }
    if let Some(c) = m.get("command").filter(|v| !v.is_null()) {
        s.command = Some(string_list(c, &at("command"), cx, true)?);
    }
    if let Some(c) = m.get("entrypoint").filter(|v| !v.is_null()) {
        s.entrypoint = Some(string_list(c, &at("entrypoint"), cx, true)?);
    }
    if let Some(files) = m.get("env_file").filter(|v| !v.is_null()) {
        for f in string_list(files, &at("env_file"), cx, false)? {
            let path = PathBuf::from(&f);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                cx.err(
                    &at("env_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            for (k, v) in super::dotenv::parse(&text, &path, &|_| None)? {
                s.environment.insert(k, v);
            }
        }
    }
    if let Some(env) = m.get("environment") {
        for (k, v) in string_map(env, &at("environment"), cx)? {
            // `KEY` without a value: Compose takes it from the environment it interpolated with;
            // after interpolation an unset one is dropped.
            if let Some(v) = v {
                s.environment.insert(k, v);
            }
        }
    }
    if let Some(ports) = m.get("ports") {
        s.ports = parse_ports(ports, &at("ports"), cx)?;
    }
    if let Some(vols) = m.get("volumes") {
        s.volumes = parse_mounts(vols, &at("volumes"), model, cx)?;
    }
    s.networks = match m.get("networks") {
        None | Some(Value::Null) => IndexMap::from([("default".to_string(), Vec::new())]),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|n| (n, Vec::new()))
            .collect(),
        Some(Value::Object(nm)) => nm
            .iter()
            .map(|(k, v)| {
                let aliases = v
                    .get("aliases")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(scalar).collect());
                (k.clone(), aliases.unwrap_or_default())
            })
            .collect(),
        Some(_) => return Err(cx.err(&at("networks"), "expected a list or mapping of networks")),
    };
    for net in s.networks.keys() {
        if !model.networks.contains_key(net) {
            return Err(cx.err(
                &at("networks"),
                format!("network `{net}` is not declared in the top-level `networks:`; declare it there"),
            ));
        }
    }
    if let Some(dep) = m.get("depends_on") {
        s.depends_on = parse_depends(dep, &at("depends_on"), cx)?;
    }
    if let Some(x) = m.get("x-devstack").filter(|v| !v.is_null()) {
        let o = x
            .as_object()
            .ok_or_else(|| cx.err(&at("x-devstack"), "expected a mapping (depends_on: …)"))?;
        for k in o.keys().filter(|k| *k != "depends_on") {
            cx.notes.push(format!(
                "service {name}: key `x-devstack.{k}` is not acted on by devstack"
            ));
        }
        if let Some(dep) = o.get("depends_on") {
            s.host_depends_on = parse_depends(dep, &at("x-devstack.depends_on"), cx)?;
        }
    }
    if let Some(hc) = m.get("healthcheck") {
        s.healthcheck = parse_healthcheck(hc, &at("healthcheck"), cx)?;
    }
    s.restart = m.get("restart").and_then(scalar);
    if let Some(r) = &s.restart {
        let ok = matches!(
            r.as_str(),
            "no" | "always" | "unless-stopped" | "on-failure"
        ) || r
            .strip_prefix("on-failure:")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if !ok {
            return Err(cx.bad_value(
                &at("restart"),
                format!("unknown policy {r:?}: use no, always, unless-stopped or on-failure[:N]"),
            ));
        }
    }
    if let Some(deploy) = m.get("deploy").and_then(Value::as_object) {
        for k in deploy.keys() {
            if k != "resources" {
                cx.notes.push(format!(
                    "service {name}: key `deploy.{k}` is not acted on by devstack"
                ));
            }
        }
        let res = deploy.get("resources");
        if let Some(mem) = res
            .and_then(|r| r.pointer("/limits/memory"))
            .and_then(scalar)
        {
            s.memory_limit = Some(
                parse_bytes(&mem)
                    .map_err(|e| cx.bad_value(&at("deploy.resources.limits.memory"), e))?,
            );
        }
        if let Some(Value::Array(devs)) = res.and_then(|r| r.pointer("/reservations/devices")) {
            for d in devs {
                s.gpus.push(parse_device_request(
                    d,
                    &at("deploy.resources.reservations.devices"),
                    cx,
                    false,
                )?);
            }
        }
    }
    match m.get("gpus") {
        None | Some(Value::Null) => {}
        Some(Value::String(all)) if all == "all" => s.gpus.push(GpuRequest {
            driver: "nvidia".into(),
            count: Some(-1),
            device_ids: vec![],
            capabilities: vec!["gpu".into()],
        }),
        Some(Value::Array(items)) => {
            for d in items {
                s.gpus.push(parse_device_request(d, &at("gpus"), cx, true)?);
            }
        }
        Some(_) => return Err(cx.err(&at("gpus"), "expected `all` or a list of device requests")),
    }
    if let Some(l) = m.get("labels") {
        s.labels = string_map(l, &at("labels"), cx)?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
    }
    if let Some(lg) = m.get("logging").and_then(Value::as_object) {
        let options = match lg.get("options") {
            Some(o) => string_map(o, &at("logging.options"), cx)?
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            None => IndexMap::new(),
        };
        s.logging = Some(Logging {
            driver: lg
                .get("driver")
                .and_then(scalar)
                .unwrap_or_else(|| "json-file".into()),
            options,
        });
    }
    s.working_dir = m.get("working_dir").and_then(scalar);
    s.user = m.get("user").and_then(scalar);
    s.stop_grace_period = dur(m.get("stop_grace_period"), &at("stop_grace_period"), cx)?;
    s.stop_signal = m.get("stop_signal").and_then(scalar);
    if let Some(p) = m.get("profiles") {
        s.profiles = string_list(p, &at("profiles"), cx, false)?;
    }
    s.tty = m.get("tty").is_some_and(truthy);
    s.init = m.get("init").map(truthy);
    if let Some(h) = m.get("extra_hosts") {
        s.extra_hosts = match h {
            Value::Object(hm) => hm
                .iter()
                .map(|(k, v)| format!("{k}:{}", scalar(v).unwrap_or_default()))
                .collect(),
            other => string_list(other, &at("extra_hosts"), cx, false)?,
        };
    }
    Ok(s)
}

fn parse_device_request(
    d: &Value,
    at: &str,
    cx: &Ctx,
    implicit_gpu: bool,
) -> Result<GpuRequest, ProjectError> {
    let o = d
        .as_object()
        .ok_or_else(|| cx.err(at, "expected a device request mapping"))?;
    let count = match o.get("count") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "all" => Some(-1),
        Some(v) => Some(
            scalar(v)
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| cx.bad_value(at, "`count` must be a number or `all`"))?,
        ),
    };
    let device_ids = match o.get("device_ids") {
        Some(v) => string_list(v, at, cx, false)?,
        None => vec![],
    };
    if count.is_some() && !device_ids.is_empty() {
        return Err(cx.err(
            at,
            "`count` and `device_ids` are mutually exclusive; keep one",
        ));
    }
    let mut capabilities = match o.get("capabilities") {
        Some(v) => string_list(v, at, cx, false)?,
        None if implicit_gpu => vec![],
        None => return Err(cx.err(at, "`capabilities` is required (e.g. [gpu])")),
    };
    if implicit_gpu && !capabilities.iter().any(|c| c == "gpu") {
        capabilities.push("gpu".into());
    }
    Ok(GpuRequest {
        driver: o
            .get("driver")
            .and_then(scalar)
            .unwrap_or_else(|| "nvidia".into()),
        count: if count.is_none() && device_ids.is_empty() {
            Some(-1)
        } else {
            count
        },
        device_ids,
        capabilities,
    })
}

/// `512m`, `2g`, `1024` (bytes), `1.5gb`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1024f64),
        Some('m') => (&t[..t.len() - 1], 1024f64 * 1024.0),
        Some('g') => (&t[..t.len() - 1], 1024f64 * 1024.0 * 1024.0),
        _ => (t, 1f64),
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 && n * mult < i64::MAX as f64 => Ok((n * mult) as i64),
        _ => Err(format!("invalid size {s:?}: use e.g. 512m or 2g")),
    }
}

fn parse_ports(v: &Value, at: &str, cx: &Ctx) -> Result<Vec<PortMapping>, ProjectError> {
    let items = v.as_array().ok_or_else(|| cx.err(at, "expected a list"))?;
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Object(o) => {
                let target = o
                    .get("target")
                    .and_then(scalar)
                    .and_then(|t| t.parse::<u16>().ok())
                    .ok_or_else(|| {
                        cx.bad_value(at, "long-syntax port needs a numeric `target` (1-65535)")
                    })?;
                let published = match o.get("published").and_then(scalar) {
                    Some(p) => Some(p.parse::<u16>().map_err(|_| {
                        cx.bad_value(
                            at,
                            format!("invalid published port {p:?}: use a number 1-65535"),
                        )
                    })?),
                    None => None,
                };
                out.push(PortMapping {
                    host_ip: o
                        .get("host_ip")
                        .and_then(scalar)
                        .unwrap_or_else(|| "127.0.0.1".into()),
                    host_port: published,
                    container_port: target,
                    protocol: o
                        .get("protocol")
                        .and_then(scalar)
                        .unwrap_or_else(|| "tcp".into()),
                });
            }
            other => {
                let s =
                    scalar(other).ok_or_else(|| cx.err(at, "expected a port string or mapping"))?;
                out.extend(parse_port_short(&s).map_err(|e| cx.bad_value(at, e))?);
            }
        }
    }
    Ok(out)
}

/// `[ip:][host[-host]:]container[-container][/proto]`; no ip means 127.0.0.1 (devstack's default).
pub fn parse_port_short(s: &str) -> Result<Vec<PortMapping>, String> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p.to_string()),
        None => (s, "tcp".to_string()),
    };
    let parts: Vec<&str> = if spec.starts_with('[') {
        // [::1]:8080:80
        let close = spec
            .find(']')
            .ok_or_else(|| format!("invalid port {s:?}: missing ']' after the IPv6 address"))?;
        let rest = spec[close + 1..]
            .strip_prefix(':')
            .ok_or_else(|| format!("invalid port {s:?}: expected ':' after ']'"))?;
        let mut v = vec![&spec[1..close]];
        v.extend(rest.split(':'));
        v
    } else {
        spec.split(':').collect()
    };
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("127.0.0.1", "", *c),
        [h, c] => ("127.0.0.1", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => {
            return Err(format!(
                "invalid port {s:?}: use [IP:][HOST:]CONTAINER[/PROTO]"
            ))
        }
    };
    let range = |r: &str| -> Result<(u16, u16), String> {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let num = |x: &str| -> Result<u16, String> {
            x.parse().map_err(|_| {
                format!("invalid port {s:?}: {x:?} is not a port number: use a number 1-65535")
            })
        };
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(format!(
                "invalid port {s:?}: the range {r:?} runs backwards: write it low-high"
            ));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(host)?)
    };
    if let Some((h0, h1)) = host_range {
        if h1 - h0 != c1 - c0 {
            return Err(format!(
                "invalid port {s:?}: host and container ranges differ in length"
            ));
        }
    }
    Ok((0..=(c1 - c0))
        .map(|i| PortMapping {
            host_ip: if ip.is_empty() {
                "127.0.0.1".into()
            } else {
                ip.to_string()
            },
            host_port: host_range.map(|(h0, _)| h0 + i),
            container_port: c0 + i,
            protocol: protocol.clone(),
        })
        .collect())
}

fn parse_mounts(
    v: &Value,
    at: &str,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<Vec<Mount>, ProjectError> {
    let items = v.as_array().ok_or_else(|| cx.err(at, "expected a list"))?;
    let mut out = Vec::new();
    for item in items {
        let mount = match item {
            Value::Object(o) => {
                let kind = match o.get("type").and_then(scalar).as_deref() {
                    Some("bind") => MountKind::Bind,
                    Some("tmpfs") => MountKind::Tmpfs,
                    Some("volume") | None => MountKind::Volume,
                    Some(other) => {
                        return Err(cx.err(at, format!("volume type {other:?} is not supported")))
                    }
                };
                Mount {
                    kind,
                    source: o.get("source").and_then(scalar),
                    target: o
                        .get("target")
                        .and_then(scalar)
                        .ok_or_else(|| cx.err(at, "a volume needs `target`"))?,
                    read_only: o.get("read_only").is_some_and(truthy),
                }
            }
            other => {
                let s = scalar(other)
                    .ok_or_else(|| cx.err(at, "expected a volume string or mapping"))?;
                let parts: Vec<&str> = s.split(':').collect();
                let (source, target, mode) = match parts.as_slice() {
                    [t] => (None, t.to_string(), ""),
                    [src, t] => (Some(src.to_string()), t.to_string(), ""),
                    [src, t, mode] => (Some(src.to_string()), t.to_string(), *mode),
                    _ => {
                        return Err(
                            cx.err(at, format!("invalid volume {s:?}: use SOURCE:TARGET[:ro]"))
                        )
                    }
                };
                let kind = match &source {
                    Some(src)
                        if src.starts_with('/') || src.starts_with('.') || src.starts_with('~') =>
                    {
                        MountKind::Bind
                    }
                    _ => MountKind::Volume,
                };
                Mount {
                    kind,
                    source,
                    target,
                    read_only: mode.split(',').any(|m| m == "ro"),
                }
            }
        };
        if mount.kind == MountKind::Volume {
            if let Some(src) = &mount.source {
                if !model.volumes.contains_key(src) {
                    return Err(cx.err(
                        at,
                        format!("named volume `{src}` is not declared in the top-level `volumes:`; declare it there"),
                    ));
                }
            }
        }
        if mount.kind == MountKind::Bind
            && mount
                .source
                .as_deref()
                .is_some_and(|p| !Path::new(p).is_absolute())
        {
            return Err(cx.err(
                at,
                "bind-mount source should have been made absolute; this is a devstack bug",
            ));
        }
        out.push(mount);
    }
    Ok(out)
}

fn parse_depends(
    v: &Value,
    at: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, Dependency>, ProjectError> {
    let mut out = IndexMap::new();
    match v {
        Value::Array(items) => {
            for i in items {
                let n = scalar(i).ok_or_else(|| cx.err(at, "expected service names"))?;
                out.insert(
                    n,
                    Dependency {
                        condition: Condition::ServiceStarted,
                        restart: false,
                        required: true,
                    },
                );
            }
        }
        Value::Object(m) => {
            for (n, spec) in m {
                let cond = match spec.get("condition").and_then(scalar).as_deref() {
                    None | Some("service_started") => Condition::ServiceStarted,
                    Some("service_healthy") => Condition::ServiceHealthy,
                    Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                    Some(other) => {
                        return Err(cx.err(
                            &format!("{at}.{n}.condition"),
                            format!("unknown condition {other:?}: use service_started, service_healthy or service_completed_successfully"),
                        ))
                    }
                };
                out.insert(
                    n.clone(),
                    Dependency {
                        condition: cond,
                        restart: spec.get("restart").is_some_and(truthy),
                        required: spec.get("required").is_none_or(truthy),
                    },
                );
            }
        }
        Value::Null => {}
        _ => return Err(cx.err(at, "expected a list or mapping")),
    }
    Ok(out)
}

fn parse_healthcheck(v: &Value, at: &str, cx: &Ctx) -> Result<Option<Healthcheck>, ProjectError> {
    let o = match v {
        Value::Object(o) => o,
        Value::Null => return Ok(None),
        _ => return Err(cx.err(at, "expected a mapping")),
    };
    if o.get("disable").is_some_and(truthy) {
        return Ok(Some(Healthcheck {
            test: vec!["NONE".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }));
    }
    let test = match o.get("test") {
        Some(Value::String(s)) => vec!["CMD-SHELL".to_string(), s.clone()],
        Some(Value::Array(_)) => {
            let t = string_list(&o["test"], &format!("{at}.test"), cx, false)?;
            if !matches!(
                t.first().map(String::as_str),
                Some("CMD" | "CMD-SHELL" | "NONE")
            ) {
                return Err(cx.err(
                    &format!("{at}.test"),
                    "a list must start with CMD, CMD-SHELL or NONE",
                ));
            }
            t
        }
        None => return Err(cx.err(at, "missing `test`")),
        Some(_) => return Err(cx.err(&format!("{at}.test"), "expected a string or list")),
    };
    Ok(Some(Healthcheck {
        test,
        interval: dur(o.get("interval"), &format!("{at}.interval"), cx)?,
        timeout: dur(o.get("timeout"), &format!("{at}.timeout"), cx)?,
        retries: o
            .get("retries")
            .and_then(scalar)
            .and_then(|r| r.parse().ok()),
        start_period: dur(o.get("start_period"), &format!("{at}.start_period"), cx)?,
        start_interval: dur(o.get("start_interval"), &format!("{at}.start_interval"), cx)?,
    }))
}

fn parse_x_devstack(
    v: &Value,
    model: &ComposeModel,
    cx: &mut Ctx,
) -> Result<XDevstack, ProjectError> {
    let mut x = XDevstack::default();
    let Some(o) = v.as_object() else { return Ok(x) };
    if let Some(a) = o.get("aliases") {
        for (alias, target) in string_map(a, "x-devstack.aliases", cx)? {
            let target = target.unwrap_or_default();
            if !model.services.contains_key(&target) {
                return Err(cx.err(
                    &format!("x-devstack.aliases.{alias}"),
                    format!("alias points to unknown service `{target}`"),
                ));
            }
            x.aliases.insert(alias, target);
        }
    }
    if let Some(ah) = o.get("autoheal").and_then(Value::as_object) {
        if let Some(e) = ah.get("enabled") {
            x.autoheal.enabled = truthy(e);
        }
        if let Some(t) = ah.get("unhealthy_threshold").and_then(scalar) {
            x.autoheal.unhealthy_threshold = t.parse().map_err(|_| {
                cx.err(
                    "x-devstack.autoheal.unhealthy_threshold",
                    "expected a number",
                )
            })?;
        }
        if let Some(d) = dur(ah.get("max_backoff"), "x-devstack.autoheal.max_backoff", cx)? {
            x.autoheal.max_backoff = d;
        }
    }
    if let Some(Value::Object(hosts)) = o.get("host") {
        for (name, spec) in hosts {
            let at = format!("x-devstack.host.{name}");
            let h = spec
                .as_object()
                .ok_or_else(|| cx.err(&at, "expected a mapping"))?;
            let command = string_list(
                h.get("command")
                    .ok_or_else(|| cx.err(&at, "missing `command`"))?,
                &format!("{at}.command"),
                cx,
                true,
            )?;
            let environment = match h.get("environment") {
                Some(e) => string_map(e, &format!("{at}.environment"), cx)?
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .collect(),
                None => IndexMap::new(),
            };
            let depends_on = match h.get("depends_on") {
                Some(d) => parse_depends(d, &format!("{at}.depends_on"), cx)?,
                None => IndexMap::new(),
            };
            let restart = h
                .get("restart")
                .and_then(scalar)
                .unwrap_or_else(|| "on-failure".into());
            if !matches!(restart.as_str(), "no" | "on-failure" | "always") {
                return Err(cx.err(
                    &format!("{at}.restart"),
                    format!("unknown policy {restart:?}: use no, on-failure or always"),
                ));
            }
            let healthcheck = match h.get("healthcheck") {
                Some(hc) => parse_healthcheck(hc, &format!("{at}.healthcheck"), cx)?,
                None => None,
            };
            let enabled = h.get("enabled").is_none_or(truthy);
            x.host.insert(
                name.clone(),
                HostProcess {
                    name: name.clone(),
                    command,
                    environment,
                    working_dir: h.get("working_dir").and_then(scalar).map(PathBuf::from),
                    depends_on,
                    restart,
                    healthcheck,
                    enabled,
                    disabled_reason: if enabled {
                        None
                    } else {
                        Some(
                            h.get("disabled_reason")
                                .and_then(scalar)
                                .unwrap_or_else(|| "enabled: false".into()),
                        )
                    },
                },
            );
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports_default_to_loopback() {
        let p = parse_port_short("8080:80").unwrap();
        assert_eq!(
            p[0],
            PortMapping {
                host_ip: "127.0.0.1".into(),
                host_port: Some(8080),
                container_port: 80,
                protocol: "tcp".into()
            }
        );
        let p = parse_port_short("0.0.0.0:53:53/udp").unwrap();
        assert_eq!(
            (p[0].host_ip.as_str(), p[0].protocol.as_str()),
            ("0.0.0.0", "udp")
        );
        assert_eq!(parse_port_short("9000-9001:9000-9001").unwrap().len(), 2);
        assert_eq!(parse_port_short("80").unwrap()[0].host_port, None);
        assert!(parse_port_short("x:80").is_err());
    }

    #[test]
    fn command_splitting() {
        assert_eq!(
            split_command(r#"sh -c "echo 'a b' && x""#).unwrap(),
            vec!["sh", "-c", "echo 'a b' && x"]
        );
        assert_eq!(split_command("a  b\\ c").unwrap(), vec!["a", "b c"]);
        assert!(split_command("'open").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("2g").unwrap(), 2 * 1024 * 1024 * 1024);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("inf").is_err());
        assert!(parse_bytes("-1g").is_err());
        assert!(parse_bytes("1e300g").is_err());
    }

    #[test]
    fn bad_ports_are_errors_not_panics() {
        for bad in [
            "[::1]",
            "[::1]8080:80",
            "[::1",
            "9001-9000:80",
            "80:9001-9000",
            "abc:80",
            "70000:80",
            ":",
            "1:2:3:4",
        ] {
            assert!(parse_port_short(bad).is_err(), "{bad}");
        }
        let e = parse_port_short("127.0.0.1:abc:5173").unwrap_err();
        assert!(
            e.contains("\"abc\" is not a port number: use a number 1-65535"),
            "{e}"
        );
    }

    fn doc(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn two_services_on_one_host_port_are_refused() {
        let d = doc("services:\n  web: {image: x, ports: [\"127.0.0.1:3000:80\"]}\n  api: {image: x, ports: [\"127.0.0.1:3000:3000\"]}\n");
        let e = parse(&d, "compose.yaml", "p").unwrap_err();
        assert!(is_port_conflict(&e), "{e}");
        assert!(
            e.0.contains("host port 127.0.0.1:3000/tcp is published by both web and api"),
            "{e}"
        );
        // A wildcard address overlaps the loopback one; another protocol or port does not.
        let d = doc("services:\n  web: {image: x, ports: [\"0.0.0.0:3000:80\"]}\n  api: {image: x, ports: [\"127.0.0.1:3000:3000\"]}\n");
        assert!(parse(&d, "f", "p").is_err());
        let d = doc("services:\n  web: {image: x, ports: [\"3000:80/udp\", \"3001:81\"]}\n  api: {image: x, ports: [\"3000:3000\"]}\n");
        parse(&d, "f", "p").unwrap();
        let d = doc("services:\n  web: {image: x, ports: [\"3000-3002:80-82\", \"3002:90\"]}\n");
        let e = parse(&d, "f", "p").unwrap_err();
        assert!(
            e.0.contains("service web publishes host port 127.0.0.1:3002/tcp twice"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_from_a_variable_is_blamed_on_it() {
        let d = doc("services:\n  web: {image: x, ports: [\"127.0.0.1:abc:80\"], healthcheck: {test: [CMD, x], interval: 1e30}}\n");
        let blame = |at: &str| {
            (at == "services.web.ports").then(|| Blame {
                text: "/p/.env:3: WEB_PORT=abc".into(),
                names: vec!["WEB_PORT".into()],
                place: "/p/.env".into(),
            })
        };
        let e = parse_traced(&d, "/p/.devstack/compose.yaml", "p", Some(&blame)).unwrap_err();
        assert_eq!(
            e.0,
            "/p/.env:3: WEB_PORT=abc: services.web.ports: invalid port \"127.0.0.1:abc:80\": \"abc\" is not a port number: use a number 1-65535; fix WEB_PORT in /p/.env"
        );
        // Not from a variable: the generated file is named.
        let d =
            doc("services:\n  web: {image: x, healthcheck: {test: [CMD, x], interval: 1e30}}\n");
        let e = parse_traced(&d, "/p/.devstack/compose.yaml", "p", Some(&blame)).unwrap_err();
        assert!(
            e.0.starts_with(
                "/p/.devstack/compose.yaml: services.web.healthcheck.interval: invalid duration"
            ),
            "{e}"
        );
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        /// The service keys devstack reads, and the nested keys of its sections.
        fn keys() -> Vec<&'static str> {
            SERVICE_KEYS
                .iter()
                .copied()
                .chain([
                    "x-devstack",
                    "context",
                    "dockerfile",
                    "args",
                    "target",
                    "published",
                    "host_ip",
                    "protocol",
                    "type",
                    "source",
                    "read_only",
                    "condition",
                    "required",
                    "test",
                    "interval",
                    "timeout",
                    "retries",
                    "start_period",
                    "disable",
                    "resources",
                    "limits",
                    "memory",
                    "reservations",
                    "devices",
                    "driver",
                    "count",
                    "device_ids",
                    "capabilities",
                    "options",
                    "aliases",
                    "autoheal",
                    "enabled",
                    "unhealthy_threshold",
                    "max_backoff",
                    "host",
                    "external",
                    "name",
                    "a",
                    "b",
                    "default",
                    "db",
                    "all",
                ])
                .collect()
        }

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
                "\\PC{0,16}".prop_map(Value::from),
                "[0-9a-z:.\\-/\\[\\]]{0,16}".prop_map(Value::from),
                "(CMD|NONE|CMD-SHELL|all|gpu|a|b|db|default|bind|volume|tmpfs|service_healthy|on-failure|\\./x|/abs|1m30s|1e30|inf)".prop_map(Value::from),
            ]
        }

        fn tree() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    proptest::collection::vec((proptest::sample::select(keys()), inner), 0..6)
                        .prop_map(|kv| Value::Object(
                            kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                        )),
                ]
            })
        }

        /// Mostly a mapping with an image, so parsing gets past the first checks.
        fn service() -> impl Strategy<Value = Value> {
            prop_oneof![
                1 => tree(),
                4 => (
                    proptest::collection::vec((proptest::sample::select(keys()), tree()), 0..8),
                    any::<bool>(),
                )
                    .prop_map(|(kv, image)| {
                        let mut m: Map<String, Value> =
                            kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                        if image {
                            m.insert("image".into(), Value::from("x"));
                        }
                        Value::Object(m)
                    }),
            ]
        }

        fn compose() -> impl Strategy<Value = Value> {
            (
                proptest::collection::vec((proptest::sample::select(&["a", "b", "db", "Bad Name", "x.y"][..]), service()), 0..4),
                tree(),
                tree(),
                tree(),
            )
                .prop_map(|(services, networks, volumes, x)| {
                    serde_json::json!({
                        "services": Value::Object(services.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
                        "networks": networks,
                        "volumes": volumes,
                        "x-devstack": x,
                    })
                })
        }

        fn check(doc: &Value) {
            if let Ok(m) = parse(doc, "f", "p") {
                if super::super::super::graph::validate(&m).is_ok() {
                    let g = super::super::super::graph::Graph::new(&m);
                    let _ = g.order();
                }
            }
        }

        proptest! {
            #[test]
            fn any_compose_shaped_document_is_ok_or_err(d in compose()) {
                check(&d);
            }

            #[test]
            fn any_yaml_text_is_ok_or_err(s in "([a-z_-]{0,8}|[ ]{0,4}|: |- |[\\[\\]{},]|\"[^\"]{0,6}\"|&a|\\*a|<<|[$][{]X[}]|[0-9.:]{0,6}|#|\n){0,40}") {
                if let Ok(v) = serde_saphyr::from_str::<Value>(&s) {
                    let mut origins = crate::project::interpolate::Origins::default();
                    if let Ok(d) = crate::project::interpolate::interpolate_tree(v, &|_| Some("v".into()), "", &mut origins) {
                        check(&d);
                    }
                }
            }
        }
    }
}
