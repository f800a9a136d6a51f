//! Compose files into one document, in compose-go's order (`loader.loadYamlFile`): each
//! document of each file is parsed, interpolated (and the values Compose types cast), its
//! `include`s imported, its `extends` applied, then merged onto what the earlier files made.
//! Errors name the user's file, line and column.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::error_at as errors_at;
use super::interpolate;
use super::merge;
use super::normalize;
use super::yaml::{self, Map, Node, Value};
use crate::errors::ProjectError;

/// One compose file's text, its name in messages and the directory its relative references
/// (`include`, `extends.file`) start from.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
    pub dir: PathBuf,
}

impl Source {
    /// A file read from disk.
    pub fn read(path: &Path) -> Result<Source, ProjectError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProjectError(format!("{}: cannot read: {e}", path.display())))?;
        Ok(Source {
            name: path.display().to_string(),
            text,
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }
}

/// Loads compose files with the project's variables.
pub struct Loader<'a> {
    env: &'a IndexMap<String, String>,
    /// Compose's warnings (a variable that is not set), each once.
    pub warnings: Vec<String>,
}

impl<'a> Loader<'a> {
    pub fn new(env: &'a IndexMap<String, String>) -> Self {
        Loader {
            env,
            warnings: Vec::new(),
        }
    }

    /// The sources merged in order; `None` when they hold no document.
    pub fn load(&mut self, sources: &[Source]) -> Result<Option<Node>, ProjectError> {
        self.load_chain(sources, &mut Vec::new())
    }

    fn load_chain(
        &mut self,
        sources: &[Source],
        included: &mut Vec<PathBuf>,
    ) -> Result<Option<Node>, ProjectError> {
        let mut acc: Option<Node> = None;
        for src in sources {
            let docs = yaml::parse(&src.text, &src.name).map_err(yaml_error)?;
            for mut doc in docs {
                if doc.as_map().is_none() {
                    return Err(ProjectError(format!(
                        "{}: the top level of a compose file must be a mapping (with `services:`)",
                        doc.pos
                            .as_ref()
                            .map_or(src.name.clone(), ToString::to_string)
                    )));
                }
                self.interpolate(&mut doc, &mut Vec::new())?;
                self.drop_version(&mut doc, src);
                self.include(&mut doc, src, included)?;
                self.extends(&mut doc, src)?;
                acc = Some(match acc {
                    None => merge::single(doc),
                    Some(base) => {
                        merge::merge(base, doc).map_err(|e| ProjectError(e.to_string()))?
                    }
                });
            }
        }
        Ok(acc)
    }

    /// `version:` is obsolete: Compose drops it with a warning, so the project never has it.
    fn drop_version(&mut self, doc: &mut Node, src: &Source) {
        if doc
            .as_map_mut()
            .and_then(|m| m.shift_remove("version"))
            .is_some()
        {
            self.warnings.push(format!(
                "{}: the attribute `version` is obsolete, it will be ignored, please remove it \
                 to avoid potential confusion",
                src.name
            ));
        }
    }

    /// Interpolates every string value (not keys) as Compose does, records which variables
    /// each used, and casts the values Compose types.
    fn interpolate(&mut self, n: &mut Node, path: &mut Vec<String>) -> Result<(), ProjectError> {
        match &mut n.value {
            Value::Str(s) => {
                let lookup = |k: &str| self.env.get(k).cloned();
                let ex = interpolate::expand(s, &lookup).map_err(|e| {
                    errors_at(
                        n.pos.as_ref(),
                        &dotted(path),
                        &format!("{e} (set it in .env or the environment)"),
                    )
                })?;
                for name in &ex.unset {
                    let warning = interpolate::unset_warning(name);
                    if !self.warnings.contains(&warning) {
                        self.warnings.push(warning);
                    }
                }
                let out = ex.value;
                n.vars = ex.used;
                n.value = match cast_for(path) {
                    Some(cast) => cast(&out).map_err(|why| {
                        errors_at(n.pos.as_ref(), &dotted(path), &format!("{out:?}: {why}"))
                    })?,
                    None => Value::Str(out),
                };
            }
            Value::Seq(items) => {
                path.push("[]".into());
                for item in items {
                    self.interpolate(item, path)?;
                }
                path.pop();
            }
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    path.push(k.clone());
                    self.interpolate(v, path)?;
                    path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `include:` each entry's files loaded as a project of their own (their directory, their
    /// `.env`), their services, networks, volumes, secrets and configs added to this file's;
    /// a resource this file defines too is merged, this file's definition winning.
    fn include(
        &mut self,
        doc: &mut Node,
        src: &Source,
        included: &mut Vec<PathBuf>,
    ) -> Result<(), ProjectError> {
        let Some(entries) = doc.as_map_mut().and_then(|m| m.shift_remove("include")) else {
            return Ok(());
        };
        let at = |n: &Node, msg: &str| errors_at(n.pos.as_ref(), "include", msg);
        let Value::Seq(items) = &entries.value else {
            return Err(at(
                &entries,
                "expected a list of files or of {path, project_directory, env_file}",
            ));
        };
        for item in items {
            let entry = IncludeEntry::read(item, &src.dir).map_err(|m| at(item, &m.to_string()))?;
            let imported = self.load_included(&entry, item, included)?;
            import_resources(doc, imported).map_err(|e| ProjectError(e.to_string()))?;
        }
        Ok(())
    }

    fn load_included(
        &mut self,
        entry: &IncludeEntry,
        item: &Node,
        included: &mut Vec<PathBuf>,
    ) -> Result<Node, ProjectError> {
        let main = &entry.paths[0];
        if included.contains(main) {
            let chain: Vec<String> = included
                .iter()
                .chain([main])
                .map(|p| p.display().to_string())
                .collect();
            return Err(errors_at(
                item.pos.as_ref(),
                "include",
                &format!("include cycle: {}", chain.join(" includes ")),
            ));
        }
        let mut env = self.env.clone();
        for f in &entry.env_files {
            let text = std::fs::read_to_string(f).map_err(|e| {
                errors_at(
                    item.pos.as_ref(),
                    "include.env_file",
                    &format!("{}: {e}", f.display()),
                )
            })?;
            let outer = |k: &str| self.env.get(k).cloned();
            for (k, v) in super::dotenv::parse(&text, f, &outer)? {
                // The including project's variables win over the included .env.
                env.entry(k).or_insert(v);
            }
        }
        // The included project's references (`extends.file`, nested `include`) are relative
        // to its project directory, as its paths are.
        let sources = entry
            .paths
            .iter()
            .map(|p| {
                Source::read(p).map(|s| Source {
                    dir: entry.project_dir.clone(),
                    ..s
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| errors_at(item.pos.as_ref(), "include", &e.0))?;
        included.push(main.clone());
        let mut sub = Loader::new(&env);
        let loaded = sub.load_chain(&sources, included);
        included.pop();
        self.warnings.extend(sub.warnings);
        let mut doc = loaded?.unwrap_or_else(|| Node::map(Map::new()));
        normalize::resolve_paths(&mut doc, &entry.project_dir);
        // `environment: [KEY]` takes KEY from the included project's variables (its env_file).
        normalize::resolve_environment(&mut doc, &env);
        Ok(doc)
    }

    /// `extends:` each service that extends another (in this file or in `file:`) becomes the
    /// other merged with its own keys, recursively; a cycle is an error that names it.
    fn extends(&mut self, doc: &mut Node, src: &Source) -> Result<(), ProjectError> {
        let Some(services) = doc.get("services").and_then(Node::as_map).cloned() else {
            return Ok(());
        };
        let mut out = Map::new();
        for name in services.keys() {
            let file = PathBuf::from(&src.name);
            let svc = self.extended(&services, name, &file, &src.dir, &mut Vec::new())?;
            out.insert(name.clone(), svc);
        }
        if let Some(s) = doc.get_mut("services") {
            s.value = Value::Map(out);
        }
        Ok(())
    }

    fn extended(
        &mut self,
        services: &Map,
        name: &str,
        file: &Path,
        dir: &Path,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Node, ProjectError> {
        let svc = services[name].clone();
        let Some(ext) = svc.get("extends") else {
            return Ok(svc);
        };
        let at = format!("services.{name}.extends");
        let (base_name, base_file) = match &ext.value {
            Value::Str(s) => (s.clone(), None),
            Value::Map(m) => {
                let service = m
                    .get("service")
                    .and_then(Node::scalar_text)
                    .ok_or_else(|| {
                        errors_at(
                            ext.pos.as_ref(),
                            &at,
                            "`service` is required: the name of the service to extend",
                        )
                    })?;
                let f = m.get("file").and_then(Node::scalar_text);
                (
                    service,
                    f.map(|f| PathBuf::from(normalize::absolute(&f, dir))),
                )
            }
            _ => {
                return Err(errors_at(
                    ext.pos.as_ref(),
                    &at,
                    "expected a service name or {service, file}",
                ))
            }
        };
        let key = (file.to_path_buf(), name.to_string());
        if chain.contains(&key) {
            let path: Vec<String> = chain
                .iter()
                .chain([&key])
                .map(|(f, s)| format!("{s} in {}", f.display()))
                .collect();
            return Err(errors_at(
                ext.pos.as_ref(),
                &at,
                &format!("extends cycle: {}", path.join(" extends ")),
            ));
        }
        chain.push(key);
        let base = match base_file {
            None => {
                if !services.contains_key(&base_name) {
                    return Err(errors_at(
                        ext.pos.as_ref(),
                        &at,
                        &format!("service {base_name:?} not found in {}", file.display()),
                    ));
                }
                self.extended(services, &base_name, file, dir, chain)?
            }
            Some(other) => {
                let (others, other_dir) = self.services_of(&other, ext)?;
                if !others.contains_key(&base_name) {
                    return Err(errors_at(
                        ext.pos.as_ref(),
                        &at,
                        &format!("service {base_name:?} not found in {}", other.display()),
                    ));
                }
                self.extended(&others, &base_name, &other, &other_dir, chain)?
            }
        };
        chain.pop();
        let mut merged =
            merge::extend_service(base, svc).map_err(|e| ProjectError(e.to_string()))?;
        if let Some(m) = merged.as_map_mut() {
            m.shift_remove("extends");
        }
        Ok(merged)
    }

    /// Another file's services for `extends.file`: interpolated, relative paths resolved
    /// against that file's directory.
    fn services_of(&mut self, file: &Path, ext: &Node) -> Result<(Map, PathBuf), ProjectError> {
        let src =
            Source::read(file).map_err(|e| errors_at(ext.pos.as_ref(), "extends.file", &e.0))?;
        let mut docs = yaml::parse(&src.text, &src.name).map_err(yaml_error)?;
        let mut doc = match docs.len() {
            0 => Node::map(Map::new()),
            _ => docs.remove(0),
        };
        self.interpolate(&mut doc, &mut Vec::new())?;
        // Compose skips the defaults here: a build without context is the extending project's.
        normalize::resolve_relative_paths(&mut doc, &src.dir);
        let services = doc
            .get("services")
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default();
        Ok((services, src.dir))
    }
}

/// Why an `include:` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum IncludeError {
    #[error("each entry is a path or {{path, project_directory, env_file}}")]
    Shape,
    #[error("an entry needs `path`: the compose file to include")]
    NoPath,
    #[error("{}: no such file", .0.display())]
    NoSuchFile(PathBuf),
}

/// `include:` entry: a path, or `{path: one or several, project_directory, env_file}`.
struct IncludeEntry {
    paths: Vec<PathBuf>,
    project_dir: PathBuf,
    env_files: Vec<PathBuf>,
}

impl IncludeEntry {
    fn read(item: &Node, dir: &Path) -> Result<IncludeEntry, IncludeError> {
        let strings = |n: Option<&Node>| -> Vec<String> {
            match n.map(|n| &n.value) {
                Some(Value::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
                Some(_) => n.and_then(Node::scalar_text).into_iter().collect(),
                None => Vec::new(),
            }
        };
        let (paths, project_dir, env_files) = match &item.value {
            Value::Str(s) => (vec![s.clone()], None, Vec::new()),
            Value::Map(_) => (
                strings(item.get("path")),
                item.get("project_directory").and_then(Node::scalar_text),
                strings(item.get("env_file")),
            ),
            _ => return Err(IncludeError::Shape),
        };
        if paths.is_empty() {
            return Err(IncludeError::NoPath);
        }
        let paths: Vec<PathBuf> = paths
            .iter()
            .map(|p| PathBuf::from(normalize::absolute(p, dir)))
            .collect();
        for p in &paths {
            if !p.is_file() {
                return Err(IncludeError::NoSuchFile(p.clone()));
            }
        }
        let project_dir = match project_dir {
            Some(d) => PathBuf::from(normalize::absolute(&d, dir)),
            None => paths[0].parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let env_files = if env_files.is_empty() {
            let default = project_dir.join(".env");
            default.is_file().then_some(default).into_iter().collect()
        } else {
            env_files
                .iter()
                .filter(|f| f.as_str() != "/dev/null")
                .map(|f| PathBuf::from(normalize::absolute(f, dir)))
                .collect()
        };
        Ok(IncludeEntry {
            paths,
            project_dir,
            env_files,
        })
    }
}

/// The included project's resources added to `doc`; one `doc` defines too is merged, with
/// `doc`'s definition on top.
fn import_resources(doc: &mut Node, imported: Node) -> Result<(), merge::MergeError> {
    let Value::Map(from) = imported.value else {
        return Ok(());
    };
    let Some(target) = doc.as_map_mut() else {
        return Ok(());
    };
    for (kind, defs) in from {
        if !matches!(
            kind.as_str(),
            "services" | "volumes" | "networks" | "secrets" | "configs" | "models"
        ) {
            continue;
        }
        let Value::Map(defs) = defs.value else {
            continue;
        };
        let slot = target
            .entry(kind.clone())
            .or_insert_with(|| Node::map(Map::new()));
        if slot.is_null() {
            slot.value = Value::Map(Map::new());
        }
        let Some(to) = slot.as_map_mut() else {
            continue;
        };
        for (name, def) in defs {
            let merged = match to.shift_remove(&name) {
                None => def,
                Some(existing) => {
                    let wrap = |n: Node| {
                        let mut m = Map::new();
                        let mut inner = Map::new();
                        inner.insert(name.clone(), n);
                        m.insert(kind.clone(), Node::map(inner));
                        Node::map(m)
                    };
                    let out = merge::merge(merge::single(wrap(def)), wrap(existing))?;
                    out.get(&kind)
                        .and_then(|k| k.get(&name))
                        .cloned()
                        .unwrap_or_else(|| Node::new(Value::Null))
                }
            };
            to.insert(name, merged);
        }
    }
    Ok(())
}

/// A path for messages: `services.web.ports[]`.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg == "[]" {
            out.push_str("[]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// What an interpolated value had to be, and was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum CastError {
    #[error("expected a whole number")]
    Integer,
    #[error("expected a number")]
    Number,
    #[error("expected true or false")]
    Boolean,
}

type Cast = fn(&str) -> Result<Value, CastError>;

/// The values compose-go types after interpolation (`interpolateTypeCastMapping`): a
/// `"${REPLICAS}"` becomes the number the engine needs.
fn cast_for(path: &[String]) -> Option<Cast> {
    const INT: Cast = |s| {
        s.trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| CastError::Integer)
    };
    const FLOAT: Cast = |s| {
        s.trim()
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| CastError::Number)
    };
    const BOOL: Cast = |s| match s.to_ascii_lowercase().as_str() {
        "true" | "y" | "yes" | "on" => Ok(Value::Bool(true)),
        "false" | "n" | "no" | "off" => Ok(Value::Bool(false)),
        _ => Err(CastError::Boolean),
    };
    const SERVICE: &[(&[&str], Cast)] = &[
        (&["cpu_count"], INT),
        (&["cpu_percent"], FLOAT),
        (&["cpu_period"], INT),
        (&["cpu_quota"], INT),
        (&["cpu_rt_period"], INT),
        (&["cpu_rt_runtime"], INT),
        (&["cpus"], FLOAT),
        (&["cpu_shares"], INT),
        (&["init"], BOOL),
        (&["depends_on", "*", "required"], BOOL),
        (&["depends_on", "*", "restart"], BOOL),
        (&["deploy", "replicas"], INT),
        (&["deploy", "update_config", "parallelism"], INT),
        (&["deploy", "update_config", "max_failure_ratio"], FLOAT),
        (&["deploy", "rollback_config", "parallelism"], INT),
        (&["deploy", "rollback_config", "max_failure_ratio"], FLOAT),
        (&["deploy", "restart_policy", "max_attempts"], INT),
        (&["deploy", "placement", "max_replicas_per_node"], INT),
        (&["healthcheck", "retries"], INT),
        (&["healthcheck", "disable"], BOOL),
        (&["oom_kill_disable"], BOOL),
        (&["oom_score_adj"], INT),
        (&["pids_limit"], INT),
        (&["ports", "[]", "target"], INT),
        (&["privileged"], BOOL),
        (&["read_only"], BOOL),
        (&["scale"], INT),
        (&["stdin_open"], BOOL),
        (&["tty"], BOOL),
        (&["ulimits", "*"], INT),
        (&["ulimits", "*", "hard"], INT),
        (&["ulimits", "*", "soft"], INT),
        (&["volumes", "[]", "read_only"], BOOL),
        (&["volumes", "[]", "volume", "nocopy"], BOOL),
    ];
    const TOP: &[(&[&str], Cast)] = &[
        (&["networks", "*", "external"], BOOL),
        (&["networks", "*", "internal"], BOOL),
        (&["networks", "*", "attachable"], BOOL),
        (&["networks", "*", "enable_ipv4"], BOOL),
        (&["networks", "*", "enable_ipv6"], BOOL),
        (&["volumes", "*", "external"], BOOL),
        (&["secrets", "*", "external"], BOOL),
        (&["configs", "*", "external"], BOOL),
    ];
    let fits = |rest: &[String], pattern: &[&str]| {
        rest.len() == pattern.len() && rest.iter().zip(pattern).all(|(p, q)| *q == "*" || p == q)
    };
    if path.len() >= 3 && path[0] == "services" {
        let rest = &path[2..];
        return SERVICE.iter().find(|(p, _)| fits(rest, p)).map(|(_, c)| *c);
    }
    TOP.iter().find(|(p, _)| fits(path, p)).map(|(_, c)| *c)
}

/// A file that is not YAML Compose reads: where, what, and the fix.
pub(crate) fn yaml_error(e: yaml::YamlError) -> ProjectError {
    ProjectError(match e {
        yaml::YamlError::DuplicateKey { at, key, first } => format!(
            "YAML error at {at}: duplicate key `{key}` (first set at line {first}): a mapping may \
             set each key once; remove one of the two or merge them"
        ),
        yaml::YamlError::Syntax { at, message } => {
            format!("YAML error at {at}: {message} (fix the YAML there)")
        }
        yaml::YamlError::Limit { at, what } => format!("YAML error at {at}: {what}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load(env: &[(&str, &str)], files: &[PathBuf]) -> Result<serde_json::Value, ProjectError> {
        let env: IndexMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sources: Vec<Source> = files.iter().map(|f| Source::read(f).unwrap()).collect();
        let doc = Loader::new(&env).load(&sources)?.unwrap();
        Ok(doc.to_json().0)
    }

    #[test]
    fn interpolated_values_are_typed_where_compose_types_them() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "c.yaml",
            "services:\n  a:\n    image: \"img:${TAG}\"\n    tty: \"${TTY}\"\n    scale: ${N}\n    ports: [{target: \"${P}\"}]\n",
        );
        let j = load(
            &[("TAG", "1"), ("TTY", "yes"), ("N", "3"), ("P", "80")],
            &[f],
        )
        .unwrap();
        let a = &j["services"]["a"];
        assert_eq!(a["image"], "img:1");
        assert_eq!(a["tty"], true);
        assert_eq!(a["scale"], 3);
        assert_eq!(a["ports"][0]["target"], 80);
        let f = write(
            d.path(),
            "bad.yaml",
            "services:\n  a:\n    image: x\n    scale: \"${N}\"\n",
        );
        let e = load(&[("N", "many")], &[f]).unwrap_err();
        assert!(
            e.0.ends_with("bad.yaml:4:12: services.a.scale: \"many\": expected a whole number"),
            "{e}"
        );
    }

    #[test]
    fn extends_in_the_file_and_from_another() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "common/base.yaml",
            "services:\n  web:\n    image: base\n    environment: [A=1]\n    volumes: [\"./data:/data\"]\n",
        );
        let f = write(
            d.path(),
            "compose.yaml",
            "services:\n  app:\n    extends: {file: common/base.yaml, service: web}\n    environment: [B=2]\n  worker:\n    extends: app\n    command: run\n",
        );
        let j = load(&[], &[f]).unwrap();
        let app = &j["services"]["app"];
        assert_eq!(app["image"], "base");
        assert_eq!(app["environment"], serde_json::json!(["A=1", "B=2"]));
        let data = format!("{}/common/data:/data", d.path().display());
        assert_eq!(
            app["volumes"][0],
            data.as_str(),
            "relative to the extended file"
        );
        assert!(app.get("extends").is_none());
        assert_eq!(j["services"]["worker"]["image"], "base");
        assert_eq!(j["services"]["worker"]["command"], "run");
    }

    #[test]
    fn an_extends_cycle_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "c.yaml",
            "services:\n  a: {extends: b}\n  b: {extends: a}\n",
        );
        let e = load(&[], &[f]).unwrap_err();
        assert!(e.0.contains("extends cycle: a in"), "{e}");
    }

    #[test]
    fn include_imports_another_project() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "db/.env", "DB_TAG=7\nWHO=db\n");
        write(
            d.path(),
            "db/compose.yaml",
            "services:\n  db:\n    image: \"mongo:${DB_TAG}\"\n    environment: [\"WHO=${WHO}\"]\n    volumes: [\"./init:/init\"]\nvolumes:\n  data: {}\n",
        );
        let f = write(
            d.path(),
            "compose.yaml",
            "include:\n  - db/compose.yaml\nservices:\n  api:\n    image: api\n    depends_on: [db]\n",
        );
        let j = load(&[("WHO", "main")], &[f]).unwrap();
        assert_eq!(j["services"]["db"]["image"], "mongo:7");
        assert_eq!(
            j["services"]["db"]["environment"][0], "WHO=main",
            "the including project's variables win"
        );
        let init = format!("{}/db/init:/init", d.path().display());
        assert_eq!(j["services"]["db"]["volumes"][0], init.as_str());
        assert!(j["volumes"].get("data").is_some());
        assert!(j.get("include").is_none());
        let cyc = write(
            d.path(),
            "loop.yaml",
            "include: [loop.yaml]\nservices: {}\n",
        );
        let e = load(&[], &[cyc]).unwrap_err();
        assert!(e.0.contains("include cycle"), "{e}");
    }

    #[test]
    fn an_include_is_a_project_of_its_own_directory_and_variables() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "custom.env", "VAR=value\n");
        write(
            d.path(),
            "module/compose.yaml",
            "services:\n  b:\n    image: x\n    environment: [VAR]\n    build: {dockerfile_inline: FROM scratch}\n  c:\n    extends: {file: module/base.yaml, service: base}\n",
        );
        write(
            d.path(),
            "module/base.yaml",
            "services:\n  base: {image: base}\n",
        );
        let f = write(
            d.path(),
            "compose.yaml",
            "include:\n  - path: module/compose.yaml\n    project_directory: .\n    env_file: custom.env\nservices:\n  a:\n    image: x\n    environment: [VAR]\n",
        );
        let j = load(&[], &[f]).unwrap();
        let s = &j["services"];
        assert_eq!(s["b"]["environment"], serde_json::json!(["VAR=value"]));
        assert_eq!(
            s["a"]["environment"],
            serde_json::json!(["VAR"]),
            "not the include's"
        );
        let root = d.path().display().to_string();
        assert_eq!(s["b"]["build"]["context"], root.as_str());
        assert_eq!(
            s["c"]["image"], "base",
            "extends.file against project_directory"
        );
    }

    #[test]
    fn version_is_dropped_with_compose_s_warning() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "c.yaml",
            "version: \"3.8\"\nservices:\n  a: {image: x}\n",
        );
        let env = IndexMap::new();
        let mut loader = Loader::new(&env);
        let doc = loader.load(&[Source::read(&f).unwrap()]).unwrap().unwrap();
        assert!(doc.get("version").is_none());
        assert_eq!(
            loader.warnings,
            [format!(
                "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                f.display()
            )]
        );
    }

    #[test]
    fn several_files_merge_with_their_tags() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "a.yaml",
            "services:\n  web:\n    image: x\n    ports: [\"80:80\"]\n",
        );
        let b = write(
            d.path(),
            "b.yaml",
            "services:\n  web:\n    ports: !override [\"81:81\"]\n",
        );
        let j = load(&[], &[a, b]).unwrap();
        assert_eq!(j["services"]["web"]["ports"], serde_json::json!(["81:81"]));
    }
}
