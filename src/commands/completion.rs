//! `devstack completion SHELL` and `devstack man`: generated from the clap definitions that
//! `--help` reads, so the three never disagree.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, ManArgs};

pub fn completion(a: &CompletionArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut cmd = Cli::command();
    // Generated into memory: the generator panics on a write error (`| head`), devstack must not.
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "devstack", &mut buf);
    std::io::stdout().write_all(&buf)?;
    Ok(0)
}

pub fn man(a: &ManArgs) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    match &a.out {
        None => {
            use std::io::Write;
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            std::io::stdout().write_all(&buf)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            let mut written = Vec::new();
            let top = dir.join("devstack.1");
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
            std::fs::write(&top, buf)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", top.display()))?;
            written.push(top);
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name = format!("devstack-{}", sub.get_name());
                let page = sub.clone().name(name.clone().leak() as &str);
                let mut buf = Vec::new();
                clap_mangen::Man::new(page).render(&mut buf)?;
                let path = dir.join(format!("{name}.1"));
                std::fs::write(&path, buf)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                written.push(path);
            }
            eprintln!("wrote {} man pages to {}", written.len(), dir.display());
        }
    }
    Ok(0)
}
