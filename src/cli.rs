//! Command-line definitions only (clap). Behaviour lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "devstack",
    version,
    about = "One command for the whole local GPU pose stack: render, preflight, converge, supervise, watch.",
    long_about = "devstack renders a Docker Compose file from templates/ and .env, preflights the GPU, \
the Azure Kinect and Docker, starts services through the Docker Engine API in dependency order, \
waits for health, supervises host processes (the Kinect capture) and shows every service's logs \
and health in one terminal. The containers it makes are ordinary Compose containers: \
`docker compose -p NAME ps|logs|down` sees them.",
    after_long_help = "Environment:
  DOCKER_HOST          the engine: unix://…, tcp://HOST:2376, ssh://[USER@]HOST[:PORT]
                       [default: the docker CLI's current context, else /var/run/docker.sock]
  DOCKER_TLS_VERIFY    with DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem): TLS for tcp://
  DOCKER_CONTEXT       a docker context to use instead of the current one
  DEVSTACK_REMOTE      1: treat the engine as on another machine (project bind mounts are
                       copied, ports are reached at its host); 0: as on this one
                       [default: remote when DOCKER_HOST's host is not a loopback address]
  COMPOSE_PROFILES     profiles to enable, comma-separated (* for all)
  DEVSTACK_PROJECT     the project name (COMPOSE_PROJECT_NAME too)
  NO_COLOR             no colours
  DEVSTACK_LOG         a tracing filter for diagnostics (e.g. devstack=debug)",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// Project directory (holds templates/, services/, .env).
    #[arg(short = 'C', long = "project-dir", global = true, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Project name [default: $DEVSTACK_PROJECT, $COMPOSE_PROJECT_NAME, else the directory name].
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Environment file (repeatable: a later file's keys win; the process environment wins
    /// over all) [default: DIR/.env when present, unless $COMPOSE_DISABLE_ENV_FILE].
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Disable colours (NO_COLOR is honoured too).
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
    /// More diagnostics (build output, debug logs; twice for trace); DEVSTACK_LOG takes a
    /// tracing filter.
    #[arg(long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Compose file: a `.j2` template or plain compose YAML (repeatable: later files merge onto
    /// earlier ones by Compose's rules) [default: templates/compose.yaml.j2, plus
    /// templates/compose.override.yaml(.j2) when present]. Before the command, as in Compose
    /// (`devstack -f a.yaml logs -f`).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// Enable services of this profile (repeatable; `*` enables all) [default:
    /// $COMPOSE_PROFILES, comma-separated]. Services without `profiles:` always run.
    #[arg(long = "profile", global = true, value_name = "NAME")]
    pub profile: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight, render, build, then start the graph of containers and host processes: each
    /// node the moment its depends_on conditions hold, waiting on health.
    ///
    /// Attached (without -d), it then shows every service's and host process's logs, merged by
    /// time, with health transitions and auto-heal restarts, until Ctrl-C (or SIGTERM, or the
    /// terminal closing): that stops the graph in exact reverse order, host processes
    /// included, independent nodes in parallel; a second Ctrl-C kills what is left.
    Up(UpArgs),
    /// Stop and remove containers and networks (named volumes are kept unless --volumes).
    Down(DownArgs),
    /// One row per service and host process: state, health, uptime, restarts, ports, GPU.
    Ps(PsArgs),
    /// Logs of services and host processes, merged by timestamp.
    ///
    /// Reads the engine and devstack's own copies (.devstack/logs/, kept while a supervisor
    /// runs), so a recreated or removed container's history is still there. JSON lines are
    /// shown as `time LEVEL message key=value…` unless --json.
    Logs(LogsArgs),
    /// Restart services or host processes (recreate when their config changed), wait until
    /// healthy again, then restart their `restart: true` dependents of either kind.
    Restart(RestartArgs),
    /// Stop services and host processes without removing them, dependents first.
    Stop(StopArgs),
    /// Start existing services and host processes again, dependencies first, waiting on health.
    Start(StartArgs),
    /// Run a command in a service's running container; its exit code is devstack's.
    Exec(ExecArgs),
    /// Run a one-off container of a service (its dependencies started first); its exit code is
    /// devstack's.
    Run(RunArgs),
    /// Pull the images of services that run a registry image (`image:` without `build:`).
    Pull(PullArgs),
    /// The images the project's containers use.
    Images(ImagesArgs),
    /// The host address a service's container port is published on.
    Port(PortArgs),
    /// devstack and Compose projects on this engine, with their state.
    Ls(LsArgs),
    /// The dependency graph of services and host processes, edges labelled with their
    /// condition, nodes coloured by state.
    Graph(GraphArgs),
    /// Act on the services' `develop.watch` rules (Compose's): sync changed files into the
    /// running containers, restart them, or rebuild and recreate them, until Ctrl-C.
    ///
    /// One line per action (`web  synced 3 files in 41 ms`). Changes are debounced (a burst of
    /// saves is one action); the build context's .dockerignore and each rule's ignore/include
    /// patterns apply. As Compose's, it first builds and starts the services with their
    /// dependencies (`up -d`; `--no-up` skips that); `devstack up --watch` streams the logs too.
    Watch(WatchArgs),
    /// Check the machine: Docker, NVIDIA driver and runtime, Kinect USB/udev/usbfs/display, ports, .env.
    Doctor(DoctorArgs),
    /// The rendered compose file (also spelled `render`): print it, list its services or
    /// volumes, or only validate it (-q; exit 0 or 2).
    #[command(visible_alias = "render")]
    Config(ConfigArgs),
    /// Build the images of services that have a `build:` section, through the engine's
    /// BuildKit (independent ones at once, a progress line each); only what changed is built.
    /// `DOCKER_BUILDKIT=0` asks for the engine's classic builder.
    Build(BuildArgs),
    /// GPU use per device and per container, refreshed.
    Top(TopArgs),
    /// Write the default stack (templates, services, .env.example, udev rule) into a directory.
    Init(InitArgs),
    /// The Azure Kinect host capture program.
    #[command(subcommand)]
    Kinect(KinectCommand),
    /// Full-screen dashboard of the running project: services and host processes with health,
    /// restarts, CPU, memory and GPU; the GPUs; the camera's rates; logs. Keys restart, stop,
    /// start, filter; `?` lists them. Quitting leaves the stack running.
    Dash(DashArgs),
    /// Shell completion script for bash, zsh, fish, powershell or elvish, on stdout.
    ///
    /// bash: `devstack completion bash > ~/.local/share/bash-completion/completions/devstack`;
    /// zsh: `devstack completion zsh > "${fpath[1]}/_devstack"`;
    /// fish: `devstack completion fish > ~/.config/fish/completions/devstack.fish`.
    Completion(CompletionArgs),
    /// Man pages from the same definitions as --help: devstack(1) and one page per command.
    Man(ManArgs),
    /// Run the background supervisor (started by `up -d`; not for direct use).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start (with their dependencies); all when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Detached: return once every service and host process is running/healthy, leaving a
    /// background supervisor (Compose's `--wait` means the same).
    #[arg(short = 'd', long, visible_alias = "wait")]
    pub detach: bool,
    /// Build images before starting, even when their context did not change.
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Never build; fail if an image is missing.
    #[arg(long)]
    pub no_build: bool,
    /// Do not start host processes (x-devstack.host); services that depend on one start
    /// without waiting for it (each is named).
    #[arg(long)]
    pub no_host: bool,
    /// Seconds to wait for every service and host process to become running/healthy.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub wait_timeout: u64,
    /// Stop grace period in seconds (SIGTERM, then SIGKILL) when the attached `up` stops
    /// [default: each service's stop_grace_period, else 10].
    #[arg(short = 't', long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Skip the preflight checks (engine, GPU runtime, ports, .env).
    #[arg(long)]
    pub skip_preflight: bool,
    /// Recreate containers even if their configuration and image have not changed.
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Never recreate a container that exists, even if its configuration changed.
    #[arg(long)]
    pub no_recreate: bool,
    /// Start only the named services, not what they depend on.
    #[arg(long)]
    pub no_deps: bool,
    /// Remove containers of services no longer in the file (Compose's orphans).
    #[arg(long)]
    pub remove_orphans: bool,
    /// Pull images: `always`, `missing` (the default) or `never` (fail when missing).
    #[arg(long, value_enum, value_name = "POLICY", default_value = "missing")]
    pub pull: PullPolicy,
    /// Attached, and acting on the services' `develop.watch` rules (as `devstack watch`) while
    /// the logs stream.
    #[arg(long, conflicts_with_all = ["detach", "dash"])]
    pub watch: bool,
    /// Print the plan (what would be built, created, recreated and why, started, removed)
    /// and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Attached, with the full-screen dashboard instead of the log stream; quitting it (q)
    /// stops the stack as Ctrl-C does.
    #[arg(long, conflicts_with = "detach")]
    pub dash: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Services to watch; all services with `develop.watch` rules when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Seconds a restarted or recreated container may take to become running/healthy.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub wait_timeout: u64,
    /// Do not build and start the services first: watch what runs.
    #[arg(long)]
    pub no_up: bool,
}

/// When images are pulled (Compose's `--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the project's named volumes (databases, model cache).
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Stop grace period in seconds (SIGTERM, then SIGKILL) [default: each service's
    /// stop_grace_period, else 10].
    #[arg(short = 't', long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Also remove images: `local` those devstack built and named itself (services without
    /// `image:`, as Compose), `all` also every image the project's containers ran. Images
    /// other containers still use are kept.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub rmi: Option<Rmi>,
    /// Also remove containers of services no longer in the file (they are removed anyway:
    /// accepted for Compose compatibility).
    #[arg(long)]
    pub remove_orphans: bool,
    /// Print what would be stopped and removed, in order, and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Rmi {
    Local,
    All,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Services or host processes to show; all when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Machine-readable output: a JSON array (same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Output format: table or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: PsFormat,
    /// Only container ids (and host process pids).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Also stopped containers, including one-off ones (`devstack run`).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only the names of the services and host processes of the project (from the file).
    #[arg(long = "services")]
    pub services_only: bool,
    /// Only rows in this state (running, exited, created, restarting, paused, dead, stopped).
    #[arg(long, value_name = "STATE")]
    pub status: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services or host processes; all when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Follow: keep printing new lines (across restarts and recreations).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines from the end of each service's log.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines newer than this (duration like 10m, 2h, or an RFC 3339 time).
    #[arg(long, value_name = "DUR|TIME")]
    pub since: Option<String>,
    /// Only lines older than this (duration or RFC 3339 time).
    #[arg(long, value_name = "DUR|TIME")]
    pub until: Option<String>,
    /// Only lines at or above this level (trace, debug, info, warn, error, fatal); lines without a level pass.
    #[arg(long, value_name = "LVL")]
    pub level: Option<String>,
    /// Only lines matching this regular expression.
    #[arg(long, value_name = "RE")]
    pub grep: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Do not prefix lines with the service name.
    #[arg(long, visible_alias = "no-log-prefix")]
    pub no_prefix: bool,
    /// One JSON object per line: service, stream, timestamp, level, message.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Services or host processes to restart.
    #[arg(required = true)]
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Return without waiting for health.
    #[arg(long)]
    pub no_wait: bool,
    /// Stop grace period in seconds (SIGTERM, then SIGKILL) [default: each service's
    /// stop_grace_period, else 10].
    #[arg(short = 't', long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Seconds to wait for each restarted node to become healthy/running again.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub wait_timeout: u64,
    /// Print what would be restarted (or recreated, and why), in order, and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DashArgs {}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    /// A self-contained script (verbs and flags only) instead of the one that asks devstack,
    /// which also completes the project's services and host processes.
    #[arg(long = "static")]
    pub static_script: bool,
}

/// Service and host-process names from the project in the current directory (or above).
fn services_completer() -> clap_complete::ArgValueCandidates {
    clap_complete::ArgValueCandidates::new(crate::commands::completion::service_candidates)
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write devstack.1 and devstack-COMMAND.1 into DIR (e.g. /usr/local/share/man/man1)
    /// instead of printing devstack.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// tree (the terminal), dot (Graphviz) or mermaid (Markdown documents).
    #[arg(long, value_enum, default_value = "tree")]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Tree,
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Machine-readable output: a JSON array of {id, status, summary, fix, details}.
    #[arg(long)]
    pub json: bool,
    /// Read /sys, /proc, /etc and /dev under DIR instead of /.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the service names (of the enabled profiles), one per line.
    #[arg(long, conflicts_with = "volumes")]
    pub services: bool,
    /// Print the variables the compose files use: name, whether required, default and
    /// alternate value.
    #[arg(long, conflicts_with_all = ["services", "volumes"])]
    pub variables: bool,
    /// Output format: yaml (the compose file) or json [default: yaml; the variables: a table].
    #[arg(long, value_name = "FORMAT", value_parser = ["yaml", "json", "table"])]
    pub format: Option<String>,
    /// Print the named volumes, one per line.
    #[arg(long)]
    pub volumes: bool,
    /// Only validate the configuration: print nothing, exit 0 when it is valid, 2 when not.
    #[arg(short = 'q', long, conflicts_with_all = ["services", "volumes", "output"])]
    pub quiet: bool,
    /// Write to FILE instead of standard output (`-` is standard output).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Services to build; all with a `build:` section when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Build even when the context did not change.
    #[arg(long)]
    pub force: bool,
    /// Do not use the engine's layer cache (implies --force).
    #[arg(long)]
    pub no_cache: bool,
    /// Always try to pull newer versions of the base images (implies --force).
    #[arg(long)]
    pub pull: bool,
    /// Print what would be built and why, and build nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Print once as JSON and exit.
    #[arg(long)]
    pub json: bool,
    /// Refresh interval in seconds.
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    pub interval: u64,
    /// Print once and exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write the stack into [default: the project directory].
    pub dir: Option<PathBuf>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Services or host processes to stop; all when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Stop grace period in seconds (SIGTERM, then SIGKILL) [default: each service's
    /// stop_grace_period, else 10].
    #[arg(short = 't', long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Services or host processes to start; all when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
    /// Seconds to wait for each started node to become healthy/running.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub wait_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Do not allocate a TTY (without -T, one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY", visible_alias = "no-tty")]
    pub no_tty: bool,
    /// Run as this user (name or uid[:gid]).
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to pass on devstack's own); repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Which of the service's containers, when it runs several (`scale`, `deploy.replicas`).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub index: u32,
    /// The service (name, alias or unique prefix).
    #[arg(add = services_completer())]
    pub service: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Do not allocate a TTY (without -T, one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY", visible_alias = "no-tty")]
    pub no_tty: bool,
    /// Set an environment variable (KEY=VALUE, or KEY to pass on devstack's own); repeatable.
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Do not start the service's dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// Container name [default: {project}-{service}-run-{6 hex digits}].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Run as this user (name or uid[:gid]).
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Seconds to wait for the dependencies to become healthy/running.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub wait_timeout: u64,
    /// The service (name, alias or unique prefix).
    #[arg(add = services_completer())]
    pub service: String,
    /// The command and its arguments [default: the service's command].
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Services whose images to pull; all when empty.
    #[arg(add = services_completer())]
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format: table or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// Which of the service's containers, when it runs several.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub index: u32,
    /// The service (name, alias or unique prefix).
    #[arg(add = services_completer())]
    pub service: String,
    /// The container port, with its protocol: 8080, 8080/tcp, 53/udp.
    #[arg(value_name = "PORT[/PROTO]")]
    pub port: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Also projects with no running container.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only project names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format: table or json.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// `--format` of `images` and `ls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// Stay in the foreground (used by the detached launcher after it has daemonised).
    #[arg(long)]
    pub foreground: bool,
    /// Relay mode, one per host process (started by the supervisor): run COMMAND, its output
    /// timestamped into this log file.
    #[arg(long, value_name = "FILE", requires = "status")]
    pub relay_log: Option<PathBuf>,
    /// Relay mode: where COMMAND's pid and exit code are recorded.
    #[arg(long, value_name = "FILE", requires = "relay_log")]
    pub status: Option<PathBuf>,
    /// Relay mode: the command and its arguments.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum KinectCommand {
    /// Installed cameras (serial, firmware, USB speed), or what a recording holds (FILE.mkv).
    Info(KinectInfoArgs),
    /// Capture depth and color and publish every capture to a Redis stream.
    Capture(KinectCaptureArgs),
    /// Record captures to FILE.mkv in the Azure Kinect recording format (k4aviewer opens it).
    Record(KinectRecordArgs),
    /// Install udev/99-k4a.rules, reload udev and trigger add events (needs root).
    InstallUdev(KinectInstallUdevArgs),
}

#[derive(Debug, Args)]
pub struct KinectInfoArgs {
    /// A recording to describe (modes, duration, frames per track, calibration) instead of the
    /// cameras on this machine.
    #[arg(value_name = "FILE.mkv")]
    pub file: Option<PathBuf>,
    /// Path of libk4a (else DEVSTACK_K4A_LIB, then libk4a.so.1.4, libk4a.so.1, libk4a.so).
    #[arg(long = "k4a-lib", env = "DEVSTACK_K4A_LIB", value_name = "PATH")]
    pub k4a_lib: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Read /sys under DIR instead of /.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,
}

/// The frame source and camera mode, shared by `capture` and `record`.
#[derive(Debug, Args)]
pub struct KinectSourceArgs {
    /// Frame source: k4a (the camera through libk4a: an Azure Kinect, or an Orbbec Femto
    /// through Orbbec's K4A wrapper), synthetic (frames of the real sizes and rate), or
    /// replay:FILE.mkv (a recording, at its recorded timing; its own mode).
    #[arg(long, default_value = "k4a", value_name = "SRC")]
    pub source: String,
    /// Depth mode: nfov-unbinned, nfov-2x2binned, wfov-unbinned, wfov-2x2binned or off.
    #[arg(long, default_value = "nfov-unbinned", value_name = "MODE")]
    pub depth_mode: String,
    /// Color resolution: 720p, 1080p, 1440p, 1536p, 2160p, 3072p, off.
    #[arg(long, default_value = "720p", value_name = "RES")]
    pub color: String,
    /// Color format: mjpg, nv12, bgra32.
    #[arg(long, default_value = "mjpg", value_name = "FMT")]
    pub color_format: String,
    /// Frames per second: 30, 15 or 5.
    #[arg(long, default_value_t = 30, value_name = "FPS")]
    pub fps: u32,
    /// Replay speed: 2 plays twice as fast, 0.5 at half speed (replay sources only).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub speed: f64,
    /// Start the recording over at its end instead of stopping (replay sources only).
    #[arg(long = "loop")]
    pub looped: bool,
    /// Stop after N captures.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after this long (e.g. 60s, 5m).
    #[arg(long, value_name = "DUR")]
    pub duration: Option<String>,
    /// Path of libk4a (else DEVSTACK_K4A_LIB, then the default names).
    #[arg(long = "k4a-lib", env = "DEVSTACK_K4A_LIB", value_name = "PATH")]
    pub k4a_lib: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KinectCaptureArgs {
    /// Redis to publish to.
    #[arg(long, default_value = "redis://127.0.0.1:6379", value_name = "URL")]
    pub redis: String,
    /// Stream key.
    #[arg(long, default_value = "kinect:frames", value_name = "NAME")]
    pub stream: String,
    /// Approximate maximum stream length (XADD MAXLEN ~ N); 30 is one second at 30 fps (~27 MB).
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub maxlen: usize,
    #[command(flatten)]
    pub src: KinectSourceArgs,
    /// Capacity of the hand-off between the camera and the Redis writer (oldest dropped when full).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub queue: usize,
    /// File the supervisor's healthcheck reads (JSON stats, rewritten every few seconds).
    #[arg(long, value_name = "FILE")]
    pub health_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KinectRecordArgs {
    /// The recording to write (Matroska, the Azure Kinect recording format).
    #[arg(value_name = "FILE.mkv")]
    pub file: PathBuf,
    #[command(flatten)]
    pub src: KinectSourceArgs,
    /// Replace FILE.mkv if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Captures queued for the disk before the oldest is dropped (~1.6 MB each at the default
    /// mode).
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub queue: usize,
    /// Print the summary as JSON on stdout (progress and status go to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KinectInstallUdevArgs {
    /// Where to install the rule.
    #[arg(
        long,
        default_value = "/etc/udev/rules.d/99-k4a.rules",
        value_name = "FILE"
    )]
    pub target: PathBuf,
}
