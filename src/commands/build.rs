use crate::cli::{BuildArgs, GlobalOpts};

pub async fn run(_g: &GlobalOpts, _a: &BuildArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack build` is not implemented yet")
}
