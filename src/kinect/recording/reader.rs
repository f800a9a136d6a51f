//! Reads an Azure Kinect recording: the header elements (Info, Tracks, Tags, Attachments)
//! and an index of every video block (offset, size, timestamp), built by walking the clusters'
//! element headers without reading the images. Captures are grouped as the SDK's playback
//! does (`get_capture` in matroska_read.cpp): the earliest next block of COLOR, DEPTH and IR
//! and every other within half a frame period of it. Images are read on demand.
//!
//! Files from k4arecorder (SimpleBlocks, BlockGroups for IMU with laced samples, Cues, a
//! SeekHead in a Void) and from devstack's writer read the same; a SeekHead is not needed,
//! the segment is walked in order. A file that ends inside an element is truncated: an error,
//! never a partial replay.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

use super::ebml::{self, id, EbmlError, Header, Reader};
use super::{calibration, parse_bitmap_info_header, swap16, Pixels, Role};
use crate::kinect::mode::ColorFormat;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {err}; fix: check the path (relative paths are taken from the current directory)")]
    Open { path: PathBuf, err: std::io::Error },
    #[error("{path} is not a Matroska file (it does not start with the EBML signature 1A 45 DF A3); fix: pass a .mkv recording made by k4arecorder, k4aviewer or `devstack kinect record`")]
    NotMatroska { path: PathBuf },
    #[error("{path} is a Matroska file but not an Azure Kinect recording: {why}; fix: pass a recording made by k4arecorder, k4aviewer or `devstack kinect record`")]
    Foreign { path: PathBuf, why: String },
    #[error("{path} is truncated: the file ends at byte {len} inside an element that starts at byte {at} (after {captures} complete captures); the recording was cut off (recorder killed, disk full or an incomplete copy); fix: copy it again or record it again")]
    Truncated {
        path: PathBuf,
        at: u64,
        len: u64,
        captures: usize,
    },
    #[error("{path} is damaged at byte {at}: {what}; fix: copy it again or record it again")]
    Corrupt {
        path: PathBuf,
        at: u64,
        what: String,
    },
    #[error("{path}: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("reading {path} failed: {err}")]
    Io { path: PathBuf, err: String },
}

/// One track as the file describes it.
#[derive(Debug, Clone, Serialize)]
pub struct TrackInfo {
    pub number: u64,
    pub uid: u64,
    pub name: String,
    pub codec: String,
    pub role: Option<Role>,
    pub width: u32,
    pub height: u32,
    /// Pixel format name (`mjpg`, `nv12`, `yuy2`, `bgra32`, `b16g`) where known.
    pub format: Option<String>,
    pub default_duration_ns: Option<u64>,
    /// Blocks (video frames, or IMU samples counting laced ones) in the file.
    pub frames: u64,
    #[serde(skip)]
    codec_private: Vec<u8>,
}

/// A video image's place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Timestamp relative to the start offset, ns.
    pub ts_ns: u64,
    pub at: u64,
    pub len: u32,
}

/// One capture: the images that belong together, as the playback API groups them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureRef {
    pub color: Option<BlockRef>,
    pub depth: Option<BlockRef>,
    pub ir: Option<BlockRef>,
}

impl CaptureRef {
    /// The capture's timestamp: depth's, else color's, else IR's (as the live capture does).
    pub fn ts_ns(&self) -> u64 {
        self.depth.or(self.color).or(self.ir).map_or(0, |b| b.ts_ns)
    }
}

/// The calibration attachment.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationInfo {
    pub file_name: String,
    pub bytes: usize,
    /// Written by devstack for synthetic frames (nominal values).
    pub synthetic: bool,
}

/// What `kinect info FILE.mkv` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub path: PathBuf,
    pub title: Option<String>,
    pub writing_app: Option<String>,
    pub color_mode: Option<String>,
    pub depth_mode: Option<String>,
    pub ir_mode: Option<String>,
    pub imu: bool,
    pub fps: Option<u32>,
    pub captures: usize,
    pub duration_s: f64,
    pub start_offset_ns: u64,
    pub serial: Option<String>,
    pub source: Option<String>,
    pub calibration: Option<CalibrationInfo>,
    pub tracks: Vec<TrackInfo>,
    pub tags: Vec<(String, String)>,
    pub bytes: u64,
}

/// A block as found in a cluster, before its track is resolved.
struct RawBlock {
    track: u64,
    ts: i64,
    at: u64,
    len: u64,
    frames: u64,
    laced: bool,
}

/// A tag: name, value, and its target (kind, uid).
#[derive(Debug, Clone)]
struct Tag {
    name: String,
    value: String,
    target_type: Option<String>,
    track_uid: u64,
    attachment_uid: u64,
}

/// What the segment walk found.
#[derive(Default)]
struct Walk {
    timescale_ns: u64,
    title: Option<String>,
    writing_app: Option<String>,
    tracks: Vec<TrackInfo>,
    tags: Vec<Tag>,
    attachments: Vec<(String, u64, Vec<u8>)>,
    blocks: Vec<RawBlock>,
    clusters: usize,
}

pub struct Recording {
    path: PathBuf,
    reader: Reader,
    pub summary: Summary,
    pub captures: Vec<CaptureRef>,
    pub color: Option<(u32, u32, ColorFormat)>,
    pub depth: Option<(u32, u32)>,
    pub ir: Option<(u32, u32)>,
    /// Recorded frame period (from the tracks' DefaultDuration, else the block spacing).
    pub period_ns: u64,
    pub calibration: Option<Vec<u8>>,
}

const HEADER_LIMIT: u64 = 16 << 20;
const ATTACHMENT_LIMIT: u64 = 64 << 20;

impl Recording {
    pub fn open(path: &Path) -> Result<Recording, ReadError> {
        let file = File::open(path).map_err(|err| ReadError::Open {
            path: path.to_path_buf(),
            err,
        })?;
        let reader = Reader::new(file).map_err(|err| ReadError::Open {
            path: path.to_path_buf(),
            err,
        })?;
        let mut walker = Walker {
            path,
            reader: &reader,
            walk: Walk::default(),
        };
        walker.check_ebml_head()?;
        walker.walk_segment()?;
        let walk = walker.walk;
        build(path, reader, walk)
    }

    /// One image's bytes as the live capture delivers them: depth and IR little-endian.
    pub fn image(&self, b: &BlockRef, gray16: bool) -> Result<Bytes, ReadError> {
        let mut buf = vec![0u8; b.len as usize];
        self.reader
            .read_into(&mut buf, b.at)
            .map_err(|e| ReadError::Io {
                path: self.path.clone(),
                err: e.to_string(),
            })?;
        Ok(Bytes::from(if gray16 { swap16(&buf) } else { buf }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

struct Walker<'a> {
    path: &'a Path,
    reader: &'a Reader,
    walk: Walk,
}

impl Walker<'_> {
    fn err(&self, e: EbmlError) -> ReadError {
        let path = self.path.to_path_buf();
        match e {
            EbmlError::Truncated { at, len } => ReadError::Truncated {
                path,
                at,
                len,
                captures: self.walk.clusters,
            },
            EbmlError::Invalid { at, what } => ReadError::Corrupt { path, at, what },
            EbmlError::Io(err) => ReadError::Io { path, err },
        }
    }

    fn header(&self, at: u64) -> Result<Header, ReadError> {
        self.reader.header(at).map_err(|e| self.err(e))
    }

    fn end(&self, h: &Header) -> Result<u64, ReadError> {
        self.reader.end_within(h).map_err(|e| self.err(e))
    }

    fn data(&self, h: &Header, limit: u64) -> Result<Vec<u8>, ReadError> {
        self.reader.data(h, limit).map_err(|e| self.err(e))
    }

    fn foreign(&self, why: impl Into<String>) -> ReadError {
        ReadError::Foreign {
            path: self.path.to_path_buf(),
            why: why.into(),
        }
    }

    fn check_ebml_head(&mut self) -> Result<(), ReadError> {
        let magic = ebml::id_bytes(id::EBML);
        let start = self.reader.bytes(0, 4, 0).unwrap_or_default();
        if start != magic {
            return Err(ReadError::NotMatroska {
                path: self.path.to_path_buf(),
            });
        }
        let h = self.header(0)?;
        let body = self.data(&h, 4096)?;
        let kids = ebml::children(&body, h.data).map_err(|e| self.err(e))?;
        let doc_type = kids
            .iter()
            .find(|(i, _)| *i == id::DOC_TYPE)
            .map(|(_, d)| ebml::as_string(d))
            .unwrap_or_else(|| "matroska".into());
        if doc_type != "matroska" {
            return Err(self.foreign(format!("its DocType is {doc_type:?}, not \"matroska\"")));
        }
        Ok(())
    }

    /// Walks the Segment's children in order (the first Segment after the EBML head).
    fn walk_segment(&mut self) -> Result<(), ReadError> {
        let head = self.header(0)?;
        let mut at = self.end(&head)?;
        let segment = loop {
            if at >= self.reader.len {
                return Err(self.foreign("it has no Segment"));
            }
            let h = self.header(at)?;
            if h.id == id::SEGMENT {
                break h;
            }
            at = self.end(&h)?;
        };
        // An unknown size (an unfinished recording) or one past the end (cut off) is walked
        // to the end of the file; an element cut off there is reported as truncation.
        let end = segment
            .end()
            .map_or(self.reader.len, |e| e.min(self.reader.len));
        let mut at = segment.data;
        self.walk.timescale_ns = 1_000_000;
        while at < end {
            let h = self.header(at)?;
            at = match h.id {
                id::CLUSTER => self.cluster(&h, end)?,
                id::INFO => {
                    self.info(&h)?;
                    self.end(&h)?
                }
                id::TRACKS => {
                    self.tracks(&h)?;
                    self.end(&h)?
                }
                id::TAGS => {
                    self.tags(&h)?;
                    self.end(&h)?
                }
                id::ATTACHMENTS => {
                    self.attachments(&h)?;
                    self.end(&h)?
                }
                _ => self.end(&h)?,
            };
        }
        if segment.end().is_some_and(|e| e > self.reader.len) {
            return Err(self.err(EbmlError::Truncated {
                at: segment.start,
                len: self.reader.len,
            }));
        }
        Ok(())
    }

    fn children(&self, h: &Header, limit: u64) -> Result<Vec<(u32, Vec<u8>)>, ReadError> {
        let body = self.data(h, limit)?;
        let kids = ebml::children(&body, h.data).map_err(|e| self.err(e))?;
        Ok(kids.into_iter().map(|(i, d)| (i, d.to_vec())).collect())
    }

    fn info(&mut self, h: &Header) -> Result<(), ReadError> {
        for (i, d) in self.children(h, HEADER_LIMIT)? {
            match i {
                id::TIMESTAMP_SCALE => self.walk.timescale_ns = ebml::as_uint(&d).max(1),
                id::TITLE => self.walk.title = Some(ebml::as_string(&d)),
                id::WRITING_APP => self.walk.writing_app = Some(ebml::as_string(&d)),
                _ => {}
            }
        }
        Ok(())
    }

    fn tracks(&mut self, h: &Header) -> Result<(), ReadError> {
        for (i, entry) in self.children(h, HEADER_LIMIT)? {
            if i != id::TRACK_ENTRY {
                continue;
            }
            let kids = ebml::children(&entry, h.data).map_err(|e| self.err(e))?;
            let mut t = TrackInfo {
                number: 0,
                uid: 0,
                name: String::new(),
                codec: String::new(),
                role: None,
                width: 0,
                height: 0,
                format: None,
                default_duration_ns: None,
                frames: 0,
                codec_private: Vec::new(),
            };
            for (k, d) in kids {
                match k {
                    id::TRACK_NUMBER => t.number = ebml::as_uint(d),
                    id::TRACK_UID => t.uid = ebml::as_uint(d),
                    id::NAME => t.name = ebml::as_string(d),
                    id::CODEC_ID => t.codec = ebml::as_string(d),
                    id::CODEC_PRIVATE => t.codec_private = d.to_vec(),
                    id::DEFAULT_DURATION => t.default_duration_ns = Some(ebml::as_uint(d)),
                    id::VIDEO => {
                        for (v, vd) in ebml::children(d, h.data).map_err(|e| self.err(e))? {
                            match v {
                                id::PIXEL_WIDTH => t.width = ebml::as_uint(vd) as u32,
                                id::PIXEL_HEIGHT => t.height = ebml::as_uint(vd) as u32,
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            self.walk.tracks.push(t);
        }
        Ok(())
    }

    fn tags(&mut self, h: &Header) -> Result<(), ReadError> {
        for (i, tag) in self.children(h, HEADER_LIMIT)? {
            if i != id::TAG {
                continue;
            }
            let mut t = Tag {
                name: String::new(),
                value: String::new(),
                target_type: None,
                track_uid: 0,
                attachment_uid: 0,
            };
            for (k, d) in ebml::children(&tag, h.data).map_err(|e| self.err(e))? {
                let kids = ebml::children(d, h.data).map_err(|e| self.err(e))?;
                match k {
                    id::TARGETS => {
                        for (x, xd) in kids {
                            match x {
                                id::TARGET_TYPE => t.target_type = Some(ebml::as_string(xd)),
                                id::TAG_TRACK_UID => t.track_uid = ebml::as_uint(xd),
                                id::TAG_ATTACHMENT_UID => t.attachment_uid = ebml::as_uint(xd),
                                _ => {}
                            }
                        }
                    }
                    // the first SimpleTag carries the K4A name/value
                    id::SIMPLE_TAG if t.name.is_empty() => {
                        for (x, xd) in kids {
                            match x {
                                id::TAG_NAME => t.name = ebml::as_string(xd),
                                id::TAG_STRING => t.value = ebml::as_string(xd),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            self.walk.tags.push(t);
        }
        Ok(())
    }

    fn attachments(&mut self, h: &Header) -> Result<(), ReadError> {
        for (i, file) in self.children(h, ATTACHMENT_LIMIT)? {
            if i != id::ATTACHED_FILE {
                continue;
            }
            let (mut name, mut uid, mut data) = (String::new(), 0, Vec::new());
            for (k, d) in ebml::children(&file, h.data).map_err(|e| self.err(e))? {
                match k {
                    id::FILE_NAME => name = ebml::as_string(d),
                    id::FILE_UID => uid = ebml::as_uint(d),
                    id::FILE_DATA => data = d.to_vec(),
                    _ => {}
                }
            }
            self.walk.attachments.push((name, uid, data));
        }
        Ok(())
    }

    /// Indexes a cluster's blocks; returns where the next top-level element starts. A cluster
    /// of unknown size ends where the next top-level element begins.
    fn cluster(&mut self, h: &Header, segment_end: u64) -> Result<u64, ReadError> {
        let end = match h.size {
            Some(_) => self.end(h)?,
            None => segment_end,
        };
        let mut at = h.data;
        let mut cluster_ts: Option<u64> = None;
        let first_block = self.walk.blocks.len();
        while at < end {
            let c = self.header(at)?;
            if h.size.is_none() && is_top_level(c.id) {
                break;
            }
            let c_end = self.end(&c)?;
            match c.id {
                id::TIMESTAMP => cluster_ts = Some(ebml::as_uint(&self.data(&c, 8)?)),
                id::SIMPLE_BLOCK => self.block(&c, c_end)?,
                id::BLOCK_GROUP => {
                    let mut g = c.data;
                    while g < c_end {
                        let b = self.header(g)?;
                        let b_end = self.end(&b)?;
                        if b.id == id::BLOCK {
                            self.block(&b, b_end)?;
                        }
                        g = b_end;
                    }
                }
                _ => {}
            }
            at = c_end;
        }
        let Some(base) = cluster_ts else {
            return Err(self.err(EbmlError::Invalid {
                at: h.start,
                what: "a Cluster without a Timestamp".into(),
            }));
        };
        for b in &mut self.walk.blocks[first_block..] {
            b.ts += base as i64;
        }
        self.walk.clusters += 1;
        Ok(if h.size.is_some() { end } else { at })
    }

    /// A (Simple)Block: track number, timestamp relative to the cluster, flags, payload.
    fn block(&mut self, h: &Header, end: u64) -> Result<(), ReadError> {
        let head_len = (end - h.data).min(12);
        let head = self
            .reader
            .bytes(h.data, head_len, h.start)
            .map_err(|e| self.err(e))?;
        let bad = |what: &str| {
            self.err(EbmlError::Invalid {
                at: h.start,
                what: what.into(),
            })
        };
        let (track, n) =
            ebml::read_vint(&head).ok_or_else(|| bad("a block without a track number"))?;
        if head.len() < n + 3 {
            return Err(bad("a block shorter than its header"));
        }
        let ts = i16::from_be_bytes([head[n], head[n + 1]]) as i64;
        let flags = head[n + 2];
        let laced = flags & 0x06 != 0;
        let frames = if laced {
            *head
                .get(n + 3)
                .ok_or_else(|| bad("a laced block without a frame count"))? as u64
                + 1
        } else {
            1
        };
        let payload = h.data + n as u64 + 3;
        self.walk.blocks.push(RawBlock {
            track,
            ts,
            at: payload,
            len: end - payload,
            frames,
            laced,
        });
        Ok(())
    }
}

/// Level-1 elements: where a cluster of unknown size ends.
fn is_top_level(i: u32) -> bool {
    matches!(
        i,
        id::CLUSTER
            | id::CUES
            | id::TAGS
            | id::ATTACHMENTS
            | id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | 0x1043_A770 // Chapters
    )
}

/// The track for a role: the UID its `K4A_*_TRACK` tag names (target or value), else the
/// track named like the role (the SDK's `find_track`; IR also under its legacy name).
fn find_track(tracks: &[TrackInfo], tags: &[Tag], role: Role) -> Option<usize> {
    let uid = tags
        .iter()
        .find(|t| t.name == role.track_tag())
        .and_then(|t| {
            let target = (t.target_type.as_deref() == Some("TRACK") && t.track_uid != 0)
                .then_some(t.track_uid);
            target.or_else(|| t.value.trim().parse().ok())
        });
    if let Some(i) = uid.and_then(|u| tracks.iter().position(|t| t.uid == u)) {
        return Some(i);
    }
    let names: &[&str] = match role {
        Role::Ir => &["IR", "DEPTH_IR"],
        _ => &[role.track_name()],
    };
    tracks.iter().position(|t| names.contains(&t.name.as_str()))
}

/// The pixel format of a built-in video track, from its codec and BITMAPINFOHEADER.
/// Why a video track's pixels cannot be read.
#[derive(Debug, thiserror::Error)]
enum PixelsError {
    #[error("track {track} has a {len}-byte CodecPrivate, not a 40-byte BITMAPINFOHEADER")]
    Header { track: String, len: usize },
    #[error("track {track} has FOURCC {fourcc:?}, not MJPG, NV12, YUY2, BGRA or b16g")]
    Fourcc { track: String, fourcc: String },
    #[error("track {track} has codec {codec:?}; Azure Kinect recordings use V_MS/VFW/FOURCC")]
    Codec { track: String, codec: String },
}

fn pixels(t: &TrackInfo) -> Result<Pixels, PixelsError> {
    match t.codec.as_str() {
        "V_MS/VFW/FOURCC" => {
            let (_, _, fourcc) =
                parse_bitmap_info_header(&t.codec_private).ok_or_else(|| PixelsError::Header {
                    track: t.name.clone(),
                    len: t.codec_private.len(),
                })?;
            Pixels::from_fourcc(fourcc).ok_or_else(|| {
                let cc: String = fourcc
                    .to_le_bytes()
                    .iter()
                    .map(|b| {
                        if b.is_ascii_graphic() {
                            *b as char
                        } else {
                            '?'
                        }
                    })
                    .collect();
                PixelsError::Fourcc {
                    track: t.name.clone(),
                    fourcc: cc,
                }
            })
        }
        // ffmpeg/mkvmerge remuxes store MJPEG color under its own codec id
        "V_MJPEG" => Ok(Pixels::Color(ColorFormat::Mjpg)),
        other => Err(PixelsError::Codec {
            track: t.name.clone(),
            codec: other.into(),
        }),
    }
}

fn format_name(p: Pixels) -> &'static str {
    match p {
        Pixels::Color(f) => f.name(),
        Pixels::Gray16Be => "b16g",
    }
}

/// Groups per-track blocks into captures: the earliest next block and every other within
/// half a period of it (`sync` delays shift a track's timestamps, K4A_DEPTH_DELAY_NS).
fn group(per_role: [&[BlockRef]; 3], sync: [u64; 3], period_ns: u64) -> Vec<CaptureRef> {
    let mut next = [0usize; 3];
    let mut out = Vec::new();
    loop {
        let heads: Vec<(usize, BlockRef)> = (0..3)
            .filter_map(|i| per_role[i].get(next[i]).map(|b| (i, *b)))
            .collect();
        let Some(start) = heads.iter().map(|(i, b)| b.ts_ns + sync[*i]).min() else {
            break;
        };
        let mut capture = CaptureRef::default();
        for (i, b) in heads {
            if b.ts_ns + sync[i] - start < period_ns / 2 {
                next[i] += 1;
                match i {
                    0 => capture.color = Some(b),
                    1 => capture.depth = Some(b),
                    _ => capture.ir = Some(b),
                }
            }
        }
        out.push(capture);
    }
    out
}

fn tag_value<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name == name)
        .map(|t| t.value.as_str())
}

/// Resolves the walk into a recording: roles, formats, the block index, captures.
fn build(path: &Path, reader: Reader, mut walk: Walk) -> Result<Recording, ReadError> {
    let foreign = |why: String| ReadError::Foreign {
        path: path.to_path_buf(),
        why,
    };
    let unsupported = |what: String| ReadError::Unsupported {
        path: path.to_path_buf(),
        what,
    };
    if walk.tracks.is_empty() {
        return Err(foreign("it has no Tracks".into()));
    }
    let roles = [Role::Color, Role::Depth, Role::Ir, Role::Imu];
    for role in roles {
        if let Some(i) = find_track(&walk.tracks, &walk.tags, role) {
            if walk.tracks[i].role.is_none() {
                walk.tracks[i].role = Some(role);
            }
        }
    }
    let names: Vec<String> = walk
        .tracks
        .iter()
        .map(|t| format!("{} ({})", t.name, t.codec))
        .collect();
    if !walk
        .tracks
        .iter()
        .any(|t| matches!(t.role, Some(Role::Color | Role::Depth | Role::Ir)))
    {
        return Err(foreign(format!(
            "it has no COLOR, DEPTH or IR track (tracks: {})",
            names.join(", ")
        )));
    }
    let mut formats: HashMap<Role, (u32, u32, Pixels)> = HashMap::new();
    for t in walk.tracks.iter_mut() {
        let Some(role @ (Role::Color | Role::Depth | Role::Ir)) = t.role else {
            continue;
        };
        let p = pixels(t).map_err(|e| unsupported(e.to_string()))?;
        let wrong = match role {
            Role::Color => matches!(p, Pixels::Gray16Be),
            _ => !matches!(p, Pixels::Gray16Be),
        };
        if wrong {
            return Err(unsupported(format!(
                "track {} holds {}, which is not a {} format",
                t.name,
                format_name(p),
                role.track_name()
            )));
        }
        if let Some((w, h, _)) = parse_bitmap_info_header(&t.codec_private) {
            if t.width == 0 || t.height == 0 {
                (t.width, t.height) = (w, h);
            }
        }
        t.format = Some(format_name(p).to_string());
        formats.insert(role, (t.width, t.height, p));
    }
    index(path, reader, walk, formats)
}

fn index(
    path: &Path,
    reader: Reader,
    mut walk: Walk,
    formats: HashMap<Role, (u32, u32, Pixels)>,
) -> Result<Recording, ReadError> {
    let corrupt = |at: u64, what: String| ReadError::Corrupt {
        path: path.to_path_buf(),
        at,
        what,
    };
    let by_number: HashMap<u64, usize> = walk
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.number, i))
        .collect();
    let scale = walk.timescale_ns;
    let mut per_role: [Vec<BlockRef>; 3] = Default::default();
    for b in &walk.blocks {
        let Some(&ti) = by_number.get(&b.track) else {
            continue;
        };
        let t = &mut walk.tracks[ti];
        t.frames += b.frames;
        let slot = match t.role {
            Some(Role::Color) => 0,
            Some(Role::Depth) => 1,
            Some(Role::Ir) => 2,
            _ => continue,
        };
        if b.laced {
            return Err(ReadError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "the {} track has laced blocks ({} images in one block), which Azure Kinect recordings do not use",
                    t.name, b.frames
                ),
            });
        }
        if b.ts < 0 {
            return Err(corrupt(
                b.at,
                format!("a {} block has a negative timestamp", t.name),
            ));
        }
        if let Some((w, h, p)) = formats.get(&t.role.unwrap_or(Role::Imu)) {
            if let Some(n) = p.frame_bytes(*w, *h) {
                if b.len != n as u64 {
                    return Err(corrupt(
                        b.at,
                        format!(
                            "a {} image of {} bytes where {w}x{h} {} needs {n}",
                            t.name,
                            b.len,
                            format_name(*p)
                        ),
                    ));
                }
            }
        }
        per_role[slot].push(BlockRef {
            ts_ns: b.ts as u64 * scale,
            at: b.at,
            len: b.len as u32,
        });
    }
    for v in per_role.iter_mut() {
        v.sort_by_key(|b| b.ts_ns);
    }
    finish(path, reader, walk, formats, per_role)
}

/// The frame period: the video tracks' DefaultDuration, else the median block spacing.
fn period(walk: &Walk, per_role: &[Vec<BlockRef>; 3]) -> u64 {
    let from_tracks = walk
        .tracks
        .iter()
        .filter(|t| matches!(t.role, Some(Role::Color | Role::Depth | Role::Ir)))
        .find_map(|t| t.default_duration_ns.filter(|d| *d > 0));
    from_tracks.unwrap_or_else(|| {
        let blocks = per_role
            .iter()
            .max_by_key(|v| v.len())
            .map_or(&[][..], |v| v);
        let mut gaps: Vec<u64> = blocks.windows(2).map(|w| w[1].ts_ns - w[0].ts_ns).collect();
        gaps.sort_unstable();
        gaps.get(gaps.len() / 2)
            .copied()
            .filter(|g| *g > 0)
            .unwrap_or(33_333_333)
    })
}

fn finish(
    path: &Path,
    reader: Reader,
    walk: Walk,
    formats: HashMap<Role, (u32, u32, Pixels)>,
    per_role: [Vec<BlockRef>; 3],
) -> Result<Recording, ReadError> {
    let period_ns = period(&walk, &per_role);
    let delay: i64 = tag_value(&walk.tags, "K4A_DEPTH_DELAY_NS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    // a positive delay shifts color, a negative one depth and IR (the SDK's sync_delay_ns)
    let sync = if delay > 0 {
        [delay as u64, 0, 0]
    } else {
        [0, delay.unsigned_abs(), delay.unsigned_abs()]
    };
    let captures = group([&per_role[0], &per_role[1], &per_role[2]], sync, period_ns);
    if captures.is_empty() {
        return Err(ReadError::Foreign {
            path: path.to_path_buf(),
            why: "it holds no COLOR, DEPTH or IR frames".into(),
        });
    }
    let start_offset_ns = tag_value(&walk.tags, "K4A_START_OFFSET_NS")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let calibration = calibration_blob(&walk);
    let first = captures.first().map_or(0, |c| c.ts_ns());
    let last = per_role
        .iter()
        .filter_map(|v| v.last())
        .map(|b| b.ts_ns)
        .max()
        .unwrap_or(0);
    let size = |role| formats.get(&role).map(|(w, h, _)| (*w, *h));
    let color = formats.get(&Role::Color).and_then(|(w, h, p)| match p {
        Pixels::Color(f) => Some((*w, *h, *f)),
        Pixels::Gray16Be => None,
    });
    let tag = |name: &str| tag_value(&walk.tags, name).map(str::to_string);
    let summary = Summary {
        path: path.to_path_buf(),
        title: walk.title.clone(),
        writing_app: walk.writing_app.clone(),
        color_mode: tag("K4A_COLOR_MODE")
            .or_else(|| color.map(|(_, h, f)| super::color_mode_tag(f, h))),
        depth_mode: tag("K4A_DEPTH_MODE")
            .or_else(|| size(Role::Depth).map(|(w, h)| super::depth_mode_tag(w, h).into())),
        ir_mode: tag("K4A_IR_MODE").or_else(|| size(Role::Ir).map(|_| "ACTIVE".into())),
        imu: walk.tracks.iter().any(|t| t.role == Some(Role::Imu)),
        fps: (period_ns > 0).then(|| ((1e9 / period_ns as f64).round()) as u32),
        captures: captures.len(),
        duration_s: (last.saturating_sub(first) + period_ns) as f64 / 1e9,
        start_offset_ns,
        serial: tag("K4A_DEVICE_SERIAL_NUMBER"),
        source: tag("DEVSTACK_SOURCE"),
        calibration: calibration.as_ref().map(|(name, data)| CalibrationInfo {
            file_name: name.clone(),
            bytes: data.len(),
            synthetic: calibration::is_synthetic(data),
        }),
        tracks: walk.tracks.clone(),
        tags: walk
            .tags
            .iter()
            .map(|t| (t.name.clone(), t.value.clone()))
            .collect(),
        bytes: reader.len,
    };
    Ok(Recording {
        path: path.to_path_buf(),
        reader,
        captures,
        color,
        depth: size(Role::Depth),
        ir: size(Role::Ir),
        period_ns,
        calibration: calibration.map(|(_, d)| d),
        summary,
    })
}

/// The calibration attachment: the one `K4A_CALIBRATION_FILE` targets, else `calibration.json`.
fn calibration_blob(walk: &Walk) -> Option<(String, Vec<u8>)> {
    let by_tag = walk
        .tags
        .iter()
        .find(|t| t.name == "K4A_CALIBRATION_FILE" && t.attachment_uid != 0)
        .and_then(|t| walk.attachments.iter().find(|a| a.1 == t.attachment_uid));
    by_tag
        .or_else(|| walk.attachments.iter().find(|a| a.0 == "calibration.json"))
        .map(|(name, _, data)| (name.clone(), data.clone()))
}
