//! The host side of a container as Compose v2 sets it (`getCreateConfigs`,
//! `getDeployResources`): resources (memory, CPU, processes, block I/O, devices and device
//! requests, ulimits), security (capabilities, privileged, read-only root, security options,
//! groups, sysctls, user namespace), namespaces, DNS, restart policy and logging.

use std::collections::HashMap;

use bollard::models::{
    DeviceMapping, DeviceRequest, HostConfig, HostConfigCgroupnsModeEnum, HostConfigIsolationEnum,
    HostConfigLogConfig, ResourcesBlkioWeightDevice, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum, ThrottleDevice,
};

use super::network::{resolve_shared, Refs};
use crate::project::model::{GpuRequest, Logging, Service};
use crate::project::Project;

/// Everything of the host config but ports, mounts and the network mode, which the caller
/// adds.
pub fn host_config(project: &Project, svc: &Service, refs: &Refs) -> HostConfig {
    let c = &svc.container;
    HostConfig {
        restart_policy: svc.restart.as_deref().map(restart_policy),
        log_config: svc.logging.as_ref().map(log_config),
        init: svc.init,
        extra_hosts: list(&svc.extra_hosts),
        // Namespaces and the rest of the container.
        ipc_mode: resolve_shared(project, c.ipc.as_deref(), refs),
        pid_mode: resolve_shared(project, c.pid.as_deref(), refs),
        uts_mode: c.uts.clone(),
        cgroupns_mode: c.cgroup.as_deref().and_then(|m| match m {
            "host" => Some(HostConfigCgroupnsModeEnum::HOST),
            "private" => Some(HostConfigCgroupnsModeEnum::PRIVATE),
            _ => None,
        }),
        runtime: c.runtime.clone(),
        isolation: c.isolation.as_deref().and_then(|i| match i {
            "default" => Some(HostConfigIsolationEnum::DEFAULT),
            "process" => Some(HostConfigIsolationEnum::PROCESS),
            "hyperv" => Some(HostConfigIsolationEnum::HYPERV),
            _ => None,
        }),
        annotations: map(&c.annotations),
        dns: list(&svc.networking.dns),
        dns_search: list(&svc.networking.dns_search),
        dns_options: list(&svc.networking.dns_opt),
        volume_driver: svc.storage.volume_driver.clone(),
        volumes_from: (!svc.storage.volumes_from.is_empty())
            .then(|| volumes_from(project, &svc.storage.volumes_from, refs)),
        tmpfs: super::mounts::tmpfs(svc),
        ..with_security(svc, resources(svc))
    }
}

/// An empty map or list is left out, as Compose leaves it.
fn map(m: &indexmap::IndexMap<String, String>) -> Option<HashMap<String, String>> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn list(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// Memory, CPU, processes, block I/O, devices, device requests (GPUs) and ulimits.
fn resources(svc: &Service) -> HostConfig {
    let r = &svc.resources;
    let blk = &r.blkio;
    let device_requests = device_requests(&svc.gpus, &r.cdi_devices);
    HostConfig {
        memory: r.memory,
        memory_swap: r.memory_swap,
        memory_reservation: r.memory_reservation,
        memory_swappiness: r.memory_swappiness,
        oom_kill_disable: r.oom_kill_disable,
        oom_score_adj: r.oom_score_adj,
        nano_cpus: r.nano_cpus,
        cpu_shares: r.cpu_shares,
        cpu_quota: r.cpu_quota,
        cpu_period: r.cpu_period,
        cpuset_cpus: r.cpuset.clone(),
        cpu_count: r.cpu_count,
        cpu_percent: r.cpu_percent,
        cpu_realtime_period: r.cpu_rt_period,
        cpu_realtime_runtime: r.cpu_rt_runtime,
        pids_limit: r.pids_limit,
        shm_size: r.shm_size,
        storage_opt: map(&r.storage_opt),
        cgroup_parent: r.cgroup_parent.clone(),
        blkio_weight: blk.weight,
        blkio_weight_device: (!blk.weight_device.is_empty()).then(|| {
            blk.weight_device
                .iter()
                .map(|(p, w)| ResourcesBlkioWeightDevice {
                    path: Some(p.clone()),
                    weight: Some(*w as usize),
                })
                .collect()
        }),
        blkio_device_read_bps: throttle(&blk.device_read_bps),
        blkio_device_read_iops: throttle(&blk.device_read_iops),
        blkio_device_write_bps: throttle(&blk.device_write_bps),
        blkio_device_write_iops: throttle(&blk.device_write_iops),
        devices: (!r.devices.is_empty()).then(|| {
            r.devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.source.clone()),
                    path_in_container: Some(d.target.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect()
        }),
        device_cgroup_rules: list(&r.device_cgroup_rules),
        device_requests: (!device_requests.is_empty()).then_some(device_requests),
        ulimits: (!svc.security.ulimits.is_empty()).then(|| {
            svc.security
                .ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        ..Default::default()
    }
}

/// `base` with the security keys: capabilities, privileged, read-only root, security
/// options, user namespace, groups and sysctls.
fn with_security(svc: &Service, base: HostConfig) -> HostConfig {
    let sec = &svc.security;
    HostConfig {
        cap_add: list(&sec.cap_add),
        cap_drop: list(&sec.cap_drop),
        privileged: sec.privileged,
        readonly_rootfs: sec.read_only,
        security_opt: list(&sec.security_opt),
        masked_paths: sec.unconfined.then(Vec::new),
        readonly_paths: sec.unconfined.then(Vec::new),
        userns_mode: sec.userns_mode.clone(),
        group_add: list(&sec.group_add),
        sysctls: map(&sec.sysctls),
        ..base
    }
}

fn throttle(v: &[(String, i64)]) -> Option<Vec<ThrottleDevice>> {
    (!v.is_empty()).then(|| {
        v.iter()
            .map(|(p, rate)| ThrottleDevice {
                path: Some(p.clone()),
                rate: Some(*rate),
            })
            .collect()
    })
}

/// `service[:mode]` → `<its first container>[:mode]`; `container:name[:mode]` → `name[:mode]`.
fn volumes_from(project: &Project, from: &[String], refs: &Refs) -> Vec<String> {
    from.iter()
        .map(|v| match v.strip_prefix("container:") {
            Some(rest) => rest.to_string(),
            None => {
                let (svc, mode) = match v.split_once(':') {
                    Some((s, m)) => (s, Some(m)),
                    None => (v.as_str(), None),
                };
                let c = super::network::service_container(project, svc, refs);
                mode.map_or(c.clone(), |m| format!("{c}:{m}"))
            }
        })
        .collect()
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]` (the model validated the spelling).
pub fn restart_policy(r: &str) -> RestartPolicy {
    let (name, max) = match r.split_once(':') {
        Some((_, n)) => (RestartPolicyNameEnum::ON_FAILURE, n.parse().ok()),
        None => (
            match r {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            },
            None,
        ),
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: max,
    }
}

/// GPU and other device requests (explicit device ids win over a count), and CDI devices as
/// one request with the `cdi` driver.
pub fn device_requests(gpus: &[GpuRequest], cdi: &[String]) -> Vec<DeviceRequest> {
    let mut out: Vec<DeviceRequest> = gpus
        .iter()
        .map(|g| DeviceRequest {
            driver: Some(g.driver.clone()),
            count: if g.device_ids.is_empty() {
                g.count
            } else {
                None
            },
            device_ids: (!g.device_ids.is_empty()).then(|| g.device_ids.clone()),
            capabilities: Some(vec![g.capabilities.clone()]),
            options: (!g.options.is_empty()).then(|| {
                g.options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
        })
        .collect();
    if !cdi.is_empty() {
        out.push(DeviceRequest {
            driver: Some("cdi".into()),
            device_ids: Some(cdi.to_vec()),
            ..Default::default()
        });
    }
    out
}

pub fn log_config(l: &Logging) -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some(l.driver.clone()),
        config: Some(
            l.options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    }
}
