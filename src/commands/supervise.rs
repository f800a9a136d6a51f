use crate::cli::{GlobalOpts, SuperviseArgs};

/// The background supervisor's entry point (`up -d` starts it daemonised). The relay mode of
/// the same subcommand (`--relay-log`) is run by `lib.rs` before any runtime starts.
pub async fn run(g: &GlobalOpts, _a: &SuperviseArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    crate::supervisor::serve(project, std::sync::Arc::new(crate::executor::Walker)).await?;
    Ok(0)
}
