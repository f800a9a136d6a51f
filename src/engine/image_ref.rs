//! An image reference as Docker reads it: `[registry[:port]/]path[:tag][@digest]`.
//!
//! One parser for every place that needs the tag, the repository or the default `latest`
//! (pull, build, `images`, the build record): a colon before the last `/` belongs to the
//! registry's port (`localhost:5000/pose` has no tag), as in distribution/reference.

use std::fmt;

/// Docker Hub's registry name, as references spell it after normalisation.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed reference. `registry` is `None` when the first path component is not a host
/// (no `.` or `:`, and not `localhost`): such a name lives on Docker Hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: Option<String>,
    /// `library/redis`, `team/api`, `pose` (as written: Hub's `library/` is not added here).
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:…`.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference {0:?} has an empty name component (`//`, or `/` at an end)")]
    EmptyComponent(String),
    #[error("image reference {0:?} has an empty tag after `:`")]
    EmptyTag(String),
    #[error("image reference {0:?} has an invalid digest after `@` (expected ALGORITHM:HEX)")]
    BadDigest(String),
    #[error("image reference {0:?} contains whitespace")]
    Whitespace(String),
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, ImageRefError> {
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(ImageRefError::Whitespace(s.into()));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let ok = d
                    .split_once(':')
                    .is_some_and(|(a, h)| !a.is_empty() && !h.is_empty());
                if !ok {
                    return Err(ImageRefError::BadDigest(s.into()));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // The tag's colon comes after the last slash; one before it is a registry's port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &name[last_slash + i + 1..];
                if tag.is_empty() {
                    return Err(ImageRefError::EmptyTag(s.into()));
                }
                (&name[..last_slash + i], Some(tag.to_string()))
            }
            None => (name, None),
        };
        if name.split('/').any(str::is_empty) {
            return Err(ImageRefError::EmptyComponent(s.into()));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if is_host(first) => (Some(first.to_string()), rest.to_string()),
            _ => (None, name.to_string()),
        };
        Ok(ImageRef {
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The tag, or `latest` when there is neither a tag nor a digest (Docker's default; with
    /// an empty tag the engine would pull every tag of the repository).
    pub fn tag_or_latest(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some("latest"),
        }
    }

    /// The repository as written: `[registry/]path`.
    pub fn repository(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The repository with Docker Hub spelled out (`redis` → `docker.io/library/redis`).
    pub fn normalized_repository(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.path),
            None if self.path.contains('/') => format!("{DOCKER_HUB}/{}", self.path),
            None => format!("{DOCKER_HUB}/library/{}", self.path),
        }
    }

    /// The reference with the default tag: `redis` → `redis:latest`, `a@sha256:…` unchanged.
    pub fn with_default_tag(&self) -> String {
        ImageRef {
            tag: self.tag_or_latest().map(str::to_string),
            ..self.clone()
        }
        .to_string()
    }

    /// What the engine's pull takes as `fromImage` and `tag`: the repository, and the tag or
    /// the digest (`latest` when neither).
    pub fn pull_parts(&self) -> (String, String) {
        let what = match &self.digest {
            Some(d) => d.clone(),
            None => self.tag.clone().unwrap_or_else(|| "latest".into()),
        };
        (self.repository(), what)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether a reference's first component names a registry host (Docker's rule).
fn is_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// `image` with its default tag; a reference that does not parse is returned as it is (the
/// engine then says what is wrong with it).
pub fn with_default_tag(image: &str) -> String {
    ImageRef::parse(image).map_or_else(|_| image.to_string(), |r| r.with_default_tag())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn a_port_is_not_a_tag() {
        let r = p("localhost:5000/pose");
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.path, "pose");
        assert_eq!(r.tag, None);
        assert_eq!(r.with_default_tag(), "localhost:5000/pose:latest");
        let r = p("127.0.0.1:5000/team/api:v2");
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.path, "team/api");
        assert_eq!(r.tag.as_deref(), Some("v2"));
    }

    #[test]
    fn hub_names_default_to_latest_and_normalise() {
        let r = p("redis");
        assert_eq!((r.registry.clone(), r.path.as_str()), (None, "redis"));
        assert_eq!(r.with_default_tag(), "redis:latest");
        assert_eq!(r.normalized_repository(), "docker.io/library/redis");
        assert_eq!(p("team/api").normalized_repository(), "docker.io/team/api");
        assert_eq!(p("redis:7-alpine").tag.as_deref(), Some("7-alpine"));
        assert_eq!(p("redis:7-alpine").with_default_tag(), "redis:7-alpine");
        // `team/api`: `team` is not a host (no dot, no port, not localhost).
        assert_eq!(p("team/api").registry, None);
        assert_eq!(p("ghcr.io/o/x").registry.as_deref(), Some("ghcr.io"));
    }

    #[test]
    fn digests_keep_no_default_tag() {
        let d = "sha256:0123abcd";
        let r = p(&format!("redis@{d}"));
        assert_eq!(r.digest.as_deref(), Some(d));
        assert_eq!(r.tag_or_latest(), None);
        assert_eq!(r.with_default_tag(), format!("redis@{d}"));
        assert_eq!(r.pull_parts(), ("redis".into(), d.into()));
        let r = p(&format!("localhost:5000/a:v1@{d}"));
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.to_string(), format!("localhost:5000/a:v1@{d}"));
    }

    #[test]
    fn pull_parts_split_repository_and_tag() {
        assert_eq!(p("redis").pull_parts(), ("redis".into(), "latest".into()));
        assert_eq!(
            p("127.0.0.1:5000/team/api").pull_parts(),
            ("127.0.0.1:5000/team/api".into(), "latest".into())
        );
        assert_eq!(
            p("localhost:5000/pose:dev").pull_parts(),
            ("localhost:5000/pose".into(), "dev".into())
        );
    }

    #[test]
    fn malformed_references_are_refused() {
        assert_eq!(ImageRef::parse(""), Err(ImageRefError::Empty));
        assert!(matches!(
            ImageRef::parse("a//b"),
            Err(ImageRefError::EmptyComponent(_))
        ));
        assert!(matches!(
            ImageRef::parse("redis:"),
            Err(ImageRefError::EmptyTag(_))
        ));
        assert!(matches!(
            ImageRef::parse("redis@sha256"),
            Err(ImageRefError::BadDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse("a b"),
            Err(ImageRefError::Whitespace(_))
        ));
        assert_eq!(with_default_tag("a//b"), "a//b");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "redis",
            "redis:7",
            "localhost:5000/pose",
            "ghcr.io/o/x:1",
            "docker.io/library/redis:latest",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
    }
}
