//! Embeds the default stack (templates, services, `.env.example`, udev rule) into the binary:
//! generates `$OUT_DIR/default_stack.rs` with one `include_bytes!` per file, so a new file in
//! `services/` is picked up without editing a list by hand.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Roots of the default stack, relative to the crate root.
const ROOTS: &[&str] = &[".env.example", "templates", "services", "udev"];
/// Build outputs, dependency trees and local data that are never part of the stack.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "dist",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".vite",
    "coverage",
    "data",
];
const SKIP_SUFFIXES: &[&str] = &[".pyc", ".tsbuildinfo", ".DS_Store"];

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                collect(&path, out);
            }
        } else if !SKIP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut files = Vec::new();
    for r in ROOTS {
        let path = root.join(r);
        if path.is_dir() {
            collect(&path, &mut files);
        } else if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("default_stack.rs");
    let mut f = fs::File::create(&out).expect("creating default_stack.rs");
    writeln!(
        f,
        "/// Files of the default stack: (path relative to the project, contents)."
    )
    .unwrap();
    writeln!(f, "pub static FILES: &[(&str, &[u8])] = &[").unwrap();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            f,
            "    ({rel:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    writeln!(f, "];").unwrap();
}
