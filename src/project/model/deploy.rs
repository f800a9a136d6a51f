//! `deploy:` as Compose applies it to containers — replicas, `resources` (memory, CPU and
//! process limits, the memory reservation, device requests such as GPUs) and
//! `restart_policy` — and the shorter `gpus:`. The Swarm-only keys (`mode`, `placement`,
//! `update_config`, `rollback_config`, `endpoint_mode`, `labels`, CPU reservations) are
//! accepted and, as by Compose, not applied.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resources::cpus;
use super::values::{
    bytes, check_keys, integer, read_mapping, scalar, string_list, string_map_or_empty, text, Key,
};
use super::Ctx;
use crate::errors::ProjectError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuRequest {
    pub driver: String,
    /// -1 for all.
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<String>,
    pub options: IndexMap<String, String>,
}

impl GpuRequest {
    /// `gpus: all`.
    fn all() -> GpuRequest {
        GpuRequest {
            driver: "nvidia".into(),
            count: Some(-1),
            device_ids: vec![],
            capabilities: vec!["gpu".into()],
            options: IndexMap::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawDevice {
    driver: Key,
    count: Key,
    device_ids: Key,
    capabilities: Key,
    options: Key,
}

/// What `deploy:` asks of the containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deploy {
    pub replicas: Option<u32>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub devices: Vec<GpuRequest>,
    /// `restart_policy` as the engine's policy (`on-failure:3`), which wins over `restart:`.
    pub restart: Option<String>,
}

const DEPLOY_KEYS: &[&str] = &[
    "mode",
    "replicas",
    "labels",
    "resources",
    "restart_policy",
    "placement",
    "update_config",
    "rollback_config",
    "endpoint_mode",
];

/// `deploy:` (a mapping).
pub(super) fn parse_deploy(
    v: Option<&Value>,
    service: &str,
    cx: &Ctx,
) -> Result<Deploy, ProjectError> {
    let at = |k: &str| format!("services.{service}.deploy.{k}");
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Deploy::default());
    };
    let m = v
        .as_object()
        .ok_or_else(|| cx.err(&format!("services.{service}.deploy"), "expected a mapping"))?;
    check_keys(m, DEPLOY_KEYS, &format!("services.{service}.deploy"), cx)?;
    if let Some(mode) = text(m.get("mode")) {
        if !matches!(
            mode.as_str(),
            "replicated" | "global" | "replicated-job" | "global-job"
        ) {
            return Err(cx.bad_value(
                &at("mode"),
                format!("unknown mode {mode:?}: use replicated or global"),
            ));
        }
    }
    if let Some(l) = m.get("labels").filter(|l| !l.is_null()) {
        string_map_or_empty(l, &at("labels"), cx)?;
    }
    let mut d = Deploy {
        replicas: replicas(m.get("replicas"), &at("replicas"), cx)?,
        restart: restart_policy(m.get("restart_policy"), &at("restart_policy"), cx)?,
        ..Deploy::default()
    };
    if let Some(r) = m.get("resources").and_then(Value::as_object) {
        check_keys(r, &["limits", "reservations"], &at("resources"), cx)?;
        if let Some(l) = r.get("limits").and_then(Value::as_object) {
            let here = |k: &str| at(&format!("resources.limits.{k}"));
            check_keys(
                l,
                &["cpus", "memory", "pids", "devices"],
                &at("resources.limits"),
                cx,
            )?;
            d.memory = bytes(l.get("memory"), &here("memory"), cx)?;
            d.nano_cpus = cpus(l.get("cpus"), &here("cpus"), cx)?;
            d.pids = integer(l.get("pids"), &here("pids"), cx)?;
        }
        if let Some(res) = r.get("reservations").and_then(Value::as_object) {
            let here = |k: &str| at(&format!("resources.reservations.{k}"));
            check_keys(
                res,
                &["cpus", "memory", "pids", "devices", "generic_resources"],
                &at("resources.reservations"),
                cx,
            )?;
            d.memory_reservation = bytes(res.get("memory"), &here("memory"), cx)?;
            cpus(res.get("cpus"), &here("cpus"), cx)?;
            if let Some(devs) = res.get("devices").and_then(Value::as_array) {
                d.devices = devs
                    .iter()
                    .map(|dev| parse_device_request(dev, &here("devices"), cx, false))
                    .collect::<Result<_, _>>()?;
            }
        }
    }
    Ok(d)
}

/// `replicas:` (also the service's `scale:`): a count of containers.
pub(super) fn replicas(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<u32>, ProjectError> {
    match integer(v, at, cx)? {
        Some(n) if !(0..=1000).contains(&n) => {
            Err(cx.bad_value(at, format!("{n} containers is out of range: use 0 to 1000")))
        }
        n => Ok(n.map(|n| n as u32)),
    }
}

/// `restart_policy: {condition, max_attempts}` as the engine's policy (Compose maps
/// `any` to `always` and `none` to `no`; `delay` and `window` are Swarm's).
fn restart_policy(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<String>, ProjectError> {
    let Some(m) = v.and_then(Value::as_object) else {
        return Ok(None);
    };
    check_keys(m, &["condition", "delay", "max_attempts", "window"], at, cx)?;
    let condition = match text(m.get("condition")).as_deref() {
        None | Some("any") | Some("always") => "always",
        Some("none") | Some("no") => "no",
        Some("on-failure") => "on-failure",
        Some("unless-stopped") => "unless-stopped",
        Some(other) => {
            return Err(cx.bad_value(
                &format!("{at}.condition"),
                format!("unknown condition {other:?}: use none, on-failure or any"),
            ))
        }
    };
    let attempts = integer(m.get("max_attempts"), &format!("{at}.max_attempts"), cx)?;
    Ok(Some(match (condition, attempts) {
        ("on-failure", Some(n)) if n > 0 => format!("on-failure:{n}"),
        (c, _) => c.to_string(),
    }))
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
    let options = match raw.options.get() {
        Some(o) if !o.is_null() => string_map_or_empty(o, &format!("{at}.options"), cx)?,
        _ => IndexMap::new(),
    };
    Ok(GpuRequest {
        options,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes() {
        use super::super::values::parse_bytes;
        assert_eq!(parse_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("2g").unwrap(), 2 * 1024 * 1024 * 1024);
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("1t").unwrap(), 1 << 40);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("inf").is_err());
        assert!(parse_bytes("-1g").is_err());
        assert!(parse_bytes("1e300g").is_err());
    }

    fn deploy(v: Value) -> Result<Deploy, ProjectError> {
        let cx = Ctx::new("f", None);
        parse_deploy(Some(&v), "pose", &cx)
    }

    #[test]
    fn deploy_reads_what_compose_applies() {
        let d = deploy(json!({
            "mode": "replicated",
            "replicas": 3,
            "placement": {"constraints": ["node.role==manager"]},
            "restart_policy": {"condition": "on-failure", "max_attempts": 3, "delay": "5s"},
            "resources": {
                "limits": {"memory": "8g", "cpus": "2.5", "pids": 100},
                "reservations": {"memory": "1g", "devices": [{"capabilities": ["gpu"], "device_ids": ["0", "1"]}]}
            }
        }))
        .unwrap();
        assert_eq!(d.replicas, Some(3));
        assert_eq!(d.memory, Some(8 << 30));
        assert_eq!(d.nano_cpus, Some(2_500_000_000));
        assert_eq!(d.pids, Some(100));
        assert_eq!(d.memory_reservation, Some(1 << 30));
        assert_eq!(d.restart.as_deref(), Some("on-failure:3"));
        assert_eq!(d.devices[0].device_ids, ["0", "1"]);
        assert_eq!(
            (d.devices[0].count, d.devices[0].driver.as_str()),
            (None, "nvidia")
        );
        assert_eq!(
            deploy(json!({"restart_policy": {"condition": "any"}}))
                .unwrap()
                .restart
                .as_deref(),
            Some("always")
        );
    }

    #[test]
    fn deploy_mistakes_are_named() {
        let e = |v| deploy(v).unwrap_err().0;
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
        assert_eq!(
            e(json!({"replica": 2})),
            "f: services.pose.deploy.replica: `replica` is not a Compose key here: did you mean `replicas`?"
        );
        assert_eq!(e(json!(5)), "f: services.pose.deploy: expected a mapping");
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
