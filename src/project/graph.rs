//! The dependency graph: validation (unknown services, cycles with their path) and the
//! selection of a service subset with everything it depends on.

use indexmap::{IndexMap, IndexSet};

use super::model::ComposeModel;
use super::ProjectError;

/// Checks every `depends_on` names a known service and that there is no cycle.
pub fn validate(model: &ComposeModel) -> Result<(), ProjectError> {
    for (name, svc) in &model.services {
        for dep in svc.depends_on.keys() {
            if !model.services.contains_key(dep) {
                return Err(ProjectError(format!(
                    "service `{name}` depends on unknown service `{dep}` (services: {})",
                    model
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    // Depth-first search with a stack so the cycle can be printed as a path.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: IndexMap<&str, Mark> = model
        .services
        .keys()
        .map(|k| (k.as_str(), Mark::New))
        .collect();
    fn visit<'a>(
        n: &'a str,
        model: &'a ComposeModel,
        marks: &mut IndexMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Result<(), ProjectError> {
        match marks[n] {
            Mark::Done => return Ok(()),
            Mark::Active => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(n);
                return Err(ProjectError(format!(
                    "dependency cycle: {} (remove one of these depends_on entries)",
                    cycle.join(" → ")
                )));
            }
            Mark::New => {}
        }
        marks.insert(n, Mark::Active);
        path.push(n);
        for dep in model.services[n].depends_on.keys() {
            visit(dep, model, marks, path)?;
        }
        path.pop();
        marks.insert(n, Mark::Done);
        Ok(())
    }
    for name in model.services.keys() {
        visit(name, model, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

/// `roots` plus everything they transitively depend on, in dependency order.
pub fn with_dependencies(model: &ComposeModel, roots: &[String]) -> Vec<String> {
    let mut out: IndexSet<String> = IndexSet::new();
    fn add(n: &str, model: &ComposeModel, out: &mut IndexSet<String>) {
        if out.contains(n) {
            return;
        }
        for dep in model.services[n].depends_on.keys() {
            add(dep, model, out);
        }
        out.insert(n.to_string());
    }
    for r in roots {
        add(r, model, &mut out);
    }
    out.into_iter().collect()
}

/// All services in dependency order (dependencies first).
pub fn order(model: &ComposeModel) -> Vec<String> {
    with_dependencies(model, &model.services.keys().cloned().collect::<Vec<_>>())
}

/// Services that declare `depends_on.<name>.restart: true`, transitively, in dependency order.
pub fn restart_dependents(model: &ComposeModel, name: &str) -> Vec<String> {
    let mut out: IndexSet<String> = IndexSet::new();
    let mut queue = vec![name.to_string()];
    while let Some(cur) = queue.pop() {
        for (svc, spec) in &model.services {
            if spec.depends_on.get(&cur).is_some_and(|d| d.restart) && out.insert(svc.clone()) {
                queue.push(svc.clone());
            }
        }
    }
    order(model)
        .into_iter()
        .filter(|s| out.contains(s))
        .collect()
}
