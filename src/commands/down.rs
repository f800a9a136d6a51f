//! `devstack down`: the graph stopped in reverse order, containers removed, then networks;
//! named volumes kept unless `--volumes` (`ops::down`).

use std::time::Duration;

use crate::cli::{DownArgs, GlobalOpts, Rmi};
use crate::engine::lifecycle::RemoveImages;
use crate::ops::down::{self, DownOptions};
use crate::project::ProjectSource;

pub async fn run(g: &GlobalOpts, a: &DownArgs) -> anyhow::Result<u8> {
    let source = ProjectSource::resolve(&g.into())?;
    let opts = DownOptions {
        volumes: a.volumes,
        grace: a.timeout.map(Duration::from_secs),
        images: match a.rmi {
            None => RemoveImages::None,
            Some(Rmi::Local) => RemoveImages::Built,
            Some(Rmi::All) => RemoveImages::All,
        },
        remove_orphans: a.remove_orphans,
        dry_run: a.dry_run,
    };
    down::down(&source, &opts).await?;
    Ok(0)
}
