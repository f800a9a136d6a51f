//! The project: .env, template rendering, the typed compose model, the dependency graph.
//!
//! Loading is: resolve dir/name/env → render the template → parse YAML (line:column errors) →
//! interpolate like Compose → make relative paths absolute and ports loopback-bound → write
//! `.devstack/compose.yaml` → parse the typed model → validate the graph.

pub mod dotenv;
pub mod duration;
pub mod graph;
pub mod host;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod paths;
pub mod template;
pub mod traced;
pub mod watch;
pub mod yaml;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::engine::remote::Site;
pub use crate::errors::ProjectError;
use crate::errors::UsageError;
use crate::gpu::GpuSelection;
use host::HostFacts;
pub use model::ComposeModel;

/// Where the project is and what it is made of, as the command line says (`-C`, `-p`,
/// `--env-file`, `-f`, `--profile`); each `None` or empty means the default.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    pub project_dir: Option<PathBuf>,
    pub project_name: Option<String>,
    /// `--env-file` files in order (a later one wins), relative to the current directory.
    pub env_files: Vec<PathBuf>,
    /// `-f` files, relative to the current directory.
    pub files: Vec<PathBuf>,
    pub profiles: Vec<String>,
}

/// Directory, name and environment: everything known before rendering.
#[derive(Debug, Clone)]
pub struct ProjectSource {
    pub dir: PathBuf,
    pub name: String,
    /// The first env file (`.env`, or the first `--env-file`), for messages and labels.
    pub env_file: Option<PathBuf>,
    /// Every env file read, in order.
    pub env_files: Vec<PathBuf>,
    /// `.env` merged with the process environment (which wins), in `.env` order then the rest.
    pub env: IndexMap<String, String>,
    /// Keys as they appear in the `.env` file (for `doctor`'s unknown-key report).
    pub env_file_keys: Vec<String>,
    /// Compose's warnings about the env files (a variable used but not set), with file:line.
    pub env_warnings: Vec<String>,
    /// Enabled profiles: `--profile`, else `COMPOSE_PROFILES` (comma-separated).
    pub profiles: Vec<String>,
    /// `-f` files (absolute), merged in order; empty: the templates directory's entry
    /// template and its override.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub source: ProjectSource,
    pub model: ComposeModel,
    /// The normalised compose document as written to `.devstack/compose.yaml`.
    pub document: Value,
    pub compose_file: PathBuf,
    pub gpu: GpuSelection,
    /// Services and host processes, one dependency graph.
    pub graph: graph::Graph,
    /// Compose's warnings about the files (a variable that is not set), each once.
    pub warnings: Vec<String>,
    /// The compose files as read (templates rendered), before interpolation.
    pub sources: Vec<loader::Source>,
}

impl std::ops::Deref for Project {
    type Target = ProjectSource;
    fn deref(&self) -> &ProjectSource {
        &self.source
    }
}

#[derive(Serialize)]
struct RenderContext<'a> {
    env: &'a IndexMap<String, String>,
    project: ProjectCtx<'a>,
    gpu: GpuCtx<'a>,
    host: HostCtx<'a>,
    engine: EngineCtx,
}

#[derive(Serialize)]
struct HostCtx<'a> {
    wsl: bool,
    kinect: bool,
    display: &'a str,
}

/// `{{ engine.host }}`: where the Docker engine's published ports are reached from this
/// machine (a host process on this machine reaching Redis on a remote engine);
/// `{{ engine.remote }}`: whether the engine is on another machine.
#[derive(Serialize)]
struct EngineCtx {
    host: String,
    remote: bool,
}

#[derive(Serialize)]
struct ProjectCtx<'a> {
    name: &'a str,
    dir: String,
}

#[derive(Serialize)]
struct GpuCtx<'a> {
    available: bool,
    devices: &'a [crate::gpu::GpuDevice],
    selected: Vec<String>,
    request: &'static str,
}

pub fn normalize_name(raw: &str) -> String {
    let s: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

impl ProjectSource {
    pub fn resolve(opts: &ProjectOptions) -> Result<Self, ProjectError> {
        let dir = match &opts.project_dir {
            Some(d) => d.clone(),
            None => std::env::current_dir()
                .map_err(|e| ProjectError(format!("cannot read the current directory: {e}")))?,
        };
        let dir = std::fs::canonicalize(&dir).map_err(|e| {
            ProjectError(format!(
                "project directory {}: {e} (pass an existing directory with -C)",
                dir.display()
            ))
        })?;
        let cwd = std::env::current_dir().unwrap_or_default();
        let env_files = env_files(opts, &dir, &cwd)?;
        let process = process_env();
        let loaded = dotenv::load_files(&env_files, &|k| process.get(k).cloned())?;
        let env_file_keys: Vec<String> = loaded.vars.keys().cloned().collect();
        let mut env: IndexMap<String, String> = loaded.vars;
        // The process environment wins over the files, as in Compose.
        for (k, v) in &process {
            env.insert(k.clone(), v.clone());
        }
        let env_warnings: Vec<String> = loaded
            .unset
            .iter()
            .map(|u| {
                format!(
                    "{}:{}: {}",
                    u.file.display(),
                    u.line,
                    interpolate::unset_warning(&u.name)
                )
            })
            .collect();
        let files = compose_files(opts, &cwd)?;
        let explicit = opts
            .project_name
            .clone()
            .or_else(|| env.get("DEVSTACK_PROJECT").cloned())
            .or_else(|| env.get("COMPOSE_PROJECT_NAME").cloned())
            .filter(|s| !s.is_empty());
        let named_in = if files.is_empty() {
            vec![dir.join("templates").join(template::ENTRY)]
        } else {
            files.clone()
        };
        let from_file = explicit
            .is_none()
            .then(|| name_in_files(&named_in, &env))
            .flatten()
            .filter(|s| !s.is_empty());
        let name = explicit.or(from_file).unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let normalized = normalize_name(&name);
        if normalized.is_empty() {
            return Err(ProjectError(format!(
                "project name {name:?} has no usable characters: pass -p NAME with [a-z0-9_-]"
            )));
        }
        if opts.project_name.is_some() && normalized != name {
            return Err(ProjectError(format!(
                "project name {name:?} must be lowercase letters, digits, '_' or '-' (try {normalized:?})"
            )));
        }
        let profiles = if opts.profiles.is_empty() {
            env.get("COMPOSE_PROFILES")
                .map(|p| {
                    p.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            opts.profiles.clone()
        };
        Ok(ProjectSource {
            dir,
            name: normalized,
            env_file: env_files.first().cloned(),
            env_files,
            env,
            env_file_keys,
            env_warnings,
            profiles,
            files,
        })
    }

    /// Everything under `.devstack/`.
    pub fn paths(&self) -> paths::Paths {
        paths::Paths::new(&self.dir)
    }

    pub fn devstack_dir(&self) -> PathBuf {
        self.paths().root().to_path_buf()
    }

    pub fn compose_file(&self) -> PathBuf {
        self.paths().compose_file()
    }
}

/// The env files: every `--env-file` (each must exist), else the project's `.env` when it is a
/// file, unless `COMPOSE_DISABLE_ENV_FILE` is set.
fn env_files(opts: &ProjectOptions, dir: &Path, cwd: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    if !opts.env_files.is_empty() {
        return opts
            .env_files
            .iter()
            .map(|f| {
                let f = if f.is_absolute() {
                    f.clone()
                } else {
                    cwd.join(f)
                };
                if !f.exists() {
                    return Err(ProjectError(format!(
                        "--env-file {}: no such file",
                        f.display()
                    )));
                }
                if f.is_dir() {
                    return Err(ProjectError(format!(
                        "--env-file {}: is a directory: give --env-file a file",
                        f.display()
                    )));
                }
                Ok(f)
            })
            .collect();
    }
    let disabled = std::env::var("COMPOSE_DISABLE_ENV_FILE")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
    Ok(Some(dir.join(".env"))
        .filter(|f| f.is_file() && !disabled)
        .into_iter()
        .collect())
}

/// The `-f` files, absolute; anything that exists and is not a directory (a pipe such as
/// `<(cat c.yaml)` too).
fn compose_files(opts: &ProjectOptions, cwd: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    opts.files
        .iter()
        .map(|f| {
            let abs = if f.is_absolute() {
                f.clone()
            } else {
                cwd.join(f)
            };
            if !abs.exists() || abs.is_dir() {
                return Err(ProjectError(format!(
                    "-f {}: no such file (give a compose YAML file or a .j2 template)",
                    f.display()
                )));
            }
            Ok(abs)
        })
        .collect()
}

/// The process environment; a variable whose name or value is not UTF-8 is left out (it
/// cannot be written in a compose file or `.env` anyway).
fn process_env() -> IndexMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Compose's project name from the files' top-level `name:` (the last file that sets one),
/// interpolated; a template's `name:` is read when written without template syntax.
fn name_in_files(files: &[PathBuf], env: &IndexMap<String, String>) -> Option<String> {
    let mut name = None;
    for f in files {
        // A pipe (`-f <(cat c.yaml)`) can be read once, and the loader reads it.
        if !f.is_file() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let line = text.lines().find(|l| l.starts_with("name:")).map(|l| {
            l["name:".len()..]
                .trim()
                .trim_matches(['"', '\''])
                .to_string()
        });
        if let Some(n) = line.filter(|n| !n.contains("{{") && !n.contains("{%")) {
            name = interpolate::interpolate(&n, &|k| env.get(k).cloned()).ok();
        }
    }
    name.map(|n| normalize_name(&n))
}

impl Project {
    /// Renders with the host facts and the engine's site the caller passes (see
    /// `crate::host_facts` for which verbs probe; the site comes from DOCKER_HOST, the docker
    /// context and DEVSTACK_REMOTE), writes `.devstack/compose.yaml` and parses the model.
    pub fn load(
        source: ProjectSource,
        facts: &HostFacts,
        site: &Site,
    ) -> Result<Project, ProjectError> {
        // This machine's GPUs say nothing of a remote engine's: ask for that machine's (up's
        // preflight asks its engine whether it can serve GPU requests) unless DEVSTACK_GPU says.
        let there = crate::gpu::GpuInventory {
            available: true,
            ..Default::default()
        };
        let inventory = if site.remote { &there } else { &facts.gpu };
        let gpu = GpuSelection::from_env(|k| source.env.get(k).cloned(), inventory);
        let ctx = render_context(&source, facts, site, inventory, &gpu);
        let sources = read_sources(&source, &ctx)?;
        let (document, places, loader_warnings) = merged_document(&source, &sources, site)?;
        let mut model = parse_model(&source, &sources, &document, &places)?;
        place_ports_in_templates(&mut model, &sources);
        graph::validate(&model)?;
        let graph = graph::Graph::new(&model);
        let mut warnings = source.env_warnings.clone();
        warnings.extend(loader_warnings);
        let compose_file = source.compose_file();
        let header = header(&sources, &source);
        write_if_changed(
            &compose_file,
            &format!("{header}{}", compose_text(&document)?),
        )?;
        Ok(Project {
            source,
            model,
            document,
            sources,
            compose_file,
            gpu,
            graph,
            warnings,
        })
    }

    /// The name of `service`'s container number `n`: its `container_name`, else Compose's
    /// `{project}-{service}-{n}`.
    pub fn container_name(&self, service: &str, n: u32) -> String {
        self.model
            .services
            .get(service)
            .and_then(|s| s.container.container_name.clone())
            .unwrap_or_else(|| crate::engine::labels::container_name_n(&self.name, service, n))
    }

    /// How many containers `service` runs (`scale`, `deploy.replicas`; 1 when unknown).
    pub fn replicas(&self, service: &str) -> u32 {
        self.model.services.get(service).map_or(1, |s| s.replicas)
    }

    /// A project known only by its name and a graph (no rendered model).
    pub fn bare(source: ProjectSource, graph: graph::Graph) -> Project {
        let compose_file = source.compose_file();
        Project {
            source,
            model: ComposeModel::default(),
            document: Value::Null,
            compose_file,
            gpu: GpuSelection::None,
            graph,
            warnings: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// The compose file as `config` prints it: the services of the enabled profiles (Compose
    /// leaves the others out), in plain compose-spec YAML.
    pub fn config_text(&self, active: &[String]) -> Result<String, ProjectError> {
        let mut doc = self.document.clone();
        if let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) {
            services.retain(|name, _| active.contains(name));
        }
        compose_text(&doc)
    }

    /// The variables the compose files refer to (`config --variables`), from the files as
    /// written, before interpolation.
    pub fn variables(&self) -> IndexMap<String, interpolate::Variable> {
        let mut out = IndexMap::new();
        for src in &self.sources {
            for doc in yaml::parse(&src.text, &src.name).unwrap_or_default() {
                out.extend(interpolate::extract_variables(&doc.to_json().0));
            }
        }
        out
    }

    /// Resolves a user's service name: exact, alias, or unique prefix; else "did you mean".
    pub fn resolve_service(&self, name: &str) -> Result<String, UsageError> {
        resolve_name(
            name,
            self.model
                .services
                .keys()
                .chain(self.model.x_devstack.host.keys()),
            &self.model.x_devstack.aliases,
        )
    }

    pub fn resolve_services(&self, names: &[String]) -> Result<Vec<String>, UsageError> {
        names.iter().map(|n| self.resolve_service(n)).collect()
    }
}

pub fn resolve_name<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a String> + Clone,
    aliases: &IndexMap<String, String>,
) -> Result<String, UsageError> {
    if candidates.clone().any(|c| c == name) {
        return Ok(name.to_string());
    }
    if let Some(t) = aliases.get(name) {
        return Ok(t.clone());
    }
    let prefixed: Vec<&String> = candidates.clone().filter(|c| c.starts_with(name)).collect();
    if prefixed.len() == 1 {
        return Ok(prefixed[0].clone());
    }
    let all: Vec<&str> = candidates.clone().map(String::as_str).collect();
    if prefixed.len() > 1 {
        return Err(UsageError(format!(
            "service name `{name}` is ambiguous: it could be {}",
            prefixed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let suggestion = all
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .chain(aliases.keys().map(|a| (edit_distance(name, a), a.as_str())))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, c)| format!(" — did you mean `{c}`?"))
        .unwrap_or_default();
    Err(UsageError(format!(
        "no such service: `{name}`{suggestion} (services: {})",
        all.join(", ")
    )))
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// What the templates see: `env`, `project`, `gpu`, `host` and `engine`.
fn render_context<'a>(
    source: &'a ProjectSource,
    facts: &'a HostFacts,
    site: &Site,
    inventory: &'a crate::gpu::GpuInventory,
    gpu: &GpuSelection,
) -> RenderContext<'a> {
    RenderContext {
        env: &source.env,
        project: ProjectCtx {
            name: &source.name,
            dir: source.dir.display().to_string(),
        },
        gpu: GpuCtx {
            available: inventory.available,
            devices: &inventory.devices,
            selected: gpu.ids(),
            request: gpu.mode(),
        },
        host: HostCtx {
            wsl: facts.wsl,
            kinect: facts.kinect,
            display: &facts.display,
        },
        engine: EngineCtx {
            // Ready for a URL: an IPv6 address in brackets.
            host: if site.host.contains(':') {
                format!("[{}]", site.host)
            } else {
                site.host.clone()
            },
            remote: site.remote,
        },
    }
}

/// The compose files as read, templates rendered (after the documented enumerations of the
/// entry template's variables are checked).
fn read_sources(
    source: &ProjectSource,
    ctx: &impl Serialize,
) -> Result<Vec<loader::Source>, ProjectError> {
    if source.files.is_empty() {
        template::check_env_values(
            &source.dir.join("templates"),
            &source.env,
            source.env_file.as_deref(),
        )?;
    }
    std::fs::create_dir_all(source.devstack_dir()).map_err(|e| {
        ProjectError(format!(
            "cannot create {}: {e}",
            source.devstack_dir().display()
        ))
    })?;
    compose_sources(source, ctx)
}

/// The sources merged and interpolated, paths made absolute and ports bound (loopback on a
/// local engine), as JSON with the places of its values; and the loader's warnings.
fn merged_document(
    source: &ProjectSource,
    sources: &[loader::Source],
    site: &Site,
) -> Result<(Value, yaml::Places, Vec<String>), ProjectError> {
    // Compose gives the files the project's name as ${COMPOSE_PROJECT_NAME}.
    let mut env = source.env.clone();
    env.insert("COMPOSE_PROJECT_NAME".into(), source.name.clone());
    let mut loader = loader::Loader::new(&env);
    let loaded = loader
        .load(sources)
        .map_err(|e| template::point_into_templates(e, &source.dir.join("templates")))?;
    let Some(mut doc) = loaded else {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        return Err(ProjectError(format!(
            "{}: empty compose file: define `services:`",
            names.join(", ")
        )));
    };
    normalize::resolve_paths(&mut doc, &source.dir);
    normalize::resolve_environment(&mut doc, &source.env);
    normalize::bind_ports(&mut doc, if site.remote { "0.0.0.0" } else { "127.0.0.1" });
    let (document, places) = doc.to_json();
    Ok((document, places, loader.warnings))
}

/// The typed model; a bad value that came from a variable (`${VAR}`, or `{{ env.VAR }}` in a
/// template) is reported against the variable's .env line.
fn parse_model(
    source: &ProjectSource,
    sources: &[loader::Source],
    document: &Value,
    places: &yaml::Places,
) -> Result<ComposeModel, ProjectError> {
    let mut origins = interpolate::Origins::default();
    for (path, names) in &places.vars {
        origins.record(path, names.clone());
    }
    for (path, names) in traced::template_variables(places, sources) {
        origins.record(&path, names);
    }
    let blame = |at: &str| origins.blame_in(at, &source.env, &source.env_files);
    // An error with no place of its own (no `services:` at all) names the user's files,
    // not the generated one.
    let file = sources
        .iter()
        .map(|s| user_file(s).display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    model::parse_placed(
        document,
        &file,
        places,
        &source.env,
        &source.name,
        Some(&blame),
    )
    .map_err(|e| template::point_into_templates(e, &source.dir.join("templates")))
}

/// A port written in a template is named by the template's line, not its rendering's.
fn place_ports_in_templates(model: &mut ComposeModel, sources: &[loader::Source]) {
    for svc in model.services.values_mut() {
        for p in &mut svc.ports {
            let model::PortSource::File { file, line } = &p.source else {
                continue;
            };
            if let Some((file, line)) = traced::template_place(file, *line, sources) {
                p.source = model::PortSource::File { file, line };
            }
        }
    }
}

/// The file the user wrote for a source: a rendering's template, else the file itself.
fn user_file(s: &loader::Source) -> PathBuf {
    match s.name.split_once("/.devstack/rendered/") {
        Some((_, stem)) => s.dir.join(format!("{stem}.j2")),
        None => PathBuf::from(&s.name),
    }
}

/// The compose sources in merge order: the entry template's rendering and the override
/// beside it, or the `-f` files; a `.j2` file is rendered with the project's context and its
/// rendering kept under `.devstack/rendered/`, so positions in messages can be read.
fn compose_sources(
    source: &ProjectSource,
    ctx: &impl Serialize,
) -> Result<Vec<loader::Source>, ProjectError> {
    let templates = source.dir.join("templates");
    let files: Vec<PathBuf> = if source.files.is_empty() {
        let entry = templates.join(template::ENTRY);
        let overrides = [
            "compose.override.yaml.j2",
            "compose.override.yaml",
            "compose.override.yml",
        ]
        .iter()
        .map(|n| templates.join(n))
        .filter(|p| p.is_file())
        .take(1);
        std::iter::once(entry).chain(overrides).collect()
    } else {
        source.files.clone()
    };
    files
        .iter()
        .map(|f| compose_source(source, f, ctx))
        .collect()
}

fn compose_source(
    source: &ProjectSource,
    file: &Path,
    ctx: &impl Serialize,
) -> Result<loader::Source, ProjectError> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(stem) = name.strip_suffix(".j2") else {
        return loader::Source::read(file);
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let text = template::render_named(dir, &name, ctx)?;
    let rendered = source.paths().rendered(stem);
    if let Some(parent) = rendered.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| ProjectError(format!("cannot create {}: {e}", parent.display())))?;
    }
    write_if_changed(&rendered, &text)?;
    Ok(loader::Source {
        name: rendered.display().to_string(),
        text,
        dir: dir.to_path_buf(),
    })
}

/// The rendered file's first lines: what it was made from (the files the user wrote, as they
/// are named from the project directory, and every env file read), and that Compose reads it.
fn header(sources: &[loader::Source], source: &ProjectSource) -> String {
    let from: Vec<String> = sources
        .iter()
        .map(|s| {
            let file = user_file(s);
            let shown = shown_from(&source.dir, &file);
            if file.exists() {
                shown
            } else {
                format!("{shown} (embedded default)")
            }
        })
        .collect();
    let env = if source.env_files.is_empty() {
        String::new()
    } else {
        let files: Vec<String> = source
            .env_files
            .iter()
            .map(|f| shown_from(&source.dir, f))
            .collect();
        format!(" and {}", files.join(", "))
    };
    format!(
        "# Rendered by devstack from {}{env}; do not edit.\n\
         # Plain compose-spec: docker compose -f .devstack/compose.yaml -p NAME ps|logs|config\n",
        from.join(", ")
    )
}

/// A path as named from the project directory when it is inside it, else in full.
fn shown_from(dir: &Path, file: &Path) -> String {
    file.strip_prefix(dir)
        .map_or_else(|_| file.display().to_string(), |r| r.display().to_string())
}

/// Where an error message names a position, the position as "file:line:col: ".
pub(crate) fn error_at(pos: Option<&yaml::Pos>, path: &str, msg: &str) -> ProjectError {
    match pos {
        Some(p) if !path.is_empty() => ProjectError(format!("{p}: {path}: {msg}")),
        Some(p) => ProjectError(format!("{p}: {msg}")),
        None if !path.is_empty() => ProjectError(format!("{path}: {msg}")),
        None => ProjectError(msg.to_string()),
    }
}

/// A document as the YAML Compose reads (docker-compose 1.29 included), `$` escaped as `$$`.
fn compose_text(document: &Value) -> Result<String, ProjectError> {
    serde_saphyr::to_string(&escape_dollars(compose_v1_compatible(document.clone())))
        .map_err(|e| ProjectError(format!("cannot serialise the compose file: {e}")))
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), ProjectError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text)
        .map_err(|e| ProjectError(format!("cannot write {}: {e}", path.display())))
}

/// Debian's docker-compose 1.29 rejects `depends_on.<svc>.restart`/`required` (newer spec
/// keys). The written file moves them to a service-level `x-devstack-depends-on` extension, which
/// every Compose accepts and ignores; devstack itself acts on the in-memory model.
fn compose_v1_compatible(mut doc: Value) -> Value {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return doc;
    };
    for svc in services.values_mut() {
        let Some(svc) = svc.as_object_mut() else {
            continue;
        };
        // `develop` (watch rules) is newer than 1.29's schema; Compose still reads `x-develop`.
        if let Some(develop) = svc.shift_remove("develop") {
            svc.insert("x-develop".into(), develop);
        }
        let Some(Value::Object(deps)) = svc.get_mut("depends_on") else {
            continue;
        };
        let mut moved = serde_json::Map::new();
        for (name, spec) in deps.iter_mut() {
            let Some(spec) = spec.as_object_mut() else {
                continue;
            };
            let mut extra = serde_json::Map::new();
            for key in ["restart", "required"] {
                if let Some(v) = spec.remove(key) {
                    extra.insert(key.to_string(), v);
                }
            }
            if !extra.is_empty() {
                moved.insert(name.clone(), Value::Object(extra));
            }
        }
        if !moved.is_empty() {
            svc.insert("x-devstack-depends-on".into(), Value::Object(moved));
        }
    }
    doc
}

/// After interpolation a `$` is literal; the written file must say `$$` for Compose.
fn escape_dollars(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.into_iter().map(escape_dollars).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, escape_dollars(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_like_the_cli_promises() {
        let svcs = [
            "pose-service".to_string(),
            "backend-api".to_string(),
            "redis".to_string(),
        ];
        let aliases = IndexMap::from([("api".to_string(), "backend-api".to_string())]);
        assert_eq!(
            resolve_name("pose", svcs.iter(), &aliases).unwrap(),
            "pose-service"
        );
        assert_eq!(
            resolve_name("api", svcs.iter(), &aliases).unwrap(),
            "backend-api"
        );
        assert_eq!(
            resolve_name("redis", svcs.iter(), &aliases).unwrap(),
            "redis"
        );
        let e = resolve_name("rediss", svcs.iter(), &aliases).unwrap_err();
        assert!(e.0.contains("did you mean `redis`"), "{e}");
        assert!(
            e.0.contains("services: pose-service, backend-api, redis"),
            "{e}"
        );
    }

    #[test]
    fn project_names_normalise() {
        assert_eq!(normalize_name("My Project.v2"), "myprojectv2");
        assert_eq!(normalize_name("_x-y"), "x-y");
    }
}
