//! The `rebuild` action: the image is rebuilt while the old containers keep serving; a failed
//! build keeps them and says why. Without published host ports each new container starts
//! beside its old one, which is removed only once the new one is ready (the blue/green swap of
//! `engine::container`); with fixed host ports the two cannot run together and the swap is
//! Compose's recreate. Then `restart: true` dependents follow.

use std::time::Instant;

use super::{replicas, Replica, Service};
use crate::engine::build::{self, BuildError, ImageOptions};
use crate::engine::converge::ConvergeError;
use crate::engine::health::{self, WaitFailure, Want};
use crate::engine::observed::ContainerState;
use crate::engine::{container, observed, remote};
use crate::ops::watch::report::secs;
use crate::ui::color;

/// Why a replica's new container did not replace its old one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplaceError {
    #[error("{0}; the old container keeps running")]
    CreateBeside(ConvergeError),
    #[error("the new container did not become ready: {0}; the old one keeps running")]
    NotReady(String),
    #[error("cannot start {name}: {source}")]
    Start { name: String, source: ConvergeError },
    #[error(transparent)]
    Converge(#[from] ConvergeError),
    #[error(transparent)]
    Wait(#[from] Box<WaitFailure>),
}

/// A replica's new container, ready.
struct Replaced {
    /// Its health, or `running`.
    state: String,
    /// Started beside the old one: the old one and the name it gives up, retired once the
    /// line is said.
    retire: Option<(ContainerState, String, String)>,
}

impl Service<'_, '_> {
    /// Rebuilds the image, then replaces every replica whose container it changes.
    pub(super) async fn rebuild(&self, what: &str) {
        let begin = Instant::now();
        let Some(image_id) = self.build_image(what, begin).await else {
            return;
        };
        let built_in = begin.elapsed();
        let project = self.ctx.project;
        let current = observed::list(self.engine(), &project.name)
            .await
            .unwrap_or_default();
        let deadline = Instant::now() + self.opts.wait;
        let swap_begin = Instant::now();
        let mut replaced = Vec::new();
        let containers = replicas(project, &self.w.name);
        for r in &containers {
            let cur = current.iter().find(|c| c.name == r.name);
            match self.replace(r, cur, &image_id, deadline).await {
                Ok(Some(new)) => replaced.push(new),
                Ok(None) => {}
                Err(e) => {
                    self.abandon(replaced).await;
                    let about = self.about(r, containers.len() > 1);
                    self.line(&color::bad(&format!(
                        "rebuilt ({what}) in {}, but {about}{e}",
                        secs(built_in)
                    )));
                    return;
                }
            }
        }
        let Some(first) = replaced.first() else {
            self.line(&format!(
                "rebuilt ({what}) in {}: image unchanged, container kept",
                secs(built_in)
            ));
            return;
        };
        self.line(&format!(
            "rebuilt ({what}) in {}, recreated, {} after {}",
            secs(built_in),
            first.state,
            secs(swap_begin.elapsed())
        ));
        self.retire(replaced).await;
        self.dependents_follow().await;
    }

    /// The rebuilt image's id; `None` when the build failed (said, with the end of its log).
    async fn build_image(&self, what: &str, begin: Instant) -> Option<String> {
        let (engine, project) = (self.engine(), self.ctx.project);
        let svc = &project.model.services[&self.w.name];
        let built =
            build::ensure_image_with(engine, project, svc, &ImageOptions::default(), &|_| {}).await;
        let e = match built {
            Ok((id, _)) => return Some(id),
            Err(e) => e,
        };
        let (why, log) = match e {
            BuildError::Failed { message, log, .. } => (message, log),
            other => (other.to_string(), String::new()),
        };
        self.line(&color::bad(&format!(
            "rebuild ({what}) failed after {}: {why}; the running container is kept",
            secs(begin.elapsed())
        )));
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        for l in tail.into_iter().rev() {
            self.line(&color::dim(&format!("  │ {l}")));
        }
        None
    }

    /// Replica `r`'s new container from `image_id`, ready; `None` when its running container
    /// already matches (kept). Start-first where no fixed host port forbids it.
    async fn replace(
        &self,
        r: &Replica,
        cur: Option<&ContainerState>,
        image_id: &str,
        deadline: Instant,
    ) -> Result<Option<Replaced>, ReplaceError> {
        let (engine, project) = (self.engine(), self.ctx.project);
        let svc = &project.model.services[&self.w.name];
        let spec = remote::container_spec_n(engine, project, svc, r.n, image_id).await;
        let fixed_ports = svc.ports.iter().any(|p| p.host_port.is_some());
        match cur {
            Some(cur) if cur.running() && !container::changed(cur, &spec) => Ok(None),
            Some(cur) if cur.running() && !fixed_ports => {
                let name = spec.name.clone();
                let id = container::create_beside(engine, svc, spec, cur)
                    .await
                    .map_err(ReplaceError::CreateBeside)?;
                let ready = match container::start(engine, svc, &id).await {
                    Ok(()) => self
                        .wait_ready(&id, deadline)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match ready {
                    Ok(state) => Ok(Some(Replaced {
                        state,
                        retire: Some((cur.clone(), id, name)),
                    })),
                    Err(e) => {
                        container::discard(engine, &id).await;
                        Err(ReplaceError::NotReady(e))
                    }
                }
            }
            Some(cur) => {
                let id = container::recreate(engine, svc, spec, cur).await?;
                let state = self.wait_ready(&id, deadline).await?;
                Ok(Some(Replaced {
                    state,
                    retire: None,
                }))
            }
            None => {
                let name = spec.name.clone();
                let id = container::create_oneoff(engine, svc, spec).await?;
                container::start(engine, svc, &id)
                    .await
                    .map_err(|source| ReplaceError::Start { name, source })?;
                let state = self.wait_ready(&id, deadline).await?;
                Ok(Some(Replaced {
                    state,
                    retire: None,
                }))
            }
        }
    }

    /// The ready new containers take their old ones' places (said when one cannot).
    async fn retire(&self, replaced: Vec<Replaced>) {
        let svc = &self.ctx.project.model.services[&self.w.name];
        for (old, id, name) in replaced.into_iter().filter_map(|r| r.retire) {
            if let Err(e) = container::take_place(self.engine(), svc, &old, &id, &name).await {
                self.line(&color::bad(&e.to_string()));
            }
        }
    }

    /// A later replica failed: the new containers started beside their old ones go, and the
    /// old ones keep serving.
    async fn abandon(&self, replaced: Vec<Replaced>) {
        for (_, id, _) in replaced.into_iter().filter_map(|r| r.retire) {
            container::discard(self.engine(), &id).await;
        }
    }

    /// The `restart: true` dependents of the rebuilt service restart (said).
    async fn dependents_follow(&self) {
        let service = &self.w.name;
        let dependents: Vec<(String, Option<String>)> = self
            .ctx
            .project
            .graph
            .direct_restart_dependents(service)
            .into_iter()
            .map(|d| (d, Some(service.clone())))
            .collect();
        if dependents.is_empty() {
            return;
        }
        let (result, done) = self.restart_walk(dependents).await;
        self.out.dependents(&done, service);
        if let Err(e) = result {
            self.line(&color::bad(&format!("a dependent's restart failed: {e}")));
        }
    }

    /// Waits until container `id` of the service is ready: its health, or `running`.
    async fn wait_ready(&self, id: &str, deadline: Instant) -> Result<String, Box<WaitFailure>> {
        let service = &self.w.name;
        let svc = &self.ctx.project.model.services[service];
        health::wait_for(
            self.engine(),
            &self.ctx.monitor,
            service,
            id,
            Want::Ready,
            svc.healthcheck.as_ref(),
            deadline,
        )
        .await
        .map(|st| st.health.unwrap_or_else(|| "running".into()))
        .map_err(Box::new)
    }
}
