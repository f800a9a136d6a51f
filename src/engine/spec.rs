//! A compose service → the Engine API's container-create body, and its config hash.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount, MountType, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::labels;
use crate::project::model::{MountKind, Service};
use crate::project::Project;

/// The image reference a service runs: its `image:`, else `{project}-{service}` for built ones.
pub fn image_ref(project: &str, svc: &Service) -> String {
    match (&svc.image, &svc.build) {
        (Some(img), _) => img.clone(),
        (None, _) => format!("{project}-{}", svc.name),
    }
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos() as i64)
}

pub struct ContainerSpec {
    pub name: String,
    pub body: ContainerCreateBody,
    /// Networks to connect after create (engines older than API 1.44 take one at create).
    pub extra_networks: Vec<(String, Vec<String>)>,
    pub config_hash: String,
}

/// Builds the create body. `image_id` is the resolved local image id (recorded in a label so a
/// rebuilt image forces a recreate, as Compose does); `api_1_44` gates what older engines lack
/// (several networks at create, `start_interval`).
pub fn container_spec(
    project: &Project,
    svc: &Service,
    image_id: &str,
    api_1_44: bool,
) -> ContainerSpec {
    let p = &project.name;
    let mut labels_map: HashMap<String, String> = svc
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let env: Vec<String> = svc
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();

    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &svc.ports {
        let key = format!("{}/{}", port.container_port, port.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(port.host_ip.clone()),
                host_port: Some(port.host_port.map(|h| h.to_string()).unwrap_or_default()),
            });
    }

    let mounts: Vec<Mount> = svc
        .volumes
        .iter()
        .map(|m| Mount {
            target: Some(m.target.clone()),
            source: match m.kind {
                MountKind::Volume => m.source.as_ref().map(|k| {
                    project
                        .model
                        .volumes
                        .get(k)
                        .map(|v| v.name.clone())
                        .unwrap_or_else(|| k.clone())
                }),
                _ => m.source.clone(),
            },
            typ: Some(match m.kind {
                MountKind::Volume => MountType::VOLUME,
                MountKind::Bind => MountType::BIND,
                MountKind::Tmpfs => MountType::TMPFS,
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();

    let healthcheck = svc.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        retries: h.retries,
        start_period: nanos(h.start_period),
        // Engines with API ≥ 1.44 probe at `start_interval` during the start period: use it
        // (1 s unless the template says otherwise) so the engine's own status turns healthy as
        // soon as the service is ready. Older engines do not know the field.
        start_interval: if api_1_44 {
            nanos(
                h.start_interval
                    .or(h.start_period.map(|_| Duration::from_secs(1))),
            )
        } else {
            None
        },
    });

    let restart_policy = svc.restart.as_ref().map(|r| {
        let (name, max) = match r.split_once(':') {
            Some((_, n)) => (RestartPolicyNameEnum::ON_FAILURE, n.parse().ok()),
            None => (
                match r.as_str() {
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
    });

    let device_requests: Vec<DeviceRequest> = svc
        .gpus
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
            options: None,
        })
        .collect();

    let mut networks: Vec<(String, Vec<String>)> = svc
        .networks
        .iter()
        .map(|(key, aliases)| {
            let name = project
                .model
                .networks
                .get(key)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| key.clone());
            let mut all = vec![svc.name.clone()];
            all.extend(aliases.iter().cloned());
            (name, all)
        })
        .collect();
    let primary = networks.first().map(|(n, _)| n.clone());
    let endpoint = |aliases: &Vec<String>| EndpointSettings {
        aliases: Some(aliases.clone()),
        ..Default::default()
    };
    let (at_create, extra_networks): (Vec<_>, Vec<_>) = if api_1_44 {
        (std::mem::take(&mut networks), Vec::new())
    } else {
        let rest = networks.split_off(networks.len().min(1));
        (networks, rest)
    };

    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        mounts: (!mounts.is_empty()).then_some(mounts),
        restart_policy,
        log_config: svc.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: Some(l.driver.clone()),
            config: Some(
                l.options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        }),
        network_mode: primary,
        device_requests: (!device_requests.is_empty()).then_some(device_requests),
        memory: svc.memory_limit,
        init: svc.init,
        extra_hosts: (!svc.extra_hosts.is_empty()).then(|| svc.extra_hosts.clone()),
        ..Default::default()
    };

    let mut body = ContainerCreateBody {
        image: Some(image_ref(p, svc)),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        env: Some(env),
        working_dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(|d| d.as_secs() as i64),
        tty: Some(svc.tty),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(
                at_create
                    .iter()
                    .map(|(n, a)| (n.clone(), endpoint(a)))
                    .collect(),
            ),
        }),
        ..Default::default()
    };

    // The hash covers the whole body before devstack's bookkeeping labels are added (and the
    // networks connected later), so any change a user can make shows up in it.
    let mut hashed = serde_json::to_value(&body).unwrap_or_default();
    hashed["x-extra-networks"] = serde_json::to_value(&extra_networks).unwrap_or_default();
    hashed["x-labels"] = serde_json::to_value(&labels_map).unwrap_or_default();
    let config_hash = labels::hash_json(&hashed);

    let depends = svc
        .depends_on
        .iter()
        .map(|(n, d)| format!("{n}:{}:{}", d.condition.as_str(), d.restart))
        .collect::<Vec<_>>()
        .join(",");
    for (k, v) in [
        (labels::PROJECT, p.clone()),
        (labels::SERVICE, svc.name.clone()),
        (labels::NUMBER, "1".into()),
        (labels::ONEOFF, "False".into()),
        (labels::CONFIG_HASH, config_hash.clone()),
        (labels::DEPENDS_ON, depends),
        (labels::IMAGE, image_id.to_string()),
        (labels::VERSION, labels::COMPOSE_VERSION.into()),
        (labels::WORKING_DIR, project.dir.display().to_string()),
        (
            labels::CONFIG_FILES,
            project.compose_file.display().to_string(),
        ),
        (labels::DEVSTACK_VERSION, env!("CARGO_PKG_VERSION").into()),
    ] {
        labels_map.insert(k.to_string(), v);
    }
    if let Some(f) = &project.env_file {
        labels_map.insert(labels::ENV_FILE.into(), f.display().to_string());
    }
    body.labels = Some(labels_map);
    ContainerSpec {
        name: labels::container_name(p, &svc.name),
        body,
        extra_networks,
        config_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{model, ProjectSource};

    /// A project with the services of `yaml`, as `up` would see it.
    fn project(yaml: &str) -> Project {
        let doc: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        let model = model::parse(&doc, "compose.yaml", "demo").unwrap();
        let source = ProjectSource {
            dir: "/srv/demo".into(),
            name: "demo".into(),
            env_file: Some("/srv/demo/.env".into()),
            env: Default::default(),
            env_file_keys: Vec::new(),
            profiles: Vec::new(),
            files: Vec::new(),
        };
        let graph = crate::project::graph::Graph::new(&model);
        Project {
            source,
            model,
            document: serde_json::Value::Null,
            compose_file: "/srv/demo/.devstack/compose.yaml".into(),
            gpu: crate::gpu::GpuSelection::None,
            graph,
        }
    }

    const EVERYTHING: &str = r#"
services:
  pose:
    build: {context: /srv/demo/services/pose, args: {CUDA: "12.1"}}
    command: ["python", "-m", "pose"]
    entrypoint: ["/init"]
    environment: {LOG_LEVEL: info, MODE: jobs}
    ports: ["127.0.0.1:8000:8000", "127.0.0.1:9000-9001:9000-9001/udp", "127.0.0.1:8001:8000"]
    volumes: ["models:/models", "/srv/demo/services/pose:/app:ro", {type: tmpfs, target: /tmp}]
    networks: {default: {aliases: [pose-api]}, back: {}}
    depends_on: {redis: {condition: service_healthy, restart: true}}
    healthcheck: {test: ["CMD", "curl", "-f", "http://localhost:8000/health"], interval: 5s, timeout: 2s, retries: 3, start_period: 60s}
    restart: on-failure:5
    deploy: {resources: {limits: {memory: 8g}, reservations: {devices: [{driver: nvidia, device_ids: ["0"], capabilities: [gpu]}]}}}
    labels: {team: vision}
    logging: {driver: json-file, options: {max-size: 10m}}
    working_dir: /app
    user: "1000:1000"
    stop_grace_period: 20s
    stop_signal: SIGINT
    tty: true
    init: true
    extra_hosts: ["host.docker.internal:host-gateway"]
  redis:
    image: redis:7
    gpus: all
networks:
  back: {}
volumes:
  models: {}
"#;

    /// The hash decides whether every user's containers are recreated: a refactor must not
    /// move it. Change the pinned values only with a change that means to recreate.
    #[test]
    fn the_config_hash_of_a_representative_service_is_pinned() {
        let p = project(EVERYTHING);
        let hash = |svc: &str, api_1_44: bool| {
            container_spec(&p, &p.model.services[svc], "sha256:abc", api_1_44).config_hash
        };
        assert_eq!(hash("pose", true), "0a829e4a626581e6953ef8b1019d18f74896e77d97463d10e5a4f03cbd1259e5");
        assert_eq!(hash("pose", false), "8f44bfe1b778320ff111682d2c0841cc2ef7b1155a863093e9f3a0ebc25fb4de");
        assert_eq!(hash("redis", true), "633c75bc0bc02da21dd268c73e906214db11597cc53dc08464256637a0fb8fbb");
    }
}
