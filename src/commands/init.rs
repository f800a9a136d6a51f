//! `devstack init [DIR] [--force]`: write the default stack from the copies embedded in the
//! binary. Existing files are left alone unless `--force`; identical ones are not rewritten.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{GlobalOpts, InitArgs};
use crate::ui::color;

/// What happened to one file of the stack.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Wrote,
    Overwrote,
    Unchanged,
    Skipped,
}

fn write_file(dir: &Path, rel: &str, contents: &[u8], force: bool) -> anyhow::Result<Outcome> {
    let path = dir.join(rel);
    let outcome = match std::fs::read(&path) {
        Ok(existing) if existing == contents => return Ok(Outcome::Unchanged),
        Ok(_) if !force => return Ok(Outcome::Skipped),
        Ok(_) => Outcome::Overwrote,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Wrote,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(outcome)
}

pub async fn run(g: &GlobalOpts, a: &InitArgs) -> anyhow::Result<u8> {
    let dir: PathBuf = a
        .dir
        .clone()
        .or_else(|| g.project_dir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    if dir.exists() && !dir.is_dir() {
        return Err(crate::errors::UsageError(format!(
            "{} exists and is not a directory; pass another DIR to `devstack init`",
            dir.display()
        ))
        .into());
    }
    let (mut wrote, mut skipped) = (0, 0);
    for (rel, contents) in crate::embedded::files() {
        let outcome = write_file(&dir, rel, contents, a.force)?;
        let label = match outcome {
            Outcome::Wrote => color::ok("wrote    "),
            Outcome::Overwrote => color::warn("replaced "),
            Outcome::Unchanged => color::dim("unchanged"),
            Outcome::Skipped => color::warn("skipped  "),
        };
        match outcome {
            Outcome::Wrote | Outcome::Overwrote => wrote += 1,
            Outcome::Skipped => skipped += 1,
            Outcome::Unchanged => {}
        }
        crate::outln!("{label} {rel}")?;
    }
    crate::outln!("{wrote} file(s) written to {}", dir.display())?;
    if skipped > 0 {
        crate::outln!(
            "{skipped} existing file(s) differ from the default stack and were kept; `devstack init --force` overwrites them"
        )?;
    }
    crate::outln!(
        "next: cp .env.example .env, put the SMPL model (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl) in data/smpl/, then `devstack up`"
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_existing_files_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            write_file(dir.path(), "a/b.txt", b"new", false).unwrap(),
            Outcome::Wrote
        );
        assert_eq!(
            write_file(dir.path(), "a/b.txt", b"new", false).unwrap(),
            Outcome::Unchanged
        );
        std::fs::write(dir.path().join("a/b.txt"), b"mine").unwrap();
        assert_eq!(
            write_file(dir.path(), "a/b.txt", b"new", false).unwrap(),
            Outcome::Skipped
        );
        assert_eq!(std::fs::read(dir.path().join("a/b.txt")).unwrap(), b"mine");
        assert_eq!(
            write_file(dir.path(), "a/b.txt", b"new", true).unwrap(),
            Outcome::Overwrote
        );
        assert_eq!(std::fs::read(dir.path().join("a/b.txt")).unwrap(), b"new");
    }
}
