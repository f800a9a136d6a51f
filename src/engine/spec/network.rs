//! A service's networking as the engine takes it: the network mode (its primary network,
//! `host`, `none`, or another container's namespace — `service:NAME` becomes that service's
//! first container), one endpoint per network (aliases, fixed addresses, MAC address, driver
//! options, links), and the links and shared namespaces that name other services'
//! containers.

use std::collections::HashMap;

use bollard::models::{EndpointIpamConfig, EndpointSettings, NetworkingConfig};

use crate::project::model::{Attachment, Service};
use crate::project::Project;

/// Networks by engine-side name, with the endpoint the service has on each.
pub type Endpoints = Vec<(String, EndpointSettings)>;

/// The container name of `service`'s replica `n` (its `container_name` when it sets one).
pub fn container_name(project: &Project, service: &str, n: u32) -> String {
    project.container_name(service, n)
}

/// Containers of other services by name → their current id: what `service:NAME` references
/// resolve to, as Compose resolves them (the engine keeps the id, so a recreated dependency
/// changes the dependent's configuration and recreates it too).
pub type Refs = std::collections::HashMap<String, String>;

/// The container another service's `service:NAME` reference means: its first container, by
/// id when known.
pub fn service_container(project: &Project, service: &str, refs: &Refs) -> String {
    let name = container_name(project, service, 1);
    refs.get(&name).cloned().unwrap_or(name)
}

/// `service:NAME` → `container:<NAME's first container>`; anything else as written.
pub fn resolve_shared(project: &Project, mode: Option<&str>, refs: &Refs) -> Option<String> {
    let mode = mode?;
    Some(match mode.strip_prefix("service:") {
        Some(svc) => format!("container:{}", service_container(project, svc, refs)),
        None => mode.to_string(),
    })
}

/// The services a service's namespaces and volumes refer to (`service:NAME`, `volumes_from`).
pub fn referenced(svc: &Service) -> Vec<String> {
    let mut out = Vec::new();
    let modes = [
        svc.networking.network_mode.as_deref(),
        svc.container.ipc.as_deref(),
        svc.container.pid.as_deref(),
    ];
    for m in modes.into_iter().flatten() {
        if let Some(s) = m.strip_prefix("service:") {
            out.push(s.to_string());
        }
    }
    for v in &svc.storage.volumes_from {
        if !v.starts_with("container:") {
            out.push(v.split(':').next().unwrap_or_default().to_string());
        }
    }
    out
}

/// Compose's links: `container:alias` for each replica of each linked service (by its alias,
/// its `svc-N` name and its full name), then the external links.
pub fn links(project: &Project, svc: &Service, number: u32) -> Vec<String> {
    let mut out = Vec::new();
    for (linked, alias) in &svc.networking.links {
        let replicas = project
            .model
            .services
            .get(linked)
            .map_or(1, |s| s.replicas.max(1));
        for n in 1..=replicas {
            let c = container_name(project, linked, n);
            out.push(format!("{c}:{alias}"));
            out.push(format!("{c}:{linked}-{number}"));
            out.push(format!("{c}:{}-{linked}-{number}", project.name));
        }
    }
    for ext in &svc.networking.external_links {
        match ext.split_once(':') {
            Some(_) => out.push(ext.clone()),
            None => out.push(format!("{ext}:{ext}")),
        }
    }
    out
}

/// The endpoints of the service's networks, the primary (highest-priority) one first.
pub fn endpoints(project: &Project, svc: &Service, links: &[String], mac_api: bool) -> Endpoints {
    svc.networks
        .iter()
        .enumerate()
        .map(|(i, (key, att))| {
            let name = project
                .model
                .networks
                .get(key)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| key.clone());
            // The service-level `mac_address` is the primary network's.
            let mac = att.mac_address.clone().or_else(|| {
                (i == 0)
                    .then(|| svc.networking.mac_address.clone())
                    .flatten()
            });
            (name, endpoint(svc, att, links, mac.filter(|_| mac_api)))
        })
        .collect()
}

fn endpoint(
    svc: &Service,
    att: &Attachment,
    links: &[String],
    mac: Option<String>,
) -> EndpointSettings {
    let mut aliases = vec![svc.name.clone()];
    aliases.extend(att.aliases.iter().cloned());
    let mut driver_opts: HashMap<String, String> = att
        .driver_opts
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(ifname) = &att.interface_name {
        driver_opts.insert("com.docker.network.endpoint.ifname".into(), ifname.clone());
    }
    let fixed =
        att.ipv4_address.is_some() || att.ipv6_address.is_some() || !att.link_local_ips.is_empty();
    EndpointSettings {
        aliases: Some(aliases),
        ipam_config: fixed.then(|| EndpointIpamConfig {
            ipv4_address: att.ipv4_address.clone(),
            ipv6_address: att.ipv6_address.clone(),
            link_local_ips: (!att.link_local_ips.is_empty()).then(|| att.link_local_ips.clone()),
        }),
        links: (!links.is_empty()).then(|| links.to_vec()),
        mac_address: mac,
        driver_opts: (!driver_opts.is_empty()).then_some(driver_opts),
        gw_priority: att.gw_priority,
        ..Default::default()
    }
}

/// The endpoints joined at create and those connected after it: engines older than API 1.44
/// take one network at create.
pub fn at_create(mut endpoints: Endpoints, api_1_44: bool) -> (Endpoints, Endpoints) {
    if api_1_44 {
        (endpoints, Vec::new())
    } else {
        let rest = endpoints.split_off(endpoints.len().min(1));
        (endpoints, rest)
    }
}

pub fn networking_config(at_create: &Endpoints) -> NetworkingConfig {
    NetworkingConfig {
        endpoints_config: Some(at_create.iter().cloned().collect()),
    }
}
