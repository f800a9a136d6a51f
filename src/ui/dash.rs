//! The dashboard's screen: what `devstack dash` and `up --dash` show, and which key means
//! what. It draws a [`DashState`] and turns keys into [`Intent`]s; it never acts on the stack
//! (`commands::dash` does).

use std::collections::VecDeque;

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TLine, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Gauge, Paragraph, Row as TRow, Table, Wrap};
use ratatui::Frame;

use crate::engine::logs::Line;
use crate::ui::logline::{self, Level};

/// The smallest screen the dashboard draws on.
pub const MIN_SIZE: (u16, u16) = (80, 24);
/// Log lines kept (older ones are dropped: memory stays flat under a flood).
pub const LOG_CAPACITY: usize = 5000;

/// One service or host process, as the services pane shows it.
#[derive(Debug, Clone, Default)]
pub struct NodeRow {
    pub name: String,
    /// container / host
    pub kind: &'static str,
    pub state: String,
    pub health: Option<String>,
    /// The last health output while it starts (a model download's progress).
    pub health_output: Option<String>,
    pub uptime_secs: Option<i64>,
    pub restarts: i64,
    /// Auto-heal's last action or state (crash-looping).
    pub heal: Option<String>,
    pub ports: String,
    pub cpu_pct: Option<f64>,
    pub mem_mib: Option<f64>,
    /// "all (512 MiB)" / "no GPU" / "-".
    pub gpu: String,
    /// An action of this dashboard in progress on it ("restarting…").
    pub busy: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GpuView {
    pub index: u32,
    pub name: String,
    pub used_mib: u64,
    pub total_mib: u64,
    pub util_pct: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum CameraView {
    Live {
        source: String,
        fps: f64,
        drops: u64,
        p50_ms: f64,
        p99_ms: f64,
    },
    /// Disabled, not started, or its stats file says nothing yet: why.
    Off(String),
}

/// Which logs the logs pane follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogScope {
    All,
    One(String),
}

pub struct DashState {
    pub project: String,
    pub rows: Vec<NodeRow>,
    pub selected: usize,
    /// None: no NVIDIA driver (the pane is hidden).
    pub gpus: Option<Vec<GpuView>>,
    /// POSE_GPU_MEMORY_FRACTION, marked on the GPU gauges.
    pub pose_budget: Option<f64>,
    /// None: the project has no camera host process.
    pub camera: Option<CameraView>,
    pub logs: VecDeque<Line>,
    pub scope: LogScope,
    pub level: Option<Level>,
    pub search: String,
    pub typing_search: bool,
    /// Lines scrolled back from the end (0: following).
    pub scroll: usize,
    pub help: bool,
    pub message: Option<String>,
    pub color: bool,
    /// Quitting stops the stack (`up --dash`) or leaves it running (`dash`).
    pub quit_stops: bool,
}

impl DashState {
    pub fn new(project: &str, color: bool, quit_stops: bool) -> DashState {
        DashState {
            project: project.to_string(),
            rows: Vec::new(),
            selected: 0,
            gpus: None,
            pose_budget: None,
            camera: None,
            logs: VecDeque::new(),
            scope: LogScope::All,
            level: None,
            search: String::new(),
            typing_search: false,
            scroll: 0,
            help: false,
            message: None,
            color,
            quit_stops,
        }
    }

    pub fn push_log(&mut self, l: Line) {
        if self.logs.len() >= LOG_CAPACITY {
            self.logs.pop_front();
        }
        self.logs.push_back(l);
    }

    pub fn selected_name(&self) -> Option<String> {
        self.rows.get(self.selected).map(|r| r.name.clone())
    }

    fn visible_logs(&self) -> Vec<&Line> {
        self.logs
            .iter()
            .filter(|l| match &self.scope {
                LogScope::All => true,
                LogScope::One(n) => &l.service == n,
            })
            .filter(|l| self.search.is_empty() || l.text.contains(&self.search))
            .filter(|l| match self.level {
                None => true,
                Some(min) => logline::parse(&l.text).level.is_none_or(|lv| lv >= min),
            })
            .collect()
    }
}

/// What a key asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Nothing,
    /// Something on screen changed: draw again.
    Redraw,
    Quit,
    Restart(String),
    StopOrStart(String),
}

/// Keys: ↑/↓ k/j select; r restart; s stop/start; Enter/l logs of the row; a all logs; / search;
/// w/e/i/d level filter (warn, error, info, debug; again: off); PgUp/PgDn scroll; ? help; q quit.
pub fn on_key(st: &mut DashState, code: KeyCode) -> Intent {
    if st.typing_search {
        match code {
            KeyCode::Enter | KeyCode::Esc => st.typing_search = false,
            KeyCode::Backspace => {
                st.search.pop();
            }
            KeyCode::Char(c) => st.search.push(c),
            _ => return Intent::Nothing,
        }
        return Intent::Redraw;
    }
    if st.help {
        st.help = false;
        return Intent::Redraw;
    }
    let level = |st: &mut DashState, l: Level| {
        st.level = if st.level == Some(l) { None } else { Some(l) };
    };
    match code {
        KeyCode::Char('q') | KeyCode::CtrlC => return Intent::Quit,
        KeyCode::Up | KeyCode::Char('k') => st.selected = st.selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => {
            if st.selected + 1 < st.rows.len() {
                st.selected += 1;
            }
        }
        KeyCode::Char('r') => {
            if let Some(n) = st.selected_name() {
                return Intent::Restart(n);
            }
        }
        KeyCode::Char('s') => {
            if let Some(n) = st.selected_name() {
                return Intent::StopOrStart(n);
            }
        }
        KeyCode::Enter | KeyCode::Char('l') => {
            if let Some(n) = st.selected_name() {
                st.scope = LogScope::One(n);
                st.scroll = 0;
            }
        }
        KeyCode::Char('a') => {
            st.scope = LogScope::All;
            st.scroll = 0;
        }
        KeyCode::Char('/') => {
            st.typing_search = true;
            st.search.clear();
        }
        KeyCode::Esc => st.search.clear(),
        KeyCode::Char('w') => level(st, Level::Warn),
        KeyCode::Char('e') => level(st, Level::Error),
        KeyCode::Char('i') => level(st, Level::Info),
        KeyCode::Char('d') => level(st, Level::Debug),
        KeyCode::PageUp => st.scroll = st.scroll.saturating_add(10),
        KeyCode::PageDown => st.scroll = st.scroll.saturating_sub(10),
        KeyCode::End => st.scroll = 0,
        KeyCode::Char('?') => st.help = true,
        _ => return Intent::Nothing,
    }
    Intent::Redraw
}

/// The keys the dashboard reads (a terminal-independent subset of crossterm's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCode {
    Char(char),
    CtrlC,
    Up,
    Down,
    Enter,
    Esc,
    Backspace,
    PageUp,
    PageDown,
    End,
}

pub fn draw(f: &mut Frame, st: &DashState) {
    let area = f.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "devstack dash needs at least {}×{} (this terminal is {}×{}): make it larger, or press q",
            MIN_SIZE.0, MIN_SIZE.1, area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let table_height = (st.rows.len() as u16 + 3).min(area.height / 2);
    let outer = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(table_height),
            Constraint::Min(5),
            Constraint::Length(1),
        ])
        .split(area);
    draw_title(f, st, outer[0]);
    let side = st.gpus.is_some() || st.camera.is_some();
    let top = Layout::default()
        .direction(Direction::Horizontal)
        .constraints(if side {
            vec![Constraint::Min(60), Constraint::Length(38)]
        } else {
            vec![Constraint::Min(60)]
        })
        .split(outer[1]);
    draw_rows(f, st, top[0]);
    if side {
        draw_side(f, st, top[1]);
    }
    draw_logs(f, st, outer[2]);
    draw_footer(f, st, outer[3]);
    if st.help {
        draw_help(f, area);
    }
}

fn style(st: &DashState, c: Color) -> Style {
    if st.color {
        Style::default().fg(c)
    } else {
        Style::default()
    }
}

fn tone(st: &DashState, state: &str, health: Option<&str>) -> Style {
    let c = match (state, health) {
        (_, Some("unhealthy")) => Color::Red,
        ("running", Some("starting")) => Color::Yellow,
        ("running", _) => Color::Green,
        (s, _) if s.starts_with("disabled") => Color::DarkGray,
        ("exited" | "dead" | "crash-looping" | "backoff" | "failed", _) => Color::Red,
        _ => Color::Yellow,
    };
    style(st, c)
}

fn draw_title(f: &mut Frame, st: &DashState, area: Rect) {
    let up = st
        .rows
        .iter()
        .filter(|r| r.state == "running" && r.health.as_deref() != Some("unhealthy"))
        .count();
    let quit = if st.quit_stops {
        "q stops the stack"
    } else {
        "q leaves it running"
    };
    let title = format!(
        " devstack · {} · {up}/{} up · {quit} ",
        st.project,
        st.rows.len()
    );
    f.render_widget(
        Paragraph::new(title).style(Style::default().add_modifier(Modifier::BOLD)),
        area,
    );
}

fn human(secs: i64) -> String {
    crate::ui::human_duration(secs)
}

fn draw_rows(f: &mut Frame, st: &DashState, area: Rect) {
    let header = TRow::new(
        [
            "NAME", "KIND", "STATE", "HEALTH", "UP", "RESTARTS", "PORTS", "CPU", "MEM", "GPU",
        ]
        .map(|h| Cell::from(h).style(Style::default().add_modifier(Modifier::BOLD))),
    );
    let rows: Vec<TRow> = st
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut health = r.health.clone().unwrap_or_else(|| "-".into());
            if r.health.as_deref() == Some("starting") {
                if let Some(out) = r.health_output.as_deref().filter(|o| !o.is_empty()) {
                    health = format!("starting: {}", out.lines().next().unwrap_or(""));
                }
            }
            let state = match &r.busy {
                Some(b) => b.clone(),
                None => r.state.clone(),
            };
            let restarts = match &r.heal {
                Some(h) => format!("{} ({h})", r.restarts),
                None => r.restarts.to_string(),
            };
            let cells = vec![
                Cell::from(r.name.clone()),
                Cell::from(r.kind),
                Cell::from(state).style(tone(st, &r.state, r.health.as_deref())),
                Cell::from(health).style(tone(st, &r.state, r.health.as_deref())),
                Cell::from(r.uptime_secs.map(human).unwrap_or_else(|| "-".into())),
                Cell::from(restarts),
                Cell::from(r.ports.clone()),
                Cell::from(
                    r.cpu_pct
                        .map(|c| format!("{c:.1}%"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(
                    r.mem_mib
                        .map(|m| format!("{m:.0}M"))
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(r.gpu.clone()),
            ];
            let row = TRow::new(cells);
            if i == st.selected {
                row.style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(16),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Min(24),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(14),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(" services "));
    f.render_widget(table, area);
}

fn draw_side(f: &mut Frame, st: &DashState, area: Rect) {
    let gpu_rows = st.gpus.as_ref().map_or(0, |g| g.len() as u16 * 2 + 2);
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(gpu_rows), Constraint::Min(0)])
        .split(area);
    if let Some(gpus) = &st.gpus {
        let block = Block::default().borders(Borders::ALL).title(" GPU ");
        let inner = block.inner(parts[0]);
        f.render_widget(block, parts[0]);
        for (i, g) in gpus.iter().enumerate() {
            let y = inner.y + i as u16 * 2;
            if y + 1 >= inner.y + inner.height {
                break;
            }
            let label = format!(
                "{} {} util {}",
                g.index,
                g.name,
                g.util_pct
                    .map(|u| format!("{u}%"))
                    .unwrap_or_else(|| "-".into())
            );
            f.render_widget(Paragraph::new(label), Rect::new(inner.x, y, inner.width, 1));
            let ratio = if g.total_mib == 0 {
                0.0
            } else {
                (g.used_mib as f64 / g.total_mib as f64).clamp(0.0, 1.0)
            };
            let budget = st
                .pose_budget
                .map(|b| format!(" budget {:.0}%", b * 100.0))
                .unwrap_or_default();
            let gauge = Gauge::default()
                .ratio(ratio)
                .label(format!("{}/{} MiB{budget}", g.used_mib, g.total_mib))
                .gauge_style(style(st, Color::Cyan));
            f.render_widget(gauge, Rect::new(inner.x, y + 1, inner.width, 1));
        }
    }
    if let Some(cam) = &st.camera {
        let text = match cam {
            CameraView::Live {
                source,
                fps,
                drops,
                p50_ms,
                p99_ms,
            } => vec![
                TLine::from(format!("source  {source}")),
                TLine::from(format!("fps     {fps:.1}")),
                TLine::from(format!("drops   {drops}")),
                TLine::from(format!("publish p50 {p50_ms:.1} ms  p99 {p99_ms:.1} ms")),
            ],
            CameraView::Off(why) => vec![TLine::from(why.clone())],
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(Block::default().borders(Borders::ALL).title(" camera ")),
            parts[1],
        );
    }
}

fn draw_logs(f: &mut Frame, st: &DashState, area: Rect) {
    let lines = st.visible_logs();
    let height = area.height.saturating_sub(2) as usize;
    let end = lines.len().saturating_sub(st.scroll);
    let start = end.saturating_sub(height);
    let width = st.rows.iter().map(|r| r.name.len()).max().unwrap_or(8);
    let shown: Vec<TLine> = lines[start..end]
        .iter()
        .map(|l| {
            let p = logline::parse(&l.text);
            // The readable form may carry terminal colour codes: the screen has its own styles.
            let text = if p.json {
                strip_ansi(&logline::readable(&p, &l.text))
            } else {
                strip_ansi(&l.text)
            };
            let lvl = match p.level {
                Some(Level::Error | Level::Fatal) => style(st, Color::Red),
                Some(Level::Warn) => style(st, Color::Yellow),
                _ => Style::default(),
            };
            TLine::from(vec![
                Span::styled(
                    format!("{:<width$} | ", l.service),
                    style(st, name_colour(&l.service)),
                ),
                Span::styled(text, lvl),
            ])
        })
        .collect();
    let mut title = match &st.scope {
        LogScope::All => " logs: all ".to_string(),
        LogScope::One(n) => format!(" logs: {n} "),
    };
    if let Some(l) = st.level {
        title.push_str(&format!("· ≥ {l:?} ").to_lowercase());
    }
    if !st.search.is_empty() || st.typing_search {
        title.push_str(&format!("· /{} ", st.search));
    }
    if st.scroll > 0 {
        title.push_str(&format!("· {} lines back ", st.scroll));
    }
    f.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// Removes ANSI escape sequences (`ESC [ … letter`), which would garble the screen's cells.
fn strip_ansi(s: &str) -> String {
    if !s.contains('\u{1b}') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn name_colour(name: &str) -> Color {
    const P: [Color; 6] = [
        Color::Cyan,
        Color::Yellow,
        Color::Green,
        Color::Magenta,
        Color::Blue,
        Color::Red,
    ];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    P[(h % P.len() as u64) as usize]
}

fn draw_footer(f: &mut Frame, st: &DashState, area: Rect) {
    // Plain characters only: a glyph the terminal draws two columns wide would wrap the last
    // line and scroll the whole screen.
    let keys = "up/down select  r restart  s stop/start  Enter logs  a all  / search  w/e level  ? help  q quit";
    let text = match &st.message {
        Some(m) => format!(" {m}   │ {keys}"),
        None => format!(" {keys}"),
    };
    f.render_widget(
        Paragraph::new(text).style(Style::default().add_modifier(Modifier::DIM)),
        area,
    );
}

/// The keys, in a box as wide as its longest line (wrapped on a narrower terminal, never cut).
fn draw_help(f: &mut Frame, area: Rect) {
    const KEYS: [&str; 10] = [
        "↑/↓, k/j     select a service or host process",
        "r            restart it (waits until healthy; dependents follow)",
        "s            stop it, or start it when stopped",
        "Enter, l     its logs;  a  all logs",
        "/            search the logs (Enter ends, Esc clears)",
        "w e i d      only warn / error / info / debug and above",
        "PgUp/PgDn    scroll back and forth;  End  follow again",
        "q, Ctrl-C    quit",
        "",
        "any key closes this help",
    ];
    let widest = KEYS.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
    let w = (widest + 2).min(area.width);
    let inner = w.saturating_sub(2).max(1) as usize;
    let lines: u16 = KEYS
        .iter()
        .map(|l| l.chars().count().div_ceil(inner).max(1) as u16)
        .sum();
    let h = (lines + 2).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let text: Vec<TLine> = KEYS.iter().map(|l| TLine::from(*l)).collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" keys ")),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn state() -> DashState {
        let mut st = DashState::new("demo", false, false);
        st.rows = vec![
            NodeRow {
                name: "redis".into(),
                kind: "container",
                state: "running".into(),
                health: Some("healthy".into()),
                ..Default::default()
            },
            NodeRow {
                name: "pose-service".into(),
                kind: "container",
                state: "running".into(),
                health: Some("starting".into()),
                health_output: Some("downloading: weights 42%".into()),
                ..Default::default()
            },
        ];
        st.push_log(Line {
            ts: "2026-12-02T00:00:00.000000000Z".into(),
            service: "redis".into(),
            stream: "stdout",
            text: "{\"level\":\"warn\",\"msg\":\"slow\"}".into(),
        });
        st.push_log(Line {
            ts: "2026-12-02T00:00:01.000000000Z".into(),
            service: "pose-service".into(),
            stream: "stdout",
            text: "model loading".into(),
        });
        st
    }

    fn screen(st: &DashState, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, st)).unwrap();
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            for x in 0..w {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn rows_health_output_and_logs_are_drawn() {
        let st = state();
        let s = screen(&st, 160, 30);
        assert!(s.contains("redis") && s.contains("healthy"), "{s}");
        assert!(s.contains("starting: downloading: weights 42%"), "{s}");
        assert!(s.contains("WARN") && s.contains("slow"), "{s}");
        assert!(!s.contains('\u{1b}'), "no escape codes in cells: {s}");
        assert!(s.contains("q leaves it running"), "{s}");
    }

    #[test]
    fn the_help_box_shows_every_line_whole() {
        let mut st = state();
        st.help = true;
        let s = screen(&st, 120, 30);
        assert!(
            s.contains("restart it (waits until healthy; dependents follow)"),
            "{s}"
        );
        assert!(s.contains("any key closes this help"), "{s}");
        // The smallest screen the dashboard draws on.
        let s = screen(&st, 80, 24);
        assert!(
            s.contains("restart it (waits until healthy; dependents follow)"),
            "{s}"
        );
    }

    #[test]
    fn keys_select_filter_and_ask() {
        let mut st = state();
        assert_eq!(on_key(&mut st, KeyCode::Down), Intent::Redraw);
        assert_eq!(st.selected, 1);
        assert_eq!(on_key(&mut st, KeyCode::Down), Intent::Redraw);
        assert_eq!(st.selected, 1, "stays on the last row");
        assert_eq!(
            on_key(&mut st, KeyCode::Char('r')),
            Intent::Restart("pose-service".into())
        );
        on_key(&mut st, KeyCode::Enter);
        assert_eq!(st.scope, LogScope::One("pose-service".into()));
        assert_eq!(st.visible_logs().len(), 1);
        on_key(&mut st, KeyCode::Char('a'));
        on_key(&mut st, KeyCode::Char('w'));
        let shown: Vec<&str> = st
            .visible_logs()
            .iter()
            .map(|l| l.service.as_str())
            .collect();
        // A line without a level passes a level filter; the warn line passes too.
        assert_eq!(shown, vec!["redis", "pose-service"]);
        on_key(&mut st, KeyCode::Char('/'));
        for c in "model".chars() {
            on_key(&mut st, KeyCode::Char(c));
        }
        on_key(&mut st, KeyCode::Enter);
        assert_eq!(st.visible_logs().len(), 1);
        assert_eq!(on_key(&mut st, KeyCode::Char('q')), Intent::Quit);
    }

    #[test]
    fn a_small_terminal_is_told_the_size_it_needs() {
        let s = screen(&state(), 60, 20);
        assert!(s.contains("needs at least 80×24"), "{s}");
    }

    #[test]
    fn the_log_buffer_is_bounded() {
        let mut st = state();
        for i in 0..(LOG_CAPACITY + 100) {
            st.push_log(Line {
                ts: String::new(),
                service: "x".into(),
                stream: "stdout",
                text: i.to_string(),
            });
        }
        assert_eq!(st.logs.len(), LOG_CAPACITY);
    }
}
