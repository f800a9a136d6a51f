//! The writer and the reader against each other, and the reader against files laid out the
//! ways other writers lay them out (k4arecorder: BlockGroups of laced IMU samples, CRC-32
//! children, tags naming tracks by value; an unfinished file: unknown sizes), cut short, or
//! not recordings at all.

use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;

use super::ebml::{self, id};
use super::reader::{ReadError, Recording};
use super::writer::{Recorder, Setup};
use super::{bitmap_info_header, calibration, Pixels};
use crate::kinect::frame::{Frame, Image};
use crate::kinect::mode::ColorFormat;

const DEPTH: (u32, u32) = (8, 4);
const COLOR: (u32, u32) = (16, 8);

fn setup() -> Setup {
    Setup {
        depth: Some(DEPTH),
        ir: true,
        color: Some((COLOR.0, COLOR.1, ColorFormat::Mjpg)),
        fps: 30,
        serial: Some("000123456789".into()),
        firmware: Some(("1.6.110".into(), "1.6.79".into())),
        calibration: Some(calibration::synthetic()),
        source: "synthetic".into(),
    }
}

fn image(seed: u64, len: usize, ts: u64, (w, h): (u32, u32)) -> Image {
    let data: Vec<u8> = (0..len).map(|i| (i as u64 * 31 + seed * 7) as u8).collect();
    Image {
        data: Bytes::from(data),
        width: w,
        height: h,
        device_ts_usec: ts,
    }
}

/// Capture `i` at 30 fps from a device clock starting at 5 s; color 250 µs after depth.
fn frame(i: u64) -> Frame {
    let ts = 5_000_000 + i * 33_333;
    let depth_len = (DEPTH.0 * DEPTH.1 * 2) as usize;
    Frame {
        seq: i,
        device_ts_usec: ts,
        host_ts_ns: 0,
        captured_at: Instant::now(),
        depth: Some(image(i, depth_len, ts, DEPTH)),
        ir: Some(image(i + 100, depth_len, ts, DEPTH)),
        color: Some((
            image(i + 200, 50 + i as usize, ts + 250, COLOR),
            ColorFormat::Mjpg,
        )),
    }
}

fn record(dir: &Path, frames: u64) -> PathBuf {
    let path = dir.join("r.mkv");
    let file = Recorder::open_file(&path, true).unwrap();
    let mut rec = Recorder::new(file, &path, setup());
    for i in 0..frames {
        assert!(rec.write(&frame(i)).unwrap());
    }
    rec.finish().unwrap().expect("frames were written");
    path
}

#[test]
fn what_is_written_reads_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = record(dir.path(), 40);
    let rec = Recording::open(&path).unwrap();
    assert_eq!(rec.captures.len(), 40);
    assert_eq!(rec.period_ns, 33_333_333);
    let start = rec.summary.start_offset_ns / 1000;
    assert_eq!(start, 5_000_000);
    for (i, c) in rec.captures.iter().enumerate() {
        let f = frame(i as u64);
        let depth = c.depth.unwrap();
        assert_eq!(
            rec.image(&depth, true).unwrap(),
            f.depth.as_ref().unwrap().data
        );
        assert_eq!(
            rec.image(&c.ir.unwrap(), true).unwrap(),
            f.ir.as_ref().unwrap().data
        );
        let color = c.color.unwrap();
        assert_eq!(
            rec.image(&color, false).unwrap(),
            f.color.as_ref().unwrap().0.data
        );
        assert_eq!(depth.ts_ns / 1000 + start, f.device_ts_usec);
        assert_eq!(color.ts_ns / 1000 + start, f.device_ts_usec + 250);
    }
    let s = &rec.summary;
    assert_eq!(s.color_mode.as_deref(), Some("MJPG_8P"));
    assert_eq!(s.ir_mode.as_deref(), Some("ACTIVE"));
    assert_eq!(s.fps, Some(30));
    assert_eq!(s.serial.as_deref(), Some("000123456789"));
    assert_eq!(s.source.as_deref(), Some("synthetic"));
    assert!(s.calibration.as_ref().is_some_and(|c| c.synthetic));
    assert_eq!(
        rec.calibration.as_deref(),
        Some(&calibration::synthetic()[..])
    );
    assert!(s.tracks.iter().all(|t| t.frames == 40), "{:?}", s.tracks);
    assert!(
        (s.duration_s - 40.0 / 30.0).abs() < 0.001,
        "{}",
        s.duration_s
    );
    assert_eq!(rec.depth, Some(DEPTH));
    assert_eq!(rec.color, Some((COLOR.0, COLOR.1, ColorFormat::Mjpg)));
}

#[test]
fn the_writer_refuses_to_replace_and_skips_a_clock_that_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = record(dir.path(), 3);
    let err = Recorder::open_file(&path, false).unwrap_err().to_string();
    assert!(err.contains("--overwrite"), "{err}");
    let file = Recorder::open_file(&path, true).unwrap();
    let mut rec = Recorder::new(file, &path, setup());
    assert!(rec.write(&frame(5)).unwrap());
    assert!(!rec.write(&frame(4)).unwrap(), "older than what is written");
    assert!(rec.write(&frame(6)).unwrap());
    rec.finish().unwrap();
    assert_eq!(Recording::open(&path).unwrap().captures.len(), 2);
    // nothing recorded: no file left behind
    let file = Recorder::open_file(&path, true).unwrap();
    assert!(Recorder::new(file, &path, setup())
        .finish()
        .unwrap()
        .is_none());
    assert!(!path.exists());
}

#[test]
fn a_cut_off_file_is_truncated_wherever_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(record(dir.path(), 10)).unwrap();
    let cut = dir.path().join("cut.mkv");
    // inside the header, inside a cluster, inside the last cluster, inside the Cues
    for keep in [60, 700, full.len() / 2, full.len() - 40, full.len() - 3] {
        std::fs::write(&cut, &full[..keep]).unwrap();
        match Recording::open(&cut) {
            Err(ReadError::Truncated { len, .. }) => assert_eq!(len, keep as u64),
            Err(e) => panic!("cut at {keep}: {e}"),
            Ok(_) => panic!("cut at {keep} opened"),
        }
    }
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let msg = Recording::open(&cut).err().unwrap().to_string();
    assert!(
        msg.contains("is truncated") && msg.contains("complete captures"),
        "{msg}"
    );
}

#[test]
fn files_that_are_not_recordings_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mkv");
    for bytes in [&b""[..], b"RIFF....AVI LIST", b"\x1aE\xdf"] {
        std::fs::write(&p, bytes).unwrap();
        assert!(matches!(
            Recording::open(&p),
            Err(ReadError::NotMatroska { .. })
        ));
    }
    // WebM
    let head = |doc: &str| ebml::master(id::EBML, &[ebml::string(id::DOC_TYPE, doc)]);
    std::fs::write(&p, head("webm")).unwrap();
    let msg = Recording::open(&p).err().unwrap().to_string();
    assert!(msg.contains("its DocType is \"webm\""), "{msg}");
    // a movie: one MPEG-4 video track
    let track = ebml::master(
        id::TRACK_ENTRY,
        &[
            ebml::uint(id::TRACK_NUMBER, 1),
            ebml::uint(id::TRACK_TYPE, 1),
            ebml::string(id::CODEC_ID, "V_MPEG4/ISO/AVC"),
        ],
    );
    let segment = ebml::master(id::SEGMENT, &[ebml::master(id::TRACKS, &[track])]);
    std::fs::write(&p, [head("matroska"), segment].concat()).unwrap();
    let msg = Recording::open(&p).err().unwrap().to_string();
    assert!(
        msg.contains("no COLOR, DEPTH or IR track (tracks:  (V_MPEG4/ISO/AVC))"),
        "{msg}"
    );
    assert!(matches!(
        Recording::open(&dir.path().join("missing.mkv")),
        Err(ReadError::Open { .. })
    ));
}

/// A SimpleBlock (or Block) body: track, relative timestamp, flags, payload.
fn block(id_: u32, track: u8, rel: i16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0x80 | track];
    body.extend(rel.to_be_bytes());
    body.push(flags);
    body.extend_from_slice(payload);
    ebml::binary(id_, &body)
}

fn video_track(number: u64, uid: u64, name: &str, w: u32, h: u32, pixels: Pixels) -> Vec<u8> {
    ebml::master(
        id::TRACK_ENTRY,
        &[
            ebml::uint(id::TRACK_NUMBER, number),
            ebml::uint(id::TRACK_UID, uid),
            ebml::uint(id::TRACK_TYPE, 1),
            ebml::string(id::NAME, name),
            ebml::string(id::CODEC_ID, "V_MS/VFW/FOURCC"),
            ebml::binary(id::CODEC_PRIVATE, &bitmap_info_header(w, h, pixels)),
            ebml::uint(id::DEFAULT_DURATION, 33_333_333),
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

fn k4a_tag(name: &str, value: &str) -> Vec<u8> {
    ebml::master(
        id::TAG,
        &[
            ebml::master(id::TARGETS, &[ebml::uint(id::TAG_TRACK_UID, 0)]),
            ebml::master(
                id::SIMPLE_TAG,
                &[
                    ebml::string(id::TAG_NAME, name),
                    ebml::string(id::TAG_STRING, value),
                ],
            ),
        ],
    )
}

/// An unfinished k4arecorder-style file: unknown-size Segment and Clusters, CRC-32 children,
/// tracks out of name order and found through their `K4A_*_TRACK` tag values, depth and IR
/// in SimpleBlocks, IMU samples laced in BlockGroups.
#[test]
fn k4arecorder_layouts_and_unknown_sizes_read() {
    let (w, h) = (4u32, 2u32);
    let tracks = ebml::master(
        id::TRACKS,
        &[
            video_track(1, 9001, "DEPTH", w, h, Pixels::Gray16Be),
            video_track(2, 9002, "ir-track", w, h, Pixels::Gray16Be),
            ebml::master(
                id::TRACK_ENTRY,
                &[
                    ebml::uint(id::TRACK_NUMBER, 3),
                    ebml::uint(id::TRACK_UID, 9003),
                    ebml::uint(id::TRACK_TYPE, 0x11),
                    ebml::string(id::NAME, "IMU"),
                    ebml::string(id::CODEC_ID, "S_K4A/IMU"),
                ],
            ),
        ],
    );
    let tags = ebml::master(
        id::TAGS,
        &[
            k4a_tag("K4A_DEPTH_MODE", "NFOV_UNBINNED"),
            k4a_tag("K4A_IR_TRACK", "9002"),
            k4a_tag("K4A_START_OFFSET_NS", "200011000"),
        ],
    );
    let depth = |v: u8| vec![v; (w * h * 2) as usize];
    let crc = ebml::binary(id::CRC32, &[0, 0, 0, 0]);
    let mut clusters = Vec::new();
    for i in 0..3u8 {
        let mut c = ebml::id_bytes(id::CLUSTER);
        c.extend(ebml::UNKNOWN_SIZE_8);
        c.extend(&crc);
        c.extend(ebml::uint(id::TIMESTAMP, i as u64 * 33_333));
        c.extend(block(id::SIMPLE_BLOCK, 1, 0, 0x80, &depth(i)));
        c.extend(block(id::SIMPLE_BLOCK, 2, 0, 0x80, &depth(i + 10)));
        // two IMU samples, Xiph-laced (flags 0x02), in a BlockGroup
        let imu = block(id::BLOCK, 3, 1, 0x02, &[1, 40, 0xAA].repeat(27));
        c.extend(ebml::master(id::BLOCK_GROUP, &[imu]));
        clusters.push(c);
    }
    let mut segment = ebml::id_bytes(id::SEGMENT);
    segment.extend(ebml::UNKNOWN_SIZE_8);
    segment.extend(ebml::void(1024));
    segment.extend(ebml::master(
        id::INFO,
        &[ebml::uint(id::TIMESTAMP_SCALE, 1000)],
    ));
    segment.extend(tracks);
    segment.extend(tags);
    segment.extend(clusters.concat());
    let head = ebml::master(id::EBML, &[ebml::string(id::DOC_TYPE, "matroska")]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k4a.mkv");
    std::fs::write(&p, [head, segment].concat()).unwrap();
    let rec = Recording::open(&p).unwrap();
    assert_eq!(rec.captures.len(), 3);
    assert_eq!(
        rec.ir,
        Some((w, h)),
        "IR found through K4A_IR_TRACK's value"
    );
    assert!(rec.summary.imu);
    let imu = rec.summary.tracks.iter().find(|t| t.name == "IMU").unwrap();
    assert_eq!(imu.frames, 6, "laced samples counted");
    let c = rec.captures[2];
    assert_eq!(c.depth.unwrap().ts_ns, 66_666_000);
    // big-endian in the file, little-endian out (the bytes are symmetric per sample here)
    assert_eq!(
        rec.image(&c.ir.unwrap(), true).unwrap(),
        Bytes::from(depth(12))
    );
    assert_eq!(rec.summary.start_offset_ns, 200_011_000);
    assert_eq!(rec.summary.depth_mode.as_deref(), Some("NFOV_UNBINNED"));
}
