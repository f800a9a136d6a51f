//! Stable colours: a service gets the same colour in every run (hash of its name), unlike
//! Compose, which assigns colours in registration order.

use console::{Color, Style};

const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::Red,
];

/// FNV-1a: stable across runs and platforms (std's hasher is randomly seeded).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn for_name(name: &str) -> Style {
    let h = fnv1a(name);
    let style = Style::new().fg(PALETTE[(h % PALETTE.len() as u64) as usize]);
    if (h / PALETTE.len() as u64) % 2 == 1 {
        style.bright()
    } else {
        style
    }
}

pub fn ok(s: &str) -> String {
    console::style(s).green().to_string()
}

pub fn warn(s: &str) -> String {
    console::style(s).yellow().to_string()
}

pub fn bad(s: &str) -> String {
    console::style(s).red().to_string()
}

pub fn dim(s: &str) -> String {
    console::style(s).dim().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_is_a_function_of_the_name() {
        console::set_colors_enabled(true);
        let a = super::for_name("backend-api").apply_to("x").to_string();
        let b = super::for_name("backend-api").apply_to("x").to_string();
        assert_eq!(a, b);
    }
}
