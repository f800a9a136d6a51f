use crate::cli::{GlobalOpts, RenderArgs};

pub async fn run(_g: &GlobalOpts, _a: &RenderArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack render` is not implemented yet")
}
