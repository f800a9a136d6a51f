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
use crate::project::Project;

/// Loads and renders the project (exit 2 on any configuration error). In a directory with
/// neither templates/ nor services/ it says that the built-in stack is used, and where.
pub(crate) fn load_project(g: &GlobalOpts) -> anyhow::Result<Project> {
    let project = Project::load(g)?;
    let builtin = project
        .files
        .is_empty()
        .then(|| crate::project::template::builtin_note(&project.dir))
        .flatten();
    if let Some(note) = builtin {
        eprintln!("{} {note}", crate::ui::color::warn("note:"));
    }
    Ok(project)
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
        eprintln!("{} {n}", crate::ui::color::warn("note:"));
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
        Command::Kinect(KinectCommand::InstallUdev(a)) => kinect::install_udev(g, a).await,
        Command::Supervise(a) => supervise::run(g, a).await,
    }
}
