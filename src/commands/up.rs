use crate::cli::{GlobalOpts, UpArgs};

pub async fn run(_g: &GlobalOpts, _a: &UpArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack up` is not implemented yet")
}
