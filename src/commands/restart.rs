use crate::cli::{GlobalOpts, RestartArgs};

pub async fn run(_g: &GlobalOpts, _a: &RestartArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack restart` is not implemented yet")
}
