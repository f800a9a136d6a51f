//! One file per verb. Each `run` returns the process exit code or an error.

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
use crate::project::{Project, ProjectOptions};

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

use crate::ops::session::{self, FactsFrom};

/// Loads the project with the cached host facts (see [`session::load_announced`]).
pub(crate) fn load_project(g: &GlobalOpts) -> anyhow::Result<Project> {
    session::load_announced(&g.into(), FactsFrom::Cached)
}

/// [`load_project`] with the machine probed afresh: for `up`, `config` and `build`.
pub(crate) fn load_project_probed(g: &GlobalOpts) -> anyhow::Result<Project> {
    session::load_announced(&g.into(), FactsFrom::Probed)
}

/// Probes, renders and validates, saying nothing on success (`config -q`).
pub(crate) fn validate_project(g: &GlobalOpts) -> anyhow::Result<()> {
    session::load(&g.into(), FactsFrom::Probed).map(drop)
}

pub(crate) use session::{connect, load_source, report_not_acted_on};

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
