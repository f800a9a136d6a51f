//! Resources: `deploy.resources` (the memory limit and GPU device reservations) and the
//! shorter `gpus:`; other `deploy` keys are reported as not acted on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::values::{read_mapping, scalar, string_list, Key, OtherKeys};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuRequest {
    pub driver: String,
    /// -1 for all.
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<String>,
}

impl GpuRequest {
    /// `gpus: all`.
    fn all() -> GpuRequest {
        GpuRequest {
            driver: "nvidia".into(),
            count: Some(-1),
            device_ids: vec![],
            capabilities: vec!["gpu".into()],
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDeploy {
    resources: Key,
    #[serde(flatten)]
    other: OtherKeys,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawResources {
    limits: Key,
    reservations: Key,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLimits {
    memory: Key,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawReservations {
    devices: Key,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDevice {
    driver: Key,
    count: Key,
    device_ids: Key,
    capabilities: Key,
}

/// `deploy:` (a mapping; anything else is ignored): the memory limit and the GPU requests.
pub(super) fn parse_deploy(
    v: Option<&Value>,
    service: &str,
    cx: &mut Ctx,
) -> Result<(Option<i64>, Vec<GpuRequest>), ProjectError> {
    let Some(deploy) = v.and_then(read_mapping::<RawDeploy>) else {
        return Ok((None, Vec::new()));
    };
    let at = |k: &str| format!("services.{service}.deploy.{k}");
    cx.note_not_acted_on(
        &format!("service {service}"),
        "deploy.",
        deploy.other.keys(),
    );
    let resources: RawResources = deploy
        .resources
        .get()
        .and_then(read_mapping)
        .unwrap_or_default();
    let memory = resources
        .limits
        .get()
        .and_then(read_mapping::<RawLimits>)
        .and_then(|l| l.memory.get().and_then(scalar));
    let memory_limit = match memory {
        Some(mem) => {
            Some(parse_bytes(&mem).map_err(|e| cx.bad_value(&at("resources.limits.memory"), e))?)
        }
        None => None,
    };
    let devices = resources
        .reservations
        .get()
        .and_then(read_mapping::<RawReservations>)
        .and_then(|r| r.devices.get().and_then(Value::as_array).cloned())
        .unwrap_or_default();
    let gpus = devices
        .iter()
        .map(|d| parse_device_request(d, &at("resources.reservations.devices"), cx, false))
        .collect::<Result<_, _>>()?;
    Ok((memory_limit, gpus))
}

/// `gpus: all` or a list of device requests (`capabilities` defaults to `[gpu]`).
pub(super) fn parse_gpus(
    v: Option<&Value>,
    at: &str,
    cx: &Ctx,
) -> Result<Vec<GpuRequest>, ProjectError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(all)) if all == "all" => Ok(vec![GpuRequest::all()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| parse_device_request(d, at, cx, true))
            .collect(),
        Some(_) => Err(cx.err(at, "expected `all` or a list of device requests")),
    }
}

/// One device request; `implicit_gpu` (the `gpus:` key) adds the `gpu` capability. Neither a
/// count nor device ids means all devices.
fn parse_device_request(
    d: &Value,
    at: &str,
    cx: &Ctx,
    implicit_gpu: bool,
) -> Result<GpuRequest, ProjectError> {
    let raw: RawDevice =
        read_mapping(d).ok_or_else(|| cx.err(at, "expected a device request mapping"))?;
    let count = match raw.count.get() {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "all" => Some(-1),
        Some(v) => Some(
            scalar(v)
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| cx.bad_value(at, "`count` must be a number or `all`"))?,
        ),
    };
    let device_ids = match raw.device_ids.get() {
        Some(v) => string_list(v, at, cx, false)?,
        None => vec![],
    };
    if count.is_some() && !device_ids.is_empty() {
        return Err(cx.err(
            at,
            "`count` and `device_ids` are mutually exclusive; keep one",
        ));
    }
    let mut capabilities = match raw.capabilities.get() {
        Some(v) => string_list(v, at, cx, false)?,
        None if implicit_gpu => vec![],
        None => return Err(cx.err(at, "`capabilities` is required (e.g. [gpu])")),
    };
    if implicit_gpu && !capabilities.iter().any(|c| c == "gpu") {
        capabilities.push("gpu".into());
    }
    Ok(GpuRequest {
        driver: raw
            .driver
            .get()
            .and_then(scalar)
            .unwrap_or_else(|| "nvidia".into()),
        count: if count.is_none() && device_ids.is_empty() {
            Some(-1)
        } else {
            count
        },
        device_ids,
        capabilities,
    })
}

/// `512m`, `2g`, `1024` (bytes), `1.5gb`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1024f64),
        Some('m') => (&t[..t.len() - 1], 1024f64 * 1024.0),
        Some('g') => (&t[..t.len() - 1], 1024f64 * 1024.0 * 1024.0),
        _ => (t, 1f64),
    };
    match num.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 && n * mult < i64::MAX as f64 => Ok((n * mult) as i64),
        _ => Err(format!("invalid size {s:?}: use e.g. 512m or 2g")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("2g").unwrap(), 2 * 1024 * 1024 * 1024);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("inf").is_err());
        assert!(parse_bytes("-1g").is_err());
        assert!(parse_bytes("1e300g").is_err());
    }

    type Deployed = Result<(Option<i64>, Vec<GpuRequest>), ProjectError>;

    /// The memory limit and GPUs of `deploy: v`, and the notes.
    fn deploy(v: Value) -> (Deployed, Vec<String>) {
        let mut cx = Ctx::new("f", None);
        let r = parse_deploy(Some(&v), "pose", &mut cx);
        (r, cx.notes)
    }

    #[test]
    fn deploy_reads_the_memory_limit_and_gpu_reservations() {
        let (r, notes) = deploy(json!({
            "mode": "replicated",
            "resources": {
                "limits": {"memory": "8g", "cpus": 2},
                "reservations": {"devices": [{"capabilities": ["gpu"], "device_ids": ["0", "1"]}]}
            }
        }));
        let (memory, gpus) = r.unwrap();
        assert_eq!(memory, Some(8 << 30));
        assert_eq!(gpus[0].device_ids, ["0", "1"]);
        assert_eq!((gpus[0].count, gpus[0].driver.as_str()), (None, "nvidia"));
        assert_eq!(
            notes,
            ["service pose: key `deploy.mode` is not acted on by devstack"]
        );
        assert_eq!(deploy(json!(5)).0.unwrap(), (None, vec![]));
    }

    #[test]
    fn deploy_mistakes_are_named() {
        let e = |v| deploy(v).0.unwrap_err().0;
        assert_eq!(
            e(json!({"resources": {"limits": {"memory": "lots"}}})),
            "f: services.pose.deploy.resources.limits.memory: invalid size \"lots\": use e.g. 512m or 2g"
        );
        assert_eq!(
            e(json!({"resources": {"reservations": {"devices": [{"count": 1}]}}})),
            "f: services.pose.deploy.resources.reservations.devices: `capabilities` is required (e.g. [gpu])"
        );
        assert_eq!(
            e(json!({"resources": {"reservations": {"devices": [{"count": 1, "device_ids": ["0"], "capabilities": ["gpu"]}]}}})),
            "f: services.pose.deploy.resources.reservations.devices: `count` and `device_ids` are mutually exclusive; keep one"
        );
    }

    #[test]
    fn gpus_all_or_requests_with_the_gpu_capability() {
        let cx = Ctx::new("f", None);
        assert_eq!(
            parse_gpus(Some(&json!("all")), "services.pose.gpus", &cx).unwrap(),
            [GpuRequest::all()]
        );
        let g = parse_gpus(
            Some(&json!([{"count": 2, "capabilities": ["utility"]}])),
            "services.pose.gpus",
            &cx,
        )
        .unwrap();
        assert_eq!(g[0].count, Some(2));
        assert_eq!(g[0].capabilities, ["utility", "gpu"]);
        let e = parse_gpus(Some(&json!("some")), "services.pose.gpus", &cx).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.pose.gpus: expected `all` or a list of device requests"
        );
        let e = parse_gpus(Some(&json!([{"count": "x"}])), "services.pose.gpus", &cx).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.pose.gpus: `count` must be a number or `all`"
        );
    }
}
