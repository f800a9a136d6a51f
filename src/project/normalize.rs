//! What makes the rendered compose file self-contained, so that Compose reading
//! `.devstack/compose.yaml` sees the project devstack runs: relative paths made absolute
//! (compose-go's `paths.ResolveRelativePaths`: Compose would resolve them against
//! `.devstack/`), `environment: [KEY]` resolved from `.env` and the shell
//! (`ResolveEnvironment`), secrets and configs read from the environment filled in, and
//! ports without an address bound to the address devstack publishes on.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::yaml::{Node, Value};

/// A project's document made self-contained against its directory `dir`: a build without a
/// `context` builds `dir` (compose-go's `SetDefaultValues`, which a project — the main one or
/// an included one — gets before its paths are resolved, and an extended file does not), then
/// the relative paths made absolute.
pub fn resolve_paths(doc: &mut Node, dir: &Path) {
    default_build_context(doc);
    resolve_relative_paths(doc, dir);
}

/// `build:` as a mapping without `context` gets `context: .`.
fn default_build_context(doc: &mut Node) {
    let Some(services) = doc.get_mut("services").and_then(Node::as_map_mut) else {
        return;
    };
    for svc in services.values_mut() {
        if let Some(b) = svc.get_mut("build").and_then(Node::as_map_mut) {
            b.entry("context".to_string())
                .or_insert_with(|| Node::str("."));
        }
    }
}

/// Makes the relative paths of a compose document absolute against `dir`: build contexts and
/// additional contexts (not URLs or `docker-image://`), `env_file` and `label_file`, `extends`
/// files, `develop.watch` paths, bind mount sources, secret and config files, and local
/// volumes' bind devices. `~/` is the user's home.
pub fn resolve_relative_paths(doc: &mut Node, dir: &Path) {
    let abs = |p: &str| absolute(p, dir);
    if let Some(services) = doc.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            resolve_service_paths(svc, &abs);
        }
    }
    for kind in ["secrets", "configs"] {
        for def in values_mut(doc.get_mut(kind)) {
            edit_str(def.get_mut("file"), &abs);
        }
    }
    for vol in values_mut(doc.get_mut("volumes")) {
        let local = vol.get("driver").and_then(Node::as_str) == Some("local");
        if let Some(opts) = vol.get_mut("driver_opts") {
            let bind = opts.get("o").and_then(Node::as_str) == Some("bind");
            if local && bind {
                edit_str(opts.get_mut("device"), &abs);
            }
        }
    }
}

fn resolve_service_paths(svc: &mut Node, abs: &dyn Fn(&str) -> String) {
    let context = |p: &str| {
        if is_remote_context(p) {
            p.to_string()
        } else {
            abs(p)
        }
    };
    match svc.get_mut("build") {
        Some(b) if b.as_str().is_some() => edit_str(Some(b), &context),
        Some(b) => {
            if b.get("context").is_some() {
                edit_str(b.get_mut("context"), &context);
            }
            resolve_additional_contexts(b.get_mut("additional_contexts"), &context);
        }
        None => {}
    }
    for key in ["env_file", "label_file"] {
        match svc.get_mut(key) {
            Some(n) if n.as_str().is_some() => edit_str(Some(n), abs),
            Some(n) => {
                for item in items_mut(Some(n)) {
                    if item.as_str().is_some() {
                        edit_str(Some(item), abs);
                    } else {
                        edit_str(item.get_mut("path"), abs);
                    }
                }
            }
            None => {}
        }
    }
    if let Some(ext) = svc.get_mut("extends") {
        edit_str(ext.get_mut("file"), abs);
    }
    for key in ["develop", "x-develop"] {
        if let Some(d) = svc.get_mut(key) {
            for rule in items_mut(d.get_mut("watch")) {
                edit_str(rule.get_mut("path"), abs);
            }
        }
    }
    for vol in items_mut(svc.get_mut("volumes")) {
        resolve_mount_source(vol, abs);
    }
}

/// A bind mount's source: the long syntax's `source` when the type is `bind`; the short
/// syntax's part before the first `:` when it is a path (`.`, `~` or `/`).
fn resolve_mount_source(vol: &mut Node, abs: &dyn Fn(&str) -> String) {
    if let Some(s) = vol.as_str() {
        let Some((src, rest)) = s.split_once(':') else {
            return;
        };
        if src.starts_with('.') || src.starts_with('~') {
            vol.value = Value::Str(format!("{}:{rest}", abs(src)));
        }
        return;
    }
    if vol.get("type").and_then(Node::as_str) == Some("bind") {
        edit_str(vol.get_mut("source"), abs);
    }
}

fn resolve_additional_contexts(n: Option<&mut Node>, context: &dyn Fn(&str) -> String) {
    let Some(n) = n else { return };
    match &mut n.value {
        Value::Map(m) => {
            for v in m.values_mut() {
                edit_str(Some(v), context);
            }
        }
        Value::Seq(items) => {
            for item in items {
                if let Some((k, v)) = item.as_str().and_then(|s| s.split_once('=')) {
                    let joined = format!("{k}={}", context(v));
                    item.value = Value::Str(joined);
                }
            }
        }
        _ => {}
    }
}

/// URLs and Git references, `docker-image://…` and `service:…` contexts are not paths.
fn is_remote_context(p: &str) -> bool {
    p.contains("://")
        || p.starts_with("service:")
        || ["github.com/", "git@"].iter().any(|pre| p.starts_with(pre))
}

/// `p` made absolute against `dir` (`~/` is the home directory), `.` and `..` folded.
pub fn absolute(p: &str, dir: &Path) -> String {
    if p.is_empty() {
        return String::new();
    }
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return clean(&Path::new(&home).join(rest));
        }
    }
    if p == "~" {
        if let Some(home) = std::env::var_os("HOME") {
            return clean(Path::new(&home));
        }
    }
    if Path::new(p).is_absolute() {
        p.to_string()
    } else {
        clean(&dir.join(p))
    }
}

/// `a/./b/../c` → `a/c` without touching the filesystem.
pub fn clean(p: &Path) -> String {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.display().to_string()
}

fn edit_str(n: Option<&mut Node>, f: &dyn Fn(&str) -> String) {
    if let Some(n) = n {
        if let Value::Str(s) = &n.value {
            n.value = Value::Str(f(s));
        }
    }
}

fn items_mut(n: Option<&mut Node>) -> impl Iterator<Item = &mut Node> {
    let items = match n.map(|n| &mut n.value) {
        Some(Value::Seq(items)) => Some(items),
        _ => None,
    };
    items.into_iter().flatten()
}

fn values_mut(n: Option<&mut Node>) -> impl Iterator<Item = &mut Node> {
    let m = match n.map(|n| &mut n.value) {
        Some(Value::Map(m)) => Some(m),
        _ => None,
    };
    m.into_iter().flat_map(|m| m.values_mut())
}

/// `environment: [KEY]` (and `{KEY: null}`) takes KEY's value from `.env` and the shell, as
/// Compose does when it loads the file; a KEY set in neither stays bare (the container does
/// not get it). Secrets and configs read from a variable are read when the container is made
/// (a secret's value is never written to a file).
pub fn resolve_environment(doc: &mut Node, env: &IndexMap<String, String>) {
    if let Some(services) = doc.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            let Some(e) = svc.get_mut("environment") else {
                continue;
            };
            match &mut e.value {
                Value::Seq(items) => {
                    for item in items.iter_mut() {
                        let Some(key) = item
                            .as_str()
                            .filter(|s| !s.contains('='))
                            .map(str::to_string)
                        else {
                            continue;
                        };
                        if let Some(v) = env.get(&key) {
                            item.vars = vec![key.clone()];
                            item.value = Value::Str(format!("{key}={v}"));
                        }
                    }
                }
                Value::Map(m) => {
                    for (k, v) in m.iter_mut() {
                        if let (true, Some(val)) = (v.is_null(), env.get(k)) {
                            v.vars = vec![k.clone()];
                            v.value = Value::Str(val.clone());
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Binds published ports that have no address to `publish_ip`: 127.0.0.1 locally, every
/// interface when the engine is on another machine (its loopback is not this one's).
pub fn bind_ports(doc: &mut Node, publish_ip: &str) {
    let Some(services) = doc.get_mut("services").and_then(Node::as_map_mut) else {
        return;
    };
    for svc in services.values_mut() {
        for p in items_mut(svc.get_mut("ports")) {
            match &p.value {
                Value::Map(m) => {
                    if m.contains_key("published") && !m.contains_key("host_ip") {
                        if let Some(m) = p.as_map_mut() {
                            m.insert("host_ip".into(), Node::str(publish_ip));
                        }
                    }
                }
                _ => {
                    let Some(s) = p.scalar_text() else { continue };
                    let colons = s.split('/').next().unwrap_or("").matches(':').count();
                    p.value = Value::Str(if colons == 1 {
                        format!("{publish_ip}:{s}")
                    } else {
                        s
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::yaml;

    fn doc(text: &str) -> Node {
        yaml::parse(text, "f").unwrap().remove(0)
    }

    #[test]
    fn relative_paths_become_absolute() {
        let mut d = doc(
            "services:\n  a:\n    build: {context: ./svc, additional_contexts: {base: ../base, img: docker-image://alpine}}\n    env_file: [a.env, {path: ./b.env, required: false}]\n    label_file: l.labels\n    volumes: [\"./src:/app\", \"data:/data\", {type: bind, source: ../x, target: /x}, {type: volume, source: v, target: /v}]\n    develop: {watch: [{path: ./src, action: sync}]}\n  b:\n    build: https://github.com/x/y.git\nsecrets:\n  s: {file: ./secret.txt}\nconfigs:\n  c: {file: conf/c.ini}\nvolumes:\n  v: {driver: local, driver_opts: {o: bind, type: none, device: ./data}}\n",
        );
        resolve_paths(&mut d, Path::new("/p/proj"));
        let j = d.to_json().0;
        let a = &j["services"]["a"];
        assert_eq!(a["build"]["context"], "/p/proj/svc");
        assert_eq!(a["build"]["additional_contexts"]["base"], "/p/base");
        assert_eq!(
            a["build"]["additional_contexts"]["img"],
            "docker-image://alpine"
        );
        assert_eq!(a["env_file"][0], "/p/proj/a.env");
        assert_eq!(a["env_file"][1]["path"], "/p/proj/b.env");
        assert_eq!(a["label_file"], "/p/proj/l.labels");
        assert_eq!(a["volumes"][0], "/p/proj/src:/app");
        assert_eq!(a["volumes"][1], "data:/data");
        assert_eq!(a["volumes"][2]["source"], "/p/x");
        assert_eq!(a["volumes"][3]["source"], "v");
        assert_eq!(a["develop"]["watch"][0]["path"], "/p/proj/src");
        assert_eq!(j["services"]["b"]["build"], "https://github.com/x/y.git");
        assert_eq!(j["secrets"]["s"]["file"], "/p/proj/secret.txt");
        assert_eq!(j["configs"]["c"]["file"], "/p/proj/conf/c.ini");
        assert_eq!(j["volumes"]["v"]["driver_opts"]["device"], "/p/proj/data");
    }

    #[test]
    fn a_build_without_context_builds_the_project_directory() {
        let mut d = doc(
            "services:\n  a:\n    build: {dockerfile_inline: FROM scratch}\n  b:\n    build: ./b\n",
        );
        resolve_paths(&mut d, Path::new("/p/proj"));
        let j = d.to_json().0;
        assert_eq!(j["services"]["a"]["build"]["context"], "/p/proj");
        assert_eq!(j["services"]["b"]["build"], "/p/proj/b");
        let mut d = doc("services:\n  a:\n    build: {target: t}\n");
        resolve_relative_paths(&mut d, Path::new("/p/proj"));
        assert!(d.to_json().0["services"]["a"]["build"]
            .get("context")
            .is_none());
    }

    #[test]
    fn bare_environment_keys_take_their_values() {
        let mut d = doc(
            "services:\n  a:\n    image: x\n    environment: [FROM_ENV, UNSET, SET=1]\n  b:\n    image: x\n    environment: {FROM_ENV: null, C: 2}\nsecrets:\n  token: {environment: FROM_ENV}\nconfigs:\n  conf: {environment: FROM_ENV}\n",
        );
        let env = IndexMap::from([("FROM_ENV".to_string(), "v".to_string())]);
        resolve_environment(&mut d, &env);
        let j = d.to_json().0;
        assert_eq!(
            j["services"]["a"]["environment"],
            serde_json::json!(["FROM_ENV=v", "UNSET", "SET=1"])
        );
        assert_eq!(j["services"]["b"]["environment"]["FROM_ENV"], "v");
        assert!(
            j["secrets"]["token"].get("content").is_none(),
            "secrets stay out of files"
        );
    }

    #[test]
    fn ports_without_an_address_are_bound() {
        let mut d = doc("services:\n  a:\n    ports: [\"80:80\", \"1.2.3.4:81:81\", 82, {target: 83, published: 83}, {target: 84}]\n");
        bind_ports(&mut d, "127.0.0.1");
        let j = d.to_json().0;
        assert_eq!(
            j["services"]["a"]["ports"],
            serde_json::json!(["127.0.0.1:80:80", "1.2.3.4:81:81", "82", {"target": 83, "published": 83, "host_ip": "127.0.0.1"}, {"target": 84}])
        );
    }
}
