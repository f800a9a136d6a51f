//! Resources: memory, CPU, processes, block I/O, shared memory, storage options and devices
//! (host paths, and CDI names such as `nvidia.com/gpu=all`) — from the service's own keys,
//! with `deploy.resources` on top as Compose applies it.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::values::{boolean, bytes, integer, number, scalar, string_map_or_empty, strings, text};
use super::Ctx;
use crate::errors::ProjectError;
use crate::project::duration;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Resources {
    pub memory: Option<i64>,
    /// `memswap_limit` (-1: unlimited swap).
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub oom_score_adj: Option<i64>,
    /// `cpus` in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpuset: Option<String>,
    pub cpu_count: Option<i64>,
    /// Percent × 100, as the engine takes it (Windows).
    pub cpu_percent: Option<i64>,
    pub cpu_rt_period: Option<i64>,
    pub cpu_rt_runtime: Option<i64>,
    pub pids_limit: Option<i64>,
    pub shm_size: Option<i64>,
    pub storage_opt: IndexMap<String, String>,
    pub blkio: Blkio,
    pub devices: Vec<Device>,
    /// Devices named by CDI (`vendor/class=name`): a device request with the `cdi` driver.
    pub cdi_devices: Vec<String>,
    pub device_cgroup_rules: Vec<String>,
    pub cgroup_parent: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Blkio {
    pub weight: Option<u16>,
    pub weight_device: Vec<(String, u16)>,
    pub device_read_bps: Vec<(String, i64)>,
    pub device_read_iops: Vec<(String, i64)>,
    pub device_write_bps: Vec<(String, i64)>,
    pub device_write_iops: Vec<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub source: String,
    pub target: String,
    pub permissions: String,
}

pub(super) fn parse_resources(
    m: &Map<String, Value>,
    name: &str,
    cx: &Ctx,
) -> Result<Resources, ProjectError> {
    let at = |k: &str| format!("services.{name}.{k}");
    let (devices, cdi_devices) = devices(m.get("devices"), &at("devices"), cx)?;
    Ok(Resources {
        memory: bytes(m.get("mem_limit"), &at("mem_limit"), cx)?,
        memory_swap: swap(m.get("memswap_limit"), &at("memswap_limit"), cx)?,
        memory_reservation: bytes(m.get("mem_reservation"), &at("mem_reservation"), cx)?,
        memory_swappiness: in_range(m.get("mem_swappiness"), &at("mem_swappiness"), 0, 100, cx)?,
        oom_kill_disable: boolean(m.get("oom_kill_disable"), &at("oom_kill_disable"), cx)?,
        oom_score_adj: in_range(
            m.get("oom_score_adj"),
            &at("oom_score_adj"),
            -1000,
            1000,
            cx,
        )?,
        nano_cpus: cpus(m.get("cpus"), &at("cpus"), cx)?,
        cpu_shares: integer(m.get("cpu_shares"), &at("cpu_shares"), cx)?,
        cpu_quota: micros(m.get("cpu_quota"), &at("cpu_quota"), cx)?,
        cpu_period: micros(m.get("cpu_period"), &at("cpu_period"), cx)?,
        cpuset: text(m.get("cpuset")),
        cpu_count: integer(m.get("cpu_count"), &at("cpu_count"), cx)?,
        cpu_percent: number(m.get("cpu_percent"), &at("cpu_percent"), cx)?
            .map(|p| (p * 100.0) as i64),
        cpu_rt_period: micros(m.get("cpu_rt_period"), &at("cpu_rt_period"), cx)?,
        cpu_rt_runtime: micros(m.get("cpu_rt_runtime"), &at("cpu_rt_runtime"), cx)?,
        pids_limit: integer(m.get("pids_limit"), &at("pids_limit"), cx)?,
        shm_size: bytes(m.get("shm_size"), &at("shm_size"), cx)?,
        storage_opt: match m.get("storage_opt") {
            None | Some(Value::Null) => IndexMap::new(),
            Some(v) => string_map_or_empty(v, &at("storage_opt"), cx)?,
        },
        blkio: blkio(m.get("blkio_config"), &at("blkio_config"), cx)?,
        devices,
        cdi_devices,
        device_cgroup_rules: strings(m.get("device_cgroup_rules"), &at("device_cgroup_rules"), cx)?,
        cgroup_parent: text(m.get("cgroup_parent")),
    })
}

/// `cpus: 1.5` in billionths.
pub(super) fn cpus(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<i64>, ProjectError> {
    Ok(number(v, at, cx)?.map(|c| (c * 1e9).round() as i64))
}

/// `memswap_limit`: a size, or -1 for unlimited.
fn swap(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<i64>, ProjectError> {
    if v.and_then(scalar).as_deref() == Some("-1") {
        return Ok(Some(-1));
    }
    bytes(v, at, cx)
}

fn in_range(
    v: Option<&Value>,
    at: &str,
    lo: i64,
    hi: i64,
    cx: &Ctx,
) -> Result<Option<i64>, ProjectError> {
    match integer(v, at, cx)? {
        Some(n) if !(lo..=hi).contains(&n) => {
            Err(cx.bad_value(at, format!("{n} is out of range: use {lo} to {hi}")))
        }
        other => Ok(other),
    }
}

/// Microseconds: a number, or a duration (`cpu_rt_runtime: 400ms`).
fn micros(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Option<i64>, ProjectError> {
    match v {
        Some(Value::String(s)) if s.trim().parse::<i64>().is_err() => duration::parse(s)
            .map(|d| Some(d.as_micros() as i64))
            .map_err(|e| cx.bad_value(at, e)),
        _ => integer(v, at, cx),
    }
}

/// `devices:` short (`/dev/x[:/dev/y[:rwm]]`, a CDI name) or long (`{source, target,
/// permissions}`).
fn devices(
    v: Option<&Value>,
    at: &str,
    cx: &Ctx,
) -> Result<(Vec<Device>, Vec<String>), ProjectError> {
    let mut paths = Vec::new();
    let mut cdi = Vec::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok((paths, cdi));
    };
    let items = v
        .as_array()
        .ok_or_else(|| cx.err(at, "expected a list of devices"))?;
    for item in items {
        let d = match item {
            Value::Object(o) => Device {
                source: text(o.get("source"))
                    .ok_or_else(|| cx.err(at, "a device needs `source`"))?,
                target: text(o.get("target"))
                    .or_else(|| text(o.get("source")))
                    .unwrap_or_default(),
                permissions: text(o.get("permissions")).unwrap_or_else(|| "rwm".into()),
            },
            other => {
                let s = scalar(other)
                    .ok_or_else(|| cx.err(at, "expected a device string or mapping"))?;
                if is_cdi_name(&s) {
                    cdi.push(s);
                    continue;
                }
                short_device(&s).map_err(|e| cx.bad_value(at, e))?
            }
        };
        paths.push(d);
    }
    Ok((paths, cdi))
}

/// A CDI device name: `vendor.com/class=name`.
fn is_cdi_name(s: &str) -> bool {
    let Some((kind, name)) = s.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return false;
    };
    !vendor.is_empty() && !class.is_empty() && !name.is_empty() && !s.starts_with('/')
}

/// Why a short device (`HOST[:CONTAINER[:PERMISSIONS]]`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("invalid device {0:?}: permissions are r, w and m (e.g. rwm)")]
    Permissions(String),
    #[error("invalid device {0:?}: write HOST[:CONTAINER[:PERMISSIONS]]")]
    Shape(String),
    #[error("invalid device {0:?}: the host path is empty")]
    EmptyHostPath(String),
}

fn short_device(s: &str) -> Result<Device, DeviceError> {
    let parts: Vec<&str> = s.split(':').collect();
    let perms = |p: &str| {
        if !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            Ok(p.to_string())
        } else {
            Err(DeviceError::Permissions(s.into()))
        }
    };
    let (source, target, permissions) = match parts.as_slice() {
        [src] => (*src, *src, "rwm".to_string()),
        [src, p] if !p.starts_with('/') => (*src, *src, perms(p)?),
        [src, dst] => (*src, *dst, "rwm".to_string()),
        [src, dst, p] => (*src, *dst, perms(p)?),
        _ => return Err(DeviceError::Shape(s.into())),
    };
    if source.is_empty() {
        return Err(DeviceError::EmptyHostPath(s.into()));
    }
    Ok(Device {
        source: source.into(),
        target: target.into(),
        permissions,
    })
}

/// `blkio_config: {weight, weight_device, device_read_bps, …}`.
fn blkio(v: Option<&Value>, at: &str, cx: &Ctx) -> Result<Blkio, ProjectError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Blkio::default());
    };
    let m = v
        .as_object()
        .ok_or_else(|| cx.err(at, "expected a mapping"))?;
    let weight = |v: Option<&Value>, here: &str| -> Result<Option<u16>, ProjectError> {
        match integer(v, here, cx)? {
            Some(w) if !(10..=1000).contains(&w) => {
                Err(cx.bad_value(here, format!("weight {w} is out of range: use 10 to 1000")))
            }
            w => Ok(w.map(|w| w as u16)),
        }
    };
    let devices = |key: &str, rate_is_bytes: bool| -> Result<Vec<(String, i64)>, ProjectError> {
        let here = format!("{at}.{key}");
        let Some(items) = m.get(key).and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .map(|d| {
                let path =
                    text(d.get("path")).ok_or_else(|| cx.err(&here, "each device needs `path`"))?;
                let rate = if rate_is_bytes {
                    bytes(d.get("rate"), &here, cx)?
                } else {
                    integer(d.get("rate"), &here, cx)?
                };
                Ok((
                    path,
                    rate.ok_or_else(|| cx.err(&here, "each device needs `rate`"))?,
                ))
            })
            .collect()
    };
    let weight_device = match m.get("weight_device").and_then(Value::as_array) {
        None => Vec::new(),
        Some(items) => items
            .iter()
            .map(|d| {
                let here = format!("{at}.weight_device");
                let path =
                    text(d.get("path")).ok_or_else(|| cx.err(&here, "each device needs `path`"))?;
                let w = weight(d.get("weight"), &here)?
                    .ok_or_else(|| cx.err(&here, "each device needs `weight`"))?;
                Ok((path, w))
            })
            .collect::<Result<_, ProjectError>>()?,
    };
    Ok(Blkio {
        weight: weight(m.get("weight"), &format!("{at}.weight"))?,
        weight_device,
        device_read_bps: devices("device_read_bps", true)?,
        device_read_iops: devices("device_read_iops", false)?,
        device_write_bps: devices("device_write_bps", true)?,
        device_write_iops: devices("device_write_iops", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(v: Value) -> Result<Resources, ProjectError> {
        let cx = Ctx::new("f", None);
        parse_resources(v.as_object().unwrap(), "web", &cx)
    }

    #[test]
    fn memory_cpu_and_limits() {
        let r = res(json!({
            "mem_limit": "1g", "memswap_limit": -1, "mem_reservation": "512m", "mem_swappiness": 10,
            "oom_kill_disable": true, "oom_score_adj": -500, "cpus": 1.5, "cpu_shares": 512,
            "cpu_quota": 50000, "cpu_period": "100ms", "cpuset": "0-1", "pids_limit": 100,
            "shm_size": "64m", "storage_opt": {"size": "1G"}, "cgroup_parent": "/x",
            "device_cgroup_rules": ["c 1:3 mr"]
        }))
        .unwrap();
        assert_eq!(r.memory, Some(1 << 30));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.memory_reservation, Some(512 << 20));
        assert_eq!(r.nano_cpus, Some(1_500_000_000));
        assert_eq!(r.cpu_period, Some(100_000));
        assert_eq!(r.shm_size, Some(64 << 20));
        assert_eq!(r.storage_opt["size"], "1G");
        assert_eq!(r.oom_score_adj, Some(-500));
    }

    #[test]
    fn devices_and_cdi_names() {
        let r = res(json!({"devices": ["/dev/fuse", "/dev/a:/dev/b", "/dev/c:/dev/d:r", "/dev/e:rw", {"source": "/dev/f", "target": "/dev/g", "permissions": "m"}, "nvidia.com/gpu=all"]})).unwrap();
        let got: Vec<_> = r
            .devices
            .iter()
            .map(|d| (d.source.as_str(), d.target.as_str(), d.permissions.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/dev/fuse", "/dev/fuse", "rwm"),
                ("/dev/a", "/dev/b", "rwm"),
                ("/dev/c", "/dev/d", "r"),
                ("/dev/e", "/dev/e", "rw"),
                ("/dev/f", "/dev/g", "m"),
            ]
        );
        assert_eq!(r.cdi_devices, ["nvidia.com/gpu=all"]);
        let e = res(json!({"devices": ["/dev/a:/dev/b:xyz"]})).unwrap_err();
        assert!(e.0.contains("permissions are r, w and m"), "{e}");
    }

    #[test]
    fn blkio() {
        let r = res(json!({"blkio_config": {"weight": 300, "weight_device": [{"path": "/dev/sda", "weight": 400}], "device_read_bps": [{"path": "/dev/sda", "rate": "12mb"}], "device_write_iops": [{"path": "/dev/sda", "rate": 30}]}})).unwrap();
        assert_eq!(r.blkio.weight, Some(300));
        assert_eq!(r.blkio.weight_device, [("/dev/sda".to_string(), 400)]);
        assert_eq!(
            r.blkio.device_read_bps,
            [("/dev/sda".to_string(), 12 << 20)]
        );
        assert_eq!(r.blkio.device_write_iops, [("/dev/sda".to_string(), 30)]);
        let e = res(json!({"blkio_config": {"weight": 5}})).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.blkio_config.weight: weight 5 is out of range: use 10 to 1000"
        );
    }

    #[test]
    fn out_of_range_values_are_named() {
        let e = res(json!({"mem_swappiness": 101})).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.mem_swappiness: 101 is out of range: use 0 to 100"
        );
        let e = res(json!({"mem_limit": "lots"})).unwrap_err();
        assert_eq!(
            e.0,
            "f: services.web.mem_limit: invalid size \"lots\": use e.g. 512m or 2g"
        );
    }
}
