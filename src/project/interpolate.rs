//! Compose-style variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, nesting in the default/alt part,
//! and `$$` for a literal `$`. Same rules for `.env` values and for the compose file.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpolateError {
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    #[error("invalid interpolation format in {text:?}: {reason}")]
    Syntax { text: String, reason: String },
}

pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(input.len());
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let next = input[i..].find('$').map_or(input.len(), |p| i + p);
            out.push_str(&input[i..next]);
            i = next;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close =
                    matching_brace(input, i + 1).ok_or_else(|| InterpolateError::Syntax {
                        text: input.to_string(),
                        reason: "missing closing '}'".into(),
                    })?;
                out.push_str(&expand_braced(&input[i + 2..close], input, lookup)?);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let end = input[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(input.len(), |p| i + 1 + p);
                out.push_str(&lookup(&input[i + 1..end]).unwrap_or_default());
                i = end;
            }
            // A lone `$` (end of string, before a space or digit) stays as it is, as in Compose.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Index of the `}` that closes the `{` at `open`, honouring nested `${…}`.
fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (idx, c) in s[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + idx);
                }
            }
            _ => {}
        }
    }
    None
}

fn expand_braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_end];
    let syntax = |reason: &str| InterpolateError::Syntax {
        text: whole.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(syntax("a variable name must start with a letter or '_'"));
    }
    let rest = &body[name_end..];
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if let Some(a) = rest.strip_prefix('-') {
        ("-", a)
    } else if let Some(a) = rest.strip_prefix('?') {
        ("?", a)
    } else if let Some(a) = rest.strip_prefix('+') {
        ("+", a)
    } else {
        return Err(syntax(&format!(
            "unknown modifier {rest:?} after ${{{name}"
        )));
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let expand_arg = || interpolate(arg, lookup);
    match op {
        ":-" if non_empty => Ok(value.unwrap_or_default()),
        "-" if set => Ok(value.unwrap_or_default()),
        ":-" | "-" => expand_arg(),
        ":?" if non_empty => Ok(value.unwrap_or_default()),
        "?" if set => Ok(value.unwrap_or_default()),
        ":?" | "?" => Err(InterpolateError::Required {
            name: name.to_string(),
            message: expand_arg()?,
        }),
        ":+" if non_empty => expand_arg(),
        "+" if set => expand_arg(),
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<String, InterpolateError> {
        let vars = [("A", "1"), ("EMPTY", ""), ("FOO_BAR", "xyz"), ("B", "two")];
        interpolate(s, &|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn compose_forms() {
        assert_eq!(run("$A").unwrap(), "1");
        assert_eq!(run("${A}x").unwrap(), "1x");
        assert_eq!(run("$FOO_BAR").unwrap(), "xyz");
        assert_eq!(run("${MISSING:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${MISSING-d}").unwrap(), "d");
        assert_eq!(run("${A:+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(run("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(run("${MISSING:-${B}}").unwrap(), "two");
        assert_eq!(run("${MISSING:-${NOPE:-deep}}").unwrap(), "deep");
        assert_eq!(run("cost $$5 $$A").unwrap(), "cost $5 $A");
        assert_eq!(run("a $ b $1").unwrap(), "a $ b $1");
        assert_eq!(run("$MISSING.").unwrap(), ".");
    }

    #[test]
    fn required_and_errors() {
        assert_eq!(
            run("${MISSING:?set it in .env}").unwrap_err(),
            InterpolateError::Required {
                name: "MISSING".into(),
                message: "set it in .env".into()
            }
        );
        assert!(run("${EMPTY:?x}").is_err());
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        assert!(matches!(run("${A"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${A!}"), Err(InterpolateError::Syntax { .. })));
        assert!(matches!(run("${}"), Err(InterpolateError::Syntax { .. })));
    }
}
