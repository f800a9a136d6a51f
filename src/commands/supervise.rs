use crate::cli::{GlobalOpts, SuperviseArgs};

/// The background supervisor's entry point (`up -d` starts it daemonised), and the relay the
/// supervisor starts for each host process (`--relay-log`; see `supervisor::relay`).
pub async fn run(g: &GlobalOpts, a: &SuperviseArgs) -> anyhow::Result<u8> {
    if let (Some(log), Some(status)) = (&a.relay_log, &a.status) {
        let code = crate::supervisor::relay::run(log, status, &a.command);
        return Ok(u8::try_from(code).unwrap_or(255));
    }
    let project = super::load_project(g)?;
    crate::supervisor::serve(project).await?;
    Ok(0)
}
