use crate::cli::{GlobalOpts, InitArgs};

pub async fn run(_g: &GlobalOpts, _a: &InitArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack init` is not implemented yet")
}
