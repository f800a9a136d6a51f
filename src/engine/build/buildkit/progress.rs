//! BuildKit's status stream made into one line per build: the step running now (the
//! Dockerfile's `[2/5] RUN …`), how many steps came from the cache, the last thing the step
//! printed; and, when a step fails, its name, error and whole log.

use std::collections::HashMap;

use bollard::moby::buildkit::v1::StatusResponse;
use indexmap::IndexMap;

#[derive(Debug, Default, Clone)]
struct Step {
    name: String,
    started: bool,
    completed: bool,
    cached: bool,
    error: String,
}

/// What is known about one build so far.
#[derive(Debug, Default)]
pub struct Tracker {
    steps: IndexMap<String, Step>,
    /// Per step, what it printed: (timestamp in ns, bytes), stdout and stderr interleaved.
    logs: HashMap<String, Vec<(i64, Vec<u8>)>>,
    /// Per step, the partial line not yet ended by a newline.
    last_line: HashMap<String, String>,
}

/// A failed step: its name, BuildKit's error, and everything it printed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: String,
    pub error: String,
    pub log: String,
}

/// A Dockerfile instruction (`[2/5] RUN …`, `[stage 1/3] FROM …`), not BuildKit's own
/// `[internal] …` work.
fn is_instruction(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('[') else {
        return false;
    };
    let Some((tag, _)) = rest.split_once(']') else {
        return false;
    };
    let last = tag.rsplit(' ').next().unwrap_or(tag);
    last.split_once('/')
        .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
}

impl Tracker {
    /// Takes one status message; returns the log lines it completed (`step | line`).
    pub fn update(&mut self, s: StatusResponse) -> Vec<String> {
        for v in s.vertexes {
            let step = self.steps.entry(v.digest.clone()).or_default();
            step.name = v.name;
            step.started |= v.started.is_some();
            step.completed |= v.completed.is_some();
            step.cached |= v.cached;
            if !v.error.is_empty() {
                step.error = v.error;
            }
        }
        let mut lines = Vec::new();
        for l in s.logs {
            let at = l
                .timestamp
                .map_or(0, |t| t.seconds * 1_000_000_000 + i64::from(t.nanos));
            self.logs
                .entry(l.vertex.clone())
                .or_default()
                .push((at, l.msg.clone()));
            let name = self
                .steps
                .get(&l.vertex)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            let pending = self.last_line.entry(l.vertex).or_default();
            pending.push_str(&String::from_utf8_lossy(&l.msg));
            while let Some(i) = pending.find(['\n', '\r']) {
                let line: String = pending.drain(..=i).collect();
                let line = line.trim_end();
                if !line.trim().is_empty() {
                    lines.push(format!("{} | {line}", short(&name, 40)));
                }
            }
        }
        lines
    }

    /// Dockerfile steps seen and how many of them were cached.
    pub fn counts(&self) -> (usize, usize) {
        let steps = self.steps.values().filter(|s| is_instruction(&s.name));
        let (mut total, mut cached) = (0, 0);
        for s in steps {
            total += 1;
            cached += usize::from(s.cached);
        }
        (total, cached)
    }

    /// The one line that says where the build is: the Dockerfile step running (else
    /// BuildKit's own work, such as exporting), cached steps counted; `None` between steps.
    pub fn line(&self) -> Option<String> {
        let running = |pick: &dyn Fn(&str) -> bool| {
            self.steps
                .values()
                .find(|s| s.started && !s.completed && pick(&s.name))
        };
        let step = running(&is_instruction)
            .or_else(|| running(&|n: &str| !n.starts_with("[internal]")))?;
        let (_, cached) = self.counts();
        let cached = if cached > 0 {
            format!(" ({cached} cached)")
        } else {
            String::new()
        };
        Some(format!("{}{cached}", short(&step.name, 70)))
    }

    /// The step that failed, with its log.
    pub fn failure(&self) -> Option<Failure> {
        self.steps
            .iter()
            .find(|(_, s)| !s.error.is_empty() && is_instruction(&s.name))
            .or_else(|| self.steps.iter().find(|(_, s)| !s.error.is_empty()))
            .map(|(digest, s)| Failure {
                step: s.name.clone(),
                error: s.error.clone(),
                log: self.log_of(digest),
            })
    }

    /// Everything a step printed, in the order it printed it.
    fn log_of(&self, digest: &str) -> String {
        let mut chunks: Vec<&(i64, Vec<u8>)> =
            self.logs.get(digest).into_iter().flatten().collect();
        chunks.sort_by_key(|(at, _)| *at);
        let bytes: Vec<u8> = chunks
            .into_iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).trim_end().to_string()
    }
}

/// BuildKit's error without the command it repeats: `exit code: 3` from "executor failed
/// running [/bin/sh -c …]: exit code: 3" (BuildKit 0.8) or "process \"…\" did not complete
/// successfully: exit code: 3" (newer).
pub fn step_error(error: &str) -> &str {
    for marker in ["did not complete successfully: ", "]: "] {
        if error.starts_with("executor failed running [") || error.starts_with("process \"") {
            if let Some(i) = error.rfind(marker) {
                return &error[i + marker.len()..];
            }
        }
    }
    error
}

/// At most `max` characters, `…` where cut.
pub fn short(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::moby::buildkit::v1::{Vertex, VertexLog};

    fn vertex(d: &str, name: &str, started: bool, done: bool, cached: bool) -> Vertex {
        Vertex {
            digest: d.into(),
            name: name.into(),
            started: started.then(Default::default),
            completed: done.then(Default::default),
            cached,
            ..Default::default()
        }
    }

    fn log(d: &str, msg: &str) -> VertexLog {
        VertexLog {
            vertex: d.into(),
            msg: msg.as_bytes().to_vec(),
            stream: 1,
            ..Default::default()
        }
    }

    #[test]
    fn the_line_names_the_running_step_and_counts_cached_ones() {
        let mut t = Tracker::default();
        t.update(StatusResponse {
            vertexes: vec![
                vertex(
                    "a",
                    "[internal] load build definition from Dockerfile",
                    true,
                    true,
                    false,
                ),
                vertex("b", "[1/3] FROM docker.io/library/base", true, true, true),
                vertex("c", "[2/3] COPY req.txt /", true, true, true),
                vertex("d", "[3/3] RUN pip install -r /req.txt", true, false, false),
            ],
            ..Default::default()
        });
        let lines = t.update(StatusResponse {
            logs: vec![log(
                "d",
                "Collecting numpy\nDownloading numpy (12 MB)\nInstall",
            )],
            ..Default::default()
        });
        assert_eq!(
            lines,
            [
                "[3/3] RUN pip install -r /req.txt | Collecting numpy",
                "[3/3] RUN pip install -r /req.txt | Downloading numpy (12 MB)"
            ]
        );
        assert_eq!(t.counts(), (3, 2));
        assert_eq!(
            t.line().as_deref(),
            Some("[3/3] RUN pip install -r /req.txt (2 cached)")
        );
        t.update(StatusResponse {
            vertexes: vec![vertex(
                "d",
                "[3/3] RUN pip install -r /req.txt",
                true,
                true,
                false,
            )],
            ..Default::default()
        });
        assert_eq!(t.line(), None, "between steps");
    }

    #[test]
    fn a_failed_step_comes_with_its_whole_log() {
        let mut t = Tracker::default();
        let mut v = vertex("x", "[2/2] RUN make", true, true, false);
        v.error = "executor failed running [/bin/sh -c make]: exit code: 2".into();
        t.update(StatusResponse {
            vertexes: vec![v],
            logs: vec![log("x", "cc -c a.c\na.c:1: error: boom\n")],
            ..Default::default()
        });
        let f = t.failure().unwrap();
        assert_eq!(step_error(&f.error), "exit code: 2");
        assert_eq!(
            step_error("process \"/bin/sh -c make\" did not complete successfully: exit code: 1"),
            "exit code: 1"
        );
        assert_eq!(
            step_error("failed to compute cache key: x"),
            "failed to compute cache key: x"
        );
        assert_eq!(f.step, "[2/2] RUN make");
        assert!(f.error.contains("exit code: 2"));
        assert_eq!(f.log, "cc -c a.c\na.c:1: error: boom");
    }

    #[test]
    fn instructions_are_told_from_buildkits_own_steps() {
        assert!(is_instruction("[1/2] FROM x"));
        assert!(is_instruction("[builder 3/7] RUN y"));
        assert!(!is_instruction("[internal] load .dockerignore"));
        assert!(!is_instruction("exporting to image"));
    }
}
