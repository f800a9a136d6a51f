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
            crate::project::paths::create_private_dir(dir)?;
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
    Reader::open(path, None).collect()
}

/// A log file's lines (its rotated predecessor first), read lazily, stopping at the first
/// line stamped at or after `before` (lines are in time order), so a reader that only wants
/// what the engine no longer has reads no more than that.
pub struct Reader {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<std::io::BufReader<File>>,
    before: Option<String>,
    buf: String,
}

impl Reader {
    pub fn open(path: &Path, before: Option<&str>) -> Reader {
        Reader {
            files: vec![path.with_extension("log.1"), path.to_path_buf()].into_iter(),
            current: None,
            before: before.map(str::to_string),
            buf: String::new(),
        }
    }
}

impl Iterator for Reader {
    type Item = (String, String, String);

    fn next(&mut self) -> Option<Self::Item> {
        use std::io::BufRead;
        loop {
            let Some(file) = self.current.as_mut() else {
                let path = self.files.next()?;
                self.current = File::open(path).ok().map(std::io::BufReader::new);
                continue;
            };
            self.buf.clear();
            match file.read_line(&mut self.buf) {
                Ok(0) | Err(_) => {
                    self.current = None;
                    continue;
                }
                Ok(_) => {}
            }
            let line = self.buf.trim_end_matches(['\n', '\r']);
            let mut parts = line.splitn(3, ' ');
            if let (Some(ts), Some(stream), rest) = (parts.next(), parts.next(), parts.next()) {
                if self.before.as_deref().is_some_and(|b| ts >= b) {
                    self.files = Vec::new().into_iter();
                    self.current = None;
                    return None;
                }
                return Some((
                    ts.to_string(),
                    stream.to_string(),
                    rest.unwrap_or("").to_string(),
                ));
            }
        }
    }
}

/// Follows a log file as the supervisor appends to it, across rotation: each `poll` returns
/// the whole lines written since the previous one, reading only what is new.
pub struct Follower {
    path: PathBuf,
    /// The file being read (its inode) and how far.
    at: Option<(u64, u64)>,
}

impl Follower {
    pub fn new(path: &Path) -> Follower {
        Follower {
            path: path.to_path_buf(),
            at: None,
        }
    }

    /// A follower of what is written from now on (the file's current end; the start of a
    /// file that does not exist yet).
    pub fn at_end(path: &Path) -> Follower {
        use std::os::unix::fs::MetadataExt;
        let at = std::fs::metadata(path).ok().map(|m| (m.ino(), m.len()));
        Follower {
            path: path.to_path_buf(),
            at,
        }
    }

    pub fn poll(&mut self) -> Vec<(String, String, String)> {
        use std::os::unix::fs::MetadataExt;
        let mut out = Vec::new();
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return out;
        };
        let (ino, mut offset) = self.at.unwrap_or((meta.ino(), 0));
        if ino != meta.ino() {
            // Rotated: finish the old file (now `.1`) first, then start the new one.
            let old = self.path.with_extension("log.1");
            if std::fs::metadata(&old).is_ok_and(|m| m.ino() == ino) {
                read_from(&old, offset, &mut out);
            }
            offset = 0;
        } else if meta.len() < offset {
            offset = 0; // truncated
        }
        offset += read_from(&self.path, offset, &mut out);
        self.at = Some((meta.ino(), offset));
        out
    }
}

/// Appends the whole lines of `path` after byte `offset` to `out`; returns the bytes consumed
/// (a partly written last line is left for the next read).
fn read_from(path: &Path, offset: u64, out: &mut Vec<(String, String, String)>) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    if file.seek(SeekFrom::Start(offset)).is_err() || file.read_to_end(&mut buf).is_err() {
        return 0;
    }
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return 0;
    };
    for line in String::from_utf8_lossy(&buf[..end]).split('\n') {
        let mut parts = line.splitn(3, ' ');
        if let (Some(ts), Some(stream), rest) = (parts.next(), parts.next(), parts.next()) {
            out.push((
                ts.to_string(),
                stream.to_string(),
                rest.unwrap_or("").to_string(),
            ));
        }
    }
    end as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rotated_generation_first_and_stops_at_before() {
        let dir = std::env::temp_dir().join(format!("devstack-logfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("svc.log");
        std::fs::write(
            dir.join("svc.log.1"),
            "2026-01-01T00:00:01.000000000Z stdout a\n",
        )
        .unwrap();
        std::fs::write(
            &path,
            "2026-01-01T00:00:02.000000000Z stderr b c\n2026-01-01T00:00:03.000000000Z stdout d\n",
        )
        .unwrap();
        let all: Vec<String> = read_lines(&path).into_iter().map(|l| l.2).collect();
        assert_eq!(all, ["a", "b c", "d"]);
        let before: Vec<String> = Reader::open(&path, Some("2026-01-01T00:00:03.000000000Z"))
            .map(|l| l.1)
            .collect();
        assert_eq!(before, ["stdout", "stderr"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn follower_reads_only_new_whole_lines_across_rotation() {
        let dir = std::env::temp_dir().join(format!("devstack-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("svc.log");
        let mut log = LogFile::open(&path).unwrap();
        let mut follower = Follower::new(&path);
        let texts = |v: Vec<(String, String, String)>| -> Vec<String> {
            v.into_iter().map(|l| l.2).collect()
        };
        log.write_line("stdout", "one").unwrap();
        assert_eq!(texts(follower.poll()), ["one"]);
        assert!(follower.poll().is_empty());
        // A half-written line waits for its newline.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"2026-01-01T00:00:00.000000000Z stdout tw")
            .unwrap();
        assert!(follower.poll().is_empty());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"o\n")
            .unwrap();
        assert_eq!(texts(follower.poll()), ["two"]);
        // Lines written just before a rotation are not lost.
        log.write_line("stdout", "three").unwrap();
        log.rotate().unwrap();
        log.write_line("stderr", "four").unwrap();
        assert_eq!(texts(follower.poll()), ["three", "four"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
