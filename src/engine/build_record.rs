//! Which build context made which image, kept in `.devstack/builds.json` rather than as labels
//! on the image: the engine's classic builder commits build-time labels as one more layer that
//! is never cached (about 0.17 s on every build of a changed context, most of a small edit's
//! rebuild). Keyed by tag and checked against the image id, which is content-addressed: an image
//! rebuilt by anyone else (`docker compose build`, another checkout) has another id and is
//! rebuilt once, exactly as a missing label would have it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::project::paths::{read_json_or_default, write_json_atomically, Paths};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Built {
    /// The image id the build produced.
    pub image: String,
    pub context_hash: String,
    pub project: String,
    pub service: String,
    /// The service names its image (`image:` beside `build:`): Compose's `down --rmi local`
    /// keeps such images, and so does devstack's.
    #[serde(default)]
    pub named: bool,
}

/// Images devstack built, by tag.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BuildRecord {
    #[serde(default)]
    images: BTreeMap<String, Built>,
}

impl BuildRecord {
    /// The record of this project directory; an unreadable one is empty (at worst, one
    /// rebuild that the layer cache makes quick).
    pub fn load(paths: &Paths) -> BuildRecord {
        read_json_or_default(&paths.builds())
    }

    /// Whether the image `tag` now has (`image_id`) was built from a context with `hash`.
    pub fn built_from(&self, tag: &str, image_id: &str, hash: &str) -> bool {
        self.images
            .get(&full(tag))
            .is_some_and(|b| b.image == image_id && b.context_hash == hash)
    }

    /// Tags devstack built for `project` under the name it made up (`{project}-{service}`):
    /// what `down --rmi local` removes.
    pub fn local_tags_of(&self, project: &str) -> Vec<String> {
        self.images
            .iter()
            .filter(|(_, b)| b.project == project && !b.named)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Records a build (read, update, replace: a concurrent writer can at worst cost the other
    /// one rebuild).
    pub fn note(paths: &Paths, tag: &str, built: Built) -> std::io::Result<()> {
        let mut record = BuildRecord::load(paths);
        record.images.insert(full(tag), built);
        write_json_atomically(&paths.builds(), &record)
    }

    /// Forgets tags that were removed.
    pub fn forget(paths: &Paths, tags: &[String]) -> std::io::Result<()> {
        let mut record = BuildRecord::load(paths);
        let before = record.images.len();
        let gone: Vec<String> = tags.iter().map(|t| full(t)).collect();
        record.images.retain(|t, _| !gone.contains(t));
        if record.images.len() == before {
            return Ok(());
        }
        write_json_atomically(&paths.builds(), &record)
    }
}

/// A tag as the engine lists it: `name` means `name:latest`.
fn full(tag: &str) -> String {
    super::image_ref::with_default_tag(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(image: &str, hash: &str, project: &str) -> Built {
        Built {
            image: image.into(),
            context_hash: hash.into(),
            project: project.into(),
            service: "app".into(),
            named: false,
        }
    }

    #[test]
    fn an_image_is_up_to_date_only_with_the_same_id_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert!(!BuildRecord::load(&paths).built_from("p-app", "sha256:1", "h1"));
        BuildRecord::note(&paths, "p-app", built("sha256:1", "h1", "p")).unwrap();
        BuildRecord::note(&paths, "q-app", built("sha256:2", "h2", "q")).unwrap();
        let r = BuildRecord::load(&paths);
        assert!(r.built_from("p-app", "sha256:1", "h1"));
        // Rebuilt by someone else (another id), or the context changed (another hash).
        assert!(!r.built_from("p-app", "sha256:9", "h1"));
        assert!(!r.built_from("p-app", "sha256:1", "h9"));
        assert!(r.built_from("p-app:latest", "sha256:1", "h1"));
        assert_eq!(r.local_tags_of("q"), vec!["q-app:latest".to_string()]);
        BuildRecord::forget(&paths, &["q-app:latest".into()]).unwrap();
        assert!(BuildRecord::load(&paths).local_tags_of("q").is_empty());
        assert_eq!(
            BuildRecord::load(&paths).local_tags_of("p"),
            vec!["p-app:latest".to_string()]
        );
        assert_eq!(full("localhost:5000/pose"), "localhost:5000/pose:latest");
        // An image the template names is the user's, as Compose's `--rmi local` has it.
        let named = Built {
            named: true,
            ..built("sha256:3", "h3", "p")
        };
        BuildRecord::note(&paths, "pose-service:dev", named).unwrap();
        assert_eq!(
            BuildRecord::load(&paths).local_tags_of("p"),
            vec!["p-app:latest".to_string()]
        );
        assert_eq!(full("pose:2"), "pose:2");
    }

    #[test]
    fn a_corrupt_record_is_empty_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.root()).unwrap();
        std::fs::write(paths.builds(), b"{not json").unwrap();
        assert!(BuildRecord::load(&paths).local_tags_of("p").is_empty());
        BuildRecord::note(&paths, "p-app", built("sha256:1", "h1", "p")).unwrap();
        assert!(BuildRecord::load(&paths).built_from("p-app", "sha256:1", "h1"));
    }
}
