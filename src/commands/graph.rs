//! `devstack graph`: the one dependency graph, services and host processes, each edge labelled
//! with its condition (and `restart` when it declares `restart: true`), each node with its
//! state. A tree for the terminal; Graphviz `dot` and Mermaid for documents (Compose's
//! `alpha viz` draws services alone).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::cli::{GlobalOpts, GraphArgs, GraphFormat};
use crate::ops::status::{self, Look, NodeStatus};
use crate::project::graph::{Graph, Kind};
use crate::project::model::Dependency;
use crate::ui::color;

/// A node's state as `ps` would say it, and how it reads (ok, waiting, bad, unknown).
#[derive(Debug, Clone)]
struct NodeState {
    text: String,
    tone: Tone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Ok,
    Pending,
    Bad,
    Off,
}

pub async fn run(g: &GlobalOpts, a: &GraphArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let states = states(&project).await;
    let out = match a.format {
        GraphFormat::Tree => tree(&project.graph, &states, true),
        GraphFormat::Dot => dot(&project.name, &project.graph, &states),
        GraphFormat::Mermaid => mermaid(&project.graph, &states),
    };
    crate::out!("{out}")?;
    Ok(0)
}

/// Each node's state from the one status of the stack (`ops::status`): containers (the first
/// replica) when the engine answers, host processes from the supervisor either way.
async fn states(project: &crate::project::Project) -> HashMap<String, NodeState> {
    let paths = project.paths();
    // Without an engine the graph is still drawn; containers then read "unknown".
    let nodes = match crate::engine::Engine::connect().await {
        Ok(engine) => status::collect(&engine, &project.name, &paths, Look::default())
            .await
            .map(|s| s.nodes)
            .unwrap_or_else(|_| status::hosts(&paths).nodes),
        Err(_) => status::hosts(&paths).nodes,
    };
    let mut out: HashMap<String, NodeState> = nodes
        .iter()
        .filter(|n| n.number.unwrap_or(1) == 1)
        .map(|n| (n.service.clone(), shown(n)))
        .collect();
    for n in project.graph.nodes() {
        if let Some(why) = &n.disabled {
            out.insert(
                n.name.clone(),
                NodeState {
                    text: format!("disabled: {why}"),
                    tone: Tone::Off,
                },
            );
        }
    }
    out
}

fn state_of(states: &HashMap<String, NodeState>, name: &str) -> NodeState {
    states.get(name).cloned().unwrap_or(NodeState {
        text: "not created".into(),
        tone: Tone::Off,
    })
}

fn edge_label(d: &Dependency) -> String {
    if d.restart {
        format!("{}, restart", d.condition.as_str())
    } else {
        d.condition.as_str().to_string()
    }
}

/// Top-level nodes (nothing depends on them) with their dependencies below; a node reached
/// twice is drawn once and then referred to.
/// A node's word and tone in the graph.
fn shown(n: &NodeStatus) -> NodeState {
    let (text, tone) = match (n.state.as_str(), n.health.as_deref()) {
        (s, _) if s.starts_with("disabled") => ("disabled".to_string(), Tone::Off),
        // What the processes say when no supervisor keeps the file true.
        (s, _) if s.contains('(') => (s.to_string(), Tone::Bad),
        ("crash-looping" | "backoff" | "failed", _) => (n.state.clone(), Tone::Bad),
        ("running", Some("healthy")) => ("healthy".to_string(), Tone::Ok),
        ("running", Some("unhealthy")) => ("unhealthy".to_string(), Tone::Bad),
        ("running", Some(h)) => (h.to_string(), Tone::Pending),
        ("running", None) => ("running".to_string(), Tone::Ok),
        (s, _) if n.exit_code.is_some_and(|c| c != 0) => (
            format!("{s} ({})", n.exit_code.unwrap_or_default()),
            Tone::Bad,
        ),
        (s, _) => (s.to_string(), Tone::Off),
    };
    NodeState { text, tone }
}

fn tree(graph: &Graph, states: &HashMap<String, NodeState>, colour: bool) -> String {
    let paint = |st: &NodeState| {
        if !colour {
            return st.text.clone();
        }
        match st.tone {
            Tone::Ok => color::ok(&st.text),
            Tone::Pending => color::warn(&st.text),
            Tone::Bad => color::bad(&st.text),
            Tone::Off => color::dim(&st.text),
        }
    };
    let mut out = String::new();
    let mut drawn = std::collections::HashSet::new();
    #[allow(clippy::too_many_arguments)]
    fn draw(
        graph: &Graph,
        name: &str,
        edge: Option<&Dependency>,
        prefix: &str,
        last: bool,
        root: bool,
        drawn: &mut std::collections::HashSet<String>,
        out: &mut String,
        paint: &dyn Fn(&NodeState) -> String,
        states: &HashMap<String, NodeState>,
    ) {
        let Some(node) = graph.get(name) else { return };
        let branch = if root {
            ""
        } else if last {
            "└─ "
        } else {
            "├─ "
        };
        let kind = match node.kind {
            Kind::Container => "container",
            Kind::Host => "host",
        };
        let edge = edge
            .map(|d| format!(" ← {}", edge_label(d)))
            .unwrap_or_default();
        let again = !drawn.insert(name.to_string());
        let more = if again && !node.deps.is_empty() {
            " (dependencies above)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{prefix}{branch}{name} [{kind}] {}{edge}{more}",
            paint(&state_of(states, name))
        );
        if again {
            return;
        }
        let child_prefix = if root {
            prefix.to_string()
        } else if last {
            format!("{prefix}   ")
        } else {
            format!("{prefix}│  ")
        };
        let deps: Vec<(&String, &Dependency)> = node.deps.iter().collect();
        for (i, (dep, d)) in deps.iter().enumerate() {
            draw(
                graph,
                dep,
                Some(d),
                &child_prefix,
                i + 1 == deps.len(),
                false,
                drawn,
                out,
                paint,
                states,
            );
        }
    }
    let order = graph.order();
    let roots: Vec<&String> = order
        .iter()
        .filter(|n| graph.dependents(n).is_empty())
        .collect();
    for r in roots.iter().rev() {
        draw(
            graph, r, None, "", true, true, &mut drawn, &mut out, &paint, states,
        );
    }
    out
}

fn tone_colour(t: Tone) -> &'static str {
    match t {
        Tone::Ok => "#c8e6c9",
        Tone::Pending => "#fff3c4",
        Tone::Bad => "#ffcdd2",
        Tone::Off => "#eeeeee",
    }
}

/// A Graphviz quoted string: `"` and `\\` escaped, line breaks as `\\n`, so no name or state
/// can end the string early and break the file.
fn dq(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dot(project: &str, graph: &Graph, states: &HashMap<String, NodeState>) -> String {
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [style=filled];\n",
        dq(project)
    );
    for n in graph.nodes() {
        let st = state_of(states, &n.name);
        let shape = match n.kind {
            Kind::Container => "box",
            Kind::Host => "ellipse",
        };
        let label = format!("{}\n{} · {}", n.name, n.kind.as_str(), st.text);
        let _ = writeln!(
            out,
            "  {} [shape={shape}, fillcolor=\"{}\", label={}];",
            dq(&n.name),
            tone_colour(st.tone),
            dq(&label)
        );
    }
    for n in graph.nodes() {
        for (dep, d) in &n.deps {
            let _ = writeln!(
                out,
                "  {} -> {} [label={}];",
                dq(&n.name),
                dq(dep),
                dq(&edge_label(d))
            );
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid(graph: &Graph, states: &HashMap<String, NodeState>) -> String {
    // Mermaid ids hold letters, digits and `_` reliably; labels no `"`.
    let id = |n: &str| -> String {
        n.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    let mut out = String::from("flowchart LR\n");
    for n in graph.nodes() {
        let st = state_of(states, &n.name);
        let label = format!("{} ({}): {}", n.name, n.kind.as_str(), st.text)
            .replace('"', "'")
            .replace(['\n', '\r'], " ");
        let shape = match n.kind {
            Kind::Container => format!("[\"{label}\"]"),
            Kind::Host => format!("([\"{label}\"])"),
        };
        let _ = writeln!(out, "  {}{shape}", id(&n.name));
    }
    for n in graph.nodes() {
        for (dep, d) in &n.deps {
            let _ = writeln!(out, "  {} -->|{}| {}", id(&n.name), edge_label(d), id(dep));
        }
    }
    for (class, tone) in [
        ("ok", Tone::Ok),
        ("pending", Tone::Pending),
        ("bad", Tone::Bad),
        ("off", Tone::Off),
    ] {
        let members: Vec<String> = graph
            .nodes()
            .filter(|n| state_of(states, &n.name).tone == tone)
            .map(|n| id(&n.name))
            .collect();
        if !members.is_empty() {
            let _ = writeln!(out, "  classDef {class} fill:{}", tone_colour(tone));
            let _ = writeln!(out, "  class {} {class}", members.join(","));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> Graph {
        Graph::from_labels(
            [
                ("redis", ""),
                ("consumer", "redis:service_healthy:false"),
                ("web", "redis:service_started:false"),
            ]
            .into_iter(),
        )
    }

    #[test]
    fn formats_name_every_node_and_edge() {
        let g = graph();
        let st = HashMap::from([(
            "redis".to_string(),
            NodeState {
                text: "healthy".into(),
                tone: Tone::Ok,
            },
        )]);
        let t = tree(&g, &st, false);
        assert!(t.contains("consumer [container] not created"), "{t}");
        assert!(
            t.contains("└─ redis [container] healthy ← service_healthy"),
            "{t}"
        );
        // redis is under both roots, drawn in full once.
        assert_eq!(t.matches("redis [container]").count(), 2, "{t}");
        let d = dot("p", &g, &st);
        assert!(
            d.contains("\"consumer\" -> \"redis\" [label=\"service_healthy\"]"),
            "{d}"
        );
        assert!(d.contains("fillcolor=\"#c8e6c9\", label=\"redis"), "{d}");
        let m = mermaid(&g, &st);
        assert!(m.contains("consumer -->|service_healthy| redis"), "{m}");
        assert!(m.contains("class redis ok"), "{m}");
    }

    proptest::proptest! {
        /// Any names and states: each node and edge is one line of the dot file, its quotes
        /// balanced once escapes are taken out.
        #[test]
        fn any_names_make_a_well_formed_dot_file(
            a in "\\PC{0,12}", b in "(\\PC|[\"\\\\\n\r])+", state in "(\\PC|[\"\n])*",
        ) {
            let labels = format!("{a}:service_started:false");
            let g = Graph::from_labels([(a.as_str(), ""), (b.as_str(), labels.as_str())].into_iter());
            let st = HashMap::from([(b.clone(), NodeState { text: state, tone: Tone::Ok })]);
            let d = dot("p", &g, &st);
            for line in d.lines() {
                let bare = line.replace("\\\\", "").replace("\\\"", "");
                proptest::prop_assert_eq!(bare.matches('"').count() % 2, 0, "{}", line);
            }
            // No name or state breaks a statement across lines.
            proptest::prop_assert!(
                d.lines().all(|l| l.starts_with("digraph ") || l.starts_with("  ") || l == "}"),
                "{}", d
            );
        }
    }

    /// Whatever a name or state holds, every line of the dot file is one statement with its
    /// quotes balanced.
    #[test]
    fn dot_output_stays_well_formed_for_any_name() {
        let g = Graph::from_labels(
            [("a\"b\\", ""), ("c\nd", "a\"b\\:service_started:false")].into_iter(),
        );
        let st = HashMap::from([(
            "c\nd".to_string(),
            NodeState {
                text: "exited \"1\"\r\n".into(),
                tone: Tone::Bad,
            },
        )]);
        let d = dot("p\"q", &g, &st);
        for line in d.lines() {
            let unescaped = line
                .replace("\\\\", "")
                .replace("\\\"", "")
                .matches('"')
                .count();
            assert_eq!(unescaped % 2, 0, "{line}");
        }
        assert_eq!(d.lines().count(), 3 + 2 + 1 + 1, "{d}");
        assert!(d.contains(r#""c\nd" -> "a\"b\\""#), "{d}");
        let m = mermaid(&g, &st);
        assert!(m.lines().all(|l| l.matches('"').count() % 2 == 0), "{m}");
    }
}
