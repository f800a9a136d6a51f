use crate::cli::{GlobalOpts, RenderArgs};

pub async fn run(g: &GlobalOpts, a: &RenderArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    super::report_not_acted_on(&project);
    let text = std::fs::read_to_string(&project.compose_file)?;
    match &a.output {
        Some(path) => std::fs::write(path, text)?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())?;
        }
    }
    Ok(0)
}
