//! Restart, either kind: a container is restarted with its grace period, or recreated alone
//! when its configuration changed; a host process is restarted by the supervisor. Each waits
//! until ready, then its `restart: true` dependents of either kind follow, the same way.

use std::time::{Duration, Instant};

use std::future::Future;

use super::select::Selection;
use super::{forward, Ctx, Stage};
use crate::engine::converge::ConvergeError;
use crate::engine::health::{self, Want};
use crate::engine::{build, container, observed};
use crate::project::graph::{Graph, Kind};
use crate::supervisor::host::HostAction;
use crate::supervisor::HostError;

/// How one node's restart went.
#[derive(Debug, Clone)]
pub struct Restarted {
    pub service: String,
    pub kind: Kind,
    pub recreated: bool,
    pub took: Duration,
    /// healthy / running / restarted (not waited for) / why it was left alone.
    pub state: String,
    /// Restarted because it declares `restart: true` on this restarted node.
    pub as_dependent_of: Option<String>,
    /// Not restarted (a dependent host process with no supervisor, a disabled one).
    pub skipped: bool,
}

/// What a restart walk's visit says about its dependents: whether they follow.
pub trait Visited {
    fn dependents_follow(&self) -> bool;
}

impl Visited for Restarted {
    fn dependents_follow(&self) -> bool {
        !self.skipped
    }
}

/// The restart walk over `graph`: `start` (name, because-of) and their `restart: true`
/// dependents ([`super::select::Spread::RestartDependents`]), walked forward. A node waits until each of its
/// `restart: true` dependencies in the walk is done, then `visit` restarts it; a dependent
/// follows when one of those was restarted (not skipped, not failed), naming the first as the
/// reason. Independent nodes go at once. Generic over what restarting one node means: the real
/// restart, `--dry-run`'s plan, a test's fake.
pub async fn walk<T, E, F, Fut>(
    graph: &Graph,
    start: &[(String, Option<String>)],
    visit: F,
) -> Vec<(String, Result<T, E>)>
where
    T: Visited,
    F: Fn(String, Option<String>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let roots: Vec<String> = start.iter().map(|(n, _)| n.clone()).collect();
    let nodes = Selection::with_restart_dependents(&roots).nodes_of(graph);
    let results = forward(&nodes, |name, gate| {
        let root = start
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.clone());
        let visit = &visit;
        async move {
            let mut because = root.clone().flatten();
            let mut follows = root.is_some();
            let restart_deps = graph
                .get(&name)
                .map(|n| {
                    n.deps
                        .iter()
                        .filter(|(_, d)| d.restart)
                        .map(|(dep, _)| dep.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            for dep in restart_deps {
                if gate.reached(&dep, Stage::Ready).await == Some(true) && !follows {
                    follows = true;
                    because = Some(dep);
                }
            }
            if !follows {
                return None;
            }
            let out = visit(name, because).await;
            if out.as_ref().is_ok_and(Visited::dependents_follow) {
                gate.ready();
            }
            Some(out)
        }
    })
    .await;
    results
        .into_iter()
        .filter_map(|(n, r)| r.map(|r| (n, r)))
        .collect()
}

/// Restarts `start` (name, because-of) and then, once each is ready, its `restart: true`
/// dependents. `wait`: wait until each is ready (always done before its dependents follow).
pub async fn restart(
    ctx: &Ctx<'_>,
    start: Vec<(String, Option<String>)>,
    wait: bool,
    timeout: Duration,
    grace: Option<Duration>,
    on_done: &(dyn Fn(&Restarted) + Sync),
) -> Result<Vec<Restarted>, ConvergeError> {
    let results = walk(ctx.graph(), &start, |name, because| async move {
        let begin = Instant::now();
        let r = match ctx.graph().kind(&name) {
            Some(Kind::Host) => restart_host(ctx, &name, because, wait, timeout, begin).await?,
            _ => restart_container(ctx, &name, because, wait, timeout, grace, begin).await?,
        };
        on_done(&r);
        Ok::<_, ConvergeError>(r)
    })
    .await;
    let mut out = Vec::new();
    let mut first_error = None;
    for (_, r) in results {
        match r {
            Ok(r) => out.push(r),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// One node of `restart --dry-run`'s plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldRestart {
    pub service: String,
    pub kind: Kind,
    pub as_dependent_of: Option<String>,
}

impl Visited for WouldRestart {
    fn dependents_follow(&self) -> bool {
        true
    }
}

/// What `restart` would do, from the same walk (dependency order).
pub async fn plan(graph: &Graph, start: &[(String, Option<String>)]) -> Vec<WouldRestart> {
    walk(graph, start, |service, because| async move {
        Ok::<_, std::convert::Infallible>(WouldRestart {
            kind: graph.kind(&service).unwrap_or(Kind::Container),
            service,
            as_dependent_of: because,
        })
    })
    .await
    .into_iter()
    .filter_map(|(_, r)| r.ok())
    .collect()
}

async fn restart_container(
    ctx: &Ctx<'_>,
    name: &str,
    because: Option<String>,
    wait: bool,
    timeout: Duration,
    grace: Option<Duration>,
    begin: Instant,
) -> Result<Restarted, ConvergeError> {
    let project = ctx.project;
    let svc = &project.model.services[name];
    let containers = observed::list(ctx.engine, &project.name).await?;
    let mine: Vec<&observed::ContainerState> = (1..=svc.replicas)
        .filter_map(|n| {
            let wanted = project.container_name(name, n);
            containers.iter().find(|c| c.name == wanted)
        })
        .collect();
    if mine.is_empty() {
        return Err(ConvergeError::Start {
            service: name.to_string(),
            detail: "has no container yet: run `devstack up` first".into(),
        });
    }
    let (image_id, _) = build::ensure_image(ctx.engine, project, svc, false, true, &|_| {}).await?;
    let mut ids = Vec::new();
    let mut changed = false;
    for cur in mine {
        let spec = crate::engine::remote::container_spec_n(
            ctx.engine, project, svc, cur.number, &image_id,
        )
        .await;
        if container::changed(cur, &spec) {
            // Only this node is recreated: its dependencies are up already.
            ids.push(container::recreate(ctx.engine, svc, spec, cur).await?);
            changed = true;
        } else {
            let grace = grace.map_or(svc.stop_grace_secs(), |g| g.as_secs() as i32);
            container::restart(ctx.engine, &cur.id, grace).await?;
            ids.push(cur.id.clone());
        }
    }
    let state = if wait {
        let deadline = Instant::now() + timeout;
        let waits = ids.iter().map(|id| {
            health::wait_for(
                ctx.engine,
                &ctx.monitor,
                name,
                id,
                Want::Ready,
                svc.healthcheck.as_ref(),
                deadline,
            )
        });
        let states = futures_util::future::try_join_all(waits).await?;
        crate::engine::readiness::record_healthy(&project.paths(), &states);
        states
            .first()
            .map(|st| st.health.clone().unwrap_or_else(|| st.status.clone()))
            .unwrap_or_default()
    } else {
        "restarted".into()
    };
    Ok(Restarted {
        service: name.to_string(),
        kind: Kind::Container,
        recreated: changed,
        took: begin.elapsed(),
        state,
        as_dependent_of: because,
        skipped: false,
    })
}

async fn restart_host(
    ctx: &Ctx<'_>,
    name: &str,
    because: Option<String>,
    wait: bool,
    timeout: Duration,
    begin: Instant,
) -> Result<Restarted, ConvergeError> {
    let skipped = |state: String| Restarted {
        service: name.to_string(),
        kind: Kind::Host,
        recreated: false,
        took: begin.elapsed(),
        state,
        as_dependent_of: because.clone(),
        skipped: true,
    };
    let fail = |e: HostError| ConvergeError::Host {
        name: name.to_string(),
        reason: e.to_string(),
        last_logs: ctx.host_log_tail(name, 20),
    };
    match ctx.hosts.restart(name).await {
        Ok(HostAction::Disabled(why)) => return Ok(skipped(format!("disabled: {why}"))),
        Ok(_) => {}
        // A dependent that cannot be reached is reported, not fatal: what was asked for
        // was restarted.
        Err(e) if because.is_some() => return Ok(skipped(format!("not restarted: {e}"))),
        Err(e) => return Err(fail(e)),
    }
    let state = if wait {
        let deadline = tokio::time::Instant::now() + timeout;
        ctx.hosts
            .wait_ready(name, deadline)
            .await
            .map_err(fail)?
            .to_string()
    } else {
        "restarted".into()
    };
    Ok(Restarted {
        service: name.to_string(),
        kind: Kind::Host,
        recreated: false,
        took: begin.elapsed(),
        state,
        as_dependent_of: because,
        skipped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A fake restart for the walker: records when each node begins and ends.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Fake {
        name: String,
        because: Option<String>,
        skipped: bool,
    }

    impl Visited for Fake {
        fn dependents_follow(&self) -> bool {
            !self.skipped
        }
    }

    fn graph() -> Graph {
        // db ← api (restart: true) ← web (restart: true); worker needs api without restart;
        // both (restart: true on api and on cache); cache and lone independent.
        Graph::from_labels(
            [
                ("db", ""),
                ("cache", ""),
                ("api", "db:service_healthy:true"),
                ("web", "api:service_started:true"),
                ("worker", "api:service_started:false"),
                (
                    "both",
                    "api:service_started:true,cache:service_started:true",
                ),
                ("lone", ""),
            ]
            .into_iter(),
        )
    }

    fn start(names: &[&str]) -> Vec<(String, Option<String>)> {
        names.iter().map(|n| (n.to_string(), None)).collect()
    }

    /// Runs the walk with a fake that takes 20 ms per node; `skip`/`fail` name nodes that
    /// are skipped or fail. Returns the log ("x>" begin, "x<" end) and the results.
    async fn run(
        names: &[&str],
        skip: &[&str],
        fail: &[&str],
    ) -> (Vec<String>, Vec<(String, Result<Fake, String>)>) {
        let g = graph();
        let log = Mutex::new(Vec::new());
        let out = walk(&g, &start(names), |name, because| {
            let log = &log;
            async move {
                log.lock().unwrap().push(format!("{name}>"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                log.lock().unwrap().push(format!("{name}<"));
                if fail.contains(&name.as_str()) {
                    return Err(format!("{name} broke"));
                }
                Ok(Fake {
                    skipped: skip.contains(&name.as_str()),
                    name,
                    because,
                })
            }
        })
        .await;
        (log.into_inner().unwrap(), out)
    }

    fn at(log: &[String], s: &str) -> usize {
        log.iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{s} in {log:?}"))
    }

    #[tokio::test]
    async fn dependents_follow_once_what_they_declare_restart_on_is_ready() {
        let (log, out) = run(&["db"], &[], &[]).await;
        assert!(at(&log, "db<") < at(&log, "api>"), "{log:?}");
        assert!(at(&log, "api<") < at(&log, "web>"), "{log:?}");
        assert!(at(&log, "api<") < at(&log, "both>"), "{log:?}");
        // worker needs api without restart: true; cache and lone were not named.
        for n in ["worker>", "cache>", "lone>"] {
            assert!(!log.contains(&n.to_string()), "{n} in {log:?}");
        }
        let because: Vec<(String, Option<String>)> = out
            .into_iter()
            .map(|(n, r)| (n, r.unwrap().because))
            .collect();
        assert_eq!(
            because,
            vec![
                ("db".into(), None),
                ("api".into(), Some("db".into())),
                ("web".into(), Some("api".into())),
                ("both".into(), Some("api".into())),
            ]
        );
    }

    #[tokio::test]
    async fn independent_named_nodes_restart_at_once() {
        let (log, _) = run(&["lone", "db"], &[], &[]).await;
        // Both begin before either ends: nothing orders them.
        assert!(at(&log, "lone>") < at(&log, "db<"), "{log:?}");
        assert!(at(&log, "db>") < at(&log, "lone<"), "{log:?}");
    }

    #[tokio::test]
    async fn a_node_restarts_once_after_every_restart_dependency_in_the_walk() {
        let (log, out) = run(&["api", "cache"], &[], &[]).await;
        assert_eq!(log.iter().filter(|l| *l == "both>").count(), 1, "{log:?}");
        assert!(at(&log, "api<") < at(&log, "both>"), "{log:?}");
        assert!(at(&log, "cache<") < at(&log, "both>"), "{log:?}");
        assert_eq!(out.len(), 4, "api, cache, web, both: {out:?}");
    }

    #[tokio::test]
    async fn a_named_node_waits_for_a_named_dependency_and_is_not_restarted_twice() {
        let (log, out) = run(&["web", "api"], &[], &[]).await;
        assert_eq!(log.iter().filter(|l| *l == "web>").count(), 1, "{log:?}");
        assert!(at(&log, "api<") < at(&log, "web>"), "{log:?}");
        let web = out.iter().find(|(n, _)| n == "web").unwrap();
        assert_eq!(
            web.1.as_ref().unwrap().because,
            None,
            "named, not a follower"
        );
    }

    #[tokio::test]
    async fn nothing_follows_a_skipped_or_failed_node() {
        let (log, _) = run(&["db"], &["api"], &[]).await;
        assert!(!log.contains(&"web>".to_string()), "{log:?}");
        let (log, out) = run(&["db"], &[], &["api"]).await;
        assert!(!log.contains(&"web>".to_string()), "{log:?}");
        let api = out.iter().find(|(n, _)| n == "api").unwrap();
        assert_eq!(api.1, Err("api broke".to_string()));
        assert!(!out.iter().any(|(n, _)| n == "web"), "{out:?}");
    }

    #[tokio::test]
    async fn the_plan_is_the_same_walk() {
        let g = graph();
        let mut from = start(&["cache"]);
        from[0].1 = Some("healed".into());
        let plan = plan(&g, &from).await;
        assert_eq!(
            plan,
            vec![
                WouldRestart {
                    service: "cache".into(),
                    kind: Kind::Container,
                    as_dependent_of: Some("healed".into()),
                },
                WouldRestart {
                    service: "both".into(),
                    kind: Kind::Container,
                    as_dependent_of: Some("cache".into()),
                },
            ]
        );
    }
}
