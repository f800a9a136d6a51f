//! `depends_on:` (of a service, its `x-devstack`, or a host process): a list of names, or a
//! mapping with condition, `restart` and `required`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{read_mapping, scalar, truthy, Key};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub condition: Condition,
    pub restart: bool,
    pub required: bool,
}

/// One dependency in the mapping form (a value that is not a mapping takes the defaults).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDependency {
    condition: Key,
    restart: Key,
    required: Key,
}

pub(super) fn parse_depends(
    v: &Value,
    at: &str,
    cx: &Ctx,
) -> Result<IndexMap<String, Dependency>, ProjectError> {
    let mut out = IndexMap::new();
    match v {
        Value::Array(items) => {
            for i in items {
                let n = scalar(i).ok_or_else(|| cx.err(at, "expected service names"))?;
                out.insert(
                    n,
                    Dependency {
                        condition: Condition::ServiceStarted,
                        restart: false,
                        required: true,
                    },
                );
            }
        }
        Value::Object(m) => {
            for (n, spec) in m {
                out.insert(n.clone(), dependency(spec, &format!("{at}.{n}"), cx)?);
            }
        }
        Value::Null => {}
        _ => return Err(cx.err(at, "expected a list or mapping")),
    }
    Ok(out)
}

fn dependency(spec: &Value, at: &str, cx: &Ctx) -> Result<Dependency, ProjectError> {
    let raw: RawDependency = read_mapping(spec).unwrap_or_default();
    let condition = match raw.condition.get().and_then(scalar).as_deref() {
        None | Some("service_started") => Condition::ServiceStarted,
        Some("service_healthy") => Condition::ServiceHealthy,
        Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
        Some(other) => {
            return Err(cx.err(
                &format!("{at}.condition"),
                format!("unknown condition {other:?}: use service_started, service_healthy or service_completed_successfully"),
            ))
        }
    };
    Ok(Dependency {
        condition,
        restart: raw.restart.get().is_some_and(truthy),
        required: raw.required.get().is_none_or(truthy),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deps(v: Value) -> Result<IndexMap<String, Dependency>, ProjectError> {
        parse_depends(&v, "services.web.depends_on", &Ctx::new("f", None))
    }

    #[test]
    fn a_list_means_started_and_required() {
        let d = deps(json!(["db", "cache"])).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["db", "cache"]);
        assert!(d
            .values()
            .all(|d| d.condition == Condition::ServiceStarted && d.required && !d.restart));
    }

    #[test]
    fn a_mapping_reads_condition_restart_and_required() {
        let d = deps(json!({
            "db": {"condition": "service_healthy", "restart": true},
            "init": {"condition": "service_completed_successfully", "required": false},
            "cache": null,
        }))
        .unwrap();
        assert_eq!(d["db"].condition, Condition::ServiceHealthy);
        assert!(d["db"].restart && d["db"].required);
        assert!(!d["init"].required);
        assert_eq!(d["cache"].condition, Condition::ServiceStarted);
    }

    #[test]
    fn an_unknown_condition_is_named_at_its_path() {
        let e = deps(json!({"db": {"condition": "ready"}})).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.depends_on.db.condition: unknown condition \"ready\": use service_started, service_healthy or service_completed_successfully"
        );
        let e = deps(json!("db")).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.depends_on: expected a list or mapping"
        );
    }
}
