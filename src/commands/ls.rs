//! `devstack ls [-a] [-q] [--format table|json]`: the devstack and Compose projects on this
//! engine, as `docker compose ls` lists them: containers grouped by their
//! `com.docker.compose.project` label, each project with its states counted (`exited(1),
//! running(3)`) and its config files. Like Compose, only running containers count unless
//! `--all`. Needs no project directory.

use std::collections::{BTreeMap, BTreeSet};

use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::Serialize;

use crate::cli::{GlobalOpts, ListFormat, LsArgs};
use crate::engine::labels;
use crate::ui::table;

#[derive(Serialize)]
struct Row {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "ConfigFiles")]
    config_files: String,
}

pub async fn run(_g: &GlobalOpts, a: &LsArgs) -> anyhow::Result<u8> {
    let engine = super::connect().await?;
    let filters = std::collections::HashMap::from([("label", vec![labels::PROJECT])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(a.all)
        .filters(&filters)
        .build();
    let list = engine.docker.list_containers(Some(opts)).await?;
    // project → (state → count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, BTreeSet<String>)> =
        BTreeMap::new();
    for c in list {
        let l = c.labels.unwrap_or_default();
        let Some(name) = l.get(labels::PROJECT) else {
            continue;
        };
        let entry = projects.entry(name.clone()).or_default();
        let state = c.state.map(|s| s.to_string()).unwrap_or_default();
        *entry.0.entry(state).or_default() += 1;
        if let Some(files) = l.get(labels::CONFIG_FILES) {
            entry.1.extend(
                files
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string),
            );
        }
    }
    let rows: Vec<Row> = projects
        .into_iter()
        .map(|(name, (states, files))| Row {
            name,
            status: summary(&states),
            config_files: files.into_iter().collect::<Vec<_>>().join(","),
        })
        .collect();
    if a.quiet {
        for r in &rows {
            crate::outln!("{}", r.name)?;
        }
        return Ok(0);
    }
    if a.format == ListFormat::Json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.name.clone(), r.status.clone(), r.config_files.clone()])
        .collect();
    crate::out!(
        "{}",
        table::render(&["NAME", "STATUS", "CONFIG FILES"], &cells)
    )?;
    Ok(0)
}

/// `exited(1), running(3)`: each state with its count, states in alphabetical order (Compose's
/// `combinedStatus`).
fn summary(states: &BTreeMap<String, usize>) -> String {
    states
        .iter()
        .map(|(s, n)| format!("{s}({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::summary;
    use std::collections::BTreeMap;

    #[test]
    fn states_are_counted_in_alphabetical_order() {
        let states = BTreeMap::from([("running".to_string(), 3), ("exited".to_string(), 1)]);
        assert_eq!(summary(&states), "exited(1), running(3)");
    }
}
