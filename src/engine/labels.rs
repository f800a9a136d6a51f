//! Compose's labels (so `docker compose -p NAME ps|logs|down` sees the stack) and devstack's own.

use serde_json::Value;
use sha2::Digest;

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENV_FILE: &str = "com.docker.compose.project.environment_file";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const REPLACE: &str = "com.docker.compose.replace";

/// Labels earlier devstack builds put on the images they built (the context hash that decides rebuilds,
/// the project and service); still honoured on such images. Builds are now recorded in
/// `.devstack/builds.json` instead (`build_record`): the classic builder commits build labels as
/// an extra, never-cached layer.
pub const CONTEXT_HASH: &str = "dev.devstack.context-hash";
pub const BUILT_FOR_PROJECT: &str = "dev.devstack.built-for.project";
/// The devstack version that created the object.
pub const DEVSTACK_VERSION: &str = "dev.devstack.version";

/// The Compose version we claim in `com.docker.compose.version` (what the label format follows).
pub const COMPOSE_VERSION: &str = "2.40.3";

pub fn container_name(project: &str, service: &str) -> String {
    container_name_n(project, service, 1)
}

/// The name a container's logs go by (its prefix, its copy under `.devstack/logs/`): the
/// service for its first container, `service-N` for the others.
pub fn log_name(service: &str, n: u32) -> String {
    if n <= 1 {
        service.to_string()
    } else {
        format!("{service}-{n}")
    }
}

/// Compose's name of a service's container number `n`: `{project}-{service}-{n}`.
pub fn container_name_n(project: &str, service: &str, n: u32) -> String {
    format!("{project}-{service}-{n}")
}

pub fn project_filter(project: &str) -> String {
    format!("{PROJECT}={project}")
}

/// sha256 of the JSON with every object's keys sorted, so map order never changes the hash.
pub fn hash_json(v: &Value) -> String {
    let mut bytes = Vec::new();
    write_canonical(v, &mut bytes);
    hex::encode(sha2::Sha256::digest(&bytes))
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(&m[k.as_str()], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[1,2],"y":null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"y":null,"x":[1,2]},"a":1}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"b":{"y":null,"x":[2,1]},"a":1}"#).unwrap();
        assert_eq!(hash_json(&a), hash_json(&b));
        assert_ne!(hash_json(&a), hash_json(&c));
    }
}
