//! `.env` files with Docker Compose's rules (not dotenvy's, which differ: research/crates.md §3.3):
//! `KEY=value`, optional `export `, spaces around `=`, `# comments` (inline only after
//! whitespace in unquoted values), single quotes literal (`\'` allowed), double quotes with
//! escapes (`\n \t \r \\ \" \$`) and multi-line values, interpolation in unquoted and
//! double-quoted values, `KEY` alone takes the value from the process environment.

use std::path::Path;

use super::interpolate::interpolate;
use super::ProjectError;

/// Parses `text` (read from `path`, used in messages). `outer` is the process environment,
/// consulted first when a value refers to `${VAR}`, then earlier keys of the file.
pub fn parse(
    text: &str,
    path: &Path,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ProjectError> {
    Ok(parse_with_lines(text, path, outer)?
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect())
}

/// Where a variable the stack sees was set: the process environment (which wins over
/// `.env`), a line of the `.env` file, or neither.
#[derive(Debug, Clone, PartialEq)]
pub enum SetIn {
    Process,
    File(std::path::PathBuf, usize),
    Unknown,
}

/// Where `name` was set, for messages about its value: the process environment wins, as when
/// the project was loaded; else the last line of `env_file` that sets it.
pub fn where_set(name: &str, env_file: Option<&Path>) -> SetIn {
    if std::env::var_os(name).is_some() {
        return SetIn::Process;
    }
    let Some(file) = env_file else {
        return SetIn::Unknown;
    };
    let Ok(text) = std::fs::read_to_string(file) else {
        return SetIn::Unknown;
    };
    let process = |k: &str| std::env::var(k).ok();
    match parse_with_lines(&text, file, &process) {
        Ok(vars) => vars
            .iter()
            .rev()
            .find(|(k, _, _)| k == name)
            .map_or(SetIn::Unknown, |(_, _, line)| {
                SetIn::File(file.to_path_buf(), *line)
            }),
        Err(_) => SetIn::Unknown,
    }
}

/// [`parse`], with the line each key was set on (1-based; a multi-line value's first line).
pub fn parse_with_lines(
    text: &str,
    path: &Path,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, usize)>, ProjectError> {
    let mut vars: Vec<(String, String, usize)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let line_no = n + 1;
        let err = |msg: String| ProjectError(format!("{}:{line_no}: {msg}", path.display()));
        let raw = lines[n];
        n += 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, rest) = match line.find('=') {
            Some(eq) => (line[..eq].trim_end(), Some(line[eq + 1..].trim_start())),
            None => (line.trim_end(), None),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(err(format!(
                "malformed line {raw:?}: expected KEY=VALUE with KEY made of letters, digits, '_', '.', '-' \
                 (quote values that contain spaces or '#')"
            )));
        }
        let lookup = |name: &str| -> Option<String> {
            outer(name).or_else(|| {
                vars.iter()
                    .rev()
                    .find(|(k, _, _)| k == name)
                    .map(|(_, v, _)| v.clone())
            })
        };
        let Some(rest) = rest else {
            if let Some(v) = outer(key) {
                vars.push((key.to_string(), v, line_no));
            }
            continue;
        };
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let (val, after) = single_quoted(body).ok_or_else(|| {
                err(format!(
                    "unterminated single quote in {raw:?}: add the closing '"
                ))
            })?;
            check_trailing(after).map_err(&err)?;
            val
        } else if let Some(body) = rest.strip_prefix('"') {
            // Double-quoted values may continue on following lines.
            let mut joined = body.to_string();
            let (val, after) = loop {
                if let Some(found) = double_quoted(&joined) {
                    break found;
                }
                if n >= lines.len() {
                    return Err(err(format!(
                        "unterminated double quote in {raw:?}: add the closing \""
                    )));
                }
                joined.push('\n');
                joined.push_str(lines[n]);
                n += 1;
            };
            check_trailing(&after).map_err(&err)?;
            interpolate(&val, &lookup).map_err(|e| err(e.to_string()))?
        } else {
            let unquoted = match rest.find(" #").or_else(|| rest.find("\t#")) {
                Some(p) => &rest[..p],
                None => rest,
            };
            interpolate(unquoted.trim_end(), &lookup).map_err(|e| err(e.to_string()))?
        };
        vars.push((key.to_string(), value, line_no));
    }
    Ok(vars)
}

fn check_trailing(after: &str) -> Result<(), String> {
    let t = after.trim();
    if t.is_empty() || t.starts_with('#') {
        Ok(())
    } else {
        Err(format!(
            "unexpected text {t:?} after the closing quote (start a comment with ' #')"
        ))
    }
}

/// Body after the opening `'`: the literal value and the text after the closing quote.
fn single_quoted(body: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if body[i + 1..].starts_with('\'') => {
                out.push('\'');
                chars.next();
            }
            '\'' => return Some((out, &body[i + 1..])),
            _ => out.push(c),
        }
    }
    None
}

/// Body after the opening `"`: the unescaped value (with `$` left for interpolation; `\$`
/// becomes `$$` so it survives it) and the text after the closing quote.
fn double_quoted(body: &str) -> Option<(String, String)> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '$')) => out.push_str("$$"),
                Some((_, other)) => out.push(other),
                None => return None,
            },
            '"' => return Some((out, body[i + 1..].to_string())),
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<(String, String)>, ProjectError> {
        parse(text, Path::new(".env"), &|k| {
            (k == "HOME_X").then(|| "/home/x".to_string())
        })
    }

    fn get(v: &[(String, String)], k: &str) -> String {
        v.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    #[test]
    fn compose_rules() {
        let v = p("# comment\n\nA=1\nexport B = two\nC=foo bar # comment\nD=val# not a comment\nE='lit $A \\'q\\''\n\
                   F=\"tab\\there $A\"\nG=${MISSING:-def}\nH=$FOO_UNSET\nI=${HOME_X}/d\nJ=\"multi\nline\"\nK=cost $$5\nL=\n")
        .unwrap();
        assert_eq!(get(&v, "A"), "1");
        assert_eq!(get(&v, "B"), "two");
        assert_eq!(get(&v, "C"), "foo bar");
        assert_eq!(get(&v, "D"), "val# not a comment");
        assert_eq!(get(&v, "E"), "lit $A 'q'");
        assert_eq!(get(&v, "F"), "tab\there 1");
        assert_eq!(get(&v, "G"), "def");
        assert_eq!(get(&v, "H"), "");
        assert_eq!(get(&v, "I"), "/home/x/d");
        assert_eq!(get(&v, "J"), "multi\nline");
        assert_eq!(get(&v, "K"), "cost $5");
        assert_eq!(get(&v, "L"), "");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = p("A=1\nthis is not valid\n").unwrap_err();
        assert!(e.0.starts_with(".env:2: malformed line"), "{e}");
        let e = p("A='open\n").unwrap_err();
        assert!(e.0.starts_with(".env:1: unterminated single quote"), "{e}");
        let e = p("A=\"x\" junk\n").unwrap_err();
        assert!(e.0.contains(".env:1: unexpected text"), "{e}");
        let e = p("A=${REQ:?must be set}\n").unwrap_err();
        assert!(e.0.contains(".env:1: required variable REQ"), "{e}");
    }

    #[test]
    fn lines_are_known_and_where_set_finds_the_last() {
        let v = parse_with_lines(
            "# c\nA=1\nB=\"two\nlines\"\nC=3\nA=4\n",
            Path::new(".env"),
            &|_| None,
        )
        .unwrap();
        let lines: Vec<(&str, usize)> = v.iter().map(|(k, _, l)| (k.as_str(), *l)).collect();
        assert_eq!(lines, vec![("A", 2), ("B", 3), ("C", 5), ("A", 6)]);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".env");
        std::fs::write(
            &f,
            "X_DEVSTACK_TEST_A=1\n\nX_DEVSTACK_TEST_B=2\nX_DEVSTACK_TEST_A=3\n",
        )
        .unwrap();
        assert_eq!(
            where_set("X_DEVSTACK_TEST_A", Some(&f)),
            SetIn::File(f.clone(), 4)
        );
        assert_eq!(
            where_set("X_DEVSTACK_TEST_B", Some(&f)),
            SetIn::File(f.clone(), 3)
        );
        assert_eq!(where_set("X_DEVSTACK_TEST_C", Some(&f)), SetIn::Unknown);
        assert_eq!(where_set("PATH", Some(&f)), SetIn::Process);
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_ok_or_err(s in "\\PC*") {
            let _ = p(&s);
        }

        #[test]
        fn env_like_text_is_ok_or_err(s in "((export )?[A-Z_]{0,3}[ ]?=?[ ]?(['\"]|[$][{]?|[}]|#| |\\\\|[a-z]|:-|\n){0,12}\n?){0,8}") {
            let _ = p(&s);
        }
    }
}
