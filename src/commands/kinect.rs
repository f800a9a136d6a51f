use crate::cli::{GlobalOpts, KinectCaptureArgs, KinectInfoArgs, KinectInstallUdevArgs};

pub async fn info(_g: &GlobalOpts, _a: &KinectInfoArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack kinect info` is not implemented yet")
}

pub async fn capture(_g: &GlobalOpts, _a: &KinectCaptureArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack kinect capture` is not implemented yet")
}

pub async fn install_udev(_g: &GlobalOpts, _a: &KinectInstallUdevArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`devstack kinect install-udev` is not implemented yet")
}
