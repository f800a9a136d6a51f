//! Which `.env` variables a template's rendered line came from: `{{ env.API_PORT }}` leaves no
//! trace in its rendering (`"127.0.0.1:abc:80"`), so the line is matched back to its template
//! line, whose expressions name the variables. A bad value there is then blamed on the
//! variable's `.env` line, as a `${API_PORT}` value is.

use std::collections::HashMap;

use super::loader::Source;
use super::template;
use super::yaml::Places;

/// For each place of the document written in a template's rendering, the variables the
/// template line it came from reads (places whose line reads none, or cannot be told, are
/// left out).
pub fn template_variables(places: &Places, sources: &[Source]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for src in sources {
        let Some((_, stem)) = src.name.split_once("/.devstack/rendered/") else {
            continue;
        };
        let Some(tmpl) = template::source_of(&src.dir, &format!("{stem}.j2")) else {
            continue;
        };
        let rendered: Vec<&str> = src.text.lines().collect();
        let mut by_line: HashMap<usize, Vec<String>> = HashMap::new();
        for (path, pos) in &places.positions {
            if *pos.file != *src.name {
                continue;
            }
            let vars = by_line.entry(pos.line).or_insert_with(|| {
                rendered
                    .get(pos.line.wrapping_sub(1))
                    .map(|l| variables_of_line(&tmpl, l))
                    .unwrap_or_default()
            });
            if !vars.is_empty() {
                out.push((path.clone(), vars.clone()));
            }
        }
    }
    // Document order is not needed, but a stable order keeps messages stable.
    out.sort();
    out
}

/// A line of a template's rendering (`…/.devstack/rendered/compose.yaml`, line `line`) as the
/// template's file and line: the rendered line written the same in the template, else the one
/// template line with expressions it matches. `None` for a file that is not a rendering, or
/// a line that cannot be told.
pub fn template_place(file: &str, line: usize, sources: &[Source]) -> Option<(String, usize)> {
    let src = sources.iter().find(|s| s.name == file)?;
    let (_, stem) = file.split_once("/.devstack/rendered/")?;
    let name = format!("{stem}.j2");
    let tmpl = template::source_of(&src.dir, &name)?;
    let n = template::template_line_of(&src.text, &tmpl, line, None).or_else(|| {
        let rendered = src.text.lines().nth(line.checked_sub(1)?)?;
        let mut found = tmpl
            .lines()
            .enumerate()
            .filter(|(_, t)| t.contains("{{") && matches_with_holes(t, rendered));
        let (i, _) = found.next()?;
        found.next().is_none().then_some(i + 1)
    })?;
    Some((template::shown(&src.dir, &name), n))
}

/// The `env` variables read by the template line that rendered `line`: the template lines
/// with expressions whose literal text matches it must all read the same variables, else
/// the origin cannot be told.
fn variables_of_line(template: &str, line: &str) -> Vec<String> {
    // Written as it is on a line without expressions: it came from there.
    if template.lines().any(|t| !t.contains("{{") && t == line) {
        return Vec::new();
    }
    let mut found: Option<Vec<String>> = None;
    for t in template.lines().filter(|t| t.contains("{{")) {
        if !matches_with_holes(t, line) {
            continue;
        }
        let vars = env_reads(t);
        match &found {
            Some(f) if *f != vars => return Vec::new(),
            _ => found = Some(vars),
        }
    }
    found.unwrap_or_default()
}

/// Whether `rendered` is `template` with each `{{ … }}`, `{% … %}` and `{# … #}` replaced by
/// some text: the literal pieces appear in order, the first at the start, the last at the end.
fn matches_with_holes(template: &str, rendered: &str) -> bool {
    let pieces = literal_pieces(template);
    let (first, rest) = match pieces.split_first() {
        Some(x) => x,
        None => return true,
    };
    let Some(mut tail) = rendered.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for piece in middle {
        match tail.find(piece.as_str()) {
            Some(i) => tail = &tail[i + piece.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last.as_str())
}

/// The text around a line's tags: `- "{{ a }}:80"` → [`- "`, `:80"`]; a line that starts or
/// ends with a tag has an empty first or last piece.
fn literal_pieces(line: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = line;
    loop {
        let open = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|o| rest.find(o).map(|i| (i, *o)))
            .min();
        let Some((i, open)) = open else {
            pieces.push(rest.to_string());
            return pieces;
        };
        pieces.push(rest[..i].to_string());
        let close = match open {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        match rest[i + 2..].find(close) {
            Some(j) => rest = &rest[i + 2 + j + 2..],
            None => {
                pieces.push(String::new());
                return pieces;
            }
        }
    }
}

/// The variables a line's expressions read as `env.NAME`, `env['NAME']` or `env["NAME"]`,
/// sorted and each once.
fn env_reads(line: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out: Vec<String> = line
        .match_indices("env")
        .filter(|(i, _)| !line[..*i].chars().next_back().is_some_and(word))
        .filter_map(|(i, _)| template::env_variable(&line[i..]))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_line_is_placed_on_its_template_line() {
        let dir = tempfile::tempdir().unwrap();
        let t = "services:\n{% if true %}\n  web:\n    ports:\n      - \"8080:80\"\n      - \"{{ 1 + 1 }}:81\"\n{% endif %}\n";
        std::fs::write(dir.path().join("c.yaml.j2"), t).unwrap();
        let rendered = "services:\n  web:\n    ports:\n      - \"8080:80\"\n      - \"2:81\"\n";
        let name = "/p/.devstack/rendered/c.yaml".to_string();
        let sources = [Source {
            name: name.clone(),
            text: rendered.into(),
            dir: dir.path().to_path_buf(),
        }];
        let shown = dir.path().join("c.yaml.j2").display().to_string();
        assert_eq!(template_place(&name, 4, &sources), Some((shown.clone(), 5)));
        assert_eq!(template_place(&name, 5, &sources), Some((shown, 6)));
        assert_eq!(template_place("/p/compose.yaml", 4, &sources), None);
    }

    #[test]
    fn rendered_lines_are_matched_with_holes() {
        assert!(matches_with_holes(
            r#"      - "127.0.0.1:{{ env.API_PORT }}:80""#,
            r#"      - "127.0.0.1:abc:80""#
        ));
        assert!(matches_with_holes(
            "    image: {{ env.IMG }}",
            "    image: x"
        ));
        assert!(!matches_with_holes(
            r#"      - "{{ env.A }}:80""#,
            r#"      - "abc:81""#
        ));
        assert!(!matches_with_holes("  image: {{ x }}", "    image: y"));
        assert!(matches_with_holes("{{ a }}-{{ b }}", "1-2"));
        assert!(!matches_with_holes("{{ a }}-{{ b }}", "12"));
    }

    #[test]
    fn a_line_names_the_variables_it_reads() {
        assert_eq!(
            env_reads(r#"- "{{ env.HOST }}:{{ env['PORT'] | default('80') }}:80" {# env #}"#),
            vec!["HOST".to_string(), "PORT".to_string()]
        );
        assert!(env_reads("{{ myenv.X }}").is_empty());
    }

    #[test]
    fn ambiguous_lines_name_no_variable() {
        let t = "a:\n  p: \"{{ env.A }}\"\nb:\n  p: \"{{ env.B }}\"\nc:\n  q: \"{{ env.C }}:1\"\n";
        assert!(variables_of_line(t, "  p: \"x\"").is_empty());
        assert_eq!(variables_of_line(t, "  q: \"x:1\""), vec!["C".to_string()]);
        let literal = "a:\n  p: \"8080\"\nb:\n  p: \"{{ env.B }}\"\n";
        assert!(variables_of_line(literal, "  p: \"8080\"").is_empty());
        assert_eq!(
            variables_of_line(literal, "  p: \"9\""),
            vec!["B".to_string()]
        );
        let same = "a:\n  p: \"{{ env.A }}\"\nb:\n  p: \"{{ env.A }}\"\n";
        assert_eq!(variables_of_line(same, "  p: \"x\""), vec!["A".to_string()]);
    }
}
