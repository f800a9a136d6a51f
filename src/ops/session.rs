//! The session of one verb: the project loaded (rendered with the right host facts), the
//! engine connected, and how host processes are reached. Built here and nowhere else.

use crate::engine::Engine;
use crate::host_facts;
use crate::project::{Project, ProjectError, ProjectOptions, ProjectSource};
use crate::supervisor::hosts::Hosts;

/// Where a verb's render takes the host facts from (see `crate::host_facts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactsFrom {
    /// What the last probing verb cached: `restart`, `stop`, `logs`… render what `up` rendered.
    Cached,
    /// The machine, probed afresh and cached: `up`, `config` and `build`.
    Probed,
}

/// What a verb works on: the project and the engine.
pub struct Session {
    pub project: Project,
    pub engine: Engine,
}

impl Session {
    /// Loads the project (saying what Compose says about its files), then connects.
    pub async fn open(opts: &ProjectOptions, from: FactsFrom) -> anyhow::Result<Session> {
        let project = load_announced(opts, from)?;
        let engine = connect().await?;
        Ok(Session { project, engine })
    }

    /// How this verb reaches the host processes: the running supervisor's socket, or none.
    pub fn hosts(&self) -> Hosts {
        hosts_of(&self.project)
    }
}

/// The running supervisor's socket, or why host processes cannot be reached.
pub fn hosts_of(project: &Project) -> Hosts {
    let paths = project.paths();
    if crate::supervisor::any_running(&paths) {
        Hosts::Socket(paths)
    } else {
        Hosts::Absent("no supervisor runs for this project (`devstack up -d` starts one)".into())
    }
}

/// Resolves, renders and parses the project (exit 2 on any configuration error).
pub fn load(opts: &ProjectOptions, from: FactsFrom) -> anyhow::Result<Project> {
    Ok(load_source(ProjectSource::resolve(opts)?, from)?)
}

/// [`load`], then Compose's warnings about the files and, in a directory with neither
/// templates/ nor services/, where the built-in stack is used.
pub fn load_announced(opts: &ProjectOptions, from: FactsFrom) -> anyhow::Result<Project> {
    announce(load(opts, from)?)
}

pub fn load_source(source: ProjectSource, from: FactsFrom) -> Result<Project, ProjectError> {
    let paths = source.paths();
    // Before anything is written there; a directory that cannot be made fails where it is
    // written, with that file's name.
    if let Err(e) = paths.ensure_private() {
        tracing::debug!("cannot make {} private: {e}", paths.root().display());
    }
    let cached = match from {
        FactsFrom::Cached => host_facts::cached(&paths),
        FactsFrom::Probed => None,
    };
    let probed = cached.is_none();
    let facts = cached.unwrap_or_else(|| host_facts::probe(&source.env));
    let project = Project::load(source, &facts)?;
    // Cached once the render used them, so the cache always matches `.devstack/compose.yaml`.
    if probed {
        host_facts::cache(&paths, &facts);
    }
    Ok(project)
}

/// The project when its templates render, with the cached host facts; `None` when they do not
/// (`down`, `ps` and `logs` then work from what the engine and the supervisor know).
pub fn load_quietly(source: &ProjectSource) -> Option<Project> {
    load_source(source.clone(), FactsFrom::Cached).ok()
}

/// Prints Compose's warnings about the files (a variable that is not set), as Compose does on
/// every command, and where the built-in stack is used when the directory has no stack.
fn announce(project: Project) -> anyhow::Result<Project> {
    for w in &project.warnings {
        crate::say!(
            "{} {}",
            crate::ui::color::warn("warning:"),
            crate::ui::shown(w)
        );
    }
    let builtin = project
        .files
        .is_empty()
        .then(|| crate::project::template::builtin_note(&project.dir))
        .flatten();
    if let Some(note) = builtin {
        crate::say!("{} {note}", crate::ui::color::warn("note:"));
    }
    Ok(project)
}

/// Whether a supervisor runs for the project. A command that finds none while host
/// processes a killed one left behind still run starts one, which adopts them: they are
/// supervised again, and no second copy starts.
pub async fn supervised(project: &Project) -> anyhow::Result<bool> {
    let paths = project.paths();
    if crate::supervisor::any_running(&paths) {
        return Ok(true);
    }
    if !crate::supervisor::orphans_running(&paths) {
        return Ok(false);
    }
    crate::supervisor::ensure_background(project).await?;
    crate::say!(
        "{} no supervisor ran: started one, which adopted the host processes still running",
        crate::ui::color::dim("•")
    );
    Ok(true)
}

/// Connects to the engine (exit 1 with the precise cause when it cannot).
pub async fn connect() -> anyhow::Result<Engine> {
    Ok(Engine::connect().await?)
}

/// Prints the "not acted on" notes once per rendered configuration.
pub fn report_not_acted_on(project: &Project) {
    let stamp = project.paths().notes_shown();
    let notes = project.model.not_acted_on.join("\n");
    if notes.is_empty() || std::fs::read_to_string(&stamp).is_ok_and(|s| s == notes) {
        return;
    }
    for n in &project.model.not_acted_on {
        crate::say!(
            "{} {}",
            crate::ui::color::warn("note:"),
            crate::ui::shown(n)
        );
    }
    let _ = std::fs::write(stamp, notes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{GpuDevice, GpuInventory};
    use crate::host_facts;
    use crate::project::host::HostFacts;

    /// A project whose one service shows the facts it was rendered with as labels.
    fn facts_project() -> (tempfile::TempDir, ProjectSource) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("templates/compose.yaml.j2"),
            "services:\n  web:\n    image: x\n    labels: {kinect: \"{{ 'yes' if host.kinect else 'no' }}\", gpus: \"{{ gpu.devices | length }}\"}\n",
        )
        .unwrap();
        let source = ProjectSource {
            dir: dir.path().to_path_buf(),
            name: "t".into(),
            env_file: None,
            env: Default::default(),
            env_file_keys: Vec::new(),
            env_files: Vec::new(),
            env_warnings: Vec::new(),
            profiles: Vec::new(),
            files: Vec::new(),
        };
        (dir, source)
    }

    fn rendered(p: &Project) -> (String, String) {
        let l = &p.model.services["web"].labels;
        (l["kinect"].clone(), l["gpus"].clone())
    }

    #[test]
    fn verbs_that_do_not_probe_render_with_the_cached_facts() {
        let (_dir, source) = facts_project();
        let cached = HostFacts {
            gpu: GpuInventory {
                available: true,
                devices: vec![GpuDevice {
                    index: 0,
                    uuid: "GPU-0".into(),
                    name: "RTX".into(),
                    memory_mib: 1024,
                }],
                ..Default::default()
            },
            kinect: true,
            ..Default::default()
        };
        host_facts::cache(&source.paths(), &cached);
        let p = load_source(source.clone(), FactsFrom::Cached).unwrap();
        assert_eq!(rendered(&p), ("yes".into(), "1".into()));
        // A probing verb renders with what the machine says, and caches that.
        let p = load_source(source.clone(), FactsFrom::Probed).unwrap();
        let now = host_facts::cached(&source.paths()).unwrap();
        assert_ne!(now, cached);
        assert_eq!(
            rendered(&p),
            (
                if now.kinect { "yes" } else { "no" }.to_string(),
                now.gpu.devices.len().to_string()
            )
        );
    }

    #[test]
    fn a_failed_render_caches_nothing() {
        let (dir, source) = facts_project();
        std::fs::write(dir.path().join("templates/compose.yaml.j2"), "services: [").unwrap();
        assert!(load_source(source.clone(), FactsFrom::Probed).is_err());
        assert_eq!(host_facts::cached(&source.paths()), None);
    }
}
