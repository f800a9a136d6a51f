//! A service: its raw keys, the thin parser that hands each area its keys (in the order
//! devstack has always checked them, so the first error reported is the same), and the
//! process settings (command, environment, restart, labels, logging, user, stop, tty…).

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{
    dur, read_mapping, scalar, string_list, string_map, string_map_or_empty, truthy, Key, OtherKeys,
};
use super::{
    build, depends, deploy, health, networking, storage, x_devstack, Build, ComposeModel, Ctx,
    Dependency, GpuRequest, Healthcheck, Mount, PortMapping,
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

#[derive(Debug, Clone, Serialize)]
pub struct Logging {
    pub driver: String,
    pub options: IndexMap<String, String>,
}

/// The service keys devstack reads; any other key (but `x-…`) is reported as not acted on.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawService {
    image: Key,
    build: Key,
    command: Key,
    entrypoint: Key,
    environment: Key,
    env_file: Key,
    ports: Key,
    volumes: Key,
    networks: Key,
    depends_on: Key,
    healthcheck: Key,
    restart: Key,
    deploy: Key,
    gpus: Key,
    labels: Key,
    logging: Key,
    working_dir: Key,
    user: Key,
    stop_grace_period: Key,
    stop_signal: Key,
    profiles: Key,
    tty: Key,
    init: Key,
    extra_hosts: Key,
    #[serde(rename = "x-devstack")]
    x_devstack: Key,
    /// Watch rules: read by `project::watch`, not here.
    #[serde(rename = "develop")]
    _develop: Option<IgnoredAny>,
    #[serde(flatten)]
    other: OtherKeys,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLogging {
    driver: Key,
    options: Key,
}

pub(super) fn parse_service(
    name: &str,
    spec: &Value,
    model: &ComposeModel,
    cx: &mut Ctx,
) -> Result<Service, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let raw: RawService = read_mapping(spec)
        .ok_or_else(|| cx.err(&format!("services.{name}"), "expected a mapping"))?;
    let whose = format!("service {name}");
    cx.note_not_acted_on(
        &whose,
        "",
        raw.other.keys().filter(|k| !k.starts_with("x-")),
    );
    let mut s = Service {
        name: name.to_string(),
        ..Default::default()
    };
    s.image = raw.image.get().and_then(scalar);
    s.build = build::parse_build(raw.build.get(), name, cx)?;
    if s.image.is_none() && s.build.is_none() {
        return Err(cx.err(
            &format!("services.{name}"),
            "has neither `image:` nor `build:`; add one of them",
        ));
    }
    s.command = command(raw.command.get(), &at("command"), cx)?;
    s.entrypoint = command(raw.entrypoint.get(), &at("entrypoint"), cx)?;
    s.environment = environment(&raw, name, cx)?;
    if let Some(ports) = raw.ports.get() {
        s.ports = networking::parse_ports(ports, &at("ports"), cx)?;
    }
    if let Some(vols) = raw.volumes.get() {
        s.volumes = storage::parse_mounts(vols, &at("volumes"), model, cx)?;
    }
    s.networks = networking::service_networks(raw.networks.get(), &at("networks"), model, cx)?;
    if let Some(dep) = raw.depends_on.get() {
        s.depends_on = depends::parse_depends(dep, &at("depends_on"), cx)?;
    }
    s.host_depends_on = x_devstack::service_extension(raw.x_devstack.get(), name, cx)?;
    if let Some(hc) = raw.healthcheck.get() {
        s.healthcheck = health::parse_healthcheck(hc, &at("healthcheck"), cx)?;
    }
    s.restart = restart_policy(raw.restart.get(), &at("restart"), cx)?;
    (s.memory_limit, s.gpus) = deploy::parse_deploy(raw.deploy.get(), name, cx)?;
    s.gpus
        .extend(deploy::parse_gpus(raw.gpus.get(), &at("gpus"), cx)?);
    if let Some(l) = raw.labels.get() {
        s.labels = string_map_or_empty(l, &at("labels"), cx)?;
    }
    s.logging = logging(raw.logging.get(), &at("logging"), cx)?;
    s.working_dir = raw.working_dir.get().and_then(scalar);
    s.user = raw.user.get().and_then(scalar);
    s.stop_grace_period = dur(raw.stop_grace_period.get(), &at("stop_grace_period"), cx)?;
    s.stop_signal = raw.stop_signal.get().and_then(scalar);
    if let Some(p) = raw.profiles.get() {
        s.profiles = string_list(p, &at("profiles"), cx, false)?;
    }
    s.tty = raw.tty.get().is_some_and(truthy);
    s.init = raw.init.get().map(truthy);
    if let Some(h) = raw.extra_hosts.get() {
        s.extra_hosts = networking::extra_hosts(h, &at("extra_hosts"), cx)?;
    }
    Ok(s)
}

/// `command:` or `entrypoint:`: a list, or a string split like a shell; `null` is unset.
fn command(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<Vec<String>>, ProjectError> {
    match v.filter(|v| !v.is_null()) {
        Some(c) => string_list(c, at, cx, true).map(Some),
        None => Ok(None),
    }
}

/// The final environment: each `env_file` in order, then `environment` on top.
fn environment(
    raw: &RawService,
    name: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, String>, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let mut env = IndexMap::new();
    if let Some(files) = raw.env_file.get().filter(|v| !v.is_null()) {
        for f in string_list(files, &at("env_file"), cx, false)? {
            env.extend(read_env_file(PathBuf::from(&f), &at("env_file"), cx)?);
        }
    }
    if let Some(vars) = raw.environment.get() {
        for (k, v) in string_map(vars, &at("environment"), cx)? {
            // `KEY` without a value: Compose takes it from the environment it interpolated with;
            // after interpolation an unset one is dropped.
            if let Some(v) = v {
                env.insert(k, v);
            }
        }
    }
    Ok(env)
}

fn read_env_file(path: PathBuf, at: &str, cx: &Ctx) -> Result<Vec<(String, String)>, ProjectError> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| cx.err(at, format!("cannot read {}: {e}", path.display())))?;
    super::super::dotenv::parse(&text, &path, &|_| None)
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

/// `logging:` (a mapping; anything else is ignored): the driver, `json-file` by default.
fn logging(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<Logging>, ProjectError> {
    let Some(raw) = v.and_then(read_mapping::<RawLogging>) else {
        return Ok(None);
    };
    let options = match raw.options.get() {
        Some(o) => string_map_or_empty(o, &format!("{at}.options"), cx)?,
        None => IndexMap::new(),
    };
    Ok(Some(Logging {
        driver: raw
            .driver
            .get()
            .and_then(scalar)
            .unwrap_or_else(|| "json-file".into()),
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
    fn keys_devstack_does_not_read_are_noted_in_order() {
        let d = doc("services:\n  web:\n    image: x\n    shm_size: 1g\n    x-team: vision\n    build: {context: /c, ssh: [default]}\n    cap_add: [NET_ADMIN]\n    develop: {watch: []}\n    deploy: {replicas: 2}\n    x-devstack: {color: red}\n");
        let m = parse(&d, "f", "p").unwrap();
        assert_eq!(
            m.not_acted_on,
            [
                "service web: key `shm_size` is not acted on by devstack",
                "service web: key `cap_add` is not acted on by devstack",
                "service web: key `build.ssh` is not acted on by devstack",
                "service web: key `x-devstack.color` is not acted on by devstack",
                "service web: key `deploy.replicas` is not acted on by devstack",
            ]
        );
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
