//! A compose service → the Engine API's container-create body, and its config hash.
//!
//! One function per area: the process (`mod.rs`), the host side (`host`), storage
//! (`mounts`), networking and shared namespaces (`network`), secrets and configs (`files`).
//! Keys newer than the engine's API are refused before anything is created
//! ([`unsupported`]).

mod files;
mod host;
mod mounts;
mod network;

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HealthConfig, PortBinding};

pub use files::{injections, tar as injections_tar, Injection};
pub use network::{container_name, referenced, Endpoints, Refs};

use super::labels;
use crate::project::model::{Healthcheck, MountKind, PortMapping, Service};
use crate::project::Project;

/// The image reference a service runs: its `image:`, else `{project}-{service}` for built ones.
pub fn image_ref(project: &str, svc: &Service) -> String {
    match (&svc.image, &svc.build) {
        (Some(img), _) => img.clone(),
        (None, _) => format!("{project}-{}", svc.name),
    }
}

type PortBindings = HashMap<String, Option<Vec<PortBinding>>>;

/// The engine's API version (major, minor): what the create body may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Api(pub u32, pub u32);

impl Api {
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.0, self.1) >= (major, minor)
    }
}

fn nanos(d: Option<Duration>) -> Option<i64> {
    d.map(|d| d.as_nanos() as i64)
}

pub struct ContainerSpec {
    pub name: String,
    pub body: ContainerCreateBody,
    /// Networks to connect after create (engines older than API 1.44 take one at create).
    pub extra_networks: Endpoints,
    pub config_hash: String,
    /// Project binds turned into copies for a remote engine (uploaded before start).
    pub copies: Vec<super::remote::Copy>,
    /// Secrets and configs copied in before the container starts.
    pub files: Vec<Injection>,
    /// The platform the image is for (`platform:`), a parameter of create.
    pub platform: Option<String>,
}

/// Builds the create body of replica 1 (see [`container_spec_n`]), other services' containers
/// referred to by name.
pub fn container_spec(project: &Project, svc: &Service, image_id: &str, api: Api) -> ContainerSpec {
    container_spec_n(project, svc, 1, image_id, api, &Refs::new())
}

/// Builds the create body of the service's container number `n`. `image_id` is the resolved
/// local image id (recorded in a label so a rebuilt image forces a recreate, as Compose
/// does); `api` gates what older engines lack (several networks at create, `start_interval`,
/// a network's MAC address); `refs` are the ids of the containers `service:NAME` refers to.
pub fn container_spec_n(
    project: &Project,
    svc: &Service,
    n: u32,
    image_id: &str,
    api: Api,
    refs: &Refs,
) -> ContainerSpec {
    let p = &project.name;
    let (exposed, bindings) = port_bindings(&svc.ports, &svc.networking.expose);
    let links = network::links(project, svc, n);
    let (network_mode, at_create, extra_networks) = match &svc.networking.network_mode {
        Some(mode) => (
            network::resolve_shared(project, Some(mode), refs),
            Vec::new(),
            Vec::new(),
        ),
        None => {
            let endpoints = network::endpoints(project, svc, &links, api.at_least(1, 44));
            let primary = endpoints.first().map(|(n, _)| n.clone());
            let (now, later) = network::at_create(endpoints, api.at_least(1, 44));
            (primary, now, later)
        }
    };
    let (mut binds, mounts) = mounts::storage(project, svc);
    if svc.container.use_api_socket {
        binds.push("/var/run/docker.sock:/var/run/docker.sock:rw".into());
    }
    let mut host_config = host::host_config(project, svc, refs);
    host_config.port_bindings = (!bindings.is_empty()).then_some(bindings);
    host_config.binds = (!binds.is_empty()).then_some(binds);
    host_config.mounts = (!mounts.is_empty()).then_some(mounts);
    host_config.network_mode = network_mode;
    host_config.links = (!links.is_empty()).then_some(links);
    let c = &svc.container;
    let mut body = ContainerCreateBody {
        image: Some(image_ref(p, svc)),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        env: Some(env(svc)),
        working_dir: svc.working_dir.clone(),
        user: svc.user.clone(),
        hostname: c.hostname.clone(),
        domainname: c.domainname.clone(),
        open_stdin: c.stdin_open,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: svc
            .healthcheck
            .as_ref()
            .map(|h| health_config(h, api.at_least(1, 44))),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(|d| d.as_secs() as i64),
        tty: Some(svc.tty),
        network_disabled: (svc.networking.network_mode.as_deref() == Some("disabled"))
            .then_some(true),
        host_config: Some(host_config),
        networking_config: (svc.networking.network_mode.is_none())
            .then(|| network::networking_config(&at_create)),
        ..Default::default()
    };
    let files = files::injections(project, svc).unwrap_or_default();
    let user_labels = user_labels(svc);
    let config_hash = config_hash(
        &body,
        &extra_networks,
        &user_labels,
        &files,
        c.platform.as_deref(),
    );
    body.labels = Some(with_bookkeeping_labels(
        user_labels,
        project,
        svc,
        n,
        image_id,
        &config_hash,
    ));
    ContainerSpec {
        name: network::container_name(project, &svc.name, n),
        body,
        extra_networks,
        config_hash,
        copies: Vec::new(),
        files,
        platform: c.platform.clone(),
    }
}

/// What the service asks that this engine's API cannot do: each names the key and the
/// version that has it. `up` refuses them before it creates anything.
pub fn unsupported(svc: &Service, api: Api) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |key: &str, minor: u32, engine: &str| {
        if !api.at_least(1, minor) {
            out.push(format!(
                "service {}: `{key}` needs Docker Engine API 1.{minor} ({engine}) or newer; this engine speaks {}.{}",
                svc.name, api.0, api.1
            ));
        }
    };
    if !svc.container.annotations.is_empty() {
        need("annotations", 43, "Engine 24");
    }
    if svc
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.start_interval.is_some())
    {
        need("healthcheck.start_interval", 44, "Engine 25");
    }
    if svc.networking.mac_address.is_some()
        || svc.networks.values().any(|a| a.mac_address.is_some())
    {
        need("mac_address", 44, "Engine 25");
    }
    if svc.networks.values().any(|a| a.gw_priority.is_some()) {
        need("networks.*.gw_priority", 48, "Engine 28");
    }
    if svc.networks.values().any(|a| a.interface_name.is_some()) {
        need("networks.*.interface_name", 49, "Engine 28.1");
    }
    if !svc.resources.cdi_devices.is_empty() {
        need("devices (CDI names)", 44, "Engine 25");
    }
    for m in &svc.volumes {
        if m.volume.as_ref().is_some_and(|v| v.subpath.is_some()) {
            need("volumes[].volume.subpath", 45, "Engine 26");
        }
        if m.kind == MountKind::Image {
            need("volumes[] of type image", 48, "Engine 28");
        }
        if m.bind
            .as_ref()
            .and_then(|b| b.recursive.as_deref())
            .is_some_and(|r| r == "writable" || r == "readonly")
        {
            need("volumes[].bind.recursive", 44, "Engine 25");
        }
    }
    out
}

/// The hash covers the whole body before devstack's bookkeeping labels are added (and the
/// networks connected later, the files copied in, the platform), so any change a user can
/// make shows up in it.
fn config_hash(
    body: &ContainerCreateBody,
    extra_networks: &Endpoints,
    user_labels: &HashMap<String, String>,
    files: &[Injection],
    platform: Option<&str>,
) -> String {
    let mut hashed = serde_json::to_value(body).unwrap_or_default();
    hashed["x-extra-networks"] = serde_json::to_value(
        extra_networks
            .iter()
            .map(|(n, e)| (n.clone(), e.aliases.clone().unwrap_or_default()))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    hashed["x-labels"] = serde_json::to_value(user_labels).unwrap_or_default();
    if !files.is_empty() {
        // The content's digest, never the content: a changed secret recreates.
        let listed: Vec<String> = files
            .iter()
            .map(|f| {
                let digest = labels::hash_json(&serde_json::Value::String(hex::encode(&f.content)));
                format!("{}:{:o}:{}:{}:{digest}", f.target, f.mode, f.uid, f.gid)
            })
            .collect();
        hashed["x-files"] = serde_json::to_value(listed).unwrap_or_default();
    }
    if let Some(p) = platform {
        hashed["x-platform"] = serde_json::Value::String(p.to_string());
    }
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
    n: u32,
    image_id: &str,
    config_hash: &str,
) -> HashMap<String, String> {
    for (k, v) in [
        (labels::PROJECT, project.name.clone()),
        (labels::SERVICE, svc.name.clone()),
        (labels::NUMBER, n.to_string()),
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

/// The exposed `port/proto` keys (in order, once each: published ports, then `expose:`) and
/// the host bindings of each published one.
fn port_bindings(ports: &[PortMapping], expose: &[String]) -> (Vec<String>, PortBindings) {
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
    for e in expose {
        let (range, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (from, to) = match range.split_once('-') {
            Some((a, b)) => (a.parse().unwrap_or(0u16), b.parse().unwrap_or(0u16)),
            None => {
                let p = range.parse().unwrap_or(0u16);
                (p, p)
            }
        };
        for p in from..=to {
            let key = format!("{p}/{proto}");
            if !exposed.contains(&key) {
                exposed.push(key);
            }
        }
    }
    (exposed, bindings)
}

/// The engine's default healthcheck interval (when the file sets none).
const ENGINE_DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// How often engines with API ≥ 1.44 probe during the start period, unless the file says.
const START_INTERVAL: Duration = Duration::from_secs(1);

fn health_config(h: &Healthcheck, api_1_44: bool) -> HealthConfig {
    let mut config = HealthConfig {
        test: Some(h.test.clone()),
        interval: nanos(h.interval),
        timeout: nanos(h.timeout),
        retries: h.retries,
        start_period: nanos(h.start_period),
        start_interval: None,
    };
    // Older engines do not know `start_interval`; a disabled check has no timings.
    if !api_1_44 || !h.enabled() {
        return config;
    }
    // Engines with API ≥ 1.44 probe at `start_interval` during the start period: probing
    // every second there (unless the file says otherwise), the engine's own health turns
    // healthy as soon as the service is ready, as devstack's own probe says, instead of
    // one interval later. Without a start period of the file's, the first interval becomes
    // one: no probe counted before one interval after the start either way, so nothing turns
    // unhealthy sooner (the first counted failure can come up to one interval later).
    let start_period = h
        .start_period
        .unwrap_or(h.interval.unwrap_or(ENGINE_DEFAULT_INTERVAL));
    config.start_period = nanos(Some(start_period));
    config.start_interval = nanos(Some(h.start_interval.unwrap_or(START_INTERVAL)));
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{model, ProjectSource};
    use bollard::models::{MountType, RestartPolicyNameEnum};

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
            env_files: Vec::new(),
            env_warnings: Vec::new(),
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
            sources: Vec::new(),
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
    const NEW: Api = Api(1, 44);
    const OLD: Api = Api(1, 41);

    #[test]
    fn the_config_hash_of_a_representative_service_is_pinned() {
        let p = project(EVERYTHING);
        let hash = |svc: &str, api_1_44: bool| {
            let api = if api_1_44 { NEW } else { OLD };
            container_spec(&p, &p.model.services[svc], "sha256:abc", api).config_hash
        };
        // Moved once on purpose: plain binds and named volumes go as `Binds` strings, as
        // Compose v2 sends them (the engine creates a missing host path), not as `Mounts`; and
        // the primary network is Compose's (priority, then name: `back` before `default`).
        assert_eq!(
            hash("pose", true),
            "35ae7aab1fbe9920c60b0c128364624177d925bc7f7da4da8195077e1f1595d2"
        );
        assert_eq!(
            hash("pose", false),
            "11b912927b632dc41a00647b74ed2d94db8c230a7c7fb2f9afb987e09e171ccc"
        );
        assert_eq!(
            hash("redis", true),
            "633c75bc0bc02da21dd268c73e906214db11597cc53dc08464256637a0fb8fbb"
        );
    }

    fn spec_of(p: &Project, svc: &str, api_1_44: bool) -> ContainerSpec {
        let api = if api_1_44 { NEW } else { OLD };
        container_spec(p, &p.model.services[svc], "sha256:abc", api)
    }

    #[test]
    fn ports_are_exposed_once_and_bound_per_host_port() {
        let p = project(EVERYTHING);
        let (exposed, bindings) = port_bindings(&p.model.services["pose"].ports, &[]);
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
        let (_, bindings) = port_bindings(&p.model.services["a"].ports, &[]);
        assert_eq!(
            bindings["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("")
        );
    }

    #[test]
    fn named_volumes_and_binds_go_as_compose_sends_them() {
        let p = project(EVERYTHING);
        let (binds, m) = mounts::storage(&p, &p.model.services["pose"]);
        assert_eq!(
            binds,
            ["demo_models:/models:rw", "/srv/demo/services/pose:/app:ro"],
            "plain binds and named volumes as bind strings (the engine creates a missing host path)"
        );
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
        assert_eq!(got, [(Some(MountType::TMPFS), None, "/tmp", Some(false))]);
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
    fn without_a_start_period_the_first_interval_is_probed_every_second() {
        let p = project(
            "services:\n  a: {image: x, healthcheck: {test: [CMD, x], interval: 5s}}\n  b: {image: x, healthcheck: {test: [CMD, x]}}\n  c: {image: x, healthcheck: {disable: true}}\n",
        );
        let h = |s: &str| p.model.services[s].healthcheck.clone().unwrap();
        let a = health_config(&h("a"), true);
        assert_eq!(
            (a.interval, a.start_period, a.start_interval),
            (
                Some(5_000_000_000),
                Some(5_000_000_000),
                Some(1_000_000_000)
            )
        );
        // The engine's own default interval (30 s) is the start period when none is set.
        let b = health_config(&h("b"), true);
        assert_eq!(
            (b.interval, b.start_period, b.start_interval),
            (None, Some(30_000_000_000), Some(1_000_000_000))
        );
        // Older engines get the file's timings as they are; a disabled check gets none.
        let old = health_config(&h("a"), false);
        assert_eq!((old.start_period, old.start_interval), (None, None));
        let c = health_config(&h("c"), true);
        assert_eq!((c.start_period, c.start_interval), (None, None));
        // Nothing the engine would refuse: `unsupported` gates only a start_interval the
        // file sets, and this one goes only to engines that have it.
        assert!(unsupported(&p.model.services["a"], OLD).is_empty());
    }

    #[test]
    fn restart_policies_map_to_the_engine_s() {
        let got = |r: &str| {
            let p = host::restart_policy(r);
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
        let ids = host::device_requests(&p.model.services["pose"].gpus, &[]);
        assert_eq!(ids[0].device_ids, Some(vec!["0".to_string()]));
        assert_eq!(ids[0].count, None);
        assert_eq!(ids[0].capabilities, Some(vec![vec!["gpu".to_string()]]));
        let all = host::device_requests(&p.model.services["redis"].gpus, &[]);
        assert_eq!((all[0].count, &all[0].device_ids), (Some(-1), &None));
        assert_eq!(all[0].driver.as_deref(), Some("nvidia"));
    }

    #[test]
    fn logging_keeps_driver_and_options() {
        let p = project(EVERYTHING);
        let l = host::log_config(p.model.services["pose"].logging.as_ref().unwrap());
        assert_eq!(l.typ.as_deref(), Some("json-file"));
        assert_eq!(l.config.unwrap()["max-size"], "10m");
    }

    #[test]
    fn older_engines_join_the_primary_network_at_create_and_the_rest_after() {
        let p = project(EVERYTHING);
        let eps = network::endpoints(&p, &p.model.services["pose"], &[], true);
        let names: Vec<_> = eps
            .iter()
            .map(|(n, e)| (n.as_str(), e.aliases.clone().unwrap()))
            .collect();
        // Compose's order: priority, then name.
        assert_eq!(
            names,
            [
                ("demo_back", vec!["pose".to_string()]),
                (
                    "demo_default",
                    vec!["pose".to_string(), "pose-api".to_string()]
                ),
            ]
        );
        let (now, later) = network::at_create(eps.clone(), true);
        assert_eq!((now.len(), later.len()), (2, 0));
        let (now, later) = network::at_create(eps, false);
        assert_eq!(
            (now[0].0.as_str(), later[0].0.as_str()),
            ("demo_back", "demo_default")
        );
        let spec = spec_of(&p, "pose", false);
        let host = spec.body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("demo_back"));
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
        let other = container_spec(&p, &p.model.services["pose"], "sha256:def", NEW);
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
        assert_eq!(host.restart_policy.unwrap().maximum_retry_count, Some(5));
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
