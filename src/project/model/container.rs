//! The container itself: its name and host name, stdin, platform and runtime, namespaces
//! (IPC, PID, UTS, cgroup — shared with another service as `service:NAME`), annotations,
//! the image pull policy, lifecycle hooks (`post_start`, `pre_stop`), whether its logs are
//! attached, and the engine's socket for a service that drives Docker (`use_api_socket`).

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::values::{boolean, check_keys, string_list, string_map, string_map_or_empty, text};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContainerOptions {
    pub container_name: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub stdin_open: Option<bool>,
    pub platform: Option<String>,
    pub runtime: Option<String>,
    pub isolation: Option<String>,
    pub ipc: Option<String>,
    pub pid: Option<String>,
    pub uts: Option<String>,
    pub cgroup: Option<String>,
    pub annotations: IndexMap<String, String>,
    pub pull_policy: Option<PullPolicy>,
    /// `attach: false`: its logs stay out of the attached `up`.
    pub attach: bool,
    pub use_api_socket: bool,
    pub post_start: Vec<Hook>,
    pub pre_stop: Vec<Hook>,
}

/// When the image is pulled (`pull_policy`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    Always,
    Never,
    Missing,
    Build,
    /// `daily`, `weekly`, `every_12h`: pulled when the local copy is older.
    Every(std::time::Duration),
}

/// A command run in the container after it starts or before it stops.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hook {
    pub command: Vec<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub working_dir: Option<String>,
    pub environment: IndexMap<String, String>,
}

pub(super) fn parse_container(
    m: &Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<ContainerOptions, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    if let Some(cn) = text(m.get("container_name")) {
        let ok = !cn.is_empty()
            && cn.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && cn
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(cx.bad_value(
                &at("container_name"),
                format!("{cn:?} is not a container name: use letters, digits, '_', '.' and '-'"),
            ));
        }
    }
    for ns in ["ipc", "pid", "uts", "cgroup"] {
        if let Some(v) = text(m.get(ns)) {
            check_namespace(ns, &v, &at(ns), cx)?;
        }
    }
    Ok(ContainerOptions {
        container_name: text(m.get("container_name")),
        hostname: text(m.get("hostname")),
        domainname: text(m.get("domainname")),
        stdin_open: boolean(m.get("stdin_open"), &at("stdin_open"), cx)?,
        platform: text(m.get("platform")),
        runtime: text(m.get("runtime")),
        isolation: text(m.get("isolation")),
        ipc: text(m.get("ipc")),
        pid: text(m.get("pid")),
        uts: text(m.get("uts")),
        cgroup: text(m.get("cgroup")),
        annotations: match m.get("annotations") {
            Some(a) if !a.is_null() => string_map_or_empty(a, &at("annotations"), cx)?,
            _ => IndexMap::new(),
        },
        pull_policy: pull_policy(m.get("pull_policy"), &at("pull_policy"), cx)?,
        attach: boolean(m.get("attach"), &at("attach"), cx)?.unwrap_or(true),
        use_api_socket: boolean(m.get("use_api_socket"), &at("use_api_socket"), cx)?
            .unwrap_or(false),
        post_start: hooks(m.get("post_start"), &at("post_start"), cx)?,
        pre_stop: hooks(m.get("pre_stop"), &at("pre_stop"), cx)?,
    })
}

/// `ipc`, `pid`, `uts` and `cgroup` take the engine's modes, or `service:NAME` /
/// `container:NAME` for the namespaces that can be shared.
fn check_namespace(ns: &str, v: &str, at: &str, cx: &Ctx) -> Result<(), ProjectError> {
    let shared = v.starts_with("service:") || v.starts_with("container:");
    let ok = match ns {
        "ipc" => shared || matches!(v, "" | "none" | "private" | "shareable" | "host"),
        "pid" => shared || v == "host",
        "uts" => v == "host",
        _ => matches!(v, "host" | "private"),
    };
    if ok {
        return Ok(());
    }
    let allowed = match ns {
        "ipc" => "none, private, shareable, host, service:NAME or container:NAME",
        "pid" => "host, service:NAME or container:NAME",
        "uts" => "host",
        _ => "host or private",
    };
    Err(cx.bad_value(at, format!("unknown mode {v:?}: use {allowed}")))
}

fn pull_policy(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<PullPolicy>, ProjectError> {
    let Some(p) = text(v) else { return Ok(None) };
    let day = std::time::Duration::from_secs(24 * 3600);
    Ok(Some(match p.as_str() {
        "always" => PullPolicy::Always,
        "never" => PullPolicy::Never,
        "missing" | "if_not_present" => PullPolicy::Missing,
        "build" => PullPolicy::Build,
        "daily" => PullPolicy::Every(day),
        "weekly" => PullPolicy::Every(day * 7),
        other => match other
            .strip_prefix("every_")
            .and_then(|d| crate::project::duration::parse(d).ok())
        {
            Some(d) => PullPolicy::Every(d),
            None => {
                return Err(cx.bad_value(
                    at,
                    format!("unknown policy {other:?}: use always, never, missing, build, daily, weekly or every_<duration>"),
                ))
            }
        },
    }))
}

/// `post_start:` / `pre_stop:` hooks: `{command, user, privileged, working_dir, environment}`.
fn hooks(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<Hook>, ProjectError> {
    let Some(items) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = items
        .as_array()
        .ok_or_else(|| cx.err(at, "expected a list of hooks ({command: …})"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let here = format!("{at}[{i}]");
            let h = h
                .as_object()
                .ok_or_else(|| cx.err(&here, "expected a mapping with `command`"))?;
            check_keys(
                h,
                &[
                    "command",
                    "user",
                    "privileged",
                    "working_dir",
                    "environment",
                ],
                &here,
                cx,
            )?;
            let command = h
                .get("command")
                .filter(|c| !c.is_null())
                .ok_or_else(|| cx.err(&here, "a hook needs `command`"))?;
            Ok(Hook {
                command: string_list(command, &format!("{here}.command"), cx, true)?,
                user: text(h.get("user")),
                privileged: boolean(h.get("privileged"), &format!("{here}.privileged"), cx)?
                    .unwrap_or(false),
                working_dir: text(h.get("working_dir")),
                environment: match h.get("environment") {
                    Some(e) if !e.is_null() => string_map(e, &format!("{here}.environment"), cx)?
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k, v)))
                        .collect(),
                    _ => IndexMap::new(),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(v: Value) -> Result<ContainerOptions, ProjectError> {
        parse_container(v.as_object().unwrap(), "web", &Ctx::new("f", None))
    }

    #[test]
    fn the_container_keys() {
        let c = opts(json!({
            "container_name": "my-web", "hostname": "web1", "domainname": "example.org",
            "stdin_open": true, "ipc": "shareable", "pid": "service:db", "cgroup": "private",
            "annotations": {"com.example.a": "1"}, "pull_policy": "every_12h", "attach": false,
            "post_start": [{"command": "touch /started", "user": "root"}],
            "pre_stop": [{"command": ["sh", "-c", "echo bye"], "environment": {"A": 1}}]
        }))
        .unwrap();
        assert_eq!(c.container_name.as_deref(), Some("my-web"));
        assert_eq!(c.pid.as_deref(), Some("service:db"));
        assert_eq!(
            c.pull_policy,
            Some(PullPolicy::Every(std::time::Duration::from_secs(12 * 3600)))
        );
        assert!(!c.attach);
        assert_eq!(c.post_start[0].command, ["touch", "/started"]);
        assert_eq!(c.pre_stop[0].environment["A"], "1");
    }

    #[test]
    fn mistakes_are_named() {
        let e = opts(json!({"ipc": "shared"})).unwrap_err();
        assert_eq!(e.0, "f: services.web.ipc: unknown mode \"shared\": use none, private, shareable, host, service:NAME or container:NAME");
        let e = opts(json!({"pull_policy": "sometimes"})).unwrap_err();
        assert!(e.0.contains("unknown policy \"sometimes\""), "{e}");
        let e = opts(json!({"post_start": [{"user": "root"}]})).unwrap_err();
        assert_eq!(e.0, "f: services.web.post_start[0]: a hook needs `command`");
        let e = opts(json!({"container_name": "bad name"})).unwrap_err();
        assert!(e.0.contains("is not a container name"), "{e}");
    }
}
