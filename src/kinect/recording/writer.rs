//! Writes captures as an Azure Kinect recording, laid out as k4arecorder lays it out: EBML
//! header, a Segment whose size is patched at the end, a reserved Void that becomes the
//! SeekHead, Info (µs timescale, Duration patched at the end), Tracks, the calibration
//! attachment, Tags, then one Cluster per capture of SimpleBlocks (COLOR, DEPTH, IR; depth and
//! IR byte-swapped to big-endian) and Cues once a second. The header is written with the first
//! capture, whose earliest image timestamp becomes `K4A_START_OFFSET_NS`.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::ebml::{self, id};
use super::{
    bitmap_info_header, color_mode_tag, depth_mode_tag, swap16, Pixels, Role, TIMESCALE_NS,
};
use crate::kinect::frame::Frame;
use crate::kinect::mode::ColorFormat;

/// What the recording holds, known before the first capture.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Depth track size (the IR track has the same).
    pub depth: Option<(u32, u32)>,
    pub ir: bool,
    pub color: Option<(u32, u32, ColorFormat)>,
    pub fps: u32,
    pub serial: Option<String>,
    /// (color, depth) firmware versions.
    pub firmware: Option<(String, String)>,
    pub calibration: Option<Vec<u8>>,
    /// Where the frames came from (`k4a`, `synthetic`, `replay`): the `DEVSTACK_SOURCE` tag.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot create {path}: {err}; fix: {}", create_fix(.err))]
    Create { path: PathBuf, err: std::io::Error },
    #[error("writing {path} failed: {err} (the recording is incomplete; check free disk space)")]
    Write { path: PathBuf, err: std::io::Error },
}

fn create_fix(err: &std::io::Error) -> &'static str {
    match err.kind() {
        std::io::ErrorKind::AlreadyExists => {
            "pick another file name, or pass --overwrite to replace the recording"
        }
        std::io::ErrorKind::NotFound => "create the directory first",
        _ => "check that the directory exists and is writable",
    }
}

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub captures: u64,
    pub bytes: u64,
    pub duration_ns: u64,
}

/// A SimpleBlock's payload may not move the cluster's relative timestamp past i16 µs.
const MAX_CLUSTER_SPAN_US: u64 = i16::MAX as u64;
const CUE_GAP_US: u64 = 1_000_000;
/// Reserved for the SeekHead (5 entries need ~115 bytes).
const SEEK_RESERVE: usize = 256;

struct Track {
    role: Role,
    number: u64,
    uid: u64,
}

pub struct Recorder {
    path: PathBuf,
    out: BufWriter<File>,
    setup: Setup,
    tracks: Vec<Track>,
    attachment_uid: u64,
    /// File offsets written so far and of the parts patched at the end.
    pos: u64,
    segment_size_at: u64,
    segment_data: u64,
    seek_reserve_at: u64,
    duration_at: u64,
    /// Where Info, Tracks, Attachments and Tags start (for the SeekHead).
    index: Vec<(u32, u64)>,
    start_offset_ns: Option<u64>,
    last_ts_us: u64,
    cues: Vec<(u64, u64)>,
    summary: Summary,
}

/// A random non-zero 60-bit id, as the SDK's `new_unique_id` makes them.
fn unique_id() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        // RandomState's keys are random per process (and change with every instance)
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let v = h.finish() >> 4;
        if v != 0 {
            return v;
        }
    }
}

/// Nanoseconds since 2001-01-01T00:00:00Z (Matroska's DateUTC).
fn date_utc_ns() -> i64 {
    const MILLENNIUM_UNIX_S: i64 = 978_307_200;
    let now = crate::kinect::frame::wall_clock_ns() as i64;
    now - MILLENNIUM_UNIX_S * 1_000_000_000
}

fn tag(name: &str, value: &str, target: Option<(&str, u32, u64)>) -> Vec<u8> {
    let targets = match target {
        Some((kind, uid_id, uid)) => ebml::master(
            id::TARGETS,
            &[ebml::string(id::TARGET_TYPE, kind), ebml::uint(uid_id, uid)],
        ),
        // an empty Targets is mandatory; the SDK writes TagTrackUID 0 (= the whole file)
        None => ebml::master(id::TARGETS, &[ebml::uint(id::TAG_TRACK_UID, 0)]),
    };
    let simple = ebml::master(
        id::SIMPLE_TAG,
        &[
            ebml::string(id::TAG_NAME, name),
            ebml::string(id::TAG_STRING, value),
        ],
    );
    ebml::master(id::TAG, &[targets, simple])
}

impl Recorder {
    /// Opens the file for a new recording: refuses to replace one unless `overwrite`.
    pub fn open_file(path: &Path, overwrite: bool) -> Result<File, WriteError> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true);
        if overwrite {
            o.create(true).truncate(true);
        } else {
            o.create_new(true);
        }
        o.open(path).map_err(|err| WriteError::Create {
            path: path.to_path_buf(),
            err,
        })
    }

    /// A recorder writing to `file` (opened by `open_file`); the header follows with the
    /// first capture.
    pub fn new(file: File, path: &Path, setup: Setup) -> Recorder {
        let roles = [
            (setup.color.is_some(), Role::Color),
            (setup.depth.is_some(), Role::Depth),
            (setup.depth.is_some() && setup.ir, Role::Ir),
        ];
        let tracks = roles
            .into_iter()
            .filter(|(on, _)| *on)
            .enumerate()
            .map(|(i, (_, role))| Track {
                role,
                number: i as u64 + 1,
                uid: unique_id(),
            })
            .collect();
        Recorder {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            setup,
            tracks,
            attachment_uid: unique_id(),
            pos: 0,
            segment_size_at: 0,
            segment_data: 0,
            seek_reserve_at: 0,
            duration_at: 0,
            index: Vec::new(),
            start_offset_ns: None,
            last_ts_us: 0,
            cues: Vec::new(),
            summary: Summary::default(),
        }
    }

    pub fn summary(&self) -> Summary {
        self.summary
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes).map_err(|err| WriteError::Write {
            path: self.path.clone(),
            err,
        })?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn track_entry(&self, t: &Track) -> Vec<u8> {
        let s = &self.setup;
        let (w, h, pixels) = match t.role {
            Role::Color => {
                let (w, h, f) = s.color.unwrap_or((0, 0, ColorFormat::Mjpg));
                (w, h, Pixels::Color(f))
            }
            _ => {
                let (w, h) = s.depth.unwrap_or((0, 0));
                (w, h, Pixels::Gray16Be)
            }
        };
        ebml::master(
            id::TRACK_ENTRY,
            &[
                ebml::uint(id::TRACK_NUMBER, t.number),
                ebml::uint(id::TRACK_UID, t.uid),
                ebml::uint(id::TRACK_TYPE, 1),
                ebml::string(id::NAME, t.role.track_name()),
                ebml::string(id::CODEC_ID, "V_MS/VFW/FOURCC"),
                ebml::binary(id::CODEC_PRIVATE, &bitmap_info_header(w, h, pixels)),
                ebml::uint(id::DEFAULT_DURATION, 1_000_000_000 / s.fps.max(1) as u64),
                ebml::master(
                    id::VIDEO,
                    &[
                        ebml::uint(id::PIXEL_WIDTH, w as u64),
                        ebml::uint(id::PIXEL_HEIGHT, h as u64),
                    ],
                ),
            ],
        )
    }

    fn tags(&self, start_offset_ns: u64) -> Vec<u8> {
        let s = &self.setup;
        let mut tags = Vec::new();
        for t in &self.tracks {
            let target = Some(("TRACK", id::TAG_TRACK_UID, t.uid));
            tags.push(tag(t.role.track_tag(), &t.uid.to_string(), target));
            let mode = match t.role {
                Role::Color => s.color.map(|(_, h, f)| color_mode_tag(f, h)),
                Role::Depth => s.depth.map(|(w, h)| depth_mode_tag(w, h).to_string()),
                Role::Ir => Some("ACTIVE".to_string()),
                Role::Imu => None,
            };
            let name = match t.role {
                Role::Color => "K4A_COLOR_MODE",
                Role::Depth => "K4A_DEPTH_MODE",
                _ => "K4A_IR_MODE",
            };
            if let Some(mode) = mode {
                tags.push(tag(name, &mode, target));
            }
        }
        if s.color.is_some() && s.depth.is_some() {
            tags.push(tag("K4A_DEPTH_DELAY_NS", "0", None));
        }
        tags.push(tag("K4A_WIRED_SYNC_MODE", "STANDALONE", None));
        if let Some((color, depth)) = &s.firmware {
            tags.push(tag("K4A_COLOR_FIRMWARE_VERSION", color, None));
            tags.push(tag("K4A_DEPTH_FIRMWARE_VERSION", depth, None));
        }
        if let Some(serial) = &s.serial {
            tags.push(tag("K4A_DEVICE_SERIAL_NUMBER", serial, None));
        }
        if s.calibration.is_some() {
            let target = Some(("ATTACHMENT", id::TAG_ATTACHMENT_UID, self.attachment_uid));
            tags.push(tag("K4A_CALIBRATION_FILE", "calibration.json", target));
        }
        tags.push(tag(
            "K4A_START_OFFSET_NS",
            &start_offset_ns.to_string(),
            None,
        ));
        tags.push(tag("DEVSTACK_SOURCE", &s.source, None));
        ebml::master(id::TAGS, &tags)
    }

    fn write_header(&mut self, start_offset_ns: u64) -> Result<(), WriteError> {
        let head = ebml::master(
            id::EBML,
            &[
                ebml::uint(id::EBML_VERSION, 1),
                ebml::uint(id::EBML_READ_VERSION, 1),
                ebml::uint(id::EBML_MAX_ID_LENGTH, 4),
                ebml::uint(id::EBML_MAX_SIZE_LENGTH, 8),
                ebml::string(id::DOC_TYPE, "matroska"),
                ebml::uint(id::DOC_TYPE_VERSION, 2),
                ebml::uint(id::DOC_TYPE_READ_VERSION, 2),
            ],
        );
        self.emit(&head)?;
        // Segment with an 8-byte size: "unknown" until finish() patches it.
        self.emit(&ebml::id_bytes(id::SEGMENT))?;
        self.segment_size_at = self.pos;
        self.emit(&ebml::UNKNOWN_SIZE_8)?;
        self.segment_data = self.pos;
        self.seek_reserve_at = self.pos;
        self.emit(&ebml::void(SEEK_RESERVE))?;

        let info_body = [
            ebml::uint(id::TIMESTAMP_SCALE, TIMESCALE_NS),
            ebml::string(id::MUXING_APP, "devstack"),
            ebml::string(
                id::WRITING_APP,
                &format!("devstack-{}", env!("CARGO_PKG_VERSION")),
            ),
            ebml::binary(id::DATE_UTC, &date_utc_ns().to_be_bytes()),
            ebml::string(id::TITLE, "Azure Kinect"),
        ]
        .concat();
        let duration = ebml::float(id::DURATION, 0.0);
        let info_size = (info_body.len() + duration.len()) as u64;
        let info_head = ebml::header(id::INFO, info_size);
        self.index.push((id::INFO, self.pos));
        self.emit(&info_head)?;
        self.emit(&info_body)?;
        // the Duration's 8 float bytes follow its 3-byte header
        self.duration_at = self.pos + 3;
        self.emit(&duration)?;

        let entries: Vec<Vec<u8>> = self.tracks.iter().map(|t| self.track_entry(t)).collect();
        self.index.push((id::TRACKS, self.pos));
        self.emit(&ebml::master(id::TRACKS, &entries))?;
        if let Some(cal) = self.setup.calibration.clone() {
            let file = ebml::master(
                id::ATTACHED_FILE,
                &[
                    ebml::string(id::FILE_NAME, "calibration.json"),
                    ebml::string(id::FILE_MIME_TYPE, "application/octet-stream"),
                    ebml::binary(id::FILE_DATA, &cal),
                    ebml::uint(id::FILE_UID, self.attachment_uid),
                ],
            );
            self.index.push((id::ATTACHMENTS, self.pos));
            self.emit(&ebml::master(id::ATTACHMENTS, &[file]))?;
        }
        let tags = self.tags(start_offset_ns);
        self.index.push((id::TAGS, self.pos));
        self.emit(&tags)
    }

    /// The capture's images as (track number, device timestamp µs, payload in file order).
    fn blocks(&self, frame: &Frame) -> Vec<(u64, u64, Bytes)> {
        let number = |role| {
            self.tracks
                .iter()
                .find(|t| t.role == role)
                .map(|t| t.number)
        };
        let mut blocks = Vec::new();
        if let (Some(n), Some((img, _))) = (number(Role::Color), &frame.color) {
            blocks.push((n, img.device_ts_usec, img.data.clone()));
        }
        if let (Some(n), Some(img)) = (number(Role::Depth), &frame.depth) {
            blocks.push((n, img.device_ts_usec, Bytes::from(swap16(&img.data))));
        }
        if let (Some(n), Some(img)) = (number(Role::Ir), &frame.ir) {
            blocks.push((n, img.device_ts_usec, Bytes::from(swap16(&img.data))));
        }
        blocks.sort_by_key(|(n, ts, _)| (*ts, *n));
        blocks
    }

    /// Appends one capture. `Ok(false)`: nothing written (no image for any track, or images
    /// older than what is already written: a device clock that went back).
    pub fn write(&mut self, frame: &Frame) -> Result<bool, WriteError> {
        let blocks = self.blocks(frame);
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
            return Ok(false);
        };
        let (first_us, last_us) = (first.1, last.1);
        let start_ns = match self.start_offset_ns {
            Some(s) => s,
            None => {
                let s = first_us * 1000;
                self.write_header(s)?;
                self.start_offset_ns = Some(s);
                s
            }
        };
        let start_us = start_ns / 1000;
        if first_us < start_us
            || (self.summary.captures > 0 && first_us - start_us < self.last_ts_us)
            || last_us - first_us > MAX_CLUSTER_SPAN_US
        {
            return Ok(false);
        }
        let cluster_us = first_us - start_us;
        let timestamp = ebml::uint(id::TIMESTAMP, cluster_us);
        let block_heads: Vec<Vec<u8>> = blocks
            .iter()
            .map(|(n, ts, data)| {
                let mut head = ebml::header(id::SIMPLE_BLOCK, 4 + data.len() as u64);
                head.push(0x80 | *n as u8); // track number as a 1-byte vint
                head.extend(((ts - first_us) as i16).to_be_bytes());
                head.push(0x80); // keyframe, no lacing
                head
            })
            .collect();
        let body = timestamp.len() as u64
            + blocks
                .iter()
                .zip(&block_heads)
                .map(|((_, _, d), h)| (h.len() + d.len()) as u64)
                .sum::<u64>();
        let cluster_at = self.pos;
        if self
            .cues
            .last()
            .is_none_or(|(t, _)| cluster_us >= t + CUE_GAP_US)
        {
            self.cues.push((cluster_us, cluster_at - self.segment_data));
        }
        self.emit(&ebml::header(id::CLUSTER, body))?;
        self.emit(&timestamp)?;
        for ((_, _, data), head) in blocks.iter().zip(&block_heads) {
            self.emit(head)?;
            self.emit(data)?;
        }
        self.last_ts_us = last_us - start_us;
        self.summary.captures += 1;
        self.summary.bytes = self.pos;
        self.summary.duration_ns = self.last_ts_us * 1000;
        Ok(true)
    }

    fn seek_head(&self, cues_at: u64) -> Vec<u8> {
        let entry = |element: u32, at: u64| {
            ebml::master(
                id::SEEK,
                &[
                    ebml::binary(id::SEEK_ID, &ebml::id_bytes(element)),
                    ebml::binary(id::SEEK_POSITION, &(at - self.segment_data).to_be_bytes()),
                ],
            )
        };
        let mut seeks: Vec<Vec<u8>> = self.index.iter().map(|(e, at)| entry(*e, *at)).collect();
        seeks.push(entry(id::CUES, cues_at));
        ebml::master(id::SEEK_HEAD, &seeks)
    }

    /// Writes the Cues and patches the SeekHead, Duration and Segment size. A recording
    /// without any capture has no header: the file is removed and `Ok(None)` returned.
    pub fn finish(mut self) -> Result<Option<Summary>, WriteError> {
        if self.start_offset_ns.is_none() {
            drop(self.out);
            let _ = std::fs::remove_file(&self.path);
            return Ok(None);
        }
        let points: Vec<Vec<u8>> = self
            .cues
            .iter()
            .map(|(time, cluster)| {
                let positions = ebml::master(
                    id::CUE_TRACK_POSITIONS,
                    &[
                        ebml::uint(id::CUE_TRACK, 1),
                        ebml::uint(id::CUE_CLUSTER_POSITION, *cluster),
                    ],
                );
                ebml::master(id::CUE_POINT, &[ebml::uint(id::CUE_TIME, *time), positions])
            })
            .collect();
        let cues_at = self.pos;
        self.emit(&ebml::master(id::CUES, &points))?;
        let seek = self.seek_head(cues_at);
        let mut reserve = seek;
        reserve.extend(ebml::void(SEEK_RESERVE - reserve.len()));
        let duration = (self.last_ts_us as f64).to_be_bytes();
        let segment_size = ebml::size_bytes(self.pos - self.segment_data, 8);
        let path = self.path.clone();
        let io = |err| WriteError::Write {
            path: path.clone(),
            err,
        };
        self.out.flush().map_err(io)?;
        let file = self.out.get_ref();
        file.write_all_at(&reserve, self.seek_reserve_at)
            .map_err(io)?;
        file.write_all_at(&duration, self.duration_at).map_err(io)?;
        file.write_all_at(&segment_size, self.segment_size_at)
            .map_err(io)?;
        file.sync_data().map_err(io)?;
        self.summary.bytes = self.pos;
        Ok(Some(self.summary))
    }
}
