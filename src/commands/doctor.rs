use crate::cli::{DoctorArgs, GlobalOpts};

pub async fn run(_g: &GlobalOpts, _a: &DoctorArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack doctor` is not implemented yet")
}
