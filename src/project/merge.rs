//! Several compose files into one, by compose-go's rules (`override/merge.go` and
//! `override/uncity.go`: what `docker compose -f a.yaml -f b.yaml` does, what
//! `compose.override.yaml` and `extends` rely on).
//!
//! Mappings merge key by key, the later file winning for scalars, and lists append — except
//! where Compose says otherwise: `command`, `entrypoint` and a healthcheck's `test` are
//! replaced whole (a `null` resets them); `environment`, `labels`, `annotations`, `sysctls`,
//! `dns*`, `tmpfs`, `env_file`, `label_file`, `build.args`, `build.labels`,
//! `build.additional_contexts` and `deploy.labels` become one `KEY=VALUE` list whatever
//! syntax each file used; `extra_hosts` append without repeats; `depends_on` and `networks`
//! merge as mappings; `build: .` merges with a build mapping; `logging` options merge only
//! when both files name the same driver (or one names none); each ulimit is replaced whole.
//! After each file, lists Compose keys by an identity keep one entry per identity, the later
//! one in the earlier one's place: ports, volumes and devices by target, secrets and configs
//! by mount path, `KEY=VALUE` lists by key, and so on. `!reset` removes what earlier files
//! set; `!override` replaces it instead of merging.

use super::yaml::{Map, Node, Tag, Value};

/// Why two files could not be merged: a mapping where the earlier file had a list or the
/// other way round. Names the path and where the later value was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}cannot override {path}: one file gives a {was} and the other a {now}")]
pub struct MergeError {
    pub path: String,
    /// `file:line:col: ` of the later value, or empty.
    pub at: String,
    pub was: &'static str,
    pub now: &'static str,
}

/// `over` (a later file's document) merged onto `base`, its `!reset`/`!override` tags
/// applied, then each identity kept once per list.
pub fn merge(mut base: Node, over: Node) -> Result<Node, MergeError> {
    apply_resets(&mut base, &over);
    let merged = merge_at(base, strip_tags(over), &mut Vec::new())?;
    Ok(enforce_unicity(merged, &mut Vec::new()))
}

/// One document on its own (the first file): tags removed, identities kept once.
pub fn single(doc: Node) -> Node {
    enforce_unicity(strip_tags(doc), &mut Vec::new())
}

/// `extends`: the service `over` merged onto a copy of the service it extends, as Compose
/// merges services (the path is a service's).
pub fn extend_service(mut base: Node, over: Node) -> Result<Node, MergeError> {
    apply_resets(&mut base, &over);
    let mut path = vec!["services".to_string(), "x".to_string()];
    merge_at(base, strip_tags(over), &mut path)
}

/// Removes from `base` every place that `over` tags `!reset` or `!override` (compose-go's
/// ResetProcessor.Apply: before the merge, so an override merges onto nothing).
fn apply_resets(base: &mut Node, over: &Node) {
    let (Some(b), Some(o)) = (base.as_map_mut(), over.as_map()) else {
        return;
    };
    for (k, v) in o {
        if v.tag.is_some() {
            b.shift_remove(k);
        } else if let Some(bv) = b.get_mut(k) {
            apply_resets(bv, v);
        }
    }
}

/// A document without its merge tags: `!reset` values dropped, `!override` ones kept.
fn strip_tags(mut n: Node) -> Node {
    n.tag = None;
    n.value = match n.value {
        Value::Map(m) => Value::Map(
            m.into_iter()
                .filter(|(_, v)| v.tag != Some(Tag::Reset))
                .map(|(k, v)| (k, strip_tags(v)))
                .collect(),
        ),
        Value::Seq(items) => Value::Seq(
            items
                .into_iter()
                .filter(|v| v.tag != Some(Tag::Reset))
                .map(strip_tags)
                .collect(),
        ),
        other => other,
    };
    n
}

/// How a special path merges (compose-go's `mergeSpecials`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    ToSequence,
    ExtraHosts,
    Override,
    DependsOn,
    Mappings,
    Logging,
    Build,
    Ulimit,
    IpamConfig,
}

/// Does `path` match `pattern` (`*` matches any one segment)?
fn matches(path: &[String], pattern: &[&str]) -> bool {
    path.len() == pattern.len() && path.iter().zip(pattern).all(|(p, q)| *q == "*" || p == q)
}

fn rule(path: &[String]) -> Option<Rule> {
    const RULES: &[(&[&str], Rule)] = &[
        (&["networks", "*", "ipam", "config"], Rule::IpamConfig),
        (&["networks", "*", "labels"], Rule::ToSequence),
        (&["volumes", "*", "labels"], Rule::ToSequence),
        (&["services", "*", "annotations"], Rule::ToSequence),
        (&["services", "*", "build"], Rule::Build),
        (&["services", "*", "build", "args"], Rule::ToSequence),
        (
            &["services", "*", "build", "additional_contexts"],
            Rule::ToSequence,
        ),
        (&["services", "*", "build", "extra_hosts"], Rule::ExtraHosts),
        (&["services", "*", "build", "labels"], Rule::ToSequence),
        (&["services", "*", "command"], Rule::Override),
        (&["services", "*", "depends_on"], Rule::DependsOn),
        (&["services", "*", "deploy", "labels"], Rule::ToSequence),
        (&["services", "*", "dns"], Rule::ToSequence),
        (&["services", "*", "dns_opt"], Rule::ToSequence),
        (&["services", "*", "dns_search"], Rule::ToSequence),
        (&["services", "*", "entrypoint"], Rule::Override),
        (&["services", "*", "env_file"], Rule::ToSequence),
        (&["services", "*", "label_file"], Rule::ToSequence),
        (&["services", "*", "environment"], Rule::ToSequence),
        (&["services", "*", "extra_hosts"], Rule::ExtraHosts),
        (&["services", "*", "healthcheck", "test"], Rule::Override),
        (&["services", "*", "labels"], Rule::ToSequence),
        (
            &["services", "*", "volumes", "*", "volume", "labels"],
            Rule::ToSequence,
        ),
        (&["services", "*", "logging"], Rule::Logging),
        (&["services", "*", "models"], Rule::Mappings),
        (&["services", "*", "networks"], Rule::Mappings),
        (&["services", "*", "sysctls"], Rule::ToSequence),
        (&["services", "*", "tmpfs"], Rule::ToSequence),
        (&["services", "*", "ulimits", "*"], Rule::Ulimit),
    ];
    RULES
        .iter()
        .find(|(p, _)| matches(path, p))
        .map(|(_, r)| *r)
}

fn kind(n: &Node) -> &'static str {
    match n.value {
        Value::Map(_) => "mapping",
        Value::Seq(_) => "list",
        Value::Null => "null",
        _ => "scalar",
    }
}

fn merge_at(base: Node, over: Node, path: &mut Vec<String>) -> Result<Node, MergeError> {
    if let Some(r) = rule(path) {
        return merge_special(r, base, over, path);
    }
    if over.is_null() {
        return Ok(base);
    }
    let mismatch = |base: &Node, over: &Node, path: &[String]| MergeError {
        path: path.join("."),
        at: over
            .pos
            .as_ref()
            .map(|p| format!("{p}: "))
            .unwrap_or_default(),
        was: kind(base),
        now: kind(over),
    };
    match (&base.value, &over.value) {
        (Value::Map(_), Value::Map(_)) => {
            let (Value::Map(b), Value::Map(o)) = (base.value, over.value) else {
                unreachable!()
            };
            Ok(Node::at(Value::Map(merge_maps(b, o, path)?), base.pos))
        }
        (Value::Map(_), _) => Err(mismatch(&base, &over, path)),
        (Value::Seq(_), Value::Seq(_)) => {
            let (Value::Seq(mut b), Value::Seq(o)) = (base.value, over.value) else {
                unreachable!()
            };
            b.extend(o);
            Ok(Node::at(Value::Seq(b), base.pos))
        }
        (Value::Seq(_), _) => Err(mismatch(&base, &over, path)),
        _ => Ok(over),
    }
}

fn merge_maps(mut base: Map, over: Map, path: &mut Vec<String>) -> Result<Map, MergeError> {
    for (k, v) in over {
        match base.get_mut(&k) {
            None => {
                base.insert(k, v);
            }
            Some(slot) => {
                let old = std::mem::replace(slot, Node::new(Value::Null));
                // Messages point at the later file's key when it has one.
                let key_pos = v.key_pos.clone().or_else(|| old.key_pos.clone());
                path.push(k);
                let merged = merge_at(old, v, path);
                path.pop();
                *slot = merged?;
                slot.key_pos = key_pos;
            }
        }
    }
    Ok(base)
}

fn merge_special(
    r: Rule,
    base: Node,
    over: Node,
    path: &mut Vec<String>,
) -> Result<Node, MergeError> {
    let pos = base.pos.clone();
    Ok(match r {
        Rule::Override => over,
        Rule::ToSequence => {
            let mut seq = into_sequence(base);
            seq.extend(into_sequence(over));
            Node::at(Value::Seq(seq), pos)
        }
        Rule::ExtraHosts => {
            // The later file's entries the earlier does not have (compose-go compares with the
            // earlier list only: a repeat within the later file stays).
            let mut seq = into_sequence(base);
            let earlier = seq.len();
            for v in into_sequence(over) {
                if !seq[..earlier].iter().any(|x| x.same(&v)) {
                    seq.push(v);
                }
            }
            Node::at(Value::Seq(seq), pos)
        }
        Rule::DependsOn | Rule::Mappings => {
            let default = (r == Rule::DependsOn).then(depends_on_default);
            let b = into_mapping(base, default.as_ref());
            let o = into_mapping(over, default.as_ref());
            Node::at(Value::Map(merge_maps(b, o, path)?), pos)
        }
        Rule::Build => {
            let b = build_mapping(base);
            let o = build_mapping(over);
            Node::at(Value::Map(merge_maps(b, o, path)?), pos)
        }
        Rule::Logging => merge_logging(base, over, path)?,
        Rule::Ulimit => over,
        Rule::IpamConfig => merge_ipam(base, over, path)?,
    })
}

/// `depends_on: [a]` means `{a: {condition: service_started, required: true}}`.
fn depends_on_default() -> Map {
    let mut m = Map::new();
    m.insert("condition".into(), Node::str("service_started"));
    m.insert("required".into(), Node::new(Value::Bool(true)));
    m
}

/// A mapping as a `KEY=VALUE` list sorted by text (a key with a null value alone, a list
/// value once per item); a string as a list of one; a list as it is.
fn into_sequence(n: Node) -> Vec<Node> {
    match n.value {
        Value::Seq(items) => items,
        Value::Str(_) => vec![n],
        Value::Map(m) => {
            let mut seq: Vec<Node> = Vec::new();
            for (k, v) in m {
                let entry = |text: String, v: &Node| Node {
                    pos: v.pos.clone(),
                    vars: v.vars.clone(),
                    ..Node::str(text)
                };
                match &v.value {
                    Value::Null => seq.push(entry(k.clone(), &v)),
                    Value::Seq(items) => {
                        for i in items {
                            seq.push(entry(
                                format!("{k}={}", i.scalar_text().unwrap_or_default()),
                                i,
                            ));
                        }
                    }
                    _ => seq.push(entry(
                        format!("{k}={}", v.scalar_text().unwrap_or_default()),
                        &v,
                    )),
                }
            }
            seq.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            seq
        }
        _ => Vec::new(),
    }
}

/// A list of names as a mapping of each to `default` (or null); a mapping as it is.
fn into_mapping(n: Node, default: Option<&Map>) -> Map {
    match n.value {
        Value::Map(m) => m,
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|i| {
                let name = i.scalar_text()?;
                let v = match default {
                    Some(d) => Node::at(Value::Map(d.clone()), i.pos.clone()),
                    None => Node::at(Value::Null, i.pos.clone()),
                };
                Some((name, v))
            })
            .collect(),
        _ => Map::new(),
    }
}

fn build_mapping(n: Node) -> Map {
    match n.value {
        Value::Map(m) => m,
        Value::Str(_) => {
            let mut m = Map::new();
            m.insert("context".into(), n);
            m
        }
        _ => Map::new(),
    }
}

/// Logging options merge only when both name the same driver, or either names none; else the
/// later logging replaces the earlier.
fn merge_logging(base: Node, over: Node, path: &mut Vec<String>) -> Result<Node, MergeError> {
    let driver = |n: &Node| n.get("driver").map(|d| d.scalar_text());
    let (bd, od) = (driver(&base), driver(&over));
    if bd.is_none() || od.is_none() || bd == od {
        return merge_at_plain(base, over, path);
    }
    Ok(over)
}

/// The generic merge, for a special rule that falls back to it.
fn merge_at_plain(base: Node, over: Node, path: &mut Vec<String>) -> Result<Node, MergeError> {
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => {
            Ok(Node::at(Value::Map(merge_maps(b, o, path)?), base.pos))
        }
        (_, v) => Ok(Node::at(v, over.pos)),
    }
}

/// IPAM pools merge by subnet: an override's pool for a subnet merges onto the earlier one,
/// a pool for a new subnet is added.
fn merge_ipam(base: Node, over: Node, path: &mut Vec<String>) -> Result<Node, MergeError> {
    let pos = base.pos.clone();
    let (Value::Seq(configs), Value::Seq(overrides)) = (base.value, over.value) else {
        return Err(MergeError {
            path: path.join("."),
            at: String::new(),
            was: "list",
            now: "value that is not a list",
        });
    };
    let subnet = |m: &Map| m.get("subnet").and_then(Node::scalar_text);
    let mut out: Vec<Map> = Vec::new();
    for original in configs {
        let right = into_mapping(original, None);
        for ov in &overrides {
            let left = into_mapping(ov.clone(), None);
            if subnet(&left) != subnet(&right) {
                if !out.iter().any(|m| subnet(m) == subnet(&left)) {
                    out.push(left);
                }
                continue;
            }
            let merged = merge_maps(right.clone(), left, path)?;
            match out.iter().position(|m| subnet(m) == subnet(&merged)) {
                Some(i) => out[i] = merged,
                None => out.push(merged),
            }
        }
    }
    Ok(Node::at(
        Value::Seq(out.into_iter().map(Node::map).collect()),
        pos,
    ))
}

/// How the entries of a list are identified, for keeping each once.
#[derive(Debug, Clone, Copy)]
enum Identity {
    KeyValue,
    Volume,
    Device,
    Expose,
    Mount(&'static str),
    Port,
    EnvFile,
}

fn identity(path: &[String]) -> Option<Identity> {
    const IDS: &[(&[&str], Identity)] = &[
        (&["networks", "*", "labels"], Identity::KeyValue),
        (&["networks", "*", "ipam", "options"], Identity::KeyValue),
        (&["services", "*", "annotations"], Identity::KeyValue),
        (&["services", "*", "build", "args"], Identity::KeyValue),
        (
            &["services", "*", "build", "additional_contexts"],
            Identity::KeyValue,
        ),
        // compose-go names `build.platform` here, which no file has: `platforms` keep repeats.
        (&["services", "*", "build", "tags"], Identity::KeyValue),
        (&["services", "*", "build", "labels"], Identity::KeyValue),
        (&["services", "*", "cap_add"], Identity::KeyValue),
        (&["services", "*", "cap_drop"], Identity::KeyValue),
        (&["services", "*", "devices"], Identity::Device),
        (&["services", "*", "configs"], Identity::Mount("")),
        (&["services", "*", "deploy", "labels"], Identity::KeyValue),
        (&["services", "*", "dns"], Identity::KeyValue),
        (&["services", "*", "dns_opt"], Identity::KeyValue),
        (&["services", "*", "dns_search"], Identity::KeyValue),
        (&["services", "*", "environment"], Identity::KeyValue),
        (&["services", "*", "env_file"], Identity::EnvFile),
        (&["services", "*", "expose"], Identity::Expose),
        (&["services", "*", "labels"], Identity::KeyValue),
        (&["services", "*", "links"], Identity::KeyValue),
        (
            &["services", "*", "networks", "*", "aliases"],
            Identity::KeyValue,
        ),
        (
            &["services", "*", "networks", "*", "link_local_ips"],
            Identity::KeyValue,
        ),
        (&["services", "*", "ports"], Identity::Port),
        (&["services", "*", "profiles"], Identity::KeyValue),
        (
            &["services", "*", "secrets"],
            Identity::Mount("/run/secrets"),
        ),
        (&["services", "*", "sysctls"], Identity::KeyValue),
        (&["services", "*", "tmpfs"], Identity::KeyValue),
        (&["services", "*", "volumes"], Identity::Volume),
    ];
    IDS.iter().find(|(p, _)| matches(path, p)).map(|(_, i)| *i)
}

fn identity_of(id: Identity, n: &Node) -> String {
    let text = n.scalar_text();
    match id {
        Identity::KeyValue => {
            let t = text.unwrap_or_default();
            t.split_once('=').map_or(t.clone(), |(k, _)| k.to_string())
        }
        Identity::Expose | Identity::EnvFile if text.is_some() => text.unwrap_or_default(),
        Identity::EnvFile => n
            .get("path")
            .and_then(Node::scalar_text)
            .unwrap_or_default(),
        Identity::Expose => String::new(),
        Identity::Volume | Identity::Device => match text {
            Some(t) => short_target(&t),
            None => n
                .get("target")
                .and_then(Node::scalar_text)
                .unwrap_or_default(),
        },
        Identity::Mount(dir) => match text {
            Some(t) => format!("{dir}/{t}"),
            None => n
                .get("target")
                .and_then(Node::scalar_text)
                .unwrap_or_else(|| {
                    let src = n
                        .get("source")
                        .and_then(Node::scalar_text)
                        .unwrap_or_default();
                    format!("{dir}/{src}")
                }),
        },
        Identity::Port => match &n.value {
            Value::Map(_) => long_port_identity(n),
            _ => text.map(|t| short_port_identity(&t)).unwrap_or_default(),
        },
    }
}

/// A long-syntax port as compose-go's `portIndexer` prints it (`%s:%s:%d/%s`, Go's
/// formatting of a value of the wrong type included, so `published: 80` is not `"80"`).
fn long_port_identity(n: &Node) -> String {
    let text = |k: &str| n.get(k).filter(|v| !v.is_null());
    let host = text("host_ip")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| "0.0.0.0".into());
    let published = match text("published").map(|v| &v.value) {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Int(i)) => format!("%!s(int={i})"),
        Some(v) => format!("%!s({v:?})"),
        None => "%!s(<nil>)".into(),
    };
    let target = match text("target").map(|v| &v.value) {
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Str(s)) => format!("%!d(string={s})"),
        Some(v) => format!("%!d({v:?})"),
        None => "%!d(<nil>)".into(),
    };
    let protocol = text("protocol")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| "tcp".into());
    format!("{host}:{published}:{target}/{protocol}")
}

/// A short-syntax port (`[[IP:]PUBLISHED:]TARGET[/PROTOCOL]`) by the identity of the long
/// syntax compose-go turns it into before it keeps each port once (`transform.Canonical`), so
/// `"80:80"` and `{target: 80, published: "80"}` are one port. A range stays its text.
fn short_port_identity(t: &str) -> String {
    let (spec, protocol) = t.split_once('/').unwrap_or((t, "tcp"));
    let (host, rest) = match spec.strip_prefix('[') {
        Some(v6) => match v6.split_once("]:") {
            Some((ip, rest)) => (Some(ip), rest),
            None => return t.to_string(),
        },
        None => match spec.matches(':').count() {
            2 => spec
                .split_once(':')
                .map_or((None, spec), |(h, r)| (Some(h), r)),
            _ => (None, spec),
        },
    };
    let (published, target) = match rest.rsplit_once(':') {
        Some((p, tg)) => (p, tg),
        None => ("", rest),
    };
    if target.parse::<u32>().is_err() || published.contains('-') {
        return t.to_string();
    }
    let published = match published {
        "" => "%!s(<nil>)",
        p => p,
    };
    let host = host.filter(|h| !h.is_empty()).unwrap_or("0.0.0.0");
    format!("{host}:{published}:{target}/{protocol}")
}

/// The target of `src:target[:mode]` (a volume) or `host:container[:perms]` (a device); a
/// lone path is its own target.
fn short_target(t: &str) -> String {
    let mut parts = t.split(':');
    let first = parts.next().unwrap_or_default();
    parts.next().unwrap_or(first).to_string()
}

/// Keeps one entry per identity in the lists Compose identifies (the later entry in the
/// earlier one's place).
fn enforce_unicity(mut n: Node, path: &mut Vec<String>) -> Node {
    n.value = match n.value {
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| {
                    path.push(k.clone());
                    let v = enforce_unicity(v, path);
                    path.pop();
                    (k, v)
                })
                .collect(),
        ),
        Value::Seq(items) => match identity(path) {
            Some(id) => {
                let mut seq: Vec<Node> = Vec::new();
                let mut seen: std::collections::HashMap<String, usize> = Default::default();
                for item in items {
                    let key = identity_of(id, &item);
                    match seen.get(&key) {
                        Some(&j) => seq[j] = item,
                        None => {
                            seen.insert(key, seq.len());
                            seq.push(item);
                        }
                    }
                }
                Value::Seq(seq)
            }
            None => Value::Seq(items),
        },
        other => other,
    };
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::yaml;

    fn doc(text: &str) -> Node {
        yaml::parse(text, "f.yaml").unwrap().remove(0)
    }

    fn merged(a: &str, b: &str) -> serde_json::Value {
        let m = merge(single(doc(a)), doc(b)).unwrap();
        m.to_json().0
    }

    fn yaml_json(text: &str) -> serde_json::Value {
        doc(text).to_json().0
    }

    #[test]
    fn an_override_file_merges_as_compose_merges() {
        let m = merged(
            "services:\n  api:\n    image: api:1\n    command: [node, server.js]\n    environment: [A=1, B=2]\n    ports: [\"3000:3000\"]\n    volumes: [\"./src:/app/src\", \"data:/data\"]\n    depends_on: [db]\n    healthcheck: {test: [CMD, \"true\"], interval: 5s}\n  db: {image: mongo:7}\nvolumes: {data: {}}\n",
            "services:\n  api:\n    command: [node, --inspect, server.js]\n    environment: {B: 3, C: 4}\n    ports: [\"9229:9229\", \"3000:3000\"]\n    volumes: [\"./src2:/app/src\"]\n    depends_on: {cache: {condition: service_started}}\n    healthcheck: {test: [CMD, \"false\"]}\n  cache: {image: redis:7}\n",
        );
        let want = yaml_json(
            "services:\n  api:\n    image: api:1\n    command: [node, --inspect, server.js]\n    environment: [A=1, B=3, C=4]\n    ports: [\"3000:3000\", \"9229:9229\"]\n    volumes: [\"./src2:/app/src\", \"data:/data\"]\n    depends_on: {db: {condition: service_started, required: true}, cache: {condition: service_started}}\n    healthcheck: {test: [CMD, \"false\"], interval: 5s}\n  db: {image: mongo:7}\n  cache: {image: redis:7}\nvolumes: {data: {}}\n",
        );
        assert_eq!(m, want);
    }

    #[test]
    fn key_value_lists_become_one_sorted_list() {
        let m = merged(
            "services:\n  t:\n    sysctls: {net.ipv6.conf.all.disable_ipv6: 1}\n",
            "services:\n  t:\n    sysctls: [net.ipv4.tcp_keepalive_time=300]\n",
        );
        assert_eq!(
            m["services"]["t"]["sysctls"],
            serde_json::json!([
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv4.tcp_keepalive_time=300"
            ])
        );
        let m = merged(
            "services:\n  t:\n    sysctls: {a: 1}\n",
            "services:\n  t:\n    sysctls: {a: 3}\n",
        );
        assert_eq!(m["services"]["t"]["sysctls"], serde_json::json!(["a=3"]));
    }

    #[test]
    fn reset_and_override_tags() {
        let m = merged(
            "services:\n  t:\n    image: x\n    ports: [\"80:80\"]\n    environment: {A: 1}\n    build: {context: ., args: {X: 1}}\n",
            "services:\n  t:\n    ports: !reset []\n    environment: !override {B: 2}\n    build: {args: !reset {}}\n",
        );
        let t = &m["services"]["t"];
        assert!(t.get("ports").is_none(), "{t}");
        assert_eq!(t["environment"], serde_json::json!({"B": 2}));
        assert!(t["build"].get("args").is_none(), "{t}");
        assert_eq!(t["build"]["context"], ".");
    }

    #[test]
    fn logging_options_survive_only_the_same_driver() {
        let m = merged(
            "services:\n  t:\n    logging: {driver: json-file, options: {max-size: 10m}}\n",
            "services:\n  t:\n    logging: {driver: syslog, options: {tag: x}}\n",
        );
        assert_eq!(
            m["services"]["t"]["logging"],
            serde_json::json!({"driver": "syslog", "options": {"tag": "x"}})
        );
        let m = merged(
            "services:\n  t:\n    logging: {driver: json-file, options: {max-size: 10m}}\n",
            "services:\n  t:\n    logging: {options: {max-file: 3}}\n",
        );
        assert_eq!(
            m["services"]["t"]["logging"]["options"],
            serde_json::json!({"max-size": "10m", "max-file": 3})
        );
    }

    #[test]
    fn identities_are_kept_once() {
        let m = merged(
            "services:\n  t:\n    ports: [\"80:80\", \"80:80\"]\n    volumes: [\"a:/data\", {type: bind, source: /x, target: /y}]\n    secrets: [s1, {source: s2, target: /run/secrets/s1}]\n",
            "services:\n  t:\n    volumes: [\"b:/data\"]\n    ulimits: {nofile: {soft: 1}}\n",
        );
        let t = &m["services"]["t"];
        assert_eq!(t["ports"], serde_json::json!(["80:80"]));
        assert_eq!(t["volumes"][0], "b:/data");
        assert_eq!(
            t["secrets"],
            serde_json::json!([{"source": "s2", "target": "/run/secrets/s1"}])
        );
    }

    #[test]
    fn a_port_is_one_port_in_either_syntax() {
        let m = merged(
            "services:\n  t:\n    ports: [\"8080:80\", \"127.0.0.1:9090:90/udp\", 5000, \"[::1]:7070:70\"]\n",
            "services:\n  t:\n    ports:\n      - {target: 80, published: \"8080\", protocol: tcp}\n      - {target: 90, host_ip: 127.0.0.1, published: \"9090\", protocol: udp}\n      - {target: 5000}\n      - \"[::1]:7070:70/tcp\"\n      - {target: 80, published: 8080}\n",
        );
        assert_eq!(
            m["services"]["t"]["ports"],
            serde_json::json!([
                {"target": 80, "published": "8080", "protocol": "tcp"},
                {"target": 90, "host_ip": "127.0.0.1", "published": "9090", "protocol": "udp"},
                {"target": 5000},
                "[::1]:7070:70/tcp",
                {"target": 80, "published": 8080}
            ]),
            "a published number is another port to compose-go"
        );
        assert_eq!(short_port_identity("8000-8001:80"), "8000-8001:80");
        assert_eq!(
            short_port_identity("127.0.0.1::80"),
            "127.0.0.1:%!s(<nil>):80/tcp"
        );
    }

    #[test]
    fn extra_hosts_leave_out_only_what_the_earlier_file_has() {
        let m = merged(
            "services:\n  t:\n    extra_hosts: [a=1, a=1]\n",
            "services:\n  t:\n    extra_hosts: [a=1, b=2, b=2]\n",
        );
        assert_eq!(
            m["services"]["t"]["extra_hosts"],
            serde_json::json!(["a=1", "a=1", "b=2", "b=2"])
        );
    }

    #[test]
    fn ulimits_are_replaced_whole() {
        let m = merged(
            "services:\n  t:\n    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 5}\n",
            "services:\n  t:\n    ulimits: {nofile: {soft: 3}}\n",
        );
        assert_eq!(
            m["services"]["t"]["ulimits"],
            serde_json::json!({"nofile": {"soft": 3}, "nproc": 5})
        );
    }

    #[test]
    fn a_mapping_cannot_become_a_list() {
        let e = merge(
            single(doc("services:\n  t:\n    deploy: {resources: {}}\n")),
            doc("services:\n  t:\n    deploy: [1]\n"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml:3:13: cannot override services.t.deploy: one file gives a mapping and the other a list"
        );
    }

    #[test]
    fn build_platforms_keep_repeats_as_compose_does() {
        let m = merged(
            "services:\n  t:\n    build: {context: ., platforms: [linux/amd64], tags: [a]}\n",
            "services:\n  t:\n    build: {platforms: [linux/arm64, linux/amd64], tags: [a, b]}\n",
        );
        let b = &m["services"]["t"]["build"];
        assert_eq!(
            b["platforms"],
            serde_json::json!(["linux/amd64", "linux/arm64", "linux/amd64"])
        );
        assert_eq!(b["tags"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn build_strings_merge_with_build_mappings() {
        let m = merged(
            "services:\n  t:\n    build: .\n",
            "services:\n  t:\n    build: {dockerfile: D, args: [A=1]}\n",
        );
        assert_eq!(
            m["services"]["t"]["build"],
            serde_json::json!({"context": ".", "dockerfile": "D", "args": ["A=1"]})
        );
    }
}
