use crate::cli::{GlobalOpts, TopArgs};

pub async fn run(_g: &GlobalOpts, _a: &TopArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack top` is not implemented yet")
}
