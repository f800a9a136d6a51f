//! Plain aligned tables that measure ANSI-coloured cells correctly.

pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = console::measure_text_width(cell);
            if i < widths.len() && w > widths[i] {
                widths[i] = w;
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(&cell);
            if i < last {
                let pad = widths[i] + 3 - console::measure_text_width(&cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(
        headers
            .iter()
            .map(|h| console::style(*h).bold().to_string())
            .collect(),
        &mut out,
    );
    for row in rows {
        line(row.clone(), &mut out);
    }
    out
}
