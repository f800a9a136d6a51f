//! Per-process log files under `.devstack/logs/`: one line per output line, prefixed with an
//! RFC 3339 UTC timestamp and the stream, rotated at a size limit (one `.1` generation kept).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAX_BYTES: u64 = 10 * 1024 * 1024;

pub struct LogFile {
    path: PathBuf,
    file: File,
    written: u64,
}

impl LogFile {
    pub fn open(path: &Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            written,
        })
    }

    /// Appends `line` (without its newline) with a timestamp; returns the timestamp used.
    pub fn write_line(&mut self, stream: &str, line: &str) -> std::io::Result<String> {
        let ts = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string();
        self.write_at(&ts, stream, line)?;
        Ok(ts)
    }

    /// Appends a line that already has its timestamp (a container's, from the engine).
    pub fn write_at(&mut self, ts: &str, stream: &str, line: &str) -> std::io::Result<()> {
        let text = format!("{ts} {stream} {line}\n");
        if self.written + text.len() as u64 > MAX_BYTES {
            self.rotate()?;
        }
        self.file.write_all(text.as_bytes())?;
        self.written += text.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let old = self.path.with_extension("log.1");
        std::fs::rename(&self.path, old)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

/// Reads a log file (and its rotated predecessor) as (timestamp, stream, text) triples.
pub fn read_lines(path: &Path) -> Vec<(String, String, String)> {
    read_lines_before(path, None)
}

/// The same, stopping at the first line stamped at or after `before` (lines are in time
/// order), so a reader that only wants what the engine no longer has reads no more than that.
pub fn read_lines_before(path: &Path, before: Option<&str>) -> Vec<(String, String, String)> {
    use std::io::BufRead;
    let mut out = Vec::new();
    for p in [path.with_extension("log.1"), path.to_path_buf()] {
        let Ok(file) = std::fs::File::open(&p) else {
            continue;
        };
        for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
            let mut parts = line.splitn(3, ' ');
            if let (Some(ts), Some(stream), rest) = (parts.next(), parts.next(), parts.next()) {
                if before.is_some_and(|b| ts >= b) {
                    return out;
                }
                out.push((
                    ts.to_string(),
                    stream.to_string(),
                    rest.unwrap_or("").to_string(),
                ));
            }
        }
    }
    out
}
