//! `devstack pull [SVC…]`: pull the images of services that run a registry image (`image:`
//! and no `build:`; those with a `build:` are built, by `devstack build`), each image once,
//! concurrently. On a terminal one live line per image (layers' bytes summed); elsewhere plain
//! lines. A pull that fails names the image, its services and the engine's reason (exit 1).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::future::join_all;
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{GlobalOpts, PullArgs};
use crate::engine::converge;
use crate::engine::image_ref::ImageRef;
use crate::engine::Engine;
use crate::ui::color;

pub async fn run(g: &GlobalOpts, a: &PullArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let named = project.resolve_services(&a.services)?;
    let candidates = if named.is_empty() {
        converge::active_services(&project)
    } else {
        named.clone()
    };
    // image → the services that run it, in the file's order.
    let mut images: Vec<(String, Vec<String>)> = Vec::new();
    let mut built = Vec::new();
    for name in &candidates {
        let Some(svc) = project.model.services.get(name) else {
            if named.contains(name) {
                crate::say!(
                    "{} {name} is a host process: it has no image",
                    color::dim("•")
                );
            }
            continue;
        };
        match (&svc.image, &svc.build) {
            (Some(image), None) => match images.iter_mut().find(|(i, _)| i == image) {
                Some((_, services)) => services.push(name.clone()),
                None => images.push((image.clone(), vec![name.clone()])),
            },
            _ => built.push(name.clone()),
        }
    }
    if images.is_empty() {
        let (verb, whose, s) = if built.len() == 1 {
            ("is", "its", "")
        } else {
            ("are", "their", "s")
        };
        if built.is_empty() {
            crate::say!("nothing to pull: no service runs a registry image");
        } else {
            crate::say!(
                "nothing to pull: {} {verb} built from {whose} build: section{s} (`devstack build`)",
                built.join(", ")
            );
        }
        return Ok(0);
    }
    if !built.is_empty() && !named.is_empty() {
        crate::say!(
            "{} not pulled, built from their build: section (`devstack build`): {}",
            color::dim("•"),
            built.join(", ")
        );
    }
    let engine = super::connect().await?;
    let view = View::new(&images);
    let results = join_all(
        images
            .iter()
            .map(|(image, _)| pull_one(&engine, image, &view)),
    )
    .await;
    let mut failures = Vec::new();
    for ((image, services), r) in images.iter().zip(results) {
        match r {
            Ok(()) => view.done(image, true),
            Err(detail) => {
                view.done(image, false);
                failures.push(format!(
                    "cannot pull image {image} (service {}): {detail}",
                    services.join(", ")
                ));
            }
        }
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "{}\n  check the image name and tag in the template, the network, and `docker login` \
             for a private registry",
            failures.join("\n")
        );
    }
    Ok(0)
}

/// `name[:tag]` or `name@digest` → (name, tag or digest). Without either, `latest`: the
/// engine would pull every tag of the repository for an empty one.
fn split_reference(image: &str) -> (String, String) {
    match ImageRef::parse(image) {
        Ok(r) => r.pull_parts(),
        Err(_) => (image.to_string(), "latest".to_string()),
    }
}

/// Why the engine did not pull an image: what its registry said, or what failed on the way.
#[derive(Debug, thiserror::Error)]
enum PullError {
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    Engine(String),
}

async fn pull_one(engine: &Engine, image: &str, view: &View) -> Result<(), PullError> {
    let (name, tag) = split_reference(image);
    let opts = CreateImageOptionsBuilder::default()
        .from_image(&name)
        .tag(&tag)
        .build();
    let mut stream = engine.docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(PullError::Registry(e));
                }
                let (current, total) = info
                    .progress_detail
                    .map(|p| (p.current.unwrap_or(0), p.total.unwrap_or(0)))
                    .unwrap_or_default();
                view.status(
                    image,
                    info.id.as_deref(),
                    info.status.as_deref().unwrap_or_default(),
                    current,
                    total,
                );
            }
            Err(e) => {
                return Err(match e {
                    bollard::errors::Error::DockerStreamError { error } => {
                        PullError::Registry(error)
                    }
                    other => PullError::Engine(crate::engine::container::docker_message(&other)),
                })
            }
        }
    }
    Ok(())
}

/// Per layer id: bytes done and total.
type Layers = HashMap<String, (i64, i64)>;

/// Where the progress goes: live bars on a terminal, plain lines elsewhere.
struct View {
    /// Kept while the bars draw.
    _multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    /// Per image, per layer: bytes done and total.
    layers: Mutex<HashMap<String, Layers>>,
}

impl View {
    fn new(images: &[(String, Vec<String>)]) -> View {
        let live = crate::ui::stderr_is_tty() && std::env::var_os("CI").is_none();
        let multi = live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let mut bars = HashMap::new();
        let width = images.iter().map(|(i, _)| i.len()).max().unwrap_or(0);
        if let Some(m) = &multi {
            let style = ProgressStyle::with_template(&format!(
                "{{spinner:.cyan}} {{prefix:<{width}}} {{msg}} {{elapsed:.dim}}"
            ))
            .expect("valid template")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
            for (image, _) in images {
                let bar = m.add(
                    ProgressBar::new_spinner()
                        .with_style(style.clone())
                        .with_prefix(image.clone()),
                );
                bar.set_message("waiting");
                bar.enable_steady_tick(Duration::from_millis(100));
                bars.insert(image.clone(), bar);
            }
        } else {
            for (image, services) in images {
                crate::say!(
                    "{} {image} pulling (for {})",
                    color::dim("•"),
                    services.join(", ")
                );
            }
        }
        View {
            _multi: multi,
            bars,
            layers: Mutex::new(HashMap::new()),
        }
    }

    fn status(&self, image: &str, layer: Option<&str>, status: &str, current: i64, total: i64) {
        let Some(bar) = self.bars.get(image) else {
            // Plain: the image's own lines (`Digest: …`, `Status: …`), not each layer's.
            if layer.is_none() && !status.is_empty() && !status.starts_with("Pulling from") {
                crate::say!("{} {image} {status}", color::dim("•"));
            }
            return;
        };
        let mut layers = self.layers.lock().unwrap_or_else(|e| e.into_inner());
        let mine = layers.entry(image.to_string()).or_default();
        if let Some(id) = layer {
            if total > 0 && status == "Downloading" {
                mine.insert(id.to_string(), (current, total));
            } else if status == "Download complete" || status == "Pull complete" {
                if let Some(l) = mine.get_mut(id) {
                    l.0 = l.1;
                }
            }
        }
        let (done, all) = mine.values().fold((0, 0), |(d, a), (c, t)| (d + c, a + t));
        let msg = if all > 0 {
            format!(
                "{status} {} / {} ({} layers)",
                indicatif::HumanBytes(done as u64),
                indicatif::HumanBytes(all as u64),
                mine.len()
            )
        } else {
            status.to_string()
        };
        bar.set_message(msg);
    }

    fn done(&self, image: &str, ok: bool) {
        let (mark, what) = if ok {
            (color::ok("✓"), "pulled")
        } else {
            (color::bad("✗"), "failed")
        };
        match self.bars.get(image) {
            Some(bar) => {
                if let Ok(style) =
                    ProgressStyle::with_template(&format!("{mark} {{prefix}} {{msg}}"))
                {
                    bar.set_style(style);
                }
                bar.finish_with_message(what);
            }
            None => crate::say!("{mark} {image} {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(
            split_reference("redis"),
            ("redis".to_string(), "latest".to_string())
        );
        assert_eq!(
            split_reference("redis:7"),
            ("redis".to_string(), "7".to_string())
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/team/api"),
            ("127.0.0.1:5000/team/api".to_string(), "latest".to_string())
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/team/api:v2"),
            ("127.0.0.1:5000/team/api".to_string(), "v2".to_string())
        );
        assert_eq!(
            split_reference("mongo@sha256:abcd"),
            ("mongo".to_string(), "sha256:abcd".to_string())
        );
    }
}
