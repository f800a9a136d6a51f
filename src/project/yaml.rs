//! YAML as Compose reads it, into a tree that remembers where each value was written.
//!
//! Compose (compose-go on go-yaml) resolves plain scalars by YAML 1.2's core schema with
//! go-yaml's integers (`0o17`, `0x1F`, `0b11` and a leading-zero octal `0440`, underscores
//! ignored), applies anchors, aliases and `<<` merge keys, refuses a key defined twice in one
//! mapping, and keeps the `!reset` and `!override` tags for merging. Every node carries its
//! position (`file:line:column`), so an error about a value names the user's own file; and
//! the variables its interpolation used, so a bad value can be blamed on its `.env` line.
//! Alias expansion and nesting are bounded: a hostile file is an error, never a hang.

use std::fmt;
use std::sync::Arc;

use granit_parser::{Event, Parser, ScalarStyle, Span, Tag as RawTag};
use indexmap::IndexMap;
use serde_json::Value as Json;

/// Where a value was written: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Compose's merge tags: `!reset` drops what earlier files set at this place, `!override`
/// replaces it instead of merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Reset,
    Override,
}

pub type Map = IndexMap<String, Node>;

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub pos: Option<Pos>,
    /// Where the key of a mapping entry was written (messages about the key point there).
    pub key_pos: Option<Pos>,
    pub tag: Option<Tag>,
    /// Variables whose values interpolation put into this scalar.
    pub vars: Vec<String>,
}

impl Node {
    pub fn new(value: Value) -> Node {
        Node {
            value,
            pos: None,
            key_pos: None,
            tag: None,
            vars: Vec::new(),
        }
    }

    pub fn at(value: Value, pos: Option<Pos>) -> Node {
        Node {
            pos,
            ..Node::new(value)
        }
    }

    pub fn str(s: impl Into<String>) -> Node {
        Node::new(Value::Str(s.into()))
    }

    pub fn map(m: Map) -> Node {
        Node::new(Value::Map(m))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut().and_then(|m| m.get_mut(key))
    }

    /// A scalar as the text Compose would format it (`%v` in Go): `None` for null and
    /// collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(go_float(*f)),
            _ => None,
        }
    }

    /// Equal values, wherever they were written.
    pub fn same(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.same(w)))
            }
            _ => false,
        }
    }

    /// The tree as JSON, with the position and the interpolated variables of every path
    /// (`services.web.ports[0]`) for messages.
    pub fn to_json(&self) -> (Json, Places) {
        let mut places = Places::default();
        let json = to_json_at(self, "", &mut places);
        (json, places)
    }

    /// A JSON value as a tree without positions (values devstack makes itself).
    pub fn from_json(v: &Json) -> Node {
        Node::new(match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or_default()),
            },
            Json::String(s) => Value::Str(s.clone()),
            Json::Array(a) => Value::Seq(a.iter().map(Node::from_json).collect()),
            Json::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        })
    }
}

/// Where each path of a document was written and which variables it used.
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub positions: std::collections::HashMap<String, Pos>,
    pub vars: Vec<(String, Vec<String>)>,
}

impl Places {
    /// The position of `at`, or of its nearest ancestor that has one.
    pub fn position(&self, at: &str) -> Option<&Pos> {
        let mut path = at;
        loop {
            if let Some(p) = self.positions.get(path) {
                return Some(p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

fn to_json_at(node: &Node, at: &str, places: &mut Places) -> Json {
    // A mapping entry is placed at its key; a list item at its value.
    if let Some(p) = node.key_pos.as_ref().or(node.pos.as_ref()) {
        places.positions.insert(at.to_string(), p.clone());
    }
    if !node.vars.is_empty() {
        places.vars.push((at.to_string(), node.vars.clone()));
    }
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(go_float(*f))),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| to_json_at(x, &format!("{at}[{i}]"), places))
                .collect(),
        ),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    (k.clone(), to_json_at(v, &path, places))
                })
                .collect(),
        ),
    }
}

/// A float as Go's `%v` prints it: integers without a fraction below 1e21, else the shortest
/// form, in exponent notation for very small numbers.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{}", f as i128);
    }
    if f != 0.0 && f.abs() < 1e-4 {
        let s = format!("{f:e}");
        // Rust writes `1e-5`; Go writes `1e-05`.
        return match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    format!("{f}")
}

/// Why a YAML text was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlError {
    #[error("{at}: {message}")]
    Syntax { at: Pos, message: String },
    #[error("{at}: mapping key {key:?} already defined at line {first}")]
    DuplicateKey { at: Pos, key: String, first: usize },
    #[error("{at}: {what}")]
    Limit { at: Pos, what: String },
}

impl YamlError {
    pub fn pos(&self) -> &Pos {
        match self {
            YamlError::Syntax { at, .. }
            | YamlError::DuplicateKey { at, .. }
            | YamlError::Limit { at, .. } => at,
        }
    }
}

/// Nodes a file may expand to (aliases count each time they are used): far beyond any real
/// compose file, far below a "billion laughs".
pub const MAX_NODES: usize = 1_000_000;
/// Nesting a file may have: real compose files nest about ten deep.
pub const MAX_DEPTH: usize = 200;
/// Values one document may write (each alias once, keys not counted): compose-go refuses a
/// document past this (`defaultMaxNodeVisits`), so devstack does too.
pub const MAX_VALUES: usize = 100_000;

/// The documents of `text` (Compose merges several in one file in order), each a tree of
/// nodes positioned in `file`. An empty text is no document.
pub fn parse(text: &str, file: &str) -> Result<Vec<Node>, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        file: Arc::from(file),
        text,
        anchors: std::collections::HashMap::new(),
        nodes: 0,
        values: 0,
        last: None,
    };
    let mut docs = Vec::new();
    loop {
        let (ev, span) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                b.anchors.clear();
                b.values = 0;
                let (ev, span) = b.next()?;
                if matches!(ev, Event::DocumentEnd) {
                    continue;
                }
                b.visit(&span)?;
                let doc = b.node(ev, span, 0)?;
                docs.push(doc);
            }
            other => {
                return Err(b.syntax(&span, format!("unexpected YAML event {other:?}")));
            }
        }
    }
    Ok(docs)
}

struct Builder<'a> {
    parser: Parser<'a, granit_parser::StrInput<'a>>,
    file: Arc<str>,
    text: &'a str,
    /// Anchored nodes by id, with their node count (an alias costs as much as its target).
    anchors: std::collections::HashMap<usize, (Node, usize)>,
    nodes: usize,
    /// Values of this document as written (compose-go's node visits).
    values: usize,
    last: Option<Pos>,
}

impl<'a> Builder<'a> {
    fn pos(&self, span: &Span) -> Pos {
        Pos {
            file: self.file.clone(),
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }

    fn syntax(&self, span: &Span, message: String) -> YamlError {
        YamlError::Syntax {
            at: self.pos(span),
            message,
        }
    }

    /// The next event that is not a comment or anchor metadata.
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        loop {
            match self.parser.next_event() {
                None => {
                    return Ok((
                        Event::StreamEnd,
                        Span::empty(granit_parser::Marker::new(0, 0, 0)),
                    ))
                }
                Some(Err(e)) => {
                    let m = e.marker();
                    return Err(YamlError::Syntax {
                        at: Pos {
                            file: self.file.clone(),
                            line: m.line(),
                            col: m.col() + 1,
                        },
                        message: e.info(),
                    });
                }
                Some(Ok((ev, span))) => match ev {
                    Event::Comment(..) | Event::Anchor(..) => continue,
                    ev => {
                        self.last = Some(self.pos(&span));
                        return Ok((ev, span));
                    }
                },
            }
        }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError::Limit {
                at: self.pos(span),
                what: format!(
                    "the file expands to more than {MAX_NODES} values (aliases of aliases?); \
                     write the repeated parts out or use fewer aliases"
                ),
            });
        }
        Ok(())
    }

    /// One more value written in the document (a key is not one; an alias is one).
    fn visit(&mut self, span: &Span) -> Result<(), YamlError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(YamlError::Limit {
                at: self.pos(span),
                what: format!(
                    "the document has more than {MAX_VALUES} values, more than Compose reads \
                     (\"compose file exceeds maximum node visit limit\"); split it into \
                     several files (-f, include)"
                ),
            });
        }
        Ok(())
    }

    /// The `*name` an alias event's span covers.
    fn alias_name(&self, span: &Span) -> String {
        self.text
            .chars()
            .skip(span.start.index())
            .take(span.end.index().saturating_sub(span.start.index()))
            .collect()
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError::Limit {
                at: self.pos(&span),
                what: format!("values nested more than {MAX_DEPTH} deep"),
            });
        }
        let before = self.nodes;
        self.count(1, &span)?;
        let pos = Some(self.pos(&span));
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                let Some((target, cost)) = self.anchors.get(&id).cloned() else {
                    let name = self.alias_name(&span);
                    return Err(self.syntax(
                        &span,
                        format!(
                            "alias {name} refers to no anchor defined before it (an anchor \
                             cannot contain an alias to itself)"
                        ),
                    ));
                };
                self.count(cost, &span)?;
                let mut n = target;
                n.pos = pos;
                return Ok(n);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.as_deref();
                let (value, merge_tag) =
                    scalar(&text, style, tag).map_err(|m| self.syntax(&span, m.to_string()))?;
                let mut n = Node::at(value, pos);
                n.tag = merge_tag;
                (n, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    self.visit(&sp)?;
                    items.push(self.node(ev, sp, depth + 1)?);
                }
                let mut n = Node::at(Value::Seq(items), pos);
                n.tag = merge_tag(tag.as_deref());
                (n, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                let m = self.mapping(depth)?;
                let mut n = Node::at(Value::Map(m), pos);
                n.tag = merge_tag(tag.as_deref());
                (n, anchor)
            }
            other => {
                return Err(self.syntax(&span, format!("unexpected YAML event {other:?}")));
            }
        };
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.clone(), self.nodes - before));
        }
        Ok(node)
    }

    /// A mapping's entries: explicit keys once each, `<<` merge keys filling in the keys the
    /// mapping does not set itself.
    fn mapping(&mut self, depth: usize) -> Result<Map, YamlError> {
        let mut m = Map::new();
        let mut lines: std::collections::HashMap<String, usize> = Default::default();
        let mut merged: Vec<Node> = Vec::new();
        loop {
            let (ev, key_span) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge =
                matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            let key = self.node(ev, key_span, depth + 1)?;
            let (ev, val_span) = self.next()?;
            self.visit(&val_span)?;
            let mut value = self.node(ev, val_span, depth + 1)?;
            value.key_pos = Some(self.pos(&key_span));
            if is_merge {
                merged.push(value);
                continue;
            }
            let key_pos = self.pos(&key_span);
            let name = match key.value {
                Value::Map(_) | Value::Seq(_) => {
                    return Err(self.syntax(
                        &key_span,
                        "a mapping key must be a string, not a mapping or a list".into(),
                    ))
                }
                Value::Null => String::new(),
                _ => key.scalar_text().unwrap_or_default(),
            };
            if let Some(first) = lines.get(&name) {
                return Err(YamlError::DuplicateKey {
                    at: key_pos,
                    key: name,
                    first: *first,
                });
            }
            lines.insert(name.clone(), key_pos.line);
            m.insert(name, value);
        }
        for source in merged {
            self.merge_into(&mut m, source)?;
        }
        Ok(m)
    }

    /// `<<: *a` or `<<: [*a, *b]`: the keys of each mapping that `m` does not have yet (the
    /// mapping's own keys win, then earlier sources win over later ones).
    fn merge_into(&self, m: &mut Map, source: Node) -> Result<(), YamlError> {
        // Errors point at the `<<` key.
        let refuse = |at: Option<Pos>| YamlError::Syntax {
            at: at.unwrap_or_else(|| {
                self.last.clone().unwrap_or(Pos {
                    file: self.file.clone(),
                    line: 0,
                    col: 0,
                })
            }),
            message: "a `<<` merge key takes a mapping or a list of mappings".into(),
        };
        let at = source.key_pos.clone();
        let sources = match source.value {
            Value::Map(_) => vec![source],
            Value::Seq(items) => items,
            _ => return Err(refuse(at)),
        };
        for s in sources {
            let Value::Map(entries) = s.value else {
                return Err(refuse(at));
            };
            for (k, v) in entries {
                m.entry(k).or_insert(v);
            }
        }
        Ok(())
    }
}

fn merge_tag(tag: Option<&RawTag>) -> Option<Tag> {
    let tag = tag?;
    if tag.handle() != "!" {
        return None;
    }
    match tag.suffix() {
        "reset" => Some(Tag::Reset),
        "override" => Some(Tag::Override),
        _ => None,
    }
}

/// A scalar whose core tag (`!!int`, `!!float`, `!!bool`) its text does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("{0:?} is not an integer (!!int)")]
    Integer(String),
    #[error("{0:?} is not a number (!!float)")]
    Float(String),
    #[error("{0:?} is not a boolean (!!bool)")]
    Boolean(String),
}

/// A scalar's value: quoted and block scalars are strings; plain ones are resolved by the
/// core schema; `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` force a type.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&RawTag>,
) -> Result<(Value, Option<Tag>), TagError> {
    let reset_or_override = merge_tag(tag);
    if let Some(core) = tag.and_then(RawTag::core_suffix) {
        let v = match core {
            "str" => Value::Str(text.to_string()),
            "int" => Value::Int(go_int(text).ok_or_else(|| TagError::Integer(text.into()))?),
            "float" => Value::Float(
                go_float_parse(text)
                    .or_else(|| go_int(text).map(|i| i as f64))
                    .ok_or_else(|| TagError::Float(text.into()))?,
            ),
            "bool" => Value::Bool(core_bool(text).ok_or_else(|| TagError::Boolean(text.into()))?),
            "null" => Value::Null,
            _ => Value::Str(text.to_string()),
        };
        return Ok((v, None));
    }
    // A non-specific tag (`! 5`) makes a string, as does any quoting or block style.
    let non_specific = tag.is_some_and(|t| t.handle() == "!" && t.suffix().is_empty());
    if style != ScalarStyle::Plain || non_specific {
        return Ok((Value::Str(text.to_string()), reset_or_override));
    }
    Ok((resolve_plain(text), reset_or_override))
}

/// A plain scalar by YAML 1.2's core schema, with go-yaml's integers.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(i) = go_int(text) {
        return Value::Int(i);
    }
    if let Some(f) = go_float_parse(text) {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

/// go-yaml's integers: an optional sign, then decimal, `0x` hex, `0o` or leading-zero octal,
/// `0b` binary; underscores are ignored.
fn go_int(text: &str) -> Option<i64> {
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if plain.is_empty() || (plain.len() != text.len() && !text.starts_with(['0', '-', '+'])) {
        // Underscores only as go-yaml allows them: in a number that starts like one.
        if plain.is_empty() {
            return None;
        }
    }
    let (neg, body) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    if body.is_empty() || !body.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -magnitude } else { magnitude };
    i64::try_from(v).ok()
}

/// go-yaml's floats: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` and the
/// `.inf`/`.nan` spellings.
fn go_float_parse(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    let body = plain.strip_prefix(['-', '+']).unwrap_or(&plain);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() && !frac.is_empty() || !int.is_empty())
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let d = e.strip_prefix(['-', '+']).unwrap_or(e);
        !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
    });
    if !(mantissa_ok && exp_ok) {
        return None;
    }
    plain.parse().ok()
}

fn core_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse(text, "f.yaml").unwrap();
        assert_eq!(docs.len(), 1, "{text}");
        docs.remove(0)
    }

    fn json(text: &str) -> Json {
        one(text).to_json().0
    }

    #[test]
    fn scalars_resolve_as_go_yaml_resolves_them() {
        let v = json(
            "a: 1\nb: 0440\nc: 0o17\nd: 0x1F\ne: 1.5\nf: yes\ng: ~\nh: True\ni: '5'\nj: 1_000\nk: .inf\nl: 08\nm: 0b11\nn: -3\no: 1e3\np: \"true\"\nq: !!str 12\nr: 12:30\n",
        );
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"], 288, "leading-zero octal");
        assert_eq!(v["c"], 15);
        assert_eq!(v["d"], 31);
        assert_eq!(v["e"], 1.5);
        assert_eq!(v["f"], "yes", "YAML 1.1 booleans are strings");
        assert_eq!(v["g"], Json::Null);
        assert_eq!(v["h"], true);
        assert_eq!(v["i"], "5");
        assert_eq!(v["j"], 1000);
        assert_eq!(v["k"], "+Inf");
        assert_eq!(v["l"], 8.0, "not octal: a float");
        assert_eq!(v["m"], 3);
        assert_eq!(v["n"], -3);
        assert_eq!(v["o"], 1000.0);
        assert_eq!(v["p"], "true");
        assert_eq!(v["q"], "12");
        assert_eq!(v["r"], "12:30");
    }

    #[test]
    fn positions_are_kept_per_path() {
        let (_, places) =
            one("services:\n  web:\n    image: x\n    ports:\n      - \"80:80\"\n").to_json();
        let p = places.position("services.web.ports[0]").unwrap();
        assert_eq!((p.line, p.col), (5, 9));
        assert_eq!(p.to_string(), "f.yaml:5:9");
        let p = places.position("services.web.image.nothing.below").unwrap();
        assert_eq!(
            (p.line, p.col),
            (3, 5),
            "a mapping entry is placed at its key"
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = json(
            "x-base: &base\n  image: a\n  environment: {A: 1}\nx-more: &more {image: b, user: u}\nservices:\n  web:\n    <<: [*base, *more]\n    image: c\n  db:\n    <<: *more\n",
        );
        assert_eq!(v["services"]["web"]["image"], "c", "own keys win");
        assert_eq!(v["services"]["web"]["environment"]["A"], 1);
        assert_eq!(v["services"]["web"]["user"], "u");
        assert_eq!(v["services"]["db"]["image"], "b");
    }

    #[test]
    fn merge_tags_are_kept() {
        let n =
            one("services:\n  web:\n    ports: !reset []\n    command: !override [a]\n    x: 1\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("ports").unwrap().tag, Some(Tag::Reset));
        assert_eq!(web.get("command").unwrap().tag, Some(Tag::Override));
        assert_eq!(web.get("x").unwrap().tag, None);
        let n = one("a: !reset null\n");
        assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
    }

    #[test]
    fn a_key_twice_is_refused_with_both_lines() {
        let e = parse("services:\n  web: {}\n  db: {}\n  web: {}\n", "c.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml:4:3: mapping key \"web\" already defined at line 2"
        );
    }

    #[test]
    fn hostile_files_are_errors_not_hangs() {
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            laughs.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = parse(&laughs, "f").unwrap_err();
        assert!(matches!(e, YamlError::Limit { .. }), "{e}");
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let e = parse(&deep, "f").unwrap_err();
        assert!(
            e.to_string().contains("nested") || e.to_string().contains("recursion limit"),
            "{e}"
        );
    }

    #[test]
    fn a_document_of_more_values_than_compose_reads_is_refused() {
        // Keys do not count, an alias counts once: as compose-go's node visits.
        let values = |n: usize| {
            let mut t = String::from("x-a: &a {k: v}\nx-data:\n");
            for i in 0..n {
                t.push_str(&format!("  k{i}: *a\n"));
            }
            t
        };
        // The root, x-a, k, x-data and the aliases.
        assert!(parse(&values(MAX_VALUES - 4), "c.yaml").is_ok());
        let e = parse(&values(MAX_VALUES - 3), "c.yaml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("c.yaml:{}:", MAX_VALUES - 1)),
            "{e}"
        );
        assert!(e.to_string().contains("more than 100000 values"), "{e}");
        // Each document has its own count.
        let two = format!("{}---\n{}", values(MAX_VALUES / 2), values(MAX_VALUES / 2));
        assert_eq!(parse(&two, "c.yaml").unwrap().len(), 2);
    }

    #[test]
    fn alias_and_merge_key_errors_name_the_place() {
        let e = parse("x: &h\n  e:\n    <<: *h\n", "c.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml:3:9: alias *h refers to no anchor defined before it (an anchor cannot contain an alias to itself)"
        );
        let e = parse("x: &s text\ny:\n  a: 1\n  <<: *s\n", "c.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml:4:3: a `<<` merge key takes a mapping or a list of mappings"
        );
    }

    #[test]
    fn several_documents_and_none() {
        assert_eq!(parse("a: 1\n---\nb: 2\n", "f").unwrap().len(), 2);
        assert!(parse("", "f").unwrap().is_empty());
        assert!(parse("# only a comment\n", "f").unwrap().is_empty());
        assert_eq!(json("\u{feff}a: 1\n")["a"], 1);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = parse("a: [1, 2\n", "f.yaml").unwrap_err();
        assert!(e.to_string().starts_with("f.yaml:"), "{e}");
    }

    #[test]
    fn go_floats_format_as_go_prints_them() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(1e6), "1000000");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_ok_or_err(s in "\\PC{0,200}") {
            let _ = parse(&s, "f");
        }

        #[test]
        fn yaml_shaped_text_is_ok_or_err(s in "([a-z]{0,4}|[ ]{0,4}|: |- |[\\[\\]{},]|&a|\\*a|<<|!reset|!override|!!str|\\n|'|\"){0,60}") {
            let _ = parse(&s, "f");
        }
    }
}
