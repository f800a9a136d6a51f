//! Everything devstack keeps under a project's `.devstack/` (git-ignored), named in one place.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    pub fn new(project_dir: &Path) -> Paths {
        Paths {
            root: project_dir.join(".devstack"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The rendered compose file, plain compose-spec.
    pub fn compose_file(&self) -> PathBuf {
        self.root.join("compose.yaml")
    }

    /// A template's rendering (`compose.yaml` for `compose.yaml.j2`), kept so that positions
    /// in messages can be read.
    pub fn rendered(&self, stem: &str) -> PathBuf {
        self.root.join("rendered").join(stem)
    }

    /// The host facts (GPUs, Kinect, WSL) the last probing verb rendered with.
    pub fn host_facts(&self) -> PathBuf {
        self.root.join("host-facts.json")
    }

    /// The "not acted on" notes last shown (shown again only when they change).
    pub fn notes_shown(&self) -> PathBuf {
        self.root.join("notes.shown")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// devstack's copy of a service's or host process's output.
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs_dir().join(format!("{name}.log"))
    }

    /// The background supervisor's own output.
    pub fn supervisor_log(&self) -> PathBuf {
        self.logs_dir().join("supervisor.log")
    }

    /// Which build context made which image (see `engine::build_record`).
    pub fn builds(&self) -> PathBuf {
        self.root.join("builds.json")
    }

    /// The supervisor's state: host processes and auto-heal history.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("supervisor.json")
    }

    pub fn supervisor_pid(&self) -> PathBuf {
        self.root.join("supervisor.pid")
    }

    /// The control socket of whichever supervisor runs (background or attached `up`).
    pub fn socket(&self) -> PathBuf {
        self.root.join("supervisor.sock")
    }

    pub fn attached_pid(&self) -> PathBuf {
        self.root.join("attached.pid")
    }
}

/// A JSON file devstack keeps, or the default when it is missing or unreadable (these files
/// are caches and records: losing one costs a rebuild or a forgotten restart count, no more).
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes `value` as JSON to a temp file beside `path` and renames it, so readers never see
/// half a file; creates the directory first.
pub fn write_json_atomically<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(tmp, path)
}
