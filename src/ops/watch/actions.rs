//! Actions: what one debounced batch of a service's changes does to its containers (every
//! replica): sync, exec hooks, restart, or a rebuild with the blue/green swap.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use futures_util::future::join_all;

use super::report::{count, last_line, ms, rel_to, secs, short_list, Printer};
use super::routing::{Pending, Watched};
use super::WatchOptions;
use crate::engine::sync::{self as esync, Change, SyncError, SyncStats};
use crate::engine::{container, observed, Engine};
use crate::executor::{self, Ctx, Restarted};
use crate::project::watch::{ExecHook, WatchAction};
use crate::project::Project;
use crate::ui::color;

mod rebuild;

/// What a batch asks for, decided from its rules alone.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Some rule asks for a rebuild (it makes the rest moot): the changed files' names.
    pub rebuild: Option<String>,
    /// Files to copy or delete, one per container path.
    pub changes: Vec<Change>,
    /// The rules whose `exec` hook runs after the sync.
    pub hooks: BTreeSet<usize>,
    pub restart: bool,
}

impl Plan {
    pub fn of(w: &Watched, batch: &BTreeSet<Pending>) -> Plan {
        let rebuild: BTreeSet<String> = batch
            .iter()
            .filter(|p| w.rules[p.rule].rule.action == WatchAction::Rebuild)
            .map(|p| {
                p.host
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.host.display().to_string())
            })
            .collect();
        if !rebuild.is_empty() {
            return Plan {
                rebuild: Some(short_list(&rebuild.into_iter().collect::<Vec<_>>())),
                ..Plan::default()
            };
        }
        let mut plan = Plan::default();
        let mut changes: BTreeMap<String, Change> = BTreeMap::new();
        for p in batch {
            let rule = &w.rules[p.rule];
            match rule.rule.action {
                WatchAction::Restart | WatchAction::SyncRestart => plan.restart = true,
                WatchAction::SyncExec => {
                    plan.hooks.insert(p.rule);
                }
                _ => {}
            }
            if !rule.rule.action.syncs() {
                continue;
            }
            if let Some(inside) = rule.container_path(&p.host) {
                let change = Change {
                    host: p.host.clone(),
                    container: inside.clone(),
                };
                changes.insert(inside, change);
            }
        }
        plan.changes = changes.into_values().collect();
        plan
    }
}

/// One watched service and what its actions need.
pub(crate) struct Service<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    pub w: &'c Watched,
    pub opts: &'c WatchOptions,
    pub out: &'c Printer,
}

/// A container of the service: its replica number and name.
#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub n: u32,
    pub name: String,
}

/// The service's containers, one per replica (`scale`, `deploy.replicas`); replica 1 when
/// it runs none, so that what is missing is said by its name.
pub(crate) fn replicas(project: &Project, service: &str) -> Vec<Replica> {
    (1..=project.replicas(service).max(1))
        .map(|n| Replica {
            n,
            name: project.container_name(service, n),
        })
        .collect()
}

impl Service<'_, '_> {
    fn engine(&self) -> &Engine {
        self.ctx.engine
    }

    fn line(&self, msg: &str) {
        self.out.line(&self.w.name, msg);
    }

    /// Says which container a message is about, when the service has more than one.
    fn about(&self, r: &Replica, several: bool) -> String {
        if several {
            format!("{}: ", r.name)
        } else {
            String::new()
        }
    }

    /// One batch: a rebuild when any rule asks for one, else the syncs, then the exec hooks
    /// and a restart that the batch's rules ask for.
    pub async fn act(&self, batch: BTreeSet<Pending>) {
        let begin = Instant::now();
        let plan = Plan::of(self.w, &batch);
        if let Some(what) = &plan.rebuild {
            self.rebuild(what).await;
            return;
        }
        let containers = replicas(self.ctx.project, &self.w.name);
        let mut parts: Vec<String> = Vec::new();
        if !plan.changes.is_empty() {
            match self.sync(&containers, &plan.changes).await {
                Some(p) => parts.extend(p),
                None => return,
            }
        }
        for i in &plan.hooks {
            if !self.run_hook(&containers, *i, &mut parts).await {
                return;
            }
        }
        if plan.restart {
            self.restart(parts).await;
        } else {
            self.line(&format!("{} in {}", parts.join(", "), ms(begin.elapsed())));
        }
    }

    /// Copies the changes into every replica; what was done, or `None` when a replica could
    /// not take them (said, with why).
    async fn sync(&self, containers: &[Replica], changes: &[Change]) -> Option<Vec<String>> {
        // Straight to each container by name (one request less on every save); its state is
        // looked at only to explain a failure.
        let keep = |p: &Path| self.w.keeps(p);
        let keep = &keep;
        let results = join_all(containers.iter().map(|r| async move {
            let synced = match esync::batch(changes, &keep) {
                Ok(b) => esync::apply(self.engine(), &r.name, b).await,
                Err(e) => Err(e),
            };
            (r, synced)
        }))
        .await;
        let several = containers.len() > 1;
        let mut stats = None;
        for (r, synced) in results {
            match synced {
                Ok(s) => stats = Some(s),
                Err(e) => {
                    let why = self.sync_failure(r, changes.len(), e).await;
                    self.line(&color::bad(&format!("{}{why}", self.about(r, several))));
                    return None;
                }
            }
        }
        let mut parts = synced_parts(&stats.unwrap_or_default());
        if several {
            parts[0] = format!("{} ({} replicas)", parts[0], containers.len());
        }
        Some(parts)
    }

    /// Why a sync failed: the engine's word when the container runs, else its state.
    async fn sync_failure(&self, r: &Replica, n: usize, e: SyncError) -> String {
        let service = &self.w.name;
        match observed::inspect(self.engine(), &r.name).await {
            Ok(st) if st.running() => format!("sync failed: {e}"),
            Ok(st) => format!(
                "{} not synced: its container is {} (`devstack up -d {service}`)",
                count(n, "change"),
                st.status,
            ),
            Err(_) => format!(
                "{} not synced: it has no container (`devstack up -d {service}`)",
                count(n, "change"),
            ),
        }
    }

    /// Runs rule `i`'s exec hook in every replica; false when it failed somewhere (said).
    async fn run_hook(&self, containers: &[Replica], i: usize, parts: &mut Vec<String>) -> bool {
        let Some(hook) = self.w.rules[i].rule.exec.clone() else {
            return true;
        };
        let shown = hook.command.join(" ");
        let several = containers.len() > 1;
        for r in containers {
            let at = if several {
                format!(" in {}", r.name)
            } else {
                String::new()
            };
            match exec(self.engine(), &r.name, &hook).await {
                Ok((0, _)) => {}
                Ok((code, text)) => {
                    parts.push(format!("`{shown}` exited with {code}{at}"));
                    self.line(&color::bad(&format!(
                        "{}: {}",
                        parts.join(", "),
                        last_line(&text)
                    )));
                    return false;
                }
                Err(e) => {
                    parts.push(format!(
                        "`{shown}` failed{at}: {}",
                        container::docker_message(&e)
                    ));
                    self.line(&color::bad(&parts.join(", ")));
                    return false;
                }
            }
        }
        parts.push(format!("ran `{shown}`"));
        true
    }

    /// Restarts the service (every replica, the executor's restart), waits until it is
    /// ready, and its `restart: true` dependents follow.
    async fn restart(&self, mut parts: Vec<String>) {
        let service = &self.w.name;
        let (result, done) = self.restart_walk(vec![(service.clone(), None)]).await;
        match result {
            Ok(()) => {
                if let Some(me) = done.iter().find(|r| &r.service == service) {
                    let how = if me.recreated {
                        "recreated (config changed)"
                    } else {
                        "restarted"
                    };
                    parts.push(format!("{how}, {} after {}", me.state, secs(me.took)));
                }
                self.line(&parts.join(", "));
            }
            Err(e) => {
                parts.push(format!("restart failed: {e}"));
                self.line(&color::bad(&parts.join(", ")));
            }
        }
        self.out.dependents(&done, service);
    }

    /// The executor's restart of `start` (and their dependents), and what it restarted.
    async fn restart_walk(
        &self,
        start: Vec<(String, Option<String>)>,
    ) -> (
        Result<(), crate::engine::converge::ConvergeError>,
        Vec<Restarted>,
    ) {
        let done = Mutex::new(Vec::new());
        let record = |r: &Restarted| {
            done.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r.clone())
        };
        let result = executor::restart(self.ctx, start, true, self.opts.wait, None, &record).await;
        let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
        (result.map(drop), done)
    }

    /// Says, for each replica, whether it runs; the running ones.
    pub async fn running(&self) -> Vec<Replica> {
        let service = &self.w.name;
        let containers = replicas(self.ctx.project, service);
        let several = containers.len() > 1;
        let mut out = Vec::new();
        for r in containers {
            let about = self.about(&r, several);
            match observed::inspect(self.engine(), &r.name).await {
                Ok(st) if st.running() => out.push(r),
                Ok(st) => self.line(&color::warn(&format!(
                    "{about}its container is {}: changes wait for it (`devstack up -d {service}`)",
                    st.status
                ))),
                Err(_) => self.line(&color::warn(&format!(
                    "{about}has no container yet: start it with `devstack up -d {service}`"
                ))),
            }
        }
        out
    }

    /// The sync rules marked `initial_sync` (and a remote engine's copied binds): everything
    /// under their paths, copied once into each running replica when the watch starts.
    pub async fn initial_sync(&self, running: &[Replica]) {
        let changes: Vec<Change> = self
            .w
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
        let several = replicas(self.ctx.project, &self.w.name).len() > 1;
        for r in running {
            let begin = Instant::now();
            let keep = |p: &Path| self.w.keeps(p);
            let synced = match esync::batch(&changes, &keep) {
                Ok(b) => esync::apply(self.engine(), &r.name, b).await,
                Err(e) => Err(e),
            };
            let about = self.about(r, several);
            match synced {
                Ok(stats) => self.line(&format!(
                    "{about}initial sync: {} in {}",
                    count(stats.copied, "file"),
                    ms(begin.elapsed())
                )),
                Err(e) => self.line(&color::bad(&format!("{about}initial sync failed: {e}"))),
            }
        }
    }

    /// The line that says what the service's rules are.
    pub fn describe(&self) -> String {
        let dir = &self.ctx.project.dir;
        let what: Vec<String> = self
            .w
            .rules
            .iter()
            .map(|r| {
                let path = rel_to(&r.rule.path, dir);
                match &r.rule.target {
                    Some(t) if r.rule.action.syncs() => {
                        format!("{} {path} → {t}", r.rule.action.as_str())
                    }
                    _ => format!("{} on {path}", r.rule.action.as_str()),
                }
            })
            .collect();
        format!("watching: {}", what.join(", "))
    }
}

/// What a sync did, in words: `synced 3 files`, `deleted 1 file`.
fn synced_parts(stats: &SyncStats) -> Vec<String> {
    let mut parts = Vec::new();
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
    parts
}

async fn exec(
    engine: &Engine,
    name: &str,
    hook: &ExecHook,
) -> Result<(i64, String), bollard::errors::Error> {
    esync::exec(
        engine,
        name,
        hook.command.clone(),
        hook.user.clone(),
        hook.working_dir.clone(),
        hook.environment.clone(),
        hook.privileged,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::watch::routing::tests::{rule, site};

    fn batch(items: &[(&str, usize)]) -> BTreeSet<Pending> {
        items
            .iter()
            .map(|(p, rule)| Pending {
                host: p.into(),
                rule: *rule,
            })
            .collect()
    }

    #[test]
    fn a_rebuild_rule_in_the_batch_makes_the_syncs_moot() {
        let w = site();
        let plan = Plan::of(
            &w,
            &batch(&[("/p/site/src/a.js", 0), ("/p/site/Dockerfile", 2)]),
        );
        assert_eq!(plan.rebuild.as_deref(), Some("Dockerfile"));
        assert!(plan.changes.is_empty() && !plan.restart);
    }

    #[test]
    fn syncs_map_to_container_paths_once_and_restart_and_hooks_are_collected() {
        let mut w = site();
        w.rules.push(rule(
            WatchAction::SyncRestart,
            "/p/conf",
            Some("/etc/app"),
            &[],
            &[],
        ));
        w.rules.push(rule(
            WatchAction::SyncExec,
            "/p/gen",
            Some("/gen"),
            &[],
            &[],
        ));
        let plan = Plan::of(
            &w,
            &batch(&[
                ("/p/site/src/a.js", 0),
                ("/p/site/src/b/c.js", 0),
                ("/p/conf/app.ini", 3),
                ("/p/gen/x", 4),
                ("/p/gen/y", 4),
            ]),
        );
        assert_eq!(plan.rebuild, None);
        let inside: Vec<&str> = plan.changes.iter().map(|c| c.container.as_str()).collect();
        assert_eq!(
            inside,
            [
                "/app/src/a.js",
                "/app/src/b/c.js",
                "/etc/app/app.ini",
                "/gen/x",
                "/gen/y"
            ]
        );
        assert!(plan.restart);
        assert_eq!(plan.hooks, BTreeSet::from([4]));
    }

    #[test]
    fn sync_words_say_files_then_directories_then_nothing() {
        let s = |copied, dirs, deleted| SyncStats {
            copied,
            dirs,
            deleted,
            bytes: 0,
        };
        assert_eq!(synced_parts(&s(3, 1, 0)), ["synced 3 files"]);
        assert_eq!(
            synced_parts(&s(0, 2, 1)),
            ["synced 2 directories", "deleted 1 file"]
        );
        assert_eq!(synced_parts(&s(0, 0, 0)), ["nothing to sync"]);
    }
}
