//! `devstack completion SHELL` and `devstack man`: generated from the clap definitions that
//! `--help` reads, so the three never disagree.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionArgs, ManArgs};

/// The shell's registration script: it asks `devstack` for completions as you type
/// (`COMPLETE=SHELL devstack -- WORDS…`), so verbs, flags and the project's services come from
/// the binary in use. `--static`: clap's self-contained script (no services).
pub fn completion(a: &CompletionArgs) -> anyhow::Result<u8> {
    use clap_complete::env::EnvCompleter;
    // Generated into memory: the generator panics on a write error (`| head`), devstack must not.
    let mut buf = Vec::new();
    if a.static_script {
        clap_complete::generate(a.shell, &mut Cli::command(), "devstack", &mut buf);
    } else {
        let shell: &dyn EnvCompleter = match a.shell {
            Shell::Bash => &clap_complete::env::Bash,
            Shell::Zsh => &clap_complete::env::Zsh,
            Shell::Fish => &clap_complete::env::Fish,
            Shell::Elvish => &clap_complete::env::Elvish,
            Shell::PowerShell => &clap_complete::env::Powershell,
            other => anyhow::bail!("no completion for {other}"),
        };
        shell.write_registration("COMPLETE", "devstack", "devstack", "devstack", &mut buf)?;
    }
    crate::ui::out::write_bytes(&buf)?;
    Ok(0)
}

/// Services (and their aliases) and host processes of the project in the current directory or
/// the nearest one above it, read from its last rendered `.devstack/compose.yaml`: cheap on
/// every Tab (no template, engine, GPU or USB), and nothing at all before a first render.
pub fn service_candidates() -> Vec<clap_complete::CompletionCandidate> {
    use clap_complete::CompletionCandidate;
    let Ok(mut dir) = std::env::current_dir() else {
        return Vec::new();
    };
    let text = loop {
        if let Ok(t) = std::fs::read_to_string(dir.join(".devstack/compose.yaml")) {
            break t;
        }
        if !dir.pop() {
            return Vec::new();
        }
    };
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let keys = |ptr: &str| -> Vec<String> {
        doc.pointer(ptr)
            .and_then(|v| v.as_object())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut out: Vec<CompletionCandidate> = keys("/services")
        .into_iter()
        .map(|n| CompletionCandidate::new(n).help(Some("service".into())))
        .collect();
    out.extend(
        keys("/x-devstack/host")
            .into_iter()
            .map(|n| CompletionCandidate::new(n).help(Some("host process".into()))),
    );
    if let Some(aliases) = doc
        .pointer("/x-devstack/aliases")
        .and_then(|v| v.as_object())
    {
        for (alias, target) in aliases {
            let to = target.as_str().unwrap_or_default();
            out.push(CompletionCandidate::new(alias).help(Some(format!("alias of {to}").into())));
        }
    }
    out
}

pub fn man(a: &ManArgs) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    match &a.out {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf)?;
            crate::ui::out::write_bytes(&buf)?;
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
            crate::say!("wrote {} man pages to {}", written.len(), dir.display());
        }
    }
    Ok(0)
}
