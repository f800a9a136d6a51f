//! devstack's own extension keys: the top-level `x-devstack` (aliases, auto-heal, host
//! processes) and a service's `x-devstack` (its dependencies on host processes).

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::depends::parse_depends;
use super::health::parse_healthcheck;
use super::values::{dur, read_mapping, scalar, string_list, string_map, truthy, Key, OtherKeys};
use super::{ComposeModel, Ctx, Dependency, Healthcheck};
use crate::errors::ProjectError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct XDevstack {
    pub aliases: IndexMap<String, String>,
    pub autoheal: Autoheal,
    pub host: IndexMap<String, HostProcess>,
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

/// The top-level `x-devstack`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawXDevstack {
    aliases: Key,
    autoheal: Key,
    host: Key,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAutoheal {
    enabled: Key,
    unhealthy_threshold: Key,
    max_backoff: Key,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawHostProcess {
    command: Key,
    environment: Key,
    working_dir: Key,
    depends_on: Key,
    restart: Key,
    healthcheck: Key,
    enabled: Key,
    disabled_reason: Key,
}

/// A service's `x-devstack`; any key but `depends_on` is reported as not acted on.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawServiceExtension {
    depends_on: Key,
    #[serde(flatten)]
    other: OtherKeys,
}

/// The top-level `x-devstack` (anything but a mapping is ignored); aliases point to services of
/// `model`.
pub(super) fn parse_x_devstack(
    v: &Value,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<XDevstack, ProjectError> {
    let mut x = XDevstack::default();
    let Some(raw) = read_mapping::<RawXDevstack>(v) else {
        return Ok(x);
    };
    if let Some(a) = raw.aliases.get() {
        x.aliases = aliases(a, model, cx)?;
    }
    if let Some(ah) = raw.autoheal.get().and_then(read_mapping::<RawAutoheal>) {
        x.autoheal = autoheal(ah, cx)?;
    }
    if let Some(Value::Object(hosts)) = raw.host.get() {
        for (name, spec) in hosts {
            check_host_name(name, cx)?;
            x.host.insert(name.clone(), host_process(name, spec, cx)?);
        }
    }
    Ok(x)
}

fn aliases(
    v: &Value,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<IndexMap<String, String>, ProjectError> {
    let mut out = IndexMap::new();
    for (alias, target) in string_map(v, "x-devstack.aliases", cx)? {
        let target = target.unwrap_or_default();
        if !model.services.contains_key(&target) {
            return Err(cx.err(
                &format!("x-devstack.aliases.{alias}"),
                format!("alias points to unknown service `{target}`"),
            ));
        }
        out.insert(alias, target);
    }
    Ok(out)
}

fn autoheal(raw: RawAutoheal, cx: &Ctx) -> Result<Autoheal, ProjectError> {
    let mut a = Autoheal::default();
    if let Some(e) = raw.enabled.get() {
        a.enabled = truthy(e);
    }
    if let Some(t) = raw.unhealthy_threshold.get().and_then(scalar) {
        a.unhealthy_threshold = t.parse().map_err(|_| {
            cx.err(
                "x-devstack.autoheal.unhealthy_threshold",
                "expected a number",
            )
        })?;
    }
    if let Some(d) = dur(raw.max_backoff.get(), "x-devstack.autoheal.max_backoff", cx)? {
        a.max_backoff = d;
    }
    Ok(a)
}

/// Names that are files of the supervisor's own under `.devstack/logs/`.
const RESERVED: &[&str] = &["supervisor"];

/// A host process's name is a node of the graph, a log file's name and a word in `ps`,
/// `graph --format dot` and the control socket's requests: the characters of a Compose
/// service name (letters, digits, `.`, `_`, `-`, starting with a letter or digit).
fn check_host_name(name: &str, cx: &Ctx) -> Result<(), ProjectError> {
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || !ok_first || !ok_rest || name.len() > 63 {
        let shown = if name.is_empty() { "(empty)" } else { name };
        return Err(cx.err(
            "x-devstack.host",
            format!(
                "host process name {shown:?} is not a valid name: use letters, digits, `.`, `_` \
                 and `-`, starting with a letter or digit, at most 63 characters (as for a \
                 service), e.g. `kinect`"
            ),
        ));
    }
    if RESERVED.contains(&name) {
        return Err(cx.err(
            &format!("x-devstack.host.{name}"),
            format!(
                "`{name}` is reserved for devstack's own log: give the host process another name"
            ),
        ));
    }
    Ok(())
}

/// One host process: a command is required; restart defaults to on-failure, enabled to true.
fn host_process(name: &str, spec: &Value, cx: &Ctx) -> Result<HostProcess, ProjectError> {
    let at = format!("x-devstack.host.{name}");
    let field = |k: &str| format!("{at}.{k}");
    let h: RawHostProcess = read_mapping(spec).ok_or_else(|| cx.err(&at, "expected a mapping"))?;
    let command = h
        .command
        .get()
        .ok_or_else(|| cx.err(&at, "missing `command`"))?;
    let command = string_list(command, &field("command"), cx, true)?;
    if command.first().is_none_or(|p| p.trim().is_empty()) {
        return Err(cx.err(
            &field("command"),
            "the command is empty: give the program to run and its arguments, e.g. \
             `command: [\"devstack\", \"kinect\", \"capture\"]`",
        ));
    }
    let environment = match h.environment.get() {
        Some(e) => string_map(e, &field("environment"), cx)?
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        None => IndexMap::new(),
    };
    let depends_on = match h.depends_on.get() {
        Some(d) => parse_depends(d, &field("depends_on"), cx)?,
        None => IndexMap::new(),
    };
    let restart = h
        .restart
        .get()
        .and_then(scalar)
        .unwrap_or_else(|| "on-failure".into());
    if !matches!(restart.as_str(), "no" | "on-failure" | "always") {
        return Err(cx.err(
            &field("restart"),
            format!("unknown policy {restart:?}: use no, on-failure or always"),
        ));
    }
    let healthcheck = match h.healthcheck.get() {
        Some(hc) => parse_healthcheck(hc, &field("healthcheck"), cx)?,
        None => None,
    };
    // A container without a test keeps its image's; a host process has none to keep.
    if healthcheck.as_ref().is_some_and(|hc| hc.test.is_empty()) {
        return Err(cx.err(
            &field("healthcheck"),
            "missing `test`: a host process has no image to take one from",
        ));
    }
    let enabled = h.enabled.get().is_none_or(truthy);
    let disabled_reason = (!enabled).then(|| {
        h.disabled_reason
            .get()
            .and_then(scalar)
            .unwrap_or_else(|| "enabled: false".into())
    });
    Ok(HostProcess {
        name: name.to_string(),
        command,
        environment,
        working_dir: h.working_dir.get().and_then(scalar).map(PathBuf::from),
        depends_on,
        restart,
        healthcheck,
        enabled,
        disabled_reason,
    })
}

/// A service's `x-devstack`: its dependencies on host processes (`null` is none).
pub(super) fn service_extension(
    v: Option<&Value>,
    service: &str,
    cx: &mut Ctx,
) -> Result<IndexMap<String, Dependency>, ProjectError> {
    let at = format!("services.{service}.x-devstack");
    let Some(x) = v.filter(|v| !v.is_null()) else {
        return Ok(IndexMap::new());
    };
    let raw: RawServiceExtension =
        read_mapping(x).ok_or_else(|| cx.err(&at, "expected a mapping (depends_on: …)"))?;
    cx.note_not_acted_on(
        &format!("service {service}"),
        "x-devstack.",
        raw.other.keys(),
    );
    match raw.depends_on.get() {
        Some(dep) => parse_depends(dep, &format!("{at}.depends_on"), cx),
        None => Ok(IndexMap::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model_with(services: &[&str]) -> ComposeModel {
        let mut m = ComposeModel::default();
        for s in services {
            m.services.insert(s.to_string(), Default::default());
        }
        m
    }

    fn x(v: Value) -> Result<XDevstack, ProjectError> {
        parse_x_devstack(&v, &model_with(&["redis"]), &Ctx::new("f", None))
    }

    #[test]
    fn host_processes_take_defaults() {
        let x = x(json!({"host": {
            "cam": {"command": "capture --fps 30", "environment": {"A": "1", "B": null}},
            "off": {"command": ["x"], "enabled": false, "restart": "always"}
        }}))
        .unwrap();
        let cam = &x.host["cam"];
        assert_eq!(cam.command, ["capture", "--fps", "30"]);
        assert_eq!(cam.restart, "on-failure");
        assert_eq!(cam.environment.keys().collect::<Vec<_>>(), ["A"]);
        assert!(cam.enabled && cam.disabled_reason.is_none());
        let off = &x.host["off"];
        assert_eq!(off.disabled_reason.as_deref(), Some("enabled: false"));
        assert_eq!(off.restart, "always");
    }

    #[test]
    fn host_process_mistakes_are_named() {
        let e = |v| x(v).unwrap_err().0;
        assert_eq!(
            e(json!({"host": {"cam": {}}})),
            "f: x-devstack.host.cam: missing `command`"
        );
        assert_eq!(
            e(json!({"host": {"cam": 5}})),
            "f: x-devstack.host.cam: expected a mapping"
        );
        assert_eq!(
            e(json!({"host": {"cam": {"command": "x", "restart": "sometimes"}}})),
            "f: x-devstack.host.cam.restart: unknown policy \"sometimes\": use no, on-failure or always"
        );
        assert_eq!(
            e(json!({"host": {"cam": {"command": "x", "healthcheck": {"interval": "5s"}}}})),
            "f: x-devstack.host.cam.healthcheck: missing `test`: a host process has no image to take one from"
        );
    }

    #[test]
    fn empty_commands_and_bad_names_are_refused() {
        let e = |v| x(v).unwrap_err().0;
        for cmd in [
            json!([]),
            json!(""),
            json!("   "),
            json!([""]),
            json!(["", "x"]),
        ] {
            assert_eq!(
                e(json!({"host": {"cam": {"command": cmd}}})),
                "f: x-devstack.host.cam.command: the command is empty: give the program to run \
                 and its arguments, e.g. `command: [\"devstack\", \"kinect\", \"capture\"]`"
            );
        }
        for bad in [
            "",
            "a b",
            "a\"b",
            "a\nb",
            "-a",
            ".a",
            "a/b",
            "ä",
            &"a".repeat(64),
        ] {
            let msg = e(json!({"host": {bad: {"command": "x"}}}));
            assert!(
                msg.starts_with("f: x-devstack.host: host process name "),
                "{msg}"
            );
            assert!(msg.contains("use letters, digits"), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
        assert!(e(json!({"host": {"supervisor": {"command": "x"}}})).contains("is reserved"));
        assert!(x(json!({"host": {"cam-2.x_y": {"command": "x"}}})).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any name: accepted exactly when it is a service-like name; refused with a one-line
        /// message otherwise. Any command: refused when it has no program.
        #[test]
        fn any_host_name_or_command_is_accepted_or_refused_in_one_line(
            name in "(\\PC|[\n\"' ]|[a-z0-9._-]){0,70}",
            cmd in proptest::collection::vec("(\\PC| ){0,6}", 0..3),
        ) {
            let r = x(json!({"host": {name.clone(): {"command": cmd.clone()}}}));
            let valid_name = name.len() <= 63
                && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                && name != "supervisor";
            let valid_cmd = cmd.first().is_some_and(|p| !p.trim().is_empty());
            match r {
                Ok(x) => {
                    proptest::prop_assert!(valid_name && valid_cmd);
                    proptest::prop_assert!(!x.host[&name].command[0].trim().is_empty());
                }
                Err(e) => {
                    proptest::prop_assert!(!(valid_name && valid_cmd), "{}", e);
                    if !valid_name {
                        proptest::prop_assert!(!e.0.contains('\n'), "{:?}", e.0);
                    }
                }
            }
        }
    }

    #[test]
    fn aliases_and_autoheal() {
        let x1 = x(json!({"aliases": {"db": "redis"}, "autoheal": {"enabled": false, "unhealthy_threshold": 5, "max_backoff": "2m"}})).unwrap();
        assert_eq!(x1.aliases["db"], "redis");
        assert!(!x1.autoheal.enabled);
        assert_eq!(x1.autoheal.unhealthy_threshold, 5);
        assert_eq!(x1.autoheal.max_backoff, Duration::from_secs(120));
        assert_eq!(x(json!(5)).unwrap().autoheal.unhealthy_threshold, 3);
        let e = x(json!({"aliases": {"db": "mongo"}})).unwrap_err();
        assert_eq!(
            e.0,
            "f: x-devstack.aliases.db: alias points to unknown service `mongo`"
        );
        let e = x(json!({"autoheal": {"unhealthy_threshold": "many"}})).unwrap_err();
        assert_eq!(
            e.0,
            "f: x-devstack.autoheal.unhealthy_threshold: expected a number"
        );
    }

    #[test]
    fn a_service_extension_reads_depends_on_and_notes_the_rest() {
        let mut cx = Ctx::new("f", None);
        let v = json!({"depends_on": {"cam": {"condition": "service_healthy"}}, "color": "red"});
        let d = service_extension(Some(&v), "pose", &mut cx).unwrap();
        assert!(d.contains_key("cam"));
        assert_eq!(
            cx.notes,
            ["service pose: key `x-devstack.color` is not acted on by devstack"]
        );
        let e = service_extension(Some(&json!(5)), "pose", &mut cx).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.pose.x-devstack: expected a mapping (depends_on: …)"
        );
        assert!(service_extension(Some(&Value::Null), "pose", &mut cx)
            .unwrap()
            .is_empty());
    }
}
