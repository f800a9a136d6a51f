//! Security: what a service's container may do — capabilities, privileged mode, a read-only
//! root, security options (a `seccomp:` profile file is read as Compose reads it), the user
//! namespace, extra groups, sysctls and ulimits.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::values::{boolean, integer, string_map_or_empty, strings, text};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Security {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: Option<bool>,
    pub read_only: Option<bool>,
    /// As the engine takes them: `seccomp=<profile JSON>`, `apparmor=…`, `label=…`,
    /// `no-new-privileges=true`.
    pub security_opt: Vec<String>,
    /// `security_opt: [seccomp:unconfined]` and the like: the engine's masked and read-only
    /// paths are lifted too, as Compose does.
    pub unconfined: bool,
    pub userns_mode: Option<String>,
    pub group_add: Vec<String>,
    pub sysctls: IndexMap<String, String>,
    pub ulimits: Vec<Ulimit>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

pub(super) fn parse_security(
    m: &Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<Security, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let (security_opt, unconfined) = security_opts(
        &strings(m.get("security_opt"), &at("security_opt"), cx)?,
        &at("security_opt"),
        cx,
    )?;
    Ok(Security {
        cap_add: strings(m.get("cap_add"), &at("cap_add"), cx)?,
        cap_drop: strings(m.get("cap_drop"), &at("cap_drop"), cx)?,
        privileged: boolean(m.get("privileged"), &at("privileged"), cx)?,
        read_only: boolean(m.get("read_only"), &at("read_only"), cx)?,
        security_opt,
        unconfined,
        userns_mode: text(m.get("userns_mode")),
        group_add: strings(m.get("group_add"), &at("group_add"), cx)?,
        sysctls: match m.get("sysctls") {
            None | Some(Value::Null) => IndexMap::new(),
            Some(v) => string_map_or_empty(v, &at("sysctls"), cx)?,
        },
        ulimits: ulimits(m.get("ulimits"), &at("ulimits"), cx)?,
    })
}

/// Compose's `parseSecurityOpts`: each option as written, except that `seccomp:PATH` (or `=`)
/// becomes `seccomp=` and the profile's JSON, read from the file, and
/// `systempaths=unconfined` lifts the masked paths instead.
fn security_opts(opts: &[String], at: &str, cx: &Ctx) -> Result<(Vec<String>, bool), ProjectError> {
    let mut out = Vec::new();
    let mut unconfined = false;
    for opt in opts {
        if opt == "systempaths=unconfined" {
            unconfined = true;
            continue;
        }
        let Some((key, value)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            if opt == "no-new-privileges" {
                out.push(opt.clone());
                continue;
            }
            return Err(cx.bad_value(
                at,
                format!("invalid option {opt:?}: write KEY=VALUE, e.g. no-new-privileges=true or label=disable"),
            ));
        };
        if key == "seccomp" && value != "unconfined" && value != "builtin" {
            out.push(format!("seccomp={}", seccomp_profile(value, at, cx)?));
        } else {
            out.push(opt.clone());
        }
    }
    Ok((out, unconfined))
}

/// A seccomp profile file, compacted as Compose sends it.
fn seccomp_profile(path: &str, at: &str, cx: &Ctx) -> Result<String, ProjectError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        cx.bad_value(
            at,
            format!("cannot read the seccomp profile {path}: {e}; give the path of a JSON profile, `unconfined` or `builtin`"),
        )
    })?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| cx.bad_value(at, format!("the seccomp profile {path} is not JSON: {e}")))?;
    Ok(json.to_string())
}

/// `ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}`.
pub(super) fn ulimits(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Vec<Ulimit>, ProjectError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let m = v.as_object().ok_or_else(|| {
        cx.err(
            at,
            "expected a mapping of limits: {nofile: {soft: N, hard: N}, nproc: N}",
        )
    })?;
    let mut out = Vec::new();
    for (name, limit) in m {
        let here = format!("{at}.{name}");
        let (soft, hard) = match limit {
            Value::Object(l) => {
                let soft = integer(l.get("soft"), &format!("{here}.soft"), cx)?;
                let hard = integer(l.get("hard"), &format!("{here}.hard"), cx)?;
                match (soft, hard) {
                    (Some(s), Some(h)) => (s, h),
                    _ => return Err(cx.err(&here, "a limit needs both `soft` and `hard`")),
                }
            }
            other => {
                let n = integer(Some(other), &here, cx)?
                    .ok_or_else(|| cx.err(&here, "expected a number or {soft, hard}"))?;
                (n, n)
            }
        };
        if soft > hard {
            return Err(cx.bad_value(
                &here,
                format!("the soft limit {soft} is above the hard limit {hard}"),
            ));
        }
        out.push(Ulimit {
            name: name.clone(),
            soft,
            hard,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sec(v: Value) -> Result<Security, ProjectError> {
        let cx = Ctx::new("f", None);
        parse_security(v.as_object().unwrap(), "web", &cx)
    }

    #[test]
    fn keys_are_read_as_compose_reads_them() {
        let s = sec(json!({
            "cap_add": ["NET_ADMIN"], "cap_drop": "ALL", "privileged": true, "read_only": "yes",
            "security_opt": ["no-new-privileges:true", "label=disable", "apparmor:unconfined"],
            "userns_mode": "host", "group_add": ["audio", 1000],
            "sysctls": {"net.core.somaxconn": 1024}, "ulimits": {"nofile": {"soft": 1, "hard": 2}, "nproc": 5}
        }))
        .unwrap();
        assert_eq!(s.cap_add, ["NET_ADMIN"]);
        assert_eq!(s.cap_drop, ["ALL"]);
        assert_eq!((s.privileged, s.read_only), (Some(true), Some(true)));
        assert_eq!(
            s.security_opt,
            [
                "no-new-privileges:true",
                "label=disable",
                "apparmor:unconfined"
            ]
        );
        assert_eq!(s.group_add, ["audio", "1000"]);
        assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
        assert_eq!(
            s.ulimits,
            [
                Ulimit {
                    name: "nofile".into(),
                    soft: 1,
                    hard: 2
                },
                Ulimit {
                    name: "nproc".into(),
                    soft: 5,
                    hard: 5
                }
            ]
        );
    }

    #[test]
    fn unconfined_system_paths_and_bad_options() {
        let s = sec(json!({"security_opt": ["systempaths=unconfined"]})).unwrap();
        assert!(s.unconfined && s.security_opt.is_empty());
        let e = sec(json!({"security_opt": ["nonsense"]})).unwrap_err();
        assert!(e.0.contains("invalid option \"nonsense\""), "{e}");
    }

    #[test]
    fn a_seccomp_profile_file_is_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.json");
        std::fs::write(&f, "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}").unwrap();
        let s = sec(json!({"security_opt": [format!("seccomp:{}", f.display())]})).unwrap();
        assert_eq!(
            s.security_opt,
            ["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]
        );
        let e = sec(json!({"security_opt": ["seccomp:/nonexistent.json"]})).unwrap_err();
        assert!(
            e.0.contains("cannot read the seccomp profile /nonexistent.json"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let e = sec(json!({"ulimits": {"nofile": {"soft": 3, "hard": 2}}})).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.ulimits.nofile: the soft limit 3 is above the hard limit 2"
        );
        let e = sec(json!({"privileged": "maybe"})).unwrap_err();
        assert_eq!(e.0, "f: services.web.privileged: expected true or false");
    }
}
