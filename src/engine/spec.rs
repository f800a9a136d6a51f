//! A compose service → the Engine API's container-create body, and its config hash.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount, MountType, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::labels;
use crate::project::model::{
    self, GpuRequest, Healthcheck, Logging, MountKind, PortMapping, Service,
};
use crate::project::Project;

/// The image reference a service runs: its `image:`, else `{project}-{service}` for built ones.
pub fn image_ref(project: &str, svc: &Service) -> String {
    match (&svc.image, &svc.build) {
        (Some(img), _) => img.clone(),
        (None, _) => format!("{project}-{}", svc.name),
    }
}

type PortBindings = HashMap<String, Option<Vec<PortBinding>>>;
/// Networks by engine-side name, with the aliases the service has on each.
type Networks = Vec<(String, Vec<String>)>;

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos() as i64)
}

pub struct ContainerSpec {
    pub name: String,
    pub body: ContainerCreateBody,
    /// Networks to connect after create (engines older than API 1.44 take one at create).
    pub extra_networks: Vec<(String, Vec<String>)>,
    pub config_hash: String,
    /// Project binds turned into copies for a remote engine (uploaded before start).
    pub copies: Vec<super::remote::Copy>,
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
    let (exposed, bindings) = port_bindings(&svc.ports);
    let networks = networks(project, svc);
    let primary = networks.first().map(|(n, _)| n.clone());
    let (at_create, extra_networks) = networks_at_create(networks, api_1_44);
    let mounts = mounts(project, &svc.volumes);
    let device_requests = device_requests(&svc.gpus);
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        mounts: (!mounts.is_empty()).then_some(mounts),
        restart_policy: svc.restart.as_deref().map(restart_policy),
        log_config: svc.logging.as_ref().map(log_config),
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
        env: Some(env(svc)),
        working_dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: svc.healthcheck.as_ref().map(|h| health_config(h, api_1_44)),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(|d| d.as_secs() as i64),
        tty: Some(svc.tty),
        host_config: Some(host_config),
        networking_config: Some(networking_config(&at_create)),
        ..Default::default()
    };
    let user_labels = user_labels(svc);
    let config_hash = config_hash(&body, &extra_networks, &user_labels);
    body.labels = Some(with_bookkeeping_labels(
        user_labels,
        project,
        svc,
        image_id,
        &config_hash,
    ));
    ContainerSpec {
        name: labels::container_name(p, &svc.name),
        body,
        extra_networks,
        config_hash,
        copies: Vec::new(),
    }
}

/// The hash covers the whole body before devstack's bookkeeping labels are added (and the
/// networks connected later), so any change a user can make shows up in it.
fn config_hash(
    body: &ContainerCreateBody,
    extra_networks: &Networks,
    user_labels: &HashMap<String, String>,
) -> String {
    let mut hashed = serde_json::to_value(body).unwrap_or_default();
    hashed["x-extra-networks"] = serde_json::to_value(extra_networks).unwrap_or_default();
    hashed["x-labels"] = serde_json::to_value(user_labels).unwrap_or_default();
    labels::hash_json(&hashed)
}

/// The service's own `labels:`.
fn user_labels(svc: &Service) -> HashMap<String, String> {
    svc.labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The labels Compose writes (so `docker compose -p NAME …` sees the container) and devstack's
/// own, on top of the service's.
fn with_bookkeeping_labels(
    mut labels_map: HashMap<String, String>,
    project: &Project,
    svc: &Service,
    image_id: &str,
    config_hash: &str,
) -> HashMap<String, String> {
    for (k, v) in [
        (labels::PROJECT, project.name.clone()),
        (labels::SERVICE, svc.name.clone()),
        (labels::NUMBER, "1".into()),
        (labels::ONEOFF, "False".into()),
        (labels::CONFIG_HASH, config_hash.to_string()),
        (labels::DEPENDS_ON, depends_on_label(svc)),
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
    labels_map
}

/// Compose's `depends_on` label: `name:condition:restart`, comma-separated.
fn depends_on_label(svc: &Service) -> String {
    svc.depends_on
        .iter()
        .map(|(n, d)| format!("{n}:{}:{}", d.condition.as_str(), d.restart))
        .collect::<Vec<_>>()
        .join(",")
}

/// `KEY=VALUE` lines of the final environment.
fn env(svc: &Service) -> Vec<String> {
    svc.environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// The exposed `port/proto` keys (in order, once each) and the host bindings of each.
fn port_bindings(ports: &[PortMapping]) -> (Vec<String>, PortBindings) {
    let mut exposed = Vec::new();
    let mut bindings: PortBindings = HashMap::new();
    for port in ports {
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
    (exposed, bindings)
}

/// Named volumes by their engine-side name, bind mounts and tmpfs as written.
fn mounts(project: &Project, volumes: &[model::Mount]) -> Vec<Mount> {
    volumes
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
        .collect()
}

fn health_config(h: &Healthcheck, api_1_44: bool) -> HealthConfig {
    HealthConfig {
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
    }
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]` (the model validated the spelling).
fn restart_policy(r: &str) -> RestartPolicy {
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

/// GPU requests: explicit device ids win over a count.
fn device_requests(gpus: &[GpuRequest]) -> Vec<DeviceRequest> {
    gpus.iter()
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
        .collect()
}

fn log_config(l: &Logging) -> HostConfigLogConfig {
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

/// The service's networks by engine-side name, each with its aliases (the service's name
/// first); the first is the primary one.
fn networks(project: &Project, svc: &Service) -> Networks {
    svc.networks
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
        .collect()
}

/// The networks joined at create and those connected after it: engines older than API 1.44
/// take one network at create.
fn networks_at_create(mut networks: Networks, api_1_44: bool) -> (Networks, Networks) {
    if api_1_44 {
        (networks, Vec::new())
    } else {
        let rest = networks.split_off(networks.len().min(1));
        (networks, rest)
    }
}

fn networking_config(at_create: &Networks) -> NetworkingConfig {
    NetworkingConfig {
        endpoints_config: Some(
            at_create
                .iter()
                .map(|(n, aliases)| {
                    let endpoint = EndpointSettings {
                        aliases: Some(aliases.clone()),
                        ..Default::default()
                    };
                    (n.clone(), endpoint)
                })
                .collect(),
        ),
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
            warnings: Vec::new(),
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
        assert_eq!(
            hash("pose", true),
            "0a829e4a626581e6953ef8b1019d18f74896e77d97463d10e5a4f03cbd1259e5"
        );
        assert_eq!(
            hash("pose", false),
            "8f44bfe1b778320ff111682d2c0841cc2ef7b1155a863093e9f3a0ebc25fb4de"
        );
        assert_eq!(
            hash("redis", true),
            "633c75bc0bc02da21dd268c73e906214db11597cc53dc08464256637a0fb8fbb"
        );
    }

    fn spec_of(p: &Project, svc: &str, api_1_44: bool) -> ContainerSpec {
        container_spec(p, &p.model.services[svc], "sha256:abc", api_1_44)
    }

    #[test]
    fn ports_are_exposed_once_and_bound_per_host_port() {
        let p = project(EVERYTHING);
        let (exposed, bindings) = port_bindings(&p.model.services["pose"].ports);
        assert_eq!(exposed, ["8000/tcp", "9000/udp", "9001/udp"]);
        let hosts: Vec<_> = bindings["8000/tcp"]
            .as_ref()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b.host_ip.as_deref().unwrap(),
                    b.host_port.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(hosts, [("127.0.0.1", "8000"), ("127.0.0.1", "8001")]);
        // No published port: the engine picks one.
        let p = project("services:\n  a: {image: x, ports: [\"80\"]}\n");
        let (_, bindings) = port_bindings(&p.model.services["a"].ports);
        assert_eq!(
            bindings["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("")
        );
    }

    #[test]
    fn named_volumes_mount_by_their_engine_name() {
        let p = project(EVERYTHING);
        let m = mounts(&p, &p.model.services["pose"].volumes);
        let got: Vec<_> = m
            .iter()
            .map(|m| {
                (
                    m.typ,
                    m.source.as_deref(),
                    m.target.as_deref().unwrap(),
                    m.read_only,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    Some(MountType::VOLUME),
                    Some("demo_models"),
                    "/models",
                    Some(false)
                ),
                (
                    Some(MountType::BIND),
                    Some("/srv/demo/services/pose"),
                    "/app",
                    Some(true)
                ),
                (Some(MountType::TMPFS), None, "/tmp", Some(false)),
            ]
        );
    }

    #[test]
    fn the_start_interval_goes_only_to_engines_that_know_it() {
        let p = project(EVERYTHING);
        let h = p.model.services["pose"].healthcheck.as_ref().unwrap();
        let new = health_config(h, true);
        assert_eq!(new.interval, Some(5_000_000_000));
        assert_eq!(new.start_period, Some(60_000_000_000));
        assert_eq!(new.start_interval, Some(1_000_000_000), "1 s by default");
        assert_eq!(health_config(h, false).start_interval, None);
        let p = project(
            "services:\n  a: {image: x, healthcheck: {test: [CMD, x], start_interval: 3s}}\n",
        );
        let h = p.model.services["a"].healthcheck.as_ref().unwrap();
        assert_eq!(health_config(h, true).start_interval, Some(3_000_000_000));
    }

    #[test]
    fn restart_policies_map_to_the_engine_s() {
        let got = |r: &str| {
            let p = restart_policy(r);
            (p.name.unwrap(), p.maximum_retry_count)
        };
        assert_eq!(got("no"), (RestartPolicyNameEnum::NO, None));
        assert_eq!(got("always"), (RestartPolicyNameEnum::ALWAYS, None));
        assert_eq!(
            got("unless-stopped"),
            (RestartPolicyNameEnum::UNLESS_STOPPED, None)
        );
        assert_eq!(got("on-failure"), (RestartPolicyNameEnum::ON_FAILURE, None));
        assert_eq!(
            got("on-failure:5"),
            (RestartPolicyNameEnum::ON_FAILURE, Some(5))
        );
    }

    #[test]
    fn gpu_requests_name_devices_or_a_count() {
        let p = project(EVERYTHING);
        let ids = device_requests(&p.model.services["pose"].gpus);
        assert_eq!(ids[0].device_ids, Some(vec!["0".to_string()]));
        assert_eq!(ids[0].count, None);
        assert_eq!(ids[0].capabilities, Some(vec![vec!["gpu".to_string()]]));
        let all = device_requests(&p.model.services["redis"].gpus);
        assert_eq!((all[0].count, &all[0].device_ids), (Some(-1), &None));
        assert_eq!(all[0].driver.as_deref(), Some("nvidia"));
    }

    #[test]
    fn logging_keeps_driver_and_options() {
        let p = project(EVERYTHING);
        let l = log_config(p.model.services["pose"].logging.as_ref().unwrap());
        assert_eq!(l.typ.as_deref(), Some("json-file"));
        assert_eq!(l.config.unwrap()["max-size"], "10m");
    }

    #[test]
    fn older_engines_join_the_primary_network_at_create_and_the_rest_after() {
        let p = project(EVERYTHING);
        let nets = networks(&p, &p.model.services["pose"]);
        assert_eq!(
            nets,
            [
                (
                    "demo_default".to_string(),
                    vec!["pose".to_string(), "pose-api".to_string()]
                ),
                ("demo_back".to_string(), vec!["pose".to_string()]),
            ]
        );
        let (now, later) = networks_at_create(nets.clone(), true);
        assert_eq!((now.len(), later.len()), (2, 0));
        let (now, later) = networks_at_create(nets, false);
        assert_eq!(
            (now[0].0.as_str(), later[0].0.as_str()),
            ("demo_default", "demo_back")
        );
        let spec = spec_of(&p, "pose", false);
        let host = spec.body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("demo_default"));
        assert_eq!(spec.extra_networks, later);
    }

    #[test]
    fn labels_say_what_compose_writes_and_the_hash_ignores_them() {
        let p = project(EVERYTHING);
        let spec = spec_of(&p, "pose", true);
        let l = spec.body.labels.as_ref().unwrap();
        assert_eq!(l["team"], "vision");
        assert_eq!(l[labels::PROJECT], "demo");
        assert_eq!(l[labels::SERVICE], "pose");
        assert_eq!(l[labels::CONFIG_HASH], spec.config_hash);
        assert_eq!(l[labels::DEPENDS_ON], "redis:service_healthy:true");
        assert_eq!(l[labels::IMAGE], "sha256:abc");
        assert_eq!(l[labels::ENV_FILE], "/srv/demo/.env");
        assert_eq!(l[labels::CONFIG_FILES], "/srv/demo/.devstack/compose.yaml");
        // Another image id changes a label, not the hash (the image is compared on its own).
        let other = container_spec(&p, &p.model.services["pose"], "sha256:def", true);
        assert_eq!(other.config_hash, spec.config_hash);
    }

    #[test]
    fn the_body_carries_the_process_settings() {
        let p = project(EVERYTHING);
        let b = spec_of(&p, "pose", true).body;
        assert_eq!(
            b.image.as_deref(),
            Some("demo-pose"),
            "built: project-service"
        );
        assert_eq!(b.env.unwrap(), ["LOG_LEVEL=info", "MODE=jobs"]);
        assert_eq!(b.stop_timeout, Some(20));
        assert_eq!(b.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(b.tty, Some(true));
        let host = b.host_config.unwrap();
        assert_eq!(host.memory, Some(8 * 1024 * 1024 * 1024));
        assert_eq!(host.init, Some(true));
        assert_eq!(
            host.extra_hosts.unwrap(),
            ["host.docker.internal:host-gateway"]
        );
        assert_eq!(
            spec_of(&p, "redis", true).body.image.as_deref(),
            Some("redis:7")
        );
    }
}
