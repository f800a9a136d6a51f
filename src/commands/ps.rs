use serde::Serialize;

use crate::cli::{GlobalOpts, PsArgs};
use crate::engine::observed;
use crate::project::ProjectSource;
use crate::ui::{color, table};

#[derive(Serialize)]
struct Row {
    name: String,
    service: String,
    kind: &'static str,
    state: String,
    health: Option<String>,
    exit_code: Option<i64>,
    restarts: i64,
    uptime_secs: Option<i64>,
    ports: Vec<String>,
}

pub async fn run(g: &GlobalOpts, a: &PsArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(g)?;
    let engine = super::connect().await?;
    let listed = observed::list(&engine, &source.name).await?;
    let inspected =
        futures_util::future::join_all(listed.iter().map(|c| observed::inspect(&engine, &c.id)))
            .await;
    let now = chrono::Utc::now();
    let mut rows: Vec<Row> = inspected
        .into_iter()
        .filter_map(Result::ok)
        .map(|st| {
            let uptime = st
                .started_at
                .as_deref()
                .filter(|_| st.running())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0));
            Row {
                name: st.name.clone(),
                service: st.service.clone(),
                kind: "container",
                state: st.status.clone(),
                health: st.health.clone(),
                exit_code: st.exit_code.filter(|_| st.exited()),
                restarts: st.restart_count,
                uptime_secs: uptime,
                ports: st
                    .ports
                    .iter()
                    .filter(|p| p.contains("->"))
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    rows.sort_by(|x, y| x.service.cmp(&y.service));
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        eprintln!(
            "no containers for project {} (start them with `devstack up`)",
            source.name
        );
        return Ok(0);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let state = match (r.state.as_str(), r.exit_code) {
                ("running", _) => color::ok("running"),
                (s, Some(0)) => format!("{s} (0)"),
                (s, Some(c)) => color::bad(&format!("{s} ({c})")),
                (s, None) => color::warn(s),
            };
            let health = match r.health.as_deref() {
                Some("healthy") => color::ok("healthy"),
                Some("unhealthy") => color::bad("unhealthy"),
                Some(h) => color::warn(h),
                None => color::dim("-"),
            };
            vec![
                r.service.clone(),
                r.kind.to_string(),
                state,
                health,
                r.uptime_secs
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
                r.restarts.to_string(),
                if r.ports.is_empty() {
                    "-".into()
                } else {
                    r.ports.join(", ")
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &["SERVICE", "KIND", "STATE", "HEALTH", "UPTIME", "RESTARTS", "PORTS"],
            &table_rows
        )
    );
    Ok(0)
}

pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}
