//! `.env` files by Compose v2's rules (compose-go's `dotenv` package; not dotenvy's, which
//! differ: research/crates.md §3.3):
//!
//! - A UTF-8 BOM is skipped. Blank lines and lines starting with `#` are skipped.
//! - `KEY=value` or `KEY: value`, spaces around either; an optional `export` and any
//!   whitespace before the key. A key is letters, digits (any script), `_ . - [ ]`.
//! - `KEY` alone on its line takes its value from the environment (or an earlier line or file);
//!   when it has none, KEY stays unset. (A last line `KEY` with no line break sets nothing, as
//!   in compose-go.)
//! - Unquoted values run to the end of the line, lose trailing whitespace and a ` #` comment,
//!   and are interpolated (no escapes).
//! - `'…'`: literal, may span lines, `\'` is a quote. `"…"`: may span lines, `\"`, the escapes
//!   `\a \b \f \n \r \t \v \\ \$` and octal `\0NNN` are decoded (any other backslash stays),
//!   then it is interpolated (`\$` stays a `$`). Whatever follows the closing quote is read as
//!   the next statement (a `# comment`, usually).
//! - Interpolation (`$VAR`, `${VAR:-default}`, …, see `interpolate.rs`) looks in the process
//!   environment first, then at the keys set so far (this file's, then earlier files').

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::interpolate::{expand, InterpolateError};
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

/// [`parse`], with the line each key was set on (1-based; a multi-line value's first line).
pub fn parse_with_lines(
    text: &str,
    path: &Path,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, usize)>, ProjectError> {
    Ok(parse_traced(text, path, outer, &|_| None)?
        .vars
        .into_iter()
        .map(|v| (v.key, v.value, v.line))
        .collect())
}

/// One `KEY=value` (or inherited `KEY`) of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub key: String,
    pub value: String,
    /// 1-based; a multi-line value's first line.
    pub line: usize,
}

/// A variable that a value referred to (`$NAME`, `${NAME}`) that had no value: Compose warns
/// `The "NAME" variable is not set. Defaulting to a blank string.`
#[derive(Debug, Clone, PartialEq)]
pub struct Unset {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
}

/// A parsed file: its variables in order (a key set twice appears twice; the last wins), and
/// the unset variables its values referred to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub vars: Vec<Var>,
    pub unset: Vec<Unset>,
}

/// Parses one file. A `$VAR` in a value, or a `KEY` alone, is looked up in `first` (the
/// process environment), then in this file's earlier keys, then in `last` (earlier files).
pub fn parse_traced(
    text: &str,
    path: &Path,
    first: &dyn Fn(&str) -> Option<String>,
    last: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, ProjectError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut p = Parser {
        text,
        pos: 0,
        line: 1,
        path,
        own: HashMap::new(),
        out: Parsed::default(),
    };
    while p.next_statement() {
        p.statement(first, last)?;
    }
    Ok(p.out)
}

/// The variables of several env files read in order (`--env-file a --env-file b`): a later
/// file's key wins, and a file's values may refer to earlier files' keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvFiles {
    pub vars: IndexMap<String, String>,
    /// Where each key of `vars` was last set: file and line.
    pub set_at: IndexMap<String, (PathBuf, usize)>,
    /// Unset variables that values referred to, for Compose's warning.
    pub unset: Vec<Unset>,
}

/// Reads `files` in order, as Compose reads `--env-file a --env-file b` (or the project's
/// `.env`). `process` is the process environment, which interpolation consults first; it is
/// not merged into the result (the caller lets it win over the files, as Compose does).
pub fn load_files(
    files: &[PathBuf],
    process: &dyn Fn(&str) -> Option<String>,
) -> Result<EnvFiles, ProjectError> {
    let mut out = EnvFiles::default();
    for file in files {
        let text = read_env_file(file)?;
        let vars = &out.vars;
        let parsed = parse_traced(&text, file, process, &|k| vars.get(k).cloned())?;
        for v in parsed.vars {
            out.set_at.insert(v.key.clone(), (file.clone(), v.line));
            out.vars.insert(v.key, v.value);
        }
        out.unset.extend(parsed.unset);
    }
    Ok(out)
}

fn read_env_file(file: &Path) -> Result<String, ProjectError> {
    if file.is_dir() {
        return Err(ProjectError(format!(
            "env file {} is a directory: give --env-file a file",
            file.display()
        )));
    }
    std::fs::read(file)
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                e.to_string()
            };
            ProjectError(format!(
                "env file {}: {why} (check --env-file)",
                file.display()
            ))
        })
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|e| {
                ProjectError(format!(
                    "env file {}: not UTF-8 text (byte {} is invalid): save it as UTF-8",
                    file.display(),
                    e.utf8_error().valid_up_to()
                ))
            })
        })
}

/// Where a variable the stack sees was set: the process environment (which wins over
/// `.env`), a line of the `.env` file, or neither.
#[derive(Debug, Clone, PartialEq)]
pub enum SetIn {
    Process,
    File(PathBuf, usize),
    Unknown,
}

/// Where `name` was set, for messages about its value: the process environment wins, as when
/// the project was loaded; else the last line of `env_file` that sets it.
pub fn where_set(name: &str, env_file: Option<&Path>) -> SetIn {
    let files: Vec<PathBuf> = env_file.map(Path::to_path_buf).into_iter().collect();
    where_set_in(name, &files)
}

/// [`where_set`] over several env files read in order: the last file and line that set it.
pub fn where_set_in(name: &str, files: &[PathBuf]) -> SetIn {
    if std::env::var_os(name).is_some() {
        return SetIn::Process;
    }
    let process = |k: &str| std::env::var(k).ok();
    match load_files(files, &process) {
        Ok(env) => env
            .set_at
            .get(name)
            .map_or(SetIn::Unknown, |(f, line)| SetIn::File(f.clone(), *line)),
        Err(_) => SetIn::Unknown,
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// The line of `pos`, 1-based.
    line: usize,
    path: &'a Path,
    /// This file's keys so far (the last value of each), for lookups.
    own: HashMap<String, String>,
    out: Parsed,
}

/// compose-go's "space": whitespace that is not a line break.
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

fn first_line(s: &str) -> &str {
    s.split('\n').next().unwrap_or(s)
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn advance_to(&mut self, pos: usize) {
        self.line += self.text[self.pos..pos].matches('\n').count();
        self.pos = pos;
    }

    fn err(&self, line: usize, msg: String) -> ProjectError {
        ProjectError(format!("{}:{line}: {msg}", self.path.display()))
    }

    /// Skips whitespace, blank lines and comment lines; false at the end of the text.
    fn next_statement(&mut self) -> bool {
        loop {
            let skip = self.rest().len() - self.rest().trim_start().len();
            self.advance_to(self.pos + skip);
            if !self.rest().starts_with('#') {
                return !self.rest().is_empty();
            }
            let end = self
                .rest()
                .find('\n')
                .map_or(self.text.len(), |p| self.pos + p);
            self.advance_to(end);
        }
    }

    fn statement(
        &mut self,
        first: &dyn Fn(&str) -> Option<String>,
        last: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ProjectError> {
        let line = self.line;
        let (key, inherited) = self.key()?;
        let own = std::mem::take(&mut self.own);
        let lookup = |name: &str| {
            first(name)
                .or_else(|| own.get(name).cloned())
                .or_else(|| last(name))
        };
        let value = if inherited {
            lookup(&key)
        } else {
            Some(self.value(line, &lookup)?)
        };
        self.own = own;
        // compose-go keeps `=value` under an empty name that nothing can refer to; skip it.
        if let (Some(value), false) = (value, key.is_empty()) {
            self.own.insert(key.clone(), value.clone());
            self.out.vars.push(Var { key, value, line });
        }
        Ok(())
    }

    /// The key at `pos` and whether it stands alone (`KEY` without a value); `pos` moves to
    /// the value.
    fn key(&mut self) -> Result<(String, bool), ProjectError> {
        let line = self.line;
        let raw_line = first_line(self.rest()).to_string();
        let mut start = self.pos;
        let export = self.rest().strip_prefix("export");
        if export.is_some_and(|r| r.starts_with([' ', '\t', '\n', '\u{c}', '\r'])) {
            start += "export".len();
            start +=
                self.text[start..].len() - self.text[start..].trim_start_matches(is_space).len();
        }
        let mut end = None;
        for (i, c) in self.text[start..].char_indices() {
            match c {
                '=' | ':' | '\n' => {
                    end = Some((start + i, c == '\n'));
                    break;
                }
                c if is_space(c) || c.is_alphabetic() || c.is_numeric() => {}
                '_' | '.' | '-' | '[' | ']' => {}
                _ => {
                    return Err(self.err(
                        line,
                        format!(
                            "malformed line {raw_line:?}: unexpected {c:?} in the variable name \
                             (a name is letters, digits, '_', '.', '-', '[', ']'; write KEY=VALUE, \
                             and quote a value that has spaces or '#')"
                        ),
                    ))
                }
            }
        }
        let Some((key_end, inherited)) = end else {
            return self.unterminated_last_line(start, line);
        };
        let key = self.text[start..key_end].trim_end().to_string();
        if key.contains(' ') {
            return Err(self.err(
                line,
                format!(
                    "malformed line {raw_line:?}: a key cannot contain a space \
                     (write KEY=VALUE, and quote a value that has spaces)"
                ),
            ));
        }
        let after = (key_end + 1).min(self.text.len());
        let value_start = after + self.text[after..].len()
            - self.text[after..].trim_start_matches(is_space).len();
        self.advance_to(if inherited { after } else { value_start });
        Ok((key, inherited))
    }

    /// A last line with no `=`, `:` or line break after its key: compose-go reads it as the value
    /// of an empty name, which nothing can use, so it sets nothing (not even `KEY` from the
    /// environment); `export` and nothing else is an error there.
    fn unterminated_last_line(
        &mut self,
        start: usize,
        line: usize,
    ) -> Result<(String, bool), ProjectError> {
        if start == self.text.len() {
            return Err(self.err(
                line,
                "`export` with nothing after it: write export KEY=VALUE, or remove it".into(),
            ));
        }
        self.advance_to(self.text.len());
        Ok((String::new(), true))
    }

    /// The value at `pos`, quoted or not; `pos` moves past it.
    fn value(
        &mut self,
        line: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ProjectError> {
        let quote = match self.rest().as_bytes().first() {
            Some(q @ (b'"' | b'\'')) => *q,
            _ => return self.unquoted(line, lookup),
        };
        let Some((body, end)) = quoted_body(self.rest(), quote) else {
            let q = quote as char;
            return Err(self.err(
                line,
                format!(
                    "unterminated quoted value {:?}: add the closing {q} (a quoted value may span lines; \
                     write \\{q} for a {q} inside it)",
                    first_line(self.rest())
                ),
            ));
        };
        self.advance_to(self.pos + end);
        if quote == b'\'' {
            return Ok(body);
        }
        self.interpolate(&unescape(&body), line, lookup)
    }

    fn unquoted(
        &mut self,
        line: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ProjectError> {
        let raw = first_line(self.rest());
        let value = raw.split(" #").next().unwrap_or(raw).trim_end().to_string();
        let end = self.pos + raw.len() + usize::from(raw.len() < self.rest().len());
        self.advance_to(end);
        self.interpolate(&value, line, lookup)
    }

    fn interpolate(
        &mut self,
        value: &str,
        line: usize,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, ProjectError> {
        let e = expand(value, lookup).map_err(|e| {
            let fix = match &e {
                InterpolateError::Required { name, .. } => {
                    format!(" (set {name} in the environment or on an earlier line)")
                }
                InterpolateError::Syntax { .. } => String::new(),
            };
            self.err(line, format!("{e}{fix}"))
        })?;
        for name in e.unset {
            self.out.unset.push(Unset {
                name,
                file: self.path.to_path_buf(),
                line,
            });
        }
        Ok(e.value)
    }
}

/// `s` starts with the quote `q`: the text up to the closing quote with `\q` made `q` (other
/// backslashes kept, for [`unescape`]), and the index after the closing quote.
fn quoted_body(s: &str, q: u8) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut escaped = false;
    for (i, &c) in b.iter().enumerate().skip(1) {
        if c == q && !escaped {
            // Only ASCII backslashes were dropped: still UTF-8.
            return Some((String::from_utf8_lossy(&out).into_owned(), i + 1));
        }
        if c == b'\\' && !escaped {
            escaped = true;
            continue;
        }
        if escaped && c != q {
            out.push(b'\\');
        }
        escaped = false;
        out.push(c);
    }
    None
}

/// Decodes a double-quoted value's escapes as compose-go does (the `echo` ones): `\a \b \f \n
/// \r \t \v \\ \"`, `\0` and three octal digits (up to 255), and `\$` as `$$` (a literal `$` to
/// interpolation). Any other backslash stays as it is, except that a failed `\0…` loses its 0
/// (compose-go rewrites `\0` to `\` before it tries the digits).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        rest = &rest[p + 1..];
        let simple = match rest.chars().next() {
            Some('a') => Some("\u{7}"),
            Some('b') => Some("\u{8}"),
            Some('f') => Some("\u{c}"),
            Some('n') => Some("\n"),
            Some('r') => Some("\r"),
            Some('t') => Some("\t"),
            Some('v') => Some("\u{b}"),
            Some('\\') => Some("\\"),
            Some('"') => Some("\""),
            Some('$') => Some("$$"),
            _ => None,
        };
        if let Some(d) = simple {
            out.push_str(d);
            rest = &rest[1..];
        } else if let Some(after) = rest.strip_prefix('0') {
            let n = after.bytes().take(3).take_while(u8::is_ascii_digit).count();
            match octal(&after[..n]) {
                Some(c) => out.push(c),
                None => {
                    out.push('\\');
                    out.push_str(&after[..n]);
                }
            }
            rest = &after[n..];
        } else {
            out.push('\\');
        }
    }
    out.push_str(rest);
    out
}

/// Three octal digits, at most 255, as the character of that code point.
fn octal(digits: &str) -> Option<char> {
    if digits.len() != 3 {
        return None;
    }
    let v = u8::from_str_radix(digits, 8).ok()?;
    Some(char::from(v))
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
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not set in {v:?}"))
    }

    fn one(text: &str) -> String {
        let v = p(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(v.len(), 1, "{text:?} gave {v:?}");
        v[0].1.clone()
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
    fn keys_export_and_yaml_form() {
        assert_eq!(one("\u{feff}A=1"), "1");
        assert_eq!(one("export\tA=2"), "2");
        assert_eq!(get(&p("export exportFoo=2").unwrap(), "exportFoo"), "2");
        assert_eq!(get(&p("exportFOO=2").unwrap(), "exportFOO"), "2");
        assert_eq!(get(&p("A: Foo=bar").unwrap(), "A"), "Foo=bar");
        assert_eq!(get(&p("A=1:B").unwrap(), "A"), "1:B");
        assert_eq!(get(&p("a[1]=c").unwrap(), "a[1]"), "c");
        assert_eq!(get(&p("árvíz-TÜKÖR=x").unwrap(), "árvíz-TÜKÖR"), "x");
        assert_eq!(p("=\"value\"").unwrap(), vec![]);
        assert_eq!(
            p("HOME_X\nNOPE\n").unwrap(),
            vec![("HOME_X".into(), "/home/x".into())]
        );
        assert_eq!(p("HOME_X").unwrap(), vec![]);
        assert_eq!(p("A=1\nNOT VALID").unwrap(), vec![("A".into(), "1".into())]);
        let e = p("A=1\nexport \t").unwrap_err();
        assert!(e.0.starts_with(".env:2: `export` with nothing"), "{e}");
        assert_eq!(
            p("A=1\nA\nB\nC=${A}${B-unset}\n").unwrap(),
            vec![
                ("A".into(), "1".into()),
                ("A".into(), "1".into()),
                ("C".into(), "1unset".into())
            ]
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            one(r#"KEY="Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\Z\0123Z""#),
            "Z\u{7}Z\u{8}Z\u{c}Z\nZ\rZ\tZ\u{b}Z\\ZSZ"
        );
        assert_eq!(
            one(r#"K="\x07 \u12e4 \c \' \0 \01 \0999 \0400 \0377""#),
            r"\x07 \u12e4 \c \' \ \1 \999 \400 ÿ"
        );
        assert_eq!(one(r#"FOO="bar\\\n\ b\az""#), "bar\\\n\\ b\u{7}z");
        assert_eq!(one(r"FOO=a\tb"), r"a\tb");
        assert_eq!(one(r"K='\n \\ \'x'"), r"\n \\ 'x");
        assert_eq!(one("K='a\nb'"), "a\nb");
        assert_eq!(one(r#"K="\$A ${HOME_X}""#), "$A /home/x");
        assert_eq!(one("K=\"a\" # c"), "a");
        assert_eq!(one("K=\"a\"#c"), "a");
        assert_eq!(one("K=a\t#not"), "a\t#not");
        let v = p("A=\"x\" B=2\n").unwrap();
        assert_eq!(get(&v, "B"), "2");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = p("A=1\nthis is not valid\n").unwrap_err();
        assert!(e.0.starts_with(".env:2: malformed line"), "{e}");
        assert!(e.0.contains("cannot contain a space"), "{e}");
        let e = p("A=1\nlol$wut\n").unwrap_err();
        assert!(
            e.0.starts_with(".env:2: malformed line \"lol$wut\": unexpected '$'"),
            "{e}"
        );
        let e = p("A=1\nB='open\n\n").unwrap_err();
        assert!(e.0.starts_with(".env:2: unterminated quoted value"), "{e}");
        let e = p("A=${REQ:?must be set}\n").unwrap_err();
        assert!(e.0.contains(".env:1: required variable REQ"), "{e}");
        let e = p("A=\"two\nlines\"\nB=${C:x}\n").unwrap_err();
        assert!(
            e.0.starts_with(".env:3: invalid interpolation format"),
            "{e}"
        );
        for bad in [
            "KEY=\"",
            "KEY=\"value",
            "KEY=\"value\\\"",
            "KEY=\"value'",
            "KEY='",
            "KEY='value\\'",
            "KEY='value\"",
        ] {
            assert!(
                p(bad).unwrap_err().0.contains("unterminated quoted value"),
                "{bad}"
            );
        }
    }

    #[test]
    fn lines_are_known_and_where_set_finds_the_last() {
        let v = parse_with_lines(
            "# c\nA=1\nB=\"two\nlines\"\nC=3\nA=4\nD='x\n\ny' # c\r\nE\n",
            Path::new(".env"),
            &|k| (k == "E").then(|| "e".into()),
        )
        .unwrap();
        let lines: Vec<(&str, usize)> = v.iter().map(|(k, _, l)| (k.as_str(), *l)).collect();
        assert_eq!(
            lines,
            vec![("A", 2), ("B", 3), ("C", 5), ("A", 6), ("D", 7), ("E", 10)]
        );
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

    #[test]
    fn several_files_later_wins_and_refers_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.env");
        std::fs::write(&a, "HOST=localhost\nURL=\"http://${HOST}\"\nONLY_A=1\n").unwrap();
        std::fs::write(
            &b,
            "HOST=dev.example\nURL=\"http://${HOST}\"\nONLY_A\nX=$NOPE\n",
        )
        .unwrap();
        let env = load_files(&[a.clone(), b.clone()], &|_| None).unwrap();
        assert_eq!(env.vars["HOST"], "dev.example");
        assert_eq!(env.vars["URL"], "http://dev.example");
        assert_eq!(env.vars["ONLY_A"], "1");
        assert_eq!(env.set_at["HOST"], (b.clone(), 1));
        assert_eq!(env.set_at["ONLY_A"], (b.clone(), 3));
        assert_eq!(
            env.unset,
            vec![Unset {
                name: "NOPE".into(),
                file: b.clone(),
                line: 4
            }]
        );
        let os = |k: &str| (k == "HOST").then(|| "host.local".to_string());
        let env = load_files(&[a.clone(), b.clone()], &os).unwrap();
        assert_eq!(env.vars["URL"], "http://host.local");
        assert_eq!(env.vars["HOST"], "dev.example");
        assert_eq!(
            where_set_in("ONLY_A", &[a.clone(), b.clone()]),
            SetIn::File(b, 3)
        );
        let e = load_files(&[dir.path().to_path_buf()], &|_| None).unwrap_err();
        assert!(e.0.contains("is a directory"), "{e}");
        let e = load_files(&[dir.path().join("nope.env")], &|_| None).unwrap_err();
        assert!(e.0.contains("nope.env: no such file"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_ok_or_err(s in "\\PC*") {
            let _ = p(&s);
        }

        #[test]
        fn env_like_text_is_ok_or_err(s in "((export[ \t])?[A-Z_]{0,3}[ ]?[=:]?[ ]?(['\"]|[$][{]?|[}]|#| |\\\\|[a-z0]|:-|\n|\r|\u{feff}){0,12}\n?){0,8}") {
            let _ = p(&s);
        }

        #[test]
        fn plain_assignments_round_trip(k in "[A-Za-z_][A-Za-z0-9_]{0,8}", v in "[A-Za-z0-9_./:,+-]{0,12}") {
            proptest::prop_assert_eq!(p(&format!("{k}={v}\n")).unwrap(), vec![(k.clone(), v.clone())]);
            proptest::prop_assert_eq!(p(&format!("{k}='{v}'")).unwrap(), vec![(k, v)]);
        }
    }
}
