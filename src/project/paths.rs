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

    /// Makes `.devstack/` the user's alone (0700): it holds the supervisor's state, its logs
    /// and its control socket. One made by an older devstack or under a loose umask (0775
    /// under umask 002) is tightened when it is the user's.
    pub fn ensure_private(&self) -> std::io::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        create_private_dir(&self.root)?;
        let meta = std::fs::metadata(&self.root)?;
        if meta.mode() & 0o077 != 0 && meta.uid() == nix::unistd::geteuid().as_raw() {
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
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

    /// Held (flock) by the project's one supervisor for its life.
    pub fn supervisor_lock(&self) -> PathBuf {
        self.root.join("supervisor.lock")
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

/// Creates `dir` and any missing parent 0700 (whatever the umask allows of it): devstack's
/// own directories are the user's alone.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `value` as JSON to a temp file beside `path` and renames it, so readers never see
/// half a file; creates the directory first.
pub fn write_json_atomically<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(tmp, path)
}
