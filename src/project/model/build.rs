//! `build:`: a context path, or a mapping with context, dockerfile, args and target.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{read_mapping, scalar, string_map_or_empty, Key, OtherKeys};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Build {
    pub context: PathBuf,
    pub dockerfile: String,
    pub args: IndexMap<String, String>,
    pub target: Option<String>,
}

/// The long syntax; any other key is reported as not acted on.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawBuild {
    context: Key,
    dockerfile: Key,
    args: Key,
    target: Key,
    #[serde(flatten)]
    other: OtherKeys,
}

pub(super) fn parse_build(
    v: Option<&Value>,
    service: &str,
    cx: &mut Ctx,
) -> Result<Option<Build>, ProjectError> {
    let at = format!("services.{service}.build");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(context)) => Ok(Some(Build {
            context: PathBuf::from(context),
            dockerfile: "Dockerfile".into(),
            ..Default::default()
        })),
        Some(spec) => match read_mapping::<RawBuild>(spec) {
            Some(raw) => long_syntax(raw, &at, service, cx).map(Some),
            None => Err(cx.err(&at, "expected a path or a mapping with `context:`")),
        },
    }
}

fn long_syntax(
    raw: RawBuild,
    at: &str,
    service: &str,
    cx: &mut Ctx,
) -> Result<Build, ProjectError> {
    let args = match raw.args.get() {
        Some(a) => string_map_or_empty(a, &format!("{at}.args"), cx)?,
        None => IndexMap::new(),
    };
    cx.note_not_acted_on(&format!("service {service}"), "build.", raw.other.keys());
    Ok(Build {
        context: PathBuf::from(
            raw.context
                .get()
                .and_then(scalar)
                .unwrap_or_else(|| ".".into()),
        ),
        dockerfile: raw
            .dockerfile
            .get()
            .and_then(scalar)
            .unwrap_or_else(|| "Dockerfile".into()),
        args,
        target: raw.target.get().and_then(scalar),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn build(v: Value) -> (Result<Option<Build>, ProjectError>, Vec<String>) {
        let mut cx = Ctx::new("f", None);
        let b = parse_build(Some(&v), "web", &mut cx);
        (b, cx.notes)
    }

    #[test]
    fn a_path_is_the_context_with_the_default_dockerfile() {
        let b = build(json!("/p/web")).0.unwrap().unwrap();
        assert_eq!(
            (b.context, b.dockerfile.as_str()),
            (PathBuf::from("/p/web"), "Dockerfile")
        );
        assert!(build(Value::Null).0.unwrap().is_none());
    }

    #[test]
    fn the_long_syntax_reads_args_and_reports_other_keys() {
        let (b, notes) = build(json!({
            "context": "/p/web", "dockerfile": "Dev.Dockerfile", "target": "dev",
            "args": ["A=1", "B"], "ssh": ["default"]
        }));
        let b = b.unwrap().unwrap();
        assert_eq!(b.dockerfile, "Dev.Dockerfile");
        assert_eq!(b.target.as_deref(), Some("dev"));
        assert_eq!(b.args["A"], "1");
        assert_eq!(b.args["B"], "");
        assert_eq!(
            notes,
            ["service web: key `build.ssh` is not acted on by devstack"]
        );
        let b = build(json!({})).0.unwrap().unwrap();
        assert_eq!(b.context, PathBuf::from("."));
    }

    #[test]
    fn anything_else_is_an_error_at_its_path() {
        let e = build(json!(5)).0.unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.build: expected a path or a mapping with `context:`"
        );
        let e = build(json!({"args": {"A": [1]}})).0.unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.build.args.A: expected a string, number or boolean"
        );
    }
}
