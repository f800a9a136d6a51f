//! Several compose files into one, by the compose-spec's merge rules (what `docker compose
//! -f a.yaml -f b.yaml` does, and what `compose.override.yaml` relies on): mappings merge key
//! by key, the later file winning for scalars; `command`, `entrypoint` and a healthcheck's
//! `test` are replaced whole; `ports`, `expose`, `dns`, `dns_search`, `tmpfs`, `cap_add`,
//! `cap_drop`, `env_file`, `extra_hosts` and `profiles` are appended (without repeats);
//! `environment`, `labels`, `depends_on` and `networks` merge as mappings whatever syntax
//! either file used; a service's `volumes` merge by their target path.

use serde_json::{Map, Value};

/// `over` merged onto `base`.
pub fn merge(base: Value, over: Value) -> Value {
    merge_at(base, over, &[])
}

fn merge_at(base: Value, over: Value, path: &[&str]) -> Value {
    let in_service = path.len() == 3 && path[0] == "services";
    let key = path.last().copied().unwrap_or("");
    if in_service {
        match key {
            "command" | "entrypoint" => return over,
            "ports" | "expose" | "dns" | "dns_search" | "tmpfs" | "cap_add" | "cap_drop"
            | "env_file" | "profiles" | "extra_hosts"
                if base.is_array() || over.is_array() =>
            {
                return append_unique(base, over);
            }
            "environment" | "labels" => return merge_maps(as_map(base, '='), as_map(over, '=')),
            "depends_on" | "networks" => {
                return merge_maps(as_names(base, key), as_names(over, key));
            }
            "volumes" => return merge_volumes(base, over),
            _ => {}
        }
    }
    if path.len() == 4 && path[0] == "services" && path[2] == "healthcheck" && key == "test" {
        return over;
    }
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(old) => {
                        let mut p = path.to_vec();
                        p.push(&k);
                        merge_at(old, v, &p)
                    }
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        // A null override (an empty key) keeps what was there, as Compose does for `key:`.
        (b, Value::Null) => b,
        (_, o) => o,
    }
}

fn append_unique(base: Value, over: Value) -> Value {
    let mut out: Vec<Value> = match base {
        Value::Array(a) => a,
        Value::Null => vec![],
        v => vec![v],
    };
    let more = match over {
        Value::Array(a) => a,
        Value::Null => vec![],
        v => vec![v],
    };
    for v in more {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Value::Array(out)
}

/// `["K=V", "K2"]` or a mapping, as a mapping.
fn as_map(v: Value, sep: char) -> Value {
    match v {
        Value::Array(items) => {
            let mut m = Map::new();
            for i in items {
                let s = match i {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                match s.split_once(sep) {
                    Some((k, v)) => m.insert(k.to_string(), Value::String(v.to_string())),
                    None => m.insert(s, Value::Null),
                };
            }
            Value::Object(m)
        }
        other => other,
    }
}

/// `[a, b]` (names) or a mapping, as a mapping of name → options (`depends_on`'s short form
/// means `service_started`).
fn as_names(v: Value, key: &str) -> Value {
    let short = if key == "depends_on" {
        serde_json::json!({"condition": "service_started"})
    } else {
        Value::Null
    };
    match v {
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .filter_map(|i| i.as_str().map(|s| (s.to_string(), short.clone())))
                .collect(),
        ),
        other => other,
    }
}

fn merge_maps(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                let merged = match (b.remove(&k), v) {
                    (Some(old @ Value::Object(_)), new @ Value::Object(_)) => merge(old, new),
                    (Some(old), Value::Null) => old,
                    (_, new) => new,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (b, Value::Null) => b,
        (_, o) => o,
    }
}

/// The target path of a volume entry: `src:target[:mode]`, `target`, or `{target: …}`.
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.len() {
                1 => Some(parts[0].to_string()),
                _ => Some(parts[1].to_string()),
            }
        }
        Value::Object(o) => o.get("target").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn merge_volumes(base: Value, over: Value) -> Value {
    let mut out: Vec<Value> = match base {
        Value::Array(a) => a,
        _ => vec![],
    };
    let more = match over {
        Value::Array(a) => a,
        Value::Null => return Value::Array(out),
        other => return other,
    };
    for v in more {
        match volume_target(&v)
            .and_then(|t| out.iter().position(|x| volume_target(x) == Some(t.clone())))
        {
            Some(i) => out[i] = v,
            None => out.push(v),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_override_file_merges_as_compose_merges() {
        let base = json!({
            "services": {
                "api": {
                    "image": "api:1",
                    "command": ["node", "server.js"],
                    "environment": ["A=1", "B=2"],
                    "ports": ["3000:3000"],
                    "volumes": ["./src:/app/src", "data:/data"],
                    "depends_on": ["db"],
                    "healthcheck": {"test": ["CMD", "true"], "interval": "5s"}
                },
                "db": {"image": "mongo:7"}
            },
            "volumes": {"data": {}}
        });
        let over = json!({
            "services": {
                "api": {
                    "command": ["node", "--inspect", "server.js"],
                    "environment": {"B": "3", "C": "4"},
                    "ports": ["9229:9229", "3000:3000"],
                    "volumes": ["./src2:/app/src"],
                    "depends_on": {"cache": {"condition": "service_started"}},
                    "healthcheck": {"test": ["CMD", "false"]}
                },
                "cache": {"image": "redis:7"}
            }
        });
        let m = merge(base, over);
        let api = &m["services"]["api"];
        assert_eq!(api["image"], "api:1");
        assert_eq!(api["command"], json!(["node", "--inspect", "server.js"]));
        assert_eq!(api["environment"], json!({"A": "1", "B": "3", "C": "4"}));
        assert_eq!(api["ports"], json!(["3000:3000", "9229:9229"]));
        assert_eq!(api["volumes"], json!(["./src2:/app/src", "data:/data"]));
        assert_eq!(
            api["depends_on"],
            json!({"db": {"condition": "service_started"}, "cache": {"condition": "service_started"}})
        );
        assert_eq!(
            api["healthcheck"],
            json!({"test": ["CMD", "false"], "interval": "5s"})
        );
        assert_eq!(m["services"]["cache"]["image"], "redis:7");
        assert_eq!(m["services"]["db"]["image"], "mongo:7");
        assert_eq!(m["volumes"], json!({"data": {}}));
    }
}
