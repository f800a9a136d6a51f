//! `devstack watch [SVC…]` and the watch loop of `up --watch`: Compose's `develop.watch` rules.
//!
//! One inotify watcher (the `notify` crate) covers every rule's path. A change is routed to
//! each service whose rule covers it, unless the build context's `.dockerignore` (Docker's
//! matching), the rule's `ignore`/`include` patterns (relative to its `path`), `.git/` or an
//! editor's temporary file rule it out. Per service, changes are debounced (a burst of saves
//! is one action, after [`QUIET`] without a change) and then acted on as one batch:
//!
//! - `sync`: one tar of the changed files through the engine's archive endpoint, deletions with
//!   one `rm -rf` exec (`engine::sync`): it works against an engine on another machine too;
//! - `sync+restart` / `restart`: then the container restarts, is waited on until ready, and its
//!   `restart: true` dependents follow (the executor's restart);
//! - `sync+exec`: then the rule's command runs in the container;
//! - `rebuild`: the image is rebuilt while the old container keeps serving; a failed build
//!   keeps it and says why. Without published host ports the new container starts beside the
//!   old one, which is removed only once the new one is ready; with fixed host ports the two
//!   cannot run together and the swap is Compose's (stop old, start new). Then `restart: true`
//!   dependents follow.
//!
//! Each action is one line: `site  synced 3 files in 41 ms`. A sync rule whose path is also
//! bind-mounted into the service is skipped, as Compose skips it: the mount delivers it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::cli::{GlobalOpts, WatchArgs};
use crate::engine::build::{self, BuildError, DockerIgnore, ImageOptions};
use crate::engine::health::{self, Want};
use crate::engine::sync::{self as esync, Change};
use crate::engine::{container, observed, spec, Engine};
use crate::errors::UsageError;
use crate::executor::{self, Ctx, Restarted};
use crate::project::model::MountKind;
use crate::project::watch::{self as pwatch, WatchAction, WatchRule};
use crate::project::Project;
use crate::supervisor::hosts::Hosts;
use crate::ui::color;

/// How long a service's changes must be quiet before they are acted on.
pub const QUIET: Duration = Duration::from_millis(150);

/// How the loop behaves (the verb's flags; `up --watch` takes the defaults).
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long a restarted or recreated container may take to become ready.
    pub wait: Duration,
    /// Named services without rules are an error (the verb), not a note (`up --watch`).
    pub strict: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            wait: Duration::from_secs(120),
            strict: false,
        }
    }
}

pub async fn run(g: &GlobalOpts, a: &WatchArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    super::report_not_acted_on(&project);
    let named = project.resolve_services(&a.services)?;
    if let Some(h) = named.iter().find(|n| project.graph.is_host(n)) {
        return Err(UsageError(format!(
            "{h} is a host process: develop.watch rules belong to services (containers)"
        ))
        .into());
    }
    let engine = super::connect().await?;
    let opts = WatchOptions {
        wait: Duration::from_secs(a.wait_timeout),
        strict: true,
    };
    // Bad rules are a usage error before anything is started.
    let config = pwatch::parse(
        &project.document,
        &project.dir,
        &project.compose_file.display().to_string(),
    )?;
    select(&project, &config, &named, opts.strict, engine.site.remote)?;
    if !a.no_up {
        // Compose's `watch` builds and starts the services first (`--no-up` skips it).
        let up = crate::cli::UpArgs {
            services: a.services.clone(),
            detach: true,
            wait_timeout: a.wait_timeout,
            pull: crate::cli::PullPolicy::Missing,
            build: false,
            no_build: false,
            no_host: false,
            timeout: None,
            skip_preflight: false,
            force_recreate: false,
            no_recreate: false,
            no_deps: false,
            remove_orphans: false,
            watch: false,
            dry_run: false,
            dash: false,
        };
        let code = super::up::run(g, &up).await?;
        if code != 0 {
            return Ok(code);
        }
    }
    let mut signals = crate::ops::signals::StopSignals::new()?;
    let why = watch_until(&engine, &project, &named, &opts, signals.next()).await?;
    crate::ui::attached::say(&format!("{why}: watch stopped"));
    Ok(0)
}

/// The watch loop beside another activity (`up --watch`: after the stack is up, alongside the
/// log stream): acts on the rules of `services` (all services with rules when empty) until
/// `stop` resolves, and returns what it resolved to. A configuration that gives nothing to
/// watch is said on stderr; then it only waits for `stop`.
// Called by the attached `up` when `--watch` is given (commands/attached.rs).
pub async fn run_watch<F: Future>(
    engine: &Engine,
    project: &Project,
    services: &[String],
    stop: F,
) -> F::Output {
    let mut stop = std::pin::pin!(stop);
    match watch_until(
        engine,
        project,
        services,
        &WatchOptions::default(),
        stop.as_mut(),
    )
    .await
    {
        Ok(out) => out,
        Err(e) => {
            crate::ui::attached::say(&format!("{} watch: {e:#}", color::warn("note:")));
            stop.await
        }
    }
}

/// [`run_watch`] with options; a configuration error (nothing to watch, a bad rule) is returned.
pub async fn watch_until<F: Future>(
    engine: &Engine,
    project: &Project,
    services: &[String],
    opts: &WatchOptions,
    stop: F,
) -> anyhow::Result<F::Output> {
    let config = pwatch::parse(
        &project.document,
        &project.dir,
        &project.compose_file.display().to_string(),
    )?;
    for n in &config.notes {
        crate::say!("{} {n}", color::warn("note:"));
    }
    let watched = select(project, &config, services, opts.strict, engine.site.remote)?;
    let out = Printer::new(project);
    for w in &watched {
        for (path, mount) in &w.skipped {
            out.line(
                &w.name,
                &color::warn(&format!(
                    "{} is also bind-mounted ({mount}), so the container sees its changes: its sync rule is not acted on (Compose skips it too)",
                    rel_to(path, &project.dir)
                )),
            );
        }
    }
    let watched: Vec<Watched> = watched
        .into_iter()
        .filter(|w| !w.rules.is_empty())
        .collect();
    if watched.is_empty() {
        return Err(UsageError(
            "nothing to watch: every selected sync rule's path is bind-mounted already".into(),
        )
        .into());
    }

    let (tx, mut events) = unbounded_channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(move |res| {
        let _ = tx.send(res);
    })
    .map_err(|e| anyhow::anyhow!("cannot start the file watcher: {e}"))?;
    for (root, mode) in roots(&watched) {
        watcher.watch(&root, mode).map_err(|e| {
            anyhow::anyhow!(
                "cannot watch {}: {e} (raise fs.inotify.max_user_watches if the limit is reached)",
                root.display()
            )
        })?;
    }

    let paths = project.paths();
    let hosts = if crate::supervisor::any_running(&paths) {
        Hosts::Socket(paths.clone())
    } else {
        Hosts::Absent("no supervisor runs for this project".into())
    };
    let ctx = Ctx::new(engine, project, hosts, Arc::new(|_| {}));
    for w in &watched {
        let what: Vec<String> = w
            .rules
            .iter()
            .map(|r| {
                let path = rel_to(&r.rule.path, &project.dir);
                match &r.rule.target {
                    Some(t) if r.rule.action.syncs() => {
                        format!("{} {path} → {t}", r.rule.action.as_str())
                    }
                    _ => format!("{} on {path}", r.rule.action.as_str()),
                }
            })
            .collect();
        out.line(&w.name, &format!("watching: {}", what.join(", ")));
        if check_running(engine, project, &w.name, &out).await {
            initial_sync(engine, project, w, &out).await;
        }
    }

    let mut senders: HashMap<String, UnboundedSender<Pending>> = HashMap::new();
    let mut workers = Vec::new();
    for w in &watched {
        let (stx, srx) = unbounded_channel();
        senders.insert(w.name.clone(), stx);
        workers.push(worker(&ctx, w, srx, opts, &out));
    }
    let dispatch = async {
        while let Some(res) = events.recv().await {
            let ev = match res {
                Ok(ev) => ev,
                Err(e) => {
                    crate::ui::attached::say(&format!(
                        "{} file watcher: {e}",
                        color::warn("note:")
                    ));
                    continue;
                }
            };
            if !relevant(&ev.kind) {
                continue;
            }
            for path in &ev.paths {
                for w in &watched {
                    for p in w.route(path) {
                        let _ = senders[&w.name].send(p);
                    }
                }
            }
        }
    };
    tokio::select! {
        out = stop => Ok(out),
        _ = join_all(workers) => Err(anyhow::anyhow!("the watch workers stopped")),
        _ = dispatch => Err(anyhow::anyhow!("the file watcher stopped")),
    }
}

/// Creations, writes, removals and renames; reads and opens are not changes.
fn relevant(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether the service's container runs; says so when it does not.
async fn check_running(engine: &Engine, project: &Project, service: &str, out: &Printer) -> bool {
    let name = project.container_name(service, 1);
    match observed::inspect(engine, &name).await {
        Ok(st) if st.running() => return true,
        Ok(st) => out.line(
            service,
            &color::warn(&format!(
                "its container is {}: changes wait for it (`devstack up -d {service}`)",
                st.status
            )),
        ),
        Err(_) => out.line(
            service,
            &color::warn(&format!(
                "has no container yet: start it with `devstack up -d {service}`"
            )),
        ),
    }
    false
}

/// The sync rules marked `initial_sync` (and a remote engine's copied binds): everything under
/// their paths, copied once when the watch starts.
async fn initial_sync(engine: &Engine, project: &Project, w: &Watched, out: &Printer) {
    let changes: Vec<Change> = w
        .rules
        .iter()
        .filter(|r| r.rule.initial_sync && r.rule.action.syncs())
        .filter_map(|r| {
            Some(Change {
                host: r.rule.path.clone(),
                container: r.rule.target.clone()?,
            })
        })
        .collect();
    if changes.is_empty() {
        return;
    }
    let begin = Instant::now();
    let name = project.container_name(&w.name, 1);
    let keep = |p: &Path| w.keeps(p);
    let synced = match esync::batch(&changes, &keep) {
        Ok(b) => esync::apply(engine, &name, b).await,
        Err(e) => Err(e),
    };
    match synced {
        Ok(stats) => out.line(
            &w.name,
            &format!(
                "initial sync: {} in {}",
                count(stats.copied, "file"),
                ms(begin.elapsed())
            ),
        ),
        Err(e) => out.line(&w.name, &color::bad(&format!("initial sync failed: {e}"))),
    }
}

/// One rule with its patterns compiled.
struct Rule {
    rule: WatchRule,
    ignore: DockerIgnore,
    include: Option<DockerIgnore>,
}

/// A service's rules and the ignore rules of its build context.
struct Watched {
    name: String,
    rules: Vec<Rule>,
    context: Option<PathBuf>,
    dockerfile: String,
    dockerignore: DockerIgnore,
    /// Sync rules not acted on, with why.
    skipped: Vec<(PathBuf, String)>,
}

/// A changed host path and the rule it came through.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    host: PathBuf,
    rule: usize,
}

impl Watched {
    /// The rules `path` triggers (empty when none does, or it is ignored).
    fn route(&self, path: &Path) -> Vec<Pending> {
        if self.ignored(path) {
            return Vec::new();
        }
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.accepts(path))
            .map(|(i, _)| Pending {
                host: path.to_path_buf(),
                rule: i,
            })
            .collect()
    }

    /// Ruled out for every rule: the build context's `.dockerignore` (the Dockerfile and the
    /// `.dockerignore` itself always count, as in a build).
    fn ignored(&self, path: &Path) -> bool {
        let Some(ctx) = &self.context else {
            return false;
        };
        let Ok(rel) = path.strip_prefix(ctx) else {
            return false;
        };
        let rel = rel.to_string_lossy();
        if rel.is_empty() || rel == self.dockerfile || rel == ".dockerignore" {
            return false;
        }
        self.dockerignore.excluded(&rel)
    }

    /// Whether `path` (found under a synced directory) is copied: some sync rule takes it.
    fn keeps(&self, path: &Path) -> bool {
        !self.ignored(path)
            && self
                .rules
                .iter()
                .any(|r| r.rule.action.syncs() && r.accepts(path))
    }
}

impl Rule {
    fn accepts(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.rule.path) else {
            return false;
        };
        if rel.as_os_str().is_empty() {
            return true;
        }
        if ephemeral(rel) {
            return false;
        }
        let rel = rel.to_string_lossy();
        if self.ignore.excluded(&rel) {
            return false;
        }
        match &self.include {
            Some(inc) => inc.excluded(&rel),
            None => true,
        }
    }

    /// Where a host path under the rule's path goes in the container.
    fn container_path(&self, host: &Path) -> Option<String> {
        let target = self.rule.target.as_deref()?;
        let rel = host.strip_prefix(&self.rule.path).ok()?;
        if rel.as_os_str().is_empty() {
            return Some(target.to_string());
        }
        Some(format!(
            "{}/{}",
            target.trim_end_matches('/'),
            rel.to_string_lossy()
        ))
    }
}

/// `.git/` and editors' temporary files (Compose's `EphemeralPathMatcher`): JetBrains'
/// `*___jb_old___`/`*___jb_tmp___` and `.idea/`, Emacs' `.#*` and `#*#`, Vim's `4913`, `*~`
/// and `.*.sw[pxon]`, Kate's `.*.kate-swp`, Go's `*-go-tmp-umask`.
fn ephemeral(rel: &Path) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.iter().any(|p| p == ".git" || p == ".idea") {
        return true;
    }
    let Some(name) = parts.last() else {
        return false;
    };
    let dot = name.starts_with('.');
    name.ends_with("___jb_old___")
        || name.ends_with("___jb_tmp___")
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || name.ends_with('~')
        || (dot
            && [".swp", ".swx", ".swo", ".swn", ".kate-swp"]
                .iter()
                .any(|s| name.ends_with(s)))
        || name.ends_with("-go-tmp-umask")
}

/// The services to watch, with their compiled rules; sync rules on bind-mounted paths are
/// set aside (Compose: "also declared by a bind mount volume, this path won't be monitored").
/// On a remote engine, project binds are copies instead ([`crate::engine::remote`]): each is
/// kept in sync by a rule of its own (unless a sync rule covers it), with an initial sync.
fn select(
    project: &Project,
    config: &pwatch::WatchConfig,
    named: &[String],
    strict: bool,
    remote: bool,
) -> anyhow::Result<Vec<Watched>> {
    let copies = |n: &str| match (remote, project.model.services.get(n)) {
        (true, Some(svc)) => crate::engine::remote::project_binds(svc, &project.dir),
        _ => Vec::new(),
    };
    let has_rules = |n: &str| config.services.contains_key(n) || !copies(n).is_empty();
    let names: Vec<String> = if named.is_empty() {
        crate::engine::converge::active_services(project)
            .into_iter()
            .filter(|n| has_rules(n))
            .collect()
    } else {
        let mut out = Vec::new();
        for n in named {
            if has_rules(n) {
                out.push(n.clone());
            } else if project.model.services.contains_key(n) && strict {
                return Err(UsageError(format!(
                    "service {n} has no develop.watch rules: add a `develop: watch:` list to it in the template (sync, sync+restart, rebuild…)"
                ))
                .into());
            }
        }
        out
    };
    if names.is_empty() {
        return Err(UsageError(
            "none of the selected services has develop.watch rules: add a `develop: watch:` list to a service in the template".into(),
        )
        .into());
    }
    let mut out = Vec::new();
    for name in names {
        let svc = &project.model.services[&name];
        let copied = copies(&name);
        let binds: Vec<PathBuf> = svc
            .volumes
            .iter()
            .filter(|m| m.kind == MountKind::Bind)
            .filter_map(|m| m.source.as_ref().map(PathBuf::from))
            .filter(|b| !copied.iter().any(|c| &c.host == b))
            .collect();
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        let declared = config.services.get(&name).cloned().unwrap_or_default();
        let implicit = copied
            .iter()
            .filter(|c| {
                !declared
                    .iter()
                    .any(|r| r.action.syncs() && c.host.starts_with(&r.path))
            })
            .map(|c| WatchRule {
                action: WatchAction::Sync,
                path: c.host.clone(),
                target: Some(c.target.clone()),
                ignore: Vec::new(),
                include: Vec::new(),
                exec: None,
                initial_sync: true,
            });
        for rule in declared
            .iter()
            .cloned()
            .chain(implicit)
            .collect::<Vec<_>>()
            .iter()
        {
            if rule.action.syncs() {
                if let Some(b) = binds.iter().find(|b| rule.path.starts_with(b)) {
                    skipped.push((rule.path.clone(), b.display().to_string()));
                    continue;
                }
            }
            let ignore = DockerIgnore::from_patterns(rule.ignore.iter().map(String::as_str));
            let include = (!rule.include.is_empty())
                .then(|| DockerIgnore::from_patterns(rule.include.iter().map(String::as_str)));
            rules.push(Rule {
                rule: rule.clone(),
                ignore,
                include,
            });
        }
        let (context, dockerfile, dockerignore) = match &svc.build {
            Some(b) => (
                Some(b.context.clone()),
                b.dockerfile.clone(),
                DockerIgnore::load(&b.context),
            ),
            None => (None, String::new(), DockerIgnore::default()),
        };
        out.push(Watched {
            name,
            rules,
            context,
            dockerfile,
            dockerignore,
            skipped,
        });
    }
    Ok(out)
}

/// What the watcher watches: each rule's directory recursively, the directory of a rule that
/// names one file (editors replace files by renaming, which a watch on the file itself
/// loses); nothing twice.
fn roots(watched: &[Watched]) -> Vec<(PathBuf, RecursiveMode)> {
    let mut recursive: BTreeSet<PathBuf> = BTreeSet::new();
    let mut flat: BTreeSet<PathBuf> = BTreeSet::new();
    for w in watched {
        for r in &w.rules {
            let p = &r.rule.path;
            if p.is_dir() {
                recursive.insert(p.clone());
            } else if let Some(parent) = p.parent() {
                // A file, or a path that does not exist yet: its directory (when it exists).
                let mut dir = parent.to_path_buf();
                while !dir.is_dir() {
                    match dir.parent() {
                        Some(up) => dir = up.to_path_buf(),
                        None => break,
                    }
                }
                flat.insert(dir);
            }
        }
    }
    let rec: Vec<PathBuf> = recursive.iter().cloned().collect();
    let covered = |p: &Path, strict_under: bool| {
        rec.iter()
            .any(|r| p.starts_with(r) && (!strict_under || p != r.as_path()))
    };
    let mut out: Vec<(PathBuf, RecursiveMode)> = recursive
        .iter()
        .filter(|p| !covered(p, true))
        .map(|p| (p.clone(), RecursiveMode::Recursive))
        .collect();
    out.extend(
        flat.into_iter()
            .filter(|p| !covered(p, false))
            .map(|p| (p, RecursiveMode::NonRecursive)),
    );
    out
}

/// One service's loop: collect changes until [`QUIET`] passes without one, act, repeat.
async fn worker(
    ctx: &Ctx<'_>,
    w: &Watched,
    mut rx: UnboundedReceiver<Pending>,
    opts: &WatchOptions,
    out: &Printer,
) {
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = BTreeSet::from([first]);
        loop {
            match tokio::time::timeout(QUIET, rx.recv()).await {
                Ok(Some(p)) => {
                    batch.insert(p);
                }
                Ok(None) => return,
                Err(_) => break,
            }
        }
        act(ctx, w, batch, opts, out).await;
    }
}

/// One batch: a rebuild when any rule asks for one (it makes syncs moot), else the syncs, then
/// a restart and the exec hooks that the batch's rules ask for.
async fn act(
    ctx: &Ctx<'_>,
    w: &Watched,
    batch: BTreeSet<Pending>,
    opts: &WatchOptions,
    out: &Printer,
) {
    let begin = Instant::now();
    let project = ctx.project;
    let rebuild: Vec<&Pending> = batch
        .iter()
        .filter(|p| w.rules[p.rule].rule.action == WatchAction::Rebuild)
        .collect();
    if !rebuild.is_empty() {
        let files: BTreeSet<String> = rebuild
            .iter()
            .map(|p| {
                p.host
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.host.display().to_string())
            })
            .collect();
        let what = short_list(&files.into_iter().collect::<Vec<_>>());
        rebuild_service(ctx, w, &what, opts, out).await;
        return;
    }
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    let mut restart = false;
    let mut hooks: BTreeSet<usize> = BTreeSet::new();
    for p in &batch {
        let rule = &w.rules[p.rule];
        match rule.rule.action {
            WatchAction::Restart => restart = true,
            WatchAction::SyncRestart => restart = true,
            WatchAction::SyncExec => {
                hooks.insert(p.rule);
            }
            _ => {}
        }
        if rule.rule.action.syncs() {
            if let Some(inside) = rule.container_path(&p.host) {
                changes.insert(
                    inside.clone(),
                    Change {
                        host: p.host.clone(),
                        container: inside,
                    },
                );
            }
        }
    }
    let name = project.container_name(&w.name, 1);
    let mut parts: Vec<String> = Vec::new();
    if !changes.is_empty() {
        // Straight to the container by name (one request less on every save); its state is
        // looked at only to explain a failure.
        let list: Vec<Change> = changes.into_values().collect();
        let n = list.len();
        let keep = |p: &Path| w.keeps(p);
        let synced = match esync::batch(&list, &keep) {
            Ok(b) => esync::apply(ctx.engine, &name, b).await,
            Err(e) => Err(e),
        };
        let stats = match synced {
            Ok(stats) => stats,
            Err(e) => {
                let why = match observed::inspect(ctx.engine, &name).await {
                    Ok(st) if st.running() => format!("sync failed: {e}"),
                    Ok(st) => format!(
                        "{} not synced: its container is {} (`devstack up -d {}`)",
                        count(n, "change"),
                        st.status,
                        w.name
                    ),
                    Err(_) => format!(
                        "{} not synced: it has no container (`devstack up -d {}`)",
                        count(n, "change"),
                        w.name
                    ),
                };
                out.line(&w.name, &color::bad(&why));
                return;
            }
        };
        if stats.copied > 0 {
            parts.push(format!("synced {}", count(stats.copied, "file")));
        } else if stats.dirs > 0 {
            parts.push(format!("synced {}", count(stats.dirs, "directory")));
        }
        if stats.deleted > 0 {
            parts.push(format!("deleted {}", count(stats.deleted, "file")));
        }
        if parts.is_empty() {
            parts.push("nothing to sync".into());
        }
    }
    for i in hooks {
        let Some(hook) = w.rules[i].rule.exec.clone() else {
            continue;
        };
        let shown = hook.command.join(" ");
        match esync::exec(
            ctx.engine,
            &name,
            hook.command,
            hook.user,
            hook.working_dir,
            hook.environment,
            hook.privileged,
        )
        .await
        {
            Ok((0, _)) => parts.push(format!("ran `{shown}`")),
            Ok((code, text)) => {
                parts.push(format!("`{shown}` exited with {code}"));
                out.line(
                    &w.name,
                    &color::bad(&format!("{}: {}", parts.join(", "), last_line(&text))),
                );
                return;
            }
            Err(e) => {
                parts.push(format!(
                    "`{shown}` failed: {}",
                    container::docker_message(&e)
                ));
                out.line(&w.name, &color::bad(&parts.join(", ")));
                return;
            }
        }
    }
    if !restart {
        out.line(
            &w.name,
            &format!("{} in {}", parts.join(", "), ms(begin.elapsed())),
        );
        return;
    }
    let done = Mutex::new(Vec::new());
    let record = |r: &Restarted| {
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.clone())
    };
    let result = executor::restart(
        ctx,
        vec![(w.name.clone(), None)],
        true,
        opts.wait,
        None,
        &record,
    )
    .await;
    let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(_) => {
            if let Some(me) = done.iter().find(|r| r.service == w.name) {
                let how = if me.recreated {
                    "recreated (config changed)"
                } else {
                    "restarted"
                };
                parts.push(format!("{how}, {} after {}", me.state, secs(me.took)));
            }
            out.line(&w.name, &parts.join(", "));
        }
        Err(e) => {
            parts.push(format!("restart failed: {e}"));
            out.line(&w.name, &color::bad(&parts.join(", ")));
        }
    }
    print_dependents(&done, &w.name, out);
}

fn print_dependents(done: &[Restarted], service: &str, out: &Printer) {
    for r in done.iter().filter(|r| r.service != service) {
        let why = r
            .as_dependent_of
            .as_ref()
            .map(|d| format!(" (depends on {d} with restart: true)"))
            .unwrap_or_default();
        if r.skipped {
            out.line(&r.service, &color::warn(&format!("{}{why}", r.state)));
        } else {
            out.line(
                &r.service,
                &format!("restarted{why}, {} after {}", r.state, secs(r.took)),
            );
        }
    }
}

/// Rebuilds the image while the old container serves; a failed build keeps it. Then the
/// container is replaced (start-first where no fixed host port forbids it), waited on until
/// ready, and `restart: true` dependents follow.
async fn rebuild_service(
    ctx: &Ctx<'_>,
    w: &Watched,
    what: &str,
    opts: &WatchOptions,
    out: &Printer,
) {
    let begin = Instant::now();
    let engine = ctx.engine;
    let project = ctx.project;
    let svc = &project.model.services[&w.name];
    let built =
        build::ensure_image_with(engine, project, svc, &ImageOptions::default(), &|_| {}).await;
    let (image_id, _) = match built {
        Ok(b) => b,
        Err(e) => {
            let (why, log) = match e {
                BuildError::Failed { message, log, .. } => (message, log),
                other => (other.to_string(), String::new()),
            };
            out.line(
                &w.name,
                &color::bad(&format!(
                    "rebuild ({what}) failed after {}: {why}; the running container is kept",
                    secs(begin.elapsed())
                )),
            );
            for l in log
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                out.line(&w.name, &color::dim(&format!("  │ {l}")));
            }
            return;
        }
    };
    let built_in = begin.elapsed();
    let spec = crate::engine::remote::container_spec(engine, project, svc, &image_id).await;
    let proper = project.container_name(&w.name, 1);
    let current = observed::list(engine, &project.name)
        .await
        .ok()
        .and_then(|l| l.into_iter().find(|c| c.name == proper));
    if let Some(cur) = &current {
        if cur.running() && !container::changed(cur, &spec) {
            out.line(
                &w.name,
                &format!(
                    "rebuilt ({what}) in {}: image unchanged, container kept",
                    secs(built_in)
                ),
            );
            return;
        }
    }
    let deadline = Instant::now() + opts.wait;
    let fixed_ports = svc.ports.iter().any(|p| p.host_port.is_some());
    let swap_begin = Instant::now();
    // Started beside the old container, the new one serves once ready: that is when the line
    // is printed; the old one's stop (its grace period) and removal follow.
    let mut retire = None;
    let replaced = match &current {
        Some(cur) if cur.running() && !fixed_ports => {
            let proper = spec.name.clone();
            start_beside(ctx, svc, spec, cur, deadline)
                .await
                .inspect(|(id, _)| retire = Some((cur, id.clone(), proper)))
        }
        Some(cur) => match container::recreate(engine, svc, spec, cur).await {
            Ok(id) => wait_ready(ctx, &w.name, &id, deadline)
                .await
                .map(|s| (id, s)),
            Err(e) => Err(e.to_string()),
        },
        None => {
            let name = spec.name.clone();
            match container::create_oneoff(engine, svc, spec).await {
                Ok(id) => match container::start(engine, svc, &id).await {
                    Ok(()) => wait_ready(ctx, &w.name, &id, deadline)
                        .await
                        .map(|s| (id, s)),
                    Err(e) => Err(format!("cannot start {name}: {e}")),
                },
                Err(e) => Err(e.to_string()),
            }
        }
    };
    match replaced {
        Ok((_, state)) => out.line(
            &w.name,
            &format!(
                "rebuilt ({what}) in {}, recreated, {state} after {}",
                secs(built_in),
                secs(swap_begin.elapsed())
            ),
        ),
        Err(e) => {
            out.line(
                &w.name,
                &color::bad(&format!("rebuilt ({what}) in {}, but {e}", secs(built_in))),
            );
            return;
        }
    }
    if let Some((old, new, proper)) = retire {
        if let Err(e) = replace(ctx, svc, old, &new, &proper).await {
            out.line(&w.name, &color::bad(&e));
        }
    }
    let dependents: Vec<(String, Option<String>)> = project
        .graph
        .direct_restart_dependents(&w.name)
        .into_iter()
        .map(|d| (d, Some(w.name.clone())))
        .collect();
    if dependents.is_empty() {
        return;
    }
    let done = Mutex::new(Vec::new());
    let record = |r: &Restarted| {
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.clone())
    };
    let result = executor::restart(ctx, dependents, true, opts.wait, None, &record).await;
    print_dependents(
        &done.into_inner().unwrap_or_else(|e| e.into_inner()),
        &w.name,
        out,
    );
    if let Err(e) = result {
        out.line(
            &w.name,
            &color::bad(&format!("a dependent's restart failed: {e}")),
        );
    }
}

/// The new container starts beside the old one (under a temporary name, as Compose's swap
/// uses), and replaces it only once ready ([`replace`]); when it does not become ready it is
/// removed and the old one keeps running.
async fn start_beside(
    ctx: &Ctx<'_>,
    svc: &crate::project::model::Service,
    mut spec: spec::ContainerSpec,
    cur: &observed::ContainerState,
    deadline: Instant,
) -> Result<(String, String), String> {
    let engine = ctx.engine;
    let proper = spec.name.clone();
    spec.name = format!("{}_{}", &cur.id[..12.min(cur.id.len())], proper);
    let id = container::create_oneoff(engine, svc, spec)
        .await
        .map_err(|e| format!("{e}; the old container keeps running"))?;
    let ready = match container::start(engine, svc, &id).await {
        Ok(()) => wait_ready(ctx, &svc.name, &id, deadline).await,
        Err(e) => Err(e.to_string()),
    };
    match ready {
        Ok(state) => Ok((id, state)),
        Err(e) => {
            container::stop(engine, &id, 1).await;
            let _ = container::remove(engine, &id).await;
            Err(format!(
                "the new container did not become ready: {e}; the old one keeps running"
            ))
        }
    }
}

/// The ready new container `id` takes the old one's place and name.
async fn replace(
    ctx: &Ctx<'_>,
    svc: &crate::project::model::Service,
    cur: &observed::ContainerState,
    id: &str,
    proper: &str,
) -> Result<(), String> {
    let engine = ctx.engine;
    container::stop(engine, &cur.id, svc.stop_grace_secs()).await;
    container::remove(engine, &cur.id).await.map_err(|e| {
        format!(
            "cannot remove the old container: {}",
            container::docker_message(&e)
        )
    })?;
    engine
        .docker
        .rename_container(
            id,
            bollard::query_parameters::RenameContainerOptionsBuilder::default()
                .name(proper)
                .build(),
        )
        .await
        .map_err(|e| {
            format!(
                "cannot rename the new container: {}",
                container::docker_message(&e)
            )
        })
}

async fn wait_ready(
    ctx: &Ctx<'_>,
    service: &str,
    id: &str,
    deadline: Instant,
) -> Result<String, String> {
    let svc = &ctx.project.model.services[service];
    health::wait_for(
        ctx.engine,
        &ctx.monitor,
        service,
        id,
        Want::Ready,
        svc.healthcheck.as_ref(),
        deadline,
    )
    .await
    .map(|st| st.health.unwrap_or_else(|| "running".into()))
    .map_err(|e| e.to_string())
}

/// Prints one line per action: the service's name (its stable colour), then what happened.
struct Printer {
    width: usize,
}

impl Printer {
    /// One name width for the whole project (dependents restart too), as the attached `up`.
    fn new(project: &Project) -> Printer {
        Printer {
            width: project
                .graph
                .nodes()
                .map(|n| n.name.len())
                .max()
                .unwrap_or(0),
        }
    }

    fn line(&self, service: &str, msg: &str) {
        let name = format!("{service:<w$}", w = self.width.max(service.len()));
        let name = color::for_name(service).apply_to(name);
        // A closed stdout (`watch | head`) must not end the loop.
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{name}  {msg}");
        let _ = o.flush();
    }
}

fn count(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Up to three names, then "and N more".
fn short_list(items: &[String]) -> String {
    if items.len() <= 3 {
        return items.join(", ");
    }
    format!("{} and {} more", items[..3].join(", "), items.len() - 3)
}

/// `p` relative to `base` when under it (`./services/x`), else as it is.
fn rel_to(p: &Path, base: &Path) -> String {
    match p.strip_prefix(base) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        action: WatchAction,
        path: &str,
        target: Option<&str>,
        ignore: &[&str],
        include: &[&str],
    ) -> Rule {
        Rule {
            rule: WatchRule {
                action,
                path: PathBuf::from(path),
                target: target.map(str::to_string),
                ignore: ignore.iter().map(|s| s.to_string()).collect(),
                include: include.iter().map(|s| s.to_string()).collect(),
                exec: None,
                initial_sync: false,
            },
            ignore: DockerIgnore::from_patterns(ignore.iter().copied()),
            include: (!include.is_empty())
                .then(|| DockerIgnore::from_patterns(include.iter().copied())),
        }
    }

    fn site() -> Watched {
        Watched {
            name: "site".into(),
            rules: vec![
                rule(
                    WatchAction::Sync,
                    "/p/site/src",
                    Some("/app/src"),
                    &["*.tmp", "gen/"],
                    &[],
                ),
                rule(
                    WatchAction::Sync,
                    "/p/site/static",
                    Some("/www"),
                    &[],
                    &["*.html", "css"],
                ),
                rule(WatchAction::Rebuild, "/p/site/Dockerfile", None, &[], &[]),
            ],
            context: Some(PathBuf::from("/p/site")),
            dockerfile: "Dockerfile".into(),
            dockerignore: DockerIgnore::parse("**/*.log\nDockerfile\n"),
            skipped: vec![],
        }
    }

    fn routed(w: &Watched, p: &str) -> Vec<usize> {
        w.route(Path::new(p)).into_iter().map(|x| x.rule).collect()
    }

    #[test]
    fn changes_route_to_the_rules_that_cover_them() {
        let w = site();
        assert_eq!(routed(&w, "/p/site/src/a.js"), vec![0]);
        assert_eq!(routed(&w, "/p/site/src/deep/b.js"), vec![0]);
        assert_eq!(
            routed(&w, "/p/site/Dockerfile"),
            vec![2],
            "the Dockerfile always counts"
        );
        assert!(routed(&w, "/p/site/README").is_empty());
        assert!(routed(&w, "/p/other/src/a.js").is_empty());
        assert_eq!(
            w.rules[0]
                .container_path(Path::new("/p/site/src/deep/b.js"))
                .as_deref(),
            Some("/app/src/deep/b.js")
        );
        assert_eq!(
            w.rules[0]
                .container_path(Path::new("/p/site/src"))
                .as_deref(),
            Some("/app/src")
        );
    }

    #[test]
    fn ignore_include_dockerignore_and_editor_files_rule_changes_out() {
        let w = site();
        // The rule's ignore, relative to its path.
        assert!(routed(&w, "/p/site/src/x.tmp").is_empty());
        assert!(routed(&w, "/p/site/src/gen/a.js").is_empty());
        assert_eq!(
            routed(&w, "/p/site/src/sub/x.tmp"),
            vec![0],
            "`*.tmp` stops at /"
        );
        // include: only these.
        assert_eq!(routed(&w, "/p/site/static/index.html"), vec![1]);
        assert_eq!(routed(&w, "/p/site/static/css/site.css"), vec![1]);
        assert!(routed(&w, "/p/site/static/app.js").is_empty());
        // The build context's .dockerignore.
        assert!(routed(&w, "/p/site/src/a/debug.log").is_empty());
        // Editors' files and .git.
        for p in [
            "src/.a.js.swp",
            "src/a.js~",
            "src/.#a.js",
            "src/#a.js#",
            "src/4913",
            "src/.git/HEAD",
            "src/x___jb_tmp___",
        ] {
            assert!(routed(&w, &format!("/p/site/{p}")).is_empty(), "{p}");
        }
    }

    #[test]
    fn roots_watch_directories_once_and_files_through_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("a/b/f"), "").unwrap();
        std::fs::write(d.join("Dockerfile"), "").unwrap();
        let mut w = site();
        w.rules = vec![
            rule(
                WatchAction::Sync,
                d.join("a").to_str().unwrap(),
                Some("/a"),
                &[],
                &[],
            ),
            rule(
                WatchAction::Sync,
                d.join("a/b").to_str().unwrap(),
                Some("/b"),
                &[],
                &[],
            ),
            rule(
                WatchAction::Rebuild,
                d.join("a/b/f").to_str().unwrap(),
                None,
                &[],
                &[],
            ),
            rule(
                WatchAction::Rebuild,
                d.join("Dockerfile").to_str().unwrap(),
                None,
                &[],
                &[],
            ),
        ];
        let r = roots(&[w]);
        assert_eq!(
            r,
            vec![
                (d.join("a"), RecursiveMode::Recursive),
                (d.to_path_buf(), RecursiveMode::NonRecursive),
            ]
        );
    }
}
