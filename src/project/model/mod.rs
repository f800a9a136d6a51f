//! The typed subset of the compose spec that devstack acts on, parsed from the rendered,
//! interpolated and normalised YAML. Keys outside the subset stay in the rendered file and
//! are reported once as "not acted on by devstack".
//!
//! Each section is read into a raw serde struct whose fields are the keys devstack reads and
//! whose flattened `other` collects the rest (reported as "not acted on"), then converted by a
//! small function per area, which reports a bad value at its path (`services.web.ports`) and,
//! for a value that came from a variable, at the variable's `.env` line. A new compose key is a
//! field of its area's raw struct and its conversion there.
//!
//! Areas: `service` (the service and its process settings), `build`, `networking` (ports,
//! networks, extra hosts), `storage` (volumes), `deploy` (memory limit, GPUs), `health`,
//! `depends`, `x_devstack` (host processes, aliases, auto-heal); `values` reads the scalars,
//! lists, `KEY=VALUE` maps and durations they share.

mod build;
mod container;
mod depends;
mod deploy;
mod files;
mod health;
mod networking;
mod resources;
mod security;
mod service;
mod storage;
mod values;
mod x_devstack;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::interpolate::Blame;
use super::yaml::Places;
use crate::errors::ProjectError;
pub use build::{Build, BuildSecret, CacheEntry, SshAgent, BUILD_KEYS};
pub use container::{ContainerOptions, Hook, PullPolicy};
pub use depends::{Condition, Dependency};
pub use deploy::GpuRequest;
pub use files::{FileDef, FileKind, FileMount, FileSource};
pub use health::Healthcheck;
pub use networking::{
    busy_port_hint, is_port_conflict, Attachment, Networking, PortMapping, PortSource,
    PORT_CONFLICT,
};
pub use resources::{Blkio, Device, Resources};
pub use security::{Security, Ulimit};
pub use service::{Logging, Service, SERVICE_KEYS};
pub use storage::{BindOptions, Mount, MountKind, Storage, TmpfsOptions, VolumeOptions};
use values::{check_keys, read_mapping, string_map_or_empty, text, Key, OtherKeys};
pub use values::{parse_bytes, scalar};
pub use x_devstack::{Autoheal, HostProcess, XDevstack};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ComposeModel {
    pub services: IndexMap<String, Service>,
    pub networks: IndexMap<String, NetworkDef>,
    pub volumes: IndexMap<String, VolumeDef>,
    pub secrets: IndexMap<String, FileDef>,
    pub configs: IndexMap<String, FileDef>,
    pub x_devstack: XDevstack,
    /// "service X: key `y` is not acted on by devstack" lines.
    pub not_acted_on: Vec<String>,
}

/// A top-level network or named volume.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceDef {
    /// Engine-side name.
    pub name: String,
    pub external: bool,
    pub driver: Option<String>,
    pub driver_opts: IndexMap<String, String>,
    pub labels: IndexMap<String, String>,
    /// Networks: no route outside (`internal`), containers may attach (`attachable`), IPv6,
    /// IPv4 (`enable_ipv4: false` needs API 1.47), and the address pools.
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: Option<bool>,
    pub enable_ipv4: Option<bool>,
    pub ipam: Option<Ipam>,
}

/// A network's IP address management: driver, pools, options.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Ipam {
    pub driver: Option<String>,
    pub config: Vec<IpamPool>,
    pub options: IndexMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IpamPool {
    pub subnet: Option<String>,
    pub ip_range: Option<String>,
    pub gateway: Option<String>,
    pub aux_addresses: IndexMap<String, String>,
}

pub type NetworkDef = ResourceDef;
pub type VolumeDef = ResourceDef;

/// The top level of a compose file.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCompose {
    services: Key,
    networks: Key,
    volumes: Key,
    secrets: Key,
    configs: Key,
    #[serde(rename = "x-devstack")]
    x_devstack: Key,
    #[serde(flatten)]
    other: OtherKeys,
}

/// The top-level keys of the compose-spec; `name` was read for the project's name, the
/// obsolete `version` is accepted, `include` was applied when the files were loaded.
const TOP_KEYS: &[&str] = &[
    "name", "version", "services", "networks", "volumes", "secrets", "configs", "include", "models",
];

const NETWORK_KEYS: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "ipam",
    "external",
    "internal",
    "attachable",
    "labels",
    "enable_ipv6",
    "enable_ipv4",
];

const VOLUME_KEYS: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];

/// Says which variables (and where they were set) a value at a document path came from.
pub type BlameFn<'a> = &'a dyn Fn(&str) -> Option<Blame>;

/// What every area's parser shares: the file named in errors, the blame for values that came
/// from variables, and the "not acted on" notes collected so far.
struct Ctx<'a> {
    file: &'a str,
    notes: Vec<String>,
    blame: Option<BlameFn<'a>>,
    /// Where each path was written, when known: errors name the user's file and line.
    places: Option<&'a Places>,
    /// The project's variables (`.env` and the shell), for env files and secrets.
    env: Option<&'a IndexMap<String, String>>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, blame: Option<BlameFn<'a>>) -> Self {
        Ctx {
            file,
            notes: Vec::new(),
            blame,
            places: None,
            env: None,
        }
    }

    /// An error about the document's shape: it names where the value was written (the
    /// user's file, line and column) or else the rendered file, and the path.
    fn err(&self, at: &str, msg: impl std::fmt::Display) -> ProjectError {
        // A top-level key is placed under its own name.
        let placed = |p: &'a Places| {
            p.position(at)
                .or_else(|| p.position(at.strip_prefix("top level.")?))
        };
        match self.places.and_then(placed) {
            Some(pos) => ProjectError(format!("{pos}: {at}: {msg}")),
            None => ProjectError(format!("{}: {at}: {msg}", self.file)),
        }
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

    /// "`{whose}: key `{prefix}{key}` is not acted on by devstack`" for each key.
    fn note_not_acted_on<'k>(
        &mut self,
        whose: &str,
        prefix: &str,
        keys: impl Iterator<Item = &'k String>,
    ) {
        for key in keys {
            self.notes.push(format!(
                "{whose}: key `{prefix}{key}` is not acted on by devstack"
            ));
        }
    }
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
    parse_with(doc, Ctx::new(file, blame), project_name)
}

/// [`parse_traced`], with errors placed where each value was written (`places`) and the
/// project's variables (`env`) for env files and secrets.
pub fn parse_placed(
    doc: &Value,
    file: &str,
    places: &Places,
    env: &IndexMap<String, String>,
    project_name: &str,
    blame: Option<BlameFn<'_>>,
) -> Result<ComposeModel, ProjectError> {
    let mut cx = Ctx::new(file, blame);
    cx.places = Some(places);
    cx.env = Some(env);
    parse_with(doc, cx, project_name)
}

fn parse_with(doc: &Value, mut cx: Ctx, project_name: &str) -> Result<ComposeModel, ProjectError> {
    let raw: RawCompose = read_mapping(doc)
        .ok_or_else(|| cx.err("top level", "expected a mapping with `services:`"))?;
    if let Some(top) = doc.as_object() {
        check_keys(top, TOP_KEYS, "top level", &cx)?;
    }
    if raw.other.contains_key("models") {
        cx.notes.push(
            "top-level key `models` is not acted on by devstack: it needs Docker Model Runner"
                .into(),
        );
    }
    let mut model = ComposeModel {
        networks: parse_networks(raw.networks.get(), project_name, &cx)?,
        volumes: parse_resources(raw.volumes.get(), "volumes", project_name, &cx)?,
        secrets: files::parse_defs(raw.secrets.get(), FileKind::Secret, &cx)?,
        configs: files::parse_defs(raw.configs.get(), FileKind::Config, &cx)?,
        ..Default::default()
    };
    for (name, spec) in services(raw.services.get(), &cx)? {
        if !valid_name(name) {
            return Err(cx.err(
                &format!("services.{name}"),
                "invalid service name: use lowercase letters, digits, '-', '_' and '.'",
            ));
        }
        let svc = service::parse_service(name, spec, &model, &mut cx)?;
        model.services.insert(name.clone(), svc);
    }
    if let Some(x) = raw.x_devstack.get() {
        model.x_devstack = x_devstack::parse_x_devstack(x, &model, &cx)?;
    }
    networking::check_host_ports(&model, &cx)?;
    model.not_acted_on = cx.notes;
    Ok(model)
}

/// `services:`, a mapping of service names.
fn services<'v>(
    v: Option<&'v Value>,
    cx: &Ctx,
) -> Result<&'v serde_json::Map<String, Value>, ProjectError> {
    match v {
        Some(Value::Object(m)) => Ok(m),
        Some(Value::Null) | None => Err(cx.err("services", "no services defined")),
        Some(_) => Err(cx.err("services", "expected a mapping of service names")),
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Top-level `networks:`, with Compose's implicit `default` network.
fn parse_networks(
    v: Option<&Value>,
    project: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, NetworkDef>, ProjectError> {
    let mut networks = parse_resources(v, "networks", project, cx)?;
    if !networks.contains_key("default") {
        networks.insert(
            "default".into(),
            NetworkDef {
                name: format!("{project}_default"),
                ..Default::default()
            },
        );
    }
    Ok(networks)
}

/// Top-level `networks:` or `volumes:`: engine-side names (`{project}_{key}` unless `name:` or
/// `external:`), drivers and their options, labels, and a network's settings.
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
        let at = format!("{kind}.{key}");
        if !spec.is_object() && !spec.is_null() {
            return Err(cx.err(&at, "expected a mapping or nothing"));
        }
        let empty = serde_json::Map::new();
        let d = spec.as_object().unwrap_or(&empty);
        let keys = if kind == "networks" {
            NETWORK_KEYS
        } else {
            VOLUME_KEYS
        };
        check_keys(d, keys, &at, cx)?;
        let flag = |k: &str| values::boolean(d.get(k), &format!("{at}.{k}"), cx);
        let external = match d.get("external") {
            // The obsolete `external: {name: x}`.
            Some(Value::Object(_)) => true,
            other => values::boolean(other, &format!("{at}.external"), cx)?.unwrap_or(false),
        };
        let legacy_name = d
            .get("external")
            .and_then(|e| e.get("name"))
            .and_then(scalar);
        let name = text(d.get("name")).or(legacy_name).unwrap_or_else(|| {
            if external {
                key.clone()
            } else {
                format!("{project}_{key}")
            }
        });
        let map = |k: &str| match d.get(k) {
            Some(v) if !v.is_null() => string_map_or_empty(v, &format!("{at}.{k}"), cx),
            _ => Ok(IndexMap::new()),
        };
        out.insert(
            key.clone(),
            ResourceDef {
                name,
                external,
                driver: text(d.get("driver")),
                driver_opts: map("driver_opts")?,
                labels: map("labels")?,
                internal: flag("internal")?.unwrap_or(false),
                attachable: flag("attachable")?.unwrap_or(false),
                enable_ipv6: flag("enable_ipv6")?,
                enable_ipv4: flag("enable_ipv4")?,
                ipam: ipam(d.get("ipam"), &format!("{at}.ipam"), cx)?,
            },
        );
    }
    Ok(out)
}

/// `ipam: {driver, config: [{subnet, ip_range, gateway, aux_addresses}], options}`.
fn ipam(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<Ipam>, ProjectError> {
    let Some(m) = v.and_then(Value::as_object) else {
        return Ok(None);
    };
    check_keys(m, &["driver", "config", "options"], at, cx)?;
    let mut config = Vec::new();
    for (i, pool) in m
        .get("config")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let here = format!("{at}.config[{i}]");
        let p = pool
            .as_object()
            .ok_or_else(|| cx.err(&here, "expected {subnet, ip_range, gateway, aux_addresses}"))?;
        check_keys(
            p,
            &["subnet", "ip_range", "gateway", "aux_addresses"],
            &here,
            cx,
        )?;
        config.push(IpamPool {
            subnet: text(p.get("subnet")),
            ip_range: text(p.get("ip_range")),
            gateway: text(p.get("gateway")),
            aux_addresses: match p.get("aux_addresses") {
                Some(a) if !a.is_null() => {
                    string_map_or_empty(a, &format!("{here}.aux_addresses"), cx)?
                }
                _ => IndexMap::new(),
            },
        });
    }
    Ok(Some(Ipam {
        driver: text(m.get("driver")),
        config,
        options: match m.get("options") {
            Some(o) if !o.is_null() => string_map_or_empty(o, &format!("{at}.options"), cx)?,
            _ => IndexMap::new(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn the_top_level_is_a_mapping_with_services() {
        let e = |d: Value| parse(&d, "f", "p").unwrap_err().0;
        assert_eq!(
            e(doc("[1]")),
            "f: top level: expected a mapping with `services:`"
        );
        assert_eq!(e(doc("networks: {}")), "f: services: no services defined");
        assert_eq!(
            e(doc("services: [a]")),
            "f: services: expected a mapping of service names"
        );
        assert_eq!(
            e(doc("services:\n  Web: {image: x}\n")),
            "f: services.Web: invalid service name: use lowercase letters, digits, '-', '_' and '.'"
        );
    }

    #[test]
    fn unknown_top_level_keys_are_refused_but_x_keys_and_name_are_not() {
        let d =
            doc("name: p\nversion: '3'\nx-common: {}\nconfigs: {}\nservices:\n  web: {image: x}\n");
        let m = parse(&d, "f", "p").unwrap();
        assert!(m.not_acted_on.is_empty(), "{:?}", m.not_acted_on);
        let d = doc("servics: {}\nservices:\n  web: {image: x}\n");
        assert_eq!(
            parse(&d, "f", "p").unwrap_err().0,
            "f: top level.servics: `servics` is not a Compose key here: did you mean `services`?"
        );
    }

    #[test]
    fn networks_and_volumes_get_engine_names() {
        let d = doc("services:\n  web: {image: x}\nnetworks:\n  front: {}\n  ext: {external: true}\n  named: {name: shared, driver: overlay}\nvolumes:\n  data:\n");
        let m = parse(&d, "f", "demo").unwrap();
        assert_eq!(m.networks["front"].name, "demo_front");
        assert_eq!(m.networks["ext"].name, "ext");
        assert!(m.networks["ext"].external);
        assert_eq!(
            (
                m.networks["named"].name.as_str(),
                m.networks["named"].driver.as_deref()
            ),
            ("shared", Some("overlay"))
        );
        assert_eq!(m.networks["default"].name, "demo_default");
        assert_eq!(m.volumes["data"].name, "demo_data");
        let d = doc("services:\n  web: {image: x}\nvolumes:\n  data: 5\n");
        assert_eq!(
            parse(&d, "f", "demo").unwrap_err().0,
            "f: volumes.data: expected a mapping or nothing"
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
        use serde_json::Map;

        /// The keys of `RawService` (the fields serde reads).
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
            "x-devstack",
        ];

        /// The service keys devstack reads, and the nested keys of its sections.
        fn keys() -> Vec<&'static str> {
            SERVICE_KEYS
                .iter()
                .copied()
                .chain([
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
