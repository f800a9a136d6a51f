//! One file per verb. Each `run` returns the process exit code or an error.

mod attached;
mod build;
pub(crate) mod completion;
mod dash;
mod doctor;
mod down;
mod exec;
mod graph;
mod images;
mod init;
mod kinect;
mod logs;
mod ls;
mod port;
mod ps;
mod pull;
mod render;
mod restart;
mod run;
mod start;
mod stop;
mod supervise;
mod top;
mod up;
mod watch;

use crate::cli::{Cli, Command, GlobalOpts, KinectCommand};
use crate::engine::Engine;
use crate::host_facts;
use crate::project::{Project, ProjectError, ProjectOptions, ProjectSource};

impl From<&GlobalOpts> for ProjectOptions {
    fn from(g: &GlobalOpts) -> ProjectOptions {
        ProjectOptions {
            project_dir: g.project_dir.clone(),
            project_name: g.project_name.clone(),
            env_files: g.env_file.clone(),
            files: g.file.clone(),
            profiles: g.profile.clone(),
        }
    }
}

/// Where a verb's render takes the host facts from (see `crate::host_facts`).
#[derive(Clone, Copy)]
enum FactsFrom {
    /// What the last probing verb cached: `restart`, `stop`, `logs`… render what `up` rendered.
    Cached,
    /// The machine, probed afresh and cached: `up`, `config` and `build`.
    Probed,
}

/// Resolves, renders and parses the project (exit 2 on any configuration error).
fn load(g: &GlobalOpts, from: FactsFrom) -> anyhow::Result<Project> {
    Ok(load_source(ProjectSource::resolve(&g.into())?, from)?)
}

fn load_source(source: ProjectSource, from: FactsFrom) -> Result<Project, ProjectError> {
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
    let project = Project::load(source, &facts, &crate::engine::remote::Site::current())?;
    // Cached once the render used them, so the cache always matches `.devstack/compose.yaml`.
    if probed {
        host_facts::cache(&paths, &facts);
    }
    Ok(project)
}

/// Loads the project with the cached host facts; in a directory with neither templates/ nor
/// services/ it says that the built-in stack is used, and where.
pub(crate) fn load_project(g: &GlobalOpts) -> anyhow::Result<Project> {
    announce_builtin(load(g, FactsFrom::Cached)?)
}

/// [`load_project`] with the machine probed afresh: for `up`, `config` and `build`.
pub(crate) fn load_project_probed(g: &GlobalOpts) -> anyhow::Result<Project> {
    announce_builtin(load(g, FactsFrom::Probed)?)
}

/// Probes, renders and validates, saying nothing on success (`config -q`).
pub(crate) fn validate_project(g: &GlobalOpts) -> anyhow::Result<()> {
    load(g, FactsFrom::Probed).map(drop)
}

/// The project when its templates render, with the cached host facts; `None` when they do not
/// (`down`, `ps` and `logs` then work from what the engine and the supervisor know).
pub(crate) fn load_project_quietly(source: &ProjectSource) -> Option<Project> {
    load_source(source.clone(), FactsFrom::Cached).ok()
}

/// In a directory with neither templates/ nor services/ it says that the built-in stack is
/// used, and where; and it prints Compose's warnings about the files (a variable that is not
/// set), as Compose does on every command.
fn announce_builtin(project: Project) -> anyhow::Result<Project> {
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
pub(crate) async fn supervised(project: &Project) -> anyhow::Result<bool> {
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
pub(crate) async fn connect() -> anyhow::Result<Engine> {
    Ok(Engine::connect().await?)
}

/// Prints the "not acted on" notes once per rendered configuration.
pub(crate) fn report_not_acted_on(project: &Project) {
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

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Up(a) => up::run(g, a).await,
        Command::Down(a) => down::run(g, a).await,
        Command::Ps(a) => ps::run(g, a).await,
        Command::Logs(a) => logs::run(g, a).await,
        Command::Restart(a) => restart::run(g, a).await,
        Command::Stop(a) => stop::run(g, a).await,
        Command::Start(a) => start::run(g, a).await,
        Command::Exec(a) => exec::run(g, a).await,
        Command::Run(a) => run::run(g, a).await,
        Command::Pull(a) => pull::run(g, a).await,
        Command::Images(a) => images::run(g, a).await,
        Command::Port(a) => port::run(g, a).await,
        Command::Ls(a) => ls::run(g, a).await,
        Command::Graph(a) => graph::run(g, a).await,
        Command::Watch(a) => watch::run(g, a).await,
        Command::Dash(a) => dash::run(g, a).await,
        Command::Completion(a) => completion::completion(a),
        Command::Man(a) => completion::man(a),
        Command::Doctor(a) => doctor::run(g, a).await,
        Command::Config(a) => render::run(g, a).await,
        Command::Build(a) => build::run(g, a).await,
        Command::Top(a) => top::run(g, a).await,
        Command::Init(a) => init::run(g, a).await,
        Command::Kinect(KinectCommand::Info(a)) => kinect::info(g, a).await,
        Command::Kinect(KinectCommand::Capture(a)) => kinect::capture(g, a).await,
        Command::Kinect(KinectCommand::Record(a)) => kinect::record(g, a).await,
        Command::Kinect(KinectCommand::InstallUdev(a)) => kinect::install_udev(g, a).await,
        Command::Supervise(a) => supervise::run(g, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{GpuDevice, GpuInventory};
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
