//! `devstack images [-q] [--format table|json]`: the images the project's containers use (the
//! image each was created from, not what its tag names today): service, container,
//! repository:tag, id and size, as `docker compose images` lists them.

use serde::Serialize;

use crate::cli::{GlobalOpts, ImagesArgs, ListFormat};
use crate::engine::image_ref::{self, ImageRef};
use crate::engine::observed;
use crate::project::ProjectSource;
use crate::ui::table;

#[derive(Serialize)]
struct Row {
    #[serde(rename = "Service")]
    service: String,
    #[serde(rename = "ContainerName")]
    container: String,
    #[serde(rename = "Repository")]
    repository: String,
    #[serde(rename = "Tag")]
    tag: String,
    /// The full id (`sha256:…`); the table shows 12 digits.
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Size")]
    size: i64,
}

pub async fn run(g: &GlobalOpts, a: &ImagesArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    let engine = super::connect().await?;
    let containers = observed::list(&engine, &source.name).await?;
    let mut rows = Vec::new();
    for c in &containers {
        let Ok(ins) = engine
            .docker
            .inspect_container(
                &c.id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        else {
            continue; // removed meanwhile
        };
        let id = ins.image.unwrap_or_default();
        let created_from = ins.config.and_then(|c| c.image).unwrap_or_default();
        let img = engine.docker.inspect_image(&id).await.ok();
        let tags: Vec<String> = img
            .as_ref()
            .and_then(|i| i.repo_tags.clone())
            .unwrap_or_default();
        // The reference it was created from while that still names this image, else a tag of it.
        let (repository, tag) = repository_and_tag(&created_from, &tags);
        rows.push(Row {
            service: c.service.clone(),
            container: c.name.clone(),
            repository,
            tag,
            id,
            size: img.and_then(|i| i.size).unwrap_or(0),
        });
    }
    rows.sort_by(|x, y| {
        x.service
            .cmp(&y.service)
            .then(x.container.cmp(&y.container))
    });
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for id in rows.iter().map(|r| short_id(&r.id)) {
            if seen.insert(id) {
                crate::outln!("{id}")?;
            }
        }
        return Ok(0);
    }
    if a.format == ListFormat::Json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    if rows.is_empty() {
        crate::say!("no containers for project {}", source.name);
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.service.clone(),
                r.container.clone(),
                format!("{}:{}", r.repository, r.tag),
                short_id(&r.id).to_string(),
                human_size(r.size),
            ]
        })
        .collect();
    crate::out!(
        "{}",
        table::render(
            &["SERVICE", "CONTAINER", "IMAGE", "IMAGE ID", "SIZE"],
            &cells
        )
    )?;
    Ok(0)
}

/// The first 12 hex digits of an image id, as `docker images` shows it.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Bytes as Docker prints them: decimal units, three significant digits (`1.99MB`, `117MB`).
pub(super) fn human_size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes.max(0) as f64;
    let mut u = 0;
    while v >= 999.5 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    let digits = if v >= 99.95 {
        0
    } else if v >= 9.995 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[u])
}

/// The reference the container was created from while that still names this image, else the
/// image's first tag, as (repository, tag); `<none>` for an untagged image.
fn repository_and_tag(created_from: &str, tags: &[String]) -> (String, String) {
    let with_tag = image_ref::with_default_tag(created_from);
    let reference = if tags.contains(&with_tag) {
        Some(with_tag)
    } else {
        tags.first().cloned()
    };
    match reference.as_deref().map(ImageRef::parse) {
        Some(Ok(r)) => (
            r.repository(),
            r.tag.unwrap_or_else(|| "<none>".to_string()),
        ),
        _ => ("<none>".to_string(), "<none>".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{human_size, repository_and_tag, short_id};

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_990_000), "1.99MB");
        assert_eq!(human_size(117_300_000), "117MB");
        assert_eq!(human_size(1_200_000_000), "1.2GB");
        assert_eq!(human_size(12_340_000), "12.3MB");
    }

    #[test]
    fn ids_are_shortened_to_twelve_digits() {
        assert_eq!(short_id("sha256:0af37d3326ea1234"), "0af37d3326ea");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn a_registry_port_is_not_a_tag() {
        let tags = vec!["localhost:5000/pose:latest".to_string()];
        assert_eq!(
            repository_and_tag("localhost:5000/pose", &tags),
            ("localhost:5000/pose".to_string(), "latest".to_string())
        );
        // Created from a reference that no longer names the image: its first tag.
        let tags = vec!["other:v2".to_string()];
        assert_eq!(
            repository_and_tag("localhost:5000/pose", &tags),
            ("other".to_string(), "v2".to_string())
        );
        assert_eq!(
            repository_and_tag("gone", &[]),
            ("<none>".to_string(), "<none>".to_string())
        );
    }
}
