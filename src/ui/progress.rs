//! Progress of `up`: on a terminal, one live line per service (state and elapsed time) that
//! collapses to a summary; elsewhere (CI, pipes) plain lines, no spinners.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::build::ImageAction;
use crate::engine::converge::{Action, Event};
use crate::ui::color;

pub struct Progress {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    verbose: bool,
    begin: Instant,
    /// Width of the service names, so the columns line up.
    width: usize,
}

impl Progress {
    pub fn new(services: &[String], verbose: bool) -> Progress {
        let live = crate::ui::stderr_is_tty() && std::env::var_os("CI").is_none();
        let multi = live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let mut bars = HashMap::new();
        let width = services.iter().map(String::len).max().unwrap_or(0);
        if let Some(m) = &multi {
            let style = ProgressStyle::with_template(&format!(
                "{{spinner:.cyan}} {{prefix:<{width}}} {{msg}} {{elapsed:.dim}}"
            ))
            .expect("valid template")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
            for s in services {
                let bar = m.add(
                    ProgressBar::new_spinner()
                        .with_style(style.clone())
                        .with_prefix(s.clone()),
                );
                bar.set_message("pending");
                bar.enable_steady_tick(Duration::from_millis(100));
                bars.insert(s.clone(), bar);
            }
        }
        Progress {
            multi,
            bars: Mutex::new(bars),
            verbose,
            begin: Instant::now(),
            width,
        }
    }

    fn set(&self, service: &str, msg: String, done: bool) -> bool {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bar) = bars.get(service) else {
            return false;
        };
        if done {
            bar.finish_with_message(msg);
        } else {
            bar.set_message(msg);
        }
        true
    }

    pub fn event(&self, ev: &Event) {
        let live = self.multi.is_some();
        let line = match ev {
            Event::Building(s) => (s, "building image".to_string(), false),
            Event::BuildStep(s, step) => (s, format!("building: {step}"), false),
            Event::BuildLine(s, l) if self.verbose => {
                self.println(&format!("{s} | {l}"));
                return;
            }
            Event::Image(s, ImageAction::Built) => (s, "image built".into(), false),
            Event::Image(s, ImageAction::Pulled) => (s, "image pulled".into(), false),
            Event::Waiting(s, dep) => (s, format!("waiting for {dep}"), false),
            // Live only: on a terminal the line is rewritten; elsewhere it would be a flood.
            Event::Starting(s, said) if live => {
                (s, format!("starting: {}", one_line(said, 80)), false)
            }
            Event::Container(s, act) => {
                let what = match act {
                    Action::Created => "created",
                    Action::Recreated => "recreated",
                    Action::Started => "started",
                    Action::UpToDate => "up to date",
                };
                (s, what.to_string(), false)
            }
            Event::Ready(s, what, took) => (
                s,
                format!("{} after {:.1}s", color::ok(what), took.as_secs_f64()),
                true,
            ),
            Event::Skipped(s, why) => (s, color::dim(why), true),
            Event::Removed(n) => {
                self.println(&format!("{} container {n} removed", color::ok("✓")));
                return;
            }
            Event::Note(n) => {
                self.println(&format!("{} {n}", color::warn("note:")));
                return;
            }
            _ => return,
        };
        let (service, msg, done) = line;
        if live {
            self.set(service, msg, done);
        } else if done || !matches!(ev, Event::Waiting(..)) || self.verbose {
            let mark = if done {
                color::ok("✓")
            } else {
                color::dim("•")
            };
            crate::say!("{mark} {service} {msg}");
        }
    }

    fn println(&self, s: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(s);
            }
            None => crate::say!("{s}"),
        }
    }

    /// Collapses the live lines into one summary line.
    pub fn finish(&self, ready: usize, changed: usize) {
        if let Some(m) = &self.multi {
            for bar in self.bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
                bar.finish_and_clear();
            }
            let _ = m.clear();
        }
        crate::say!(
            "{} {ready} service{} ready in {:.1}s ({changed} changed)",
            color::ok("✓"),
            if ready == 1 { "" } else { "s" },
            self.begin.elapsed().as_secs_f64()
        );
    }

    /// Leaves the live lines as they are (on failure they tell where it stopped), marked
    /// `✗` where work was under way and `·` where it never began; `✓` stays for the ready.
    pub fn abandon(&self) {
        for bar in self.bars.lock().unwrap_or_else(|e| e.into_inner()).values() {
            if !bar.is_finished() {
                let mark = if bar.message() == "pending" {
                    color::dim("·")
                } else {
                    color::bad("✗")
                };
                let template = format!("{mark} {{prefix:<{}}} {{msg}}", self.width);
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    bar.set_style(style);
                }
                bar.abandon();
            }
        }
    }
}

/// The first line of `s`, at most `max` characters (a health check may print a page).
fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= max {
        return line.to_string();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn health_output_becomes_one_short_line() {
        assert_eq!(one_line("downloading 42%\nmore", 80), "downloading 42%");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("", 4), "");
    }
}
