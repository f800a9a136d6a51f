use crate::cli::{DownArgs, GlobalOpts};

pub async fn run(_g: &GlobalOpts, _a: &DownArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack down` is not implemented yet")
}
