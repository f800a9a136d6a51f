use crate::cli::{GlobalOpts, SuperviseArgs};

pub async fn run(_g: &GlobalOpts, _a: &SuperviseArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack supervise` is not implemented yet")
}
