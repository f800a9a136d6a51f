//! Networking: `ports:` (short and long syntax, loopback by default), the service's
//! `networks:` with their aliases, `extra_hosts:`, and the check that no two published ports
//! share a host port.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{
    check_keys, integer, read_mapping, scalar, string_list, string_map_or_empty, strings, text, Key,
};
use super::{ComposeModel, Ctx};
use crate::errors::ProjectError;

#[derive(Debug, Clone, Serialize)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
    /// Where the user wrote it, for "change it there" when the port is taken.
    #[serde(skip)]
    pub source: PortSource,
}

/// Where it was written is not part of what a port is: moving a line changes no container.
impl PartialEq for PortMapping {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.host_ip,
            self.host_port,
            self.container_port,
            &self.protocol,
        ) == (&o.host_ip, o.host_port, o.container_port, &o.protocol)
    }
}

/// Where a published port was written: by variables (their `.env` line), or in a compose
/// file or template (its line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PortSource {
    #[default]
    Unknown,
    /// `names` set it; `text` says where (`/p/.env:3: WEB_PORT=8080`, or `WEB_PORT=8080 (from
    /// the environment)`).
    Variables { names: Vec<String>, text: String },
    /// Written literally at `file:line` (a template's line once the rendering is traced back).
    File { file: String, line: usize },
}

impl PortSource {
    /// The fix for a taken port, naming where to change it.
    pub fn change_hint(&self) -> String {
        match self {
            PortSource::Variables { names, text } => {
                format!("set {} to a free port ({text})", names.join(", "))
            }
            PortSource::File { file, line } => {
                format!("change the `ports:` entry at {file}:{line}")
            }
            PortSource::Unknown => "change the service's `ports:`".to_string(),
        }
    }
}

/// The fix for an engine's "port is already allocated" on `ports` of one service: where the
/// port it names was written (each of the service's published ports' places when the message
/// names none of them).
pub fn busy_port_hint(ports: &[PortMapping], engine_message: &str) -> String {
    let named = |p: &&PortMapping| {
        p.host_port.is_some_and(|n| {
            let n = format!(":{n}");
            engine_message.match_indices(&n).any(|(i, _)| {
                !engine_message[i + n.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            })
        })
    };
    let mut hints: Vec<String> = ports
        .iter()
        .filter(named)
        .map(|p| p.source.change_hint())
        .collect();
    if hints.is_empty() {
        hints = ports
            .iter()
            .filter(|p| p.host_port.is_some())
            .map(|p| p.source.change_hint())
            .collect();
    }
    hints.dedup();
    if hints.is_empty() {
        return PortSource::Unknown.change_hint();
    }
    hints.join(", or ")
}

/// The long syntax of a port.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPort {
    target: Key,
    published: Key,
    host_ip: Key,
    protocol: Key,
}

/// The phrase every duplicate-host-port error carries (`doctor`'s stack.ports looks for it).
pub const PORT_CONFLICT: &str = "cannot publish one host port";

/// Whether a project error is a duplicate published host port (see [`PORT_CONFLICT`]).
pub fn is_port_conflict(e: &ProjectError) -> bool {
    e.0.contains(PORT_CONFLICT)
}

pub(super) fn parse_ports(v: &Value, at: &str, cx: &Ctx) -> Result<Vec<PortMapping>, ProjectError> {
    let items = v.as_array().ok_or_else(|| cx.err(at, "expected a list"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut ports = match item {
            Value::Object(_) => vec![long_port(item, at, cx)?],
            other => {
                let s =
                    scalar(other).ok_or_else(|| cx.err(at, "expected a port string or mapping"))?;
                parse_port_short(&s).map_err(|e| cx.bad_value(at, e))?
            }
        };
        let source = port_source(&format!("{at}[{i}]"), cx);
        for p in &mut ports {
            p.source = source.clone();
        }
        out.extend(ports);
    }
    Ok(out)
}

/// Where the port at `at` was written: the variables it came from, else its file and line.
fn port_source(at: &str, cx: &Ctx) -> PortSource {
    if let Some(b) = cx.blame.and_then(|b| b(at)) {
        return PortSource::Variables {
            names: b.names,
            text: b.text,
        };
    }
    match cx.places.and_then(|p| p.positions.get(at)) {
        Some(pos) => PortSource::File {
            file: pos.file.to_string(),
            line: pos.line,
        },
        None => PortSource::Unknown,
    }
}

/// `{target, published, host_ip, protocol}`; no `host_ip` means 127.0.0.1.
fn long_port(item: &Value, at: &str, cx: &Ctx) -> Result<PortMapping, ProjectError> {
    let raw: RawPort = read_mapping(item).unwrap_or_default();
    let target = raw
        .target
        .get()
        .and_then(scalar)
        .and_then(|t| t.parse::<u16>().ok())
        .ok_or_else(|| cx.bad_value(at, "long-syntax port needs a numeric `target` (1-65535)"))?;
    let published = match raw.published.get().and_then(scalar) {
        Some(p) => Some(p.parse::<u16>().map_err(|_| {
            cx.bad_value(
                at,
                format!("invalid published port {p:?}: use a number 1-65535"),
            )
        })?),
        None => None,
    };
    Ok(PortMapping {
        host_ip: raw
            .host_ip
            .get()
            .and_then(scalar)
            .unwrap_or_else(|| "127.0.0.1".into()),
        host_port: published,
        container_port: target,
        protocol: raw
            .protocol
            .get()
            .and_then(scalar)
            .unwrap_or_else(|| "tcp".into()),
        source: PortSource::Unknown,
    })
}

/// Why a short port (`[IP:][HOST:]CONTAINER[/PROTO]`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid port {0:?}: missing ']' after the IPv6 address")]
    UnclosedIpv6(String),
    #[error("invalid port {0:?}: expected ':' after ']'")]
    ColonAfterIpv6(String),
    #[error("invalid port {0:?}: use [IP:][HOST:]CONTAINER[/PROTO]")]
    Shape(String),
    #[error("invalid port {0:?}: host and container ranges differ in length")]
    RangeLengths(String),
    #[error("invalid port {spec:?}: {number:?} is not a port number: use a number 1-65535")]
    NotANumber { spec: String, number: String },
    #[error("invalid port {spec:?}: the range {range:?} runs backwards: write it low-high")]
    Backwards { spec: String, range: String },
}

/// `[ip:][host[-host]:]container[-container][/proto]`; no ip means 127.0.0.1 (devstack's default).
pub fn parse_port_short(s: &str) -> Result<Vec<PortMapping>, PortError> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p.to_string()),
        None => (s, "tcp".to_string()),
    };
    let parts: Vec<&str> = if spec.starts_with('[') {
        // [::1]:8080:80
        let close = spec
            .find(']')
            .ok_or_else(|| PortError::UnclosedIpv6(s.into()))?;
        let rest = spec[close + 1..]
            .strip_prefix(':')
            .ok_or_else(|| PortError::ColonAfterIpv6(s.into()))?;
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
        _ => return Err(PortError::Shape(s.into())),
    };
    let (c0, c1) = port_range(s, container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(port_range(s, host)?)
    };
    if let Some((h0, h1)) = host_range {
        if h1 - h0 != c1 - c0 {
            return Err(PortError::RangeLengths(s.into()));
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
            source: PortSource::Unknown,
        })
        .collect())
}

/// `80` or `9000-9001` of the port spec `s`, low to high.
fn port_range(s: &str, r: &str) -> Result<(u16, u16), PortError> {
    let (a, b) = r.split_once('-').unwrap_or((r, r));
    let num = |x: &str| -> Result<u16, PortError> {
        x.parse().map_err(|_| PortError::NotANumber {
            spec: s.into(),
            number: x.into(),
        })
    };
    let (a, b) = (num(a)?, num(b)?);
    if b < a {
        return Err(PortError::Backwards {
            spec: s.into(),
            range: r.into(),
        });
    }
    Ok((a, b))
}

/// How a service joins one network: its aliases, fixed addresses, MAC address, priority
/// (the highest-priority network is the primary one), driver options.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attachment {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub link_local_ips: Vec<String>,
    pub mac_address: Option<String>,
    pub priority: i64,
    pub gw_priority: Option<i64>,
    pub driver_opts: IndexMap<String, String>,
    pub interface_name: Option<String>,
}

const ATTACHMENT_KEYS: &[&str] = &[
    "aliases",
    "ipv4_address",
    "ipv6_address",
    "link_local_ips",
    "mac_address",
    "priority",
    "gw_priority",
    "driver_opts",
    "interface_name",
];

/// A service's `networks:` (a list, or a mapping of attachments; `default` when absent),
/// each declared at the top level, ordered as Compose orders them (highest priority first,
/// then by name), so the first is the primary one.
pub(super) fn service_networks(
    v: Option<&Value>,
    at: &str,
    model: &ComposeModel,
    cx: &Ctx,
) -> Result<IndexMap<String, Attachment>, ProjectError> {
    let mut networks: IndexMap<String, Attachment> = match v {
        None | Some(Value::Null) => {
            IndexMap::from([("default".to_string(), Attachment::default())])
        }
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar)
            .map(|n| (n, Attachment::default()))
            .collect(),
        Some(Value::Object(nm)) if nm.is_empty() => {
            IndexMap::from([("default".to_string(), Attachment::default())])
        }
        Some(Value::Object(nm)) => nm
            .iter()
            .map(|(k, v)| Ok((k.clone(), attachment(v, &format!("{at}.{k}"), cx)?)))
            .collect::<Result<_, ProjectError>>()?,
        Some(_) => return Err(cx.err(at, "expected a list or mapping of networks")),
    };
    for net in networks.keys() {
        if !model.networks.contains_key(net) {
            return Err(cx.err(
                at,
                format!("network `{net}` is not declared in the top-level `networks:`; declare it there"),
            ));
        }
    }
    // Compose's order (`NetworksByPriority`): higher priority first, then by name.
    networks.sort_by(|ka, a, kb, b| b.priority.cmp(&a.priority).then_with(|| ka.cmp(kb)));
    Ok(networks)
}

fn attachment(v: &Value, at: &str, cx: &Ctx) -> Result<Attachment, ProjectError> {
    let Some(m) = v.as_object() else {
        return Ok(Attachment::default());
    };
    check_keys(m, ATTACHMENT_KEYS, at, cx)?;
    Ok(Attachment {
        aliases: strings(m.get("aliases"), &format!("{at}.aliases"), cx)?,
        ipv4_address: text(m.get("ipv4_address")),
        ipv6_address: text(m.get("ipv6_address")),
        link_local_ips: strings(m.get("link_local_ips"), &format!("{at}.link_local_ips"), cx)?,
        mac_address: text(m.get("mac_address")),
        priority: integer(m.get("priority"), &format!("{at}.priority"), cx)?.unwrap_or(0),
        gw_priority: integer(m.get("gw_priority"), &format!("{at}.gw_priority"), cx)?,
        driver_opts: match m.get("driver_opts") {
            Some(o) if !o.is_null() => string_map_or_empty(o, &format!("{at}.driver_opts"), cx)?,
            _ => IndexMap::new(),
        },
        interface_name: text(m.get("interface_name")),
    })
}

/// A service's networking besides ports and networks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Networking {
    /// `host`, `none`, `bridge`, `service:NAME`, `container:NAME`.
    pub network_mode: Option<String>,
    pub mac_address: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    /// `(service, alias)`: Compose's links to another service of the project.
    pub links: Vec<(String, String)>,
    /// `container[:alias]` outside the project.
    pub external_links: Vec<String>,
    /// `port[/proto]` or `from-to[/proto]`, exposed without publishing.
    pub expose: Vec<String>,
}

impl Networking {
    /// The service another shares a namespace with (`service:NAME`), if any.
    pub fn network_service(&self) -> Option<&str> {
        self.network_mode.as_deref()?.strip_prefix("service:")
    }
}

pub(super) fn parse_networking(
    m: &serde_json::Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<Networking, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let network_mode = text(m.get("network_mode"));
    if network_mode.is_some() && m.get("networks").is_some_and(|n| !n.is_null()) {
        return Err(cx.err(
            &at("network_mode"),
            "`network_mode` and `networks` exclude each other: a container in another's network (or the host's) joins no networks of its own; keep one",
        ));
    }
    let links = strings(m.get("links"), &at("links"), cx)?
        .into_iter()
        .map(|l| match l.split_once(':') {
            Some((svc, alias)) => (svc.to_string(), alias.to_string()),
            None => (l.clone(), l),
        })
        .collect();
    let mut expose = Vec::new();
    for e in strings(m.get("expose"), &at("expose"), cx)? {
        let (port, proto) = e.split_once('/').unwrap_or((&e, "tcp"));
        let ok = match port.split_once('-') {
            Some((a, b)) => a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok(),
            None => port.parse::<u16>().is_ok(),
        };
        if !ok || !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(cx.bad_value(
                &at("expose"),
                format!("invalid port {e:?}: write PORT[/tcp|udp|sctp] or FROM-TO"),
            ));
        }
        expose.push(e);
    }
    Ok(Networking {
        network_mode,
        mac_address: text(m.get("mac_address")),
        dns: strings(m.get("dns"), &at("dns"), cx)?,
        dns_search: strings(m.get("dns_search"), &at("dns_search"), cx)?,
        dns_opt: strings(m.get("dns_opt"), &at("dns_opt"), cx)?,
        links,
        external_links: strings(m.get("external_links"), &at("external_links"), cx)?,
        expose,
    })
}

/// `extra_hosts:` as `host:ip` lines, from a list (`host:ip` or `host=ip`, as a merge of
/// two files writes them) or a mapping (an IP or a list of IPs per host).
pub(super) fn extra_hosts(v: &Value, at: &str, cx: &Ctx) -> Result<Vec<String>, ProjectError> {
    // The engine splits at the first `:`, so an IPv6 address needs no brackets.
    let line = |host: &str, ip: &str| format!("{host}:{ip}");
    match v {
        Value::Object(hosts) => {
            let mut out = Vec::new();
            for (k, v) in hosts {
                match v {
                    Value::Array(ips) => {
                        out.extend(ips.iter().filter_map(scalar).map(|ip| line(k, &ip)))
                    }
                    other => out.push(line(k, &scalar(other).unwrap_or_default())),
                }
            }
            Ok(out)
        }
        other => Ok(string_list(other, at, cx, false)?
            .into_iter()
            .map(|h| match h.split_once('=') {
                Some((host, ip)) => line(host, ip),
                None => h,
            })
            .collect()),
    }
}

/// Two published ports on one host port (same protocol, overlapping addresses) would make the
/// second container fail at start, after the first was created: refuse them here, naming
/// both services and the variable that set the port.
pub(super) fn check_host_ports(model: &ComposeModel, cx: &Ctx) -> Result<(), ProjectError> {
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
                return Err(port_clash(cx, other, name, p, port));
            }
            seen.push((name, p));
        }
    }
    Ok(())
}

/// The clash of `name`'s port `p` with one of `other`'s, blamed on the variable that set it.
fn port_clash(cx: &Ctx, other: &str, name: &str, p: &PortMapping, port: u16) -> ProjectError {
    let addr = if p.host_ip.contains(':') {
        format!("[{}]:{port}/{}", p.host_ip, p.protocol)
    } else {
        format!("{}:{port}/{}", p.host_ip, p.protocol)
    };
    let who = if other == name {
        format!("service {name} publishes host port {addr} twice")
    } else {
        format!("host port {addr} is published by both {other} and {name}")
    };
    let at = format!("services.{name}.ports");
    let other_at = format!("services.{other}.ports");
    match cx.blame.and_then(|b| b(&at).or_else(|| b(&other_at))) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use serde_json::json;

    fn doc(yaml: &str) -> Value {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn short_ports_default_to_loopback() {
        let p = parse_port_short("8080:80").unwrap();
        assert_eq!(
            p[0],
            PortMapping {
                host_ip: "127.0.0.1".into(),
                host_port: Some(8080),
                container_port: 80,
                protocol: "tcp".into(),
                source: PortSource::Unknown,
            }
        );
        let p = parse_port_short("0.0.0.0:53:53/udp").unwrap();
        assert_eq!(
            (p[0].host_ip.as_str(), p[0].protocol.as_str()),
            ("0.0.0.0", "udp")
        );
        assert_eq!(parse_port_short("9000-9001:9000-9001").unwrap().len(), 2);
        assert_eq!(parse_port_short("80").unwrap()[0].host_port, None);
        assert_eq!(parse_port_short("[::1]:8080:80").unwrap()[0].host_ip, "::1");
        assert!(parse_port_short("x:80").is_err());
    }

    #[test]
    fn a_busy_port_is_to_be_changed_where_it_was_written() {
        let mut web = parse_port_short("127.0.0.1:8080:80").unwrap();
        web[0].source = PortSource::File {
            file: "/p/templates/compose.yaml.j2".into(),
            line: 7,
        };
        let mut api = parse_port_short("127.0.0.1:18080:80").unwrap();
        api[0].source = PortSource::Variables {
            names: vec!["API_PORT".into()],
            text: "/p/.env:2: API_PORT=18080".into(),
        };
        let ports = [web[0].clone(), api[0].clone()];
        // The engine's message names the port: only that one's place.
        let msg = "Bind for 127.0.0.1:18080 failed: port is already allocated";
        assert_eq!(
            busy_port_hint(&ports, msg),
            "set API_PORT to a free port (/p/.env:2: API_PORT=18080)"
        );
        let msg = "listen tcp4 127.0.0.1:8080: bind: address already in use";
        assert_eq!(
            busy_port_hint(&ports, msg),
            "change the `ports:` entry at /p/templates/compose.yaml.j2:7"
        );
        // A message naming none of them: every published port's place.
        let both = busy_port_hint(&ports, "port is already allocated");
        assert!(
            both.contains("compose.yaml.j2:7") && both.contains("API_PORT"),
            "{both}"
        );
        assert_eq!(busy_port_hint(&[], "x"), "change the service's `ports:`");
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
        let e = parse_port_short("127.0.0.1:abc:5173")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"abc\" is not a port number: use a number 1-65535"),
            "{e}"
        );
    }

    #[test]
    fn long_ports_read_their_keys() {
        let cx = Ctx::new("f", None);
        let p = parse_ports(
            &json!([{"target": 80, "published": "8080", "protocol": "udp"}, {"target": "81"}]),
            "services.web.ports",
            &cx,
        )
        .unwrap();
        assert_eq!(
            p[0],
            PortMapping {
                host_ip: "127.0.0.1".into(),
                host_port: Some(8080),
                container_port: 80,
                protocol: "udp".into(),
                source: PortSource::Unknown,
            }
        );
        assert_eq!((p[1].container_port, p[1].host_port), (81, None));
        let e = parse_ports(&json!([{"target": "x"}]), "services.web.ports", &cx).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.ports: long-syntax port needs a numeric `target` (1-65535)"
        );
        let e = parse_ports(&json!("80"), "services.web.ports", &cx).unwrap_err();
        assert_eq!(e.0, "f: services.web.ports: expected a list");
    }

    #[test]
    fn networks_are_declared_and_carry_aliases() {
        let d = doc("services:\n  web: {image: x, networks: {front: {aliases: [www, 1]}, default: null}}\nnetworks: {front: {}}\n");
        let m = parse(&d, "f", "p").unwrap();
        let nets = &m.services["web"].networks;
        assert_eq!(nets["front"].aliases, ["www", "1"]);
        assert!(nets["default"].aliases.is_empty());
        let d = doc("services:\n  web: {image: x, networks: {front: {priority: 1}, back: {priority: 5, ipv4_address: 10.0.0.5}}}\nnetworks: {front: {}, back: {}}\n");
        let m = parse(&d, "f", "p").unwrap();
        let nets = &m.services["web"].networks;
        assert_eq!(
            nets.keys().collect::<Vec<_>>(),
            ["back", "front"],
            "by priority"
        );
        assert_eq!(nets["back"].ipv4_address.as_deref(), Some("10.0.0.5"));
        let d = doc("services:\n  web: {image: x}\n");
        let m = parse(&d, "f", "p").unwrap();
        assert_eq!(
            m.services["web"].networks.keys().collect::<Vec<_>>(),
            ["default"]
        );
        let d = doc("services:\n  web: {image: x, networks: [back]}\n");
        let e = parse(&d, "f", "p").unwrap_err();
        assert_eq!(e.0, "f: services.web.networks: network `back` is not declared in the top-level `networks:`; declare it there");
    }

    #[test]
    fn extra_hosts_take_a_list_or_a_mapping() {
        let cx = Ctx::new("f", None);
        assert_eq!(
            extra_hosts(&json!({"db": "10.0.0.2"}), "at", &cx).unwrap(),
            ["db:10.0.0.2"]
        );
        assert_eq!(
            extra_hosts(&json!(["db:10.0.0.2", "web=10.0.0.3"]), "at", &cx).unwrap(),
            ["db:10.0.0.2", "web:10.0.0.3"]
        );
        assert_eq!(
            extra_hosts(&json!({"db": ["10.0.0.2", "::1"]}), "at", &cx).unwrap(),
            ["db:10.0.0.2", "db:::1"]
        );
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
}
