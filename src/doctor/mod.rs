//! Preflight checks. Each check is a function of a [`Facts`] snapshot (a sysroot plus probes
//! of the engine, NVML and the project), so fixture sysroots test every state.

pub mod docker;
pub mod gpu;
pub mod host;
pub mod kinect;
pub mod stack;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    pub fix: Option<String>,
    pub details: serde_json::Value,
}

impl Check {
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id,
            status,
            summary: summary.into(),
            fix: None,
            details: serde_json::Value::Null,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    pub fn details(mut self, d: serde_json::Value) -> Check {
        self.details = d;
        self
    }
}

/// A root directory that stands for `/`: the real one, or a fixture.
#[derive(Debug, Clone)]
pub struct Sysroot(pub PathBuf);

impl Sysroot {
    pub fn path(&self, abs: &str) -> PathBuf {
        self.0.join(abs.trim_start_matches('/'))
    }

    pub fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.path(abs))
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn is_real(&self) -> bool {
        self.0 == Path::new("/")
    }
}

/// Who is asking: decides whether a device node is usable.
#[derive(Debug, Clone)]
pub struct User {
    pub uid: u32,
    pub name: String,
    /// Effective group ids of this process.
    pub gids: Vec<u32>,
}

impl User {
    pub fn current() -> User {
        let uid = nix::unistd::Uid::effective().as_raw();
        let name = nix::unistd::User::from_uid(uid.into())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        let gids = nix::unistd::getgroups()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.as_raw())
            .chain(std::iter::once(nix::unistd::Gid::effective().as_raw()))
            .collect();
        User { uid, name, gids }
    }
}

/// Everything the checks read.
pub struct Facts {
    pub root: Sysroot,
    pub user: User,
    /// The environment as the stack sees it (.env merged with the process environment).
    pub env: IndexMap<String, String>,
}

impl Facts {
    pub fn env(&self, k: &str) -> Option<&str> {
        self.env
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

/// The readable report: grouped by the id's prefix, a mark per status, the fix under it.
pub fn render(checks: &[Check]) -> String {
    use crate::ui::color;
    let mut out = String::new();
    let mut group = "";
    let width = checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in checks {
        let g = c.id.split('.').next().unwrap_or("");
        if g != group {
            group = g;
            out.push_str(&format!("\n{}\n", console::style(g).bold()));
        }
        let mark = match c.status {
            Status::Ok => color::ok("✓ ok  "),
            Status::Warn => color::warn("! warn"),
            Status::Fail => color::bad("✗ fail"),
            Status::Skip => color::dim("- skip"),
        };
        out.push_str(&format!("  {mark}  {:<width$}  {}\n", c.id, c.summary));
        if let (Some(fix), Status::Warn | Status::Fail) = (&c.fix, c.status) {
            for (i, line) in fix.lines().enumerate() {
                let lead = if i == 0 { "fix:" } else { "    " };
                out.push_str(&format!(
                    "          {:<width$}  {} {line}\n",
                    "",
                    color::dim(lead)
                ));
            }
        }
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    out.push_str(&format!(
        "\n{} checks: {fails} failed, {warns} warnings\n",
        checks.len()
    ));
    out
}

#[cfg(test)]
mod tests;
