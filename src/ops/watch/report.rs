//! What the watch prints: one line per action, the service's name (its stable colour) first.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::executor::Restarted;
use crate::project::Project;
use crate::ui::color;

/// Prints one line per action: the service's name (its stable colour), then what happened.
pub(crate) struct Printer {
    width: usize,
}

impl Printer {
    /// One name width for the whole project (dependents restart too), as the attached `up`.
    pub fn new(project: &Project) -> Printer {
        Printer {
            width: project
                .graph
                .nodes()
                .map(|n| n.name.len())
                .max()
                .unwrap_or(0),
        }
    }

    pub fn line(&self, service: &str, msg: &str) {
        let name = format!("{service:<w$}", w = self.width.max(service.len()));
        let name = color::for_name(service).apply_to(name);
        // A closed stdout (`watch | head`) must not end the loop.
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{name}  {msg}");
        let _ = o.flush();
    }

    /// The `restart: true` dependents that followed `service`, one line each.
    pub fn dependents(&self, done: &[Restarted], service: &str) {
        for r in done.iter().filter(|r| r.service != service) {
            let why = r
                .as_dependent_of
                .as_ref()
                .map(|d| format!(" (depends on {d} with restart: true)"))
                .unwrap_or_default();
            if r.skipped {
                self.line(&r.service, &color::warn(&format!("{}{why}", r.state)));
            } else {
                self.line(
                    &r.service,
                    &format!("restarted{why}, {} after {}", r.state, secs(r.took)),
                );
            }
        }
    }
}

pub(crate) fn count(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub(crate) fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Up to three names, then "and N more".
pub(crate) fn short_list(items: &[String]) -> String {
    if items.len() <= 3 {
        return items.join(", ");
    }
    format!("{} and {} more", items[..3].join(", "), items.len() - 3)
}

/// `p` relative to `base` when under it (`./services/x`), else as it is.
pub(crate) fn rel_to(p: &Path, base: &Path) -> String {
    match p.strip_prefix(base) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lists_and_paths_read_as_sentences() {
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(3, "file"), "3 files");
        assert_eq!(count(2, "directory"), "2 directories");
        let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(short_list(&names[..3]), "a, b, c");
        assert_eq!(short_list(&names), "a, b, c and 2 more");
        assert_eq!(rel_to(Path::new("/p/x/y"), Path::new("/p")), "x/y");
        assert_eq!(rel_to(Path::new("/p"), Path::new("/p")), ".");
        assert_eq!(rel_to(Path::new("/q/y"), Path::new("/p")), "/q/y");
        assert_eq!(last_line("one\ntwo  \n\n"), "two");
    }
}
