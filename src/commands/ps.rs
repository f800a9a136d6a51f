use crate::cli::{GlobalOpts, PsArgs};

pub async fn run(_g: &GlobalOpts, _a: &PsArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack ps` is not implemented yet")
}
