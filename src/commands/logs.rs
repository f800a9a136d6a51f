use crate::cli::{GlobalOpts, LogsArgs};

pub async fn run(_g: &GlobalOpts, _a: &LogsArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack logs` is not implemented yet")
}
