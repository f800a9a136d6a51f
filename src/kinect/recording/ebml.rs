//! EBML, the binary format under Matroska: variable-length ids and sizes, and elements built
//! as byte vectors (writing) or read as headers at file offsets (reading). Only what the Azure
//! Kinect recording format uses (research/kinect-recordings.md); ids from the Matroska spec.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Element ids, with their length marker bits (as the spec writes them).
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const VOID: u32 = 0xEC;
    pub const CRC32: u32 = 0xBF;

    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;

    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const TITLE: u32 = 0x7BA9;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;

    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const DEFAULT_DURATION: u32 = 0x23_E383;
    pub const NAME: u32 = 0x536E;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;

    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;

    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;

    pub const ATTACHMENTS: u32 = 0x1941_A469;
    pub const ATTACHED_FILE: u32 = 0x61A7;
    pub const FILE_NAME: u32 = 0x466E;
    pub const FILE_MIME_TYPE: u32 = 0x4660;
    pub const FILE_DATA: u32 = 0x465C;
    pub const FILE_UID: u32 = 0x46AE;

    pub const TAGS: u32 = 0x1254_C367;
    pub const TAG: u32 = 0x7373;
    pub const TARGETS: u32 = 0x63C0;
    pub const TARGET_TYPE: u32 = 0x63CA;
    pub const TAG_TRACK_UID: u32 = 0x63C5;
    pub const TAG_ATTACHMENT_UID: u32 = 0x63C6;
    pub const SIMPLE_TAG: u32 = 0x67C8;
    pub const TAG_NAME: u32 = 0x45A3;
    pub const TAG_STRING: u32 = 0x4487;
}

/// The reserved "unknown size" of an 8-byte size field (a segment still being written).
pub const UNKNOWN_SIZE_8: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// An id as written: its big-endian bytes without leading zeros (the marker bit is part of it).
pub fn id_bytes(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    bytes[skip..].to_vec()
}

/// A size coded in exactly `width` bytes (1..=8).
pub fn size_bytes(size: u64, width: usize) -> Vec<u8> {
    let mut out = vec![0u8; width];
    let mut v = size;
    for b in out.iter_mut().rev() {
        *b = (v & 0xFF) as u8;
        v >>= 8;
    }
    out[0] |= 0x80 >> (width - 1);
    out
}

/// The shortest width that codes `size` (all-ones is reserved for "unknown").
pub fn size_width(size: u64) -> usize {
    (1..=8).find(|w| size < (1u64 << (7 * w)) - 1).unwrap_or(8)
}

/// An element header: id and size (the shortest size coding).
pub fn header(id: u32, size: u64) -> Vec<u8> {
    let mut out = id_bytes(id);
    out.extend(size_bytes(size, size_width(size)));
    out
}

pub fn binary(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = header(id, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// A master element from its already encoded children.
pub fn master(id: u32, children: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = children.concat();
    binary(id, &body)
}

pub fn uint(id: u32, value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    binary(id, &bytes[skip..])
}

pub fn string(id: u32, value: &str) -> Vec<u8> {
    binary(id, value.as_bytes())
}

pub fn float(id: u32, value: f64) -> Vec<u8> {
    binary(id, &value.to_be_bytes())
}

/// A Void element of exactly `total` bytes (header included; `total` ≥ 2).
pub fn void(total: usize) -> Vec<u8> {
    // an 8-byte size field works for any total ≥ 9; below that a 1-byte one
    let (width, body) = if total >= 9 {
        (8, total - 9)
    } else {
        (1, total.saturating_sub(2))
    };
    let mut out = vec![id::VOID as u8];
    out.extend(size_bytes(body as u64, width));
    out.resize(total, 0);
    out
}

/// Why bytes are not the EBML element expected there.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EbmlError {
    /// The file ends inside an element (or its header).
    #[error("the file ends at byte {len} inside an element that starts at byte {at}")]
    Truncated { at: u64, len: u64 },
    #[error("byte {at}: {what}")]
    Invalid { at: u64, what: String },
    #[error("reading: {0}")]
    Io(String),
}

/// One element's header, read at a file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u32,
    /// Where the element starts (its id).
    pub start: u64,
    /// Where its data starts.
    pub data: u64,
    /// `None` for the reserved "unknown size" (a live or unfinished segment or cluster).
    pub size: Option<u64>,
}

impl Header {
    /// The end of the data, if the size is known.
    pub fn end(&self) -> Option<u64> {
        self.size.map(|s| self.data + s)
    }
}

/// Decodes a variable-length integer at the start of `bytes`: (value with the marker bit kept
/// or removed, length). `None` when the first byte is 0 (no marker within 8 bytes).
fn vint(bytes: &[u8], keep_marker: bool) -> Option<(u64, usize, bool)> {
    let first = *bytes.first()?;
    if first == 0 {
        return None;
    }
    let len = first.leading_zeros() as usize + 1;
    let raw = bytes.get(..len)?;
    // the value bits of the first byte (none when the length is 8)
    let mask = 0xFFu8.checked_shr(len as u32).unwrap_or(0);
    let mut value = if keep_marker {
        first as u64
    } else {
        (first & mask) as u64
    };
    for b in &raw[1..] {
        value = (value << 8) | *b as u64;
    }
    let all_ones = first & mask == mask && raw[1..].iter().all(|b| *b == 0xFF);
    Some((value, len, all_ones))
}

/// A variable-length size or number at the start of `bytes` (marker removed): (value, length).
pub fn read_vint(bytes: &[u8]) -> Option<(u64, usize)> {
    vint(bytes, false).map(|(v, n, _)| (v, n))
}

/// A file read by offset (no shared cursor), with its length.
pub struct Reader {
    file: File,
    pub len: u64,
}

impl Reader {
    pub fn new(file: File) -> std::io::Result<Reader> {
        let len = file.metadata()?.len();
        Ok(Reader { file, len })
    }

    /// Exactly `n` bytes at `at`; a read past the end is `Truncated` (an element starting at
    /// `element` is cut off).
    pub fn bytes(&self, at: u64, n: u64, element: u64) -> Result<Vec<u8>, EbmlError> {
        if at.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(EbmlError::Truncated {
                at: element,
                len: self.len,
            });
        }
        let mut buf = vec![0u8; n as usize];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| EbmlError::Io(e.to_string()))?;
        Ok(buf)
    }

    /// Reads into `buf` from `at` (the caller checked the range against a header).
    pub fn read_into(&self, buf: &mut [u8], at: u64) -> Result<(), EbmlError> {
        if at + buf.len() as u64 > self.len {
            return Err(EbmlError::Truncated { at, len: self.len });
        }
        self.file
            .read_exact_at(buf, at)
            .map_err(|e| EbmlError::Io(e.to_string()))
    }

    /// The element header at `at`.
    pub fn header(&self, at: u64) -> Result<Header, EbmlError> {
        let avail = (self.len.saturating_sub(at)).min(12);
        if avail == 0 {
            return Err(EbmlError::Truncated { at, len: self.len });
        }
        let head = self.bytes(at, avail, at)?;
        let invalid = |what: &str| EbmlError::Invalid {
            at,
            what: what.to_string(),
        };
        let truncated = || EbmlError::Truncated { at, len: self.len };
        if head[0] == 0 {
            return Err(invalid("not an EBML element id"));
        }
        let (id, id_len, _) = vint(&head, true).ok_or_else(truncated)?;
        if id_len > 4 {
            return Err(invalid("an element id longer than 4 bytes"));
        }
        let rest = &head[id_len..];
        match rest.first() {
            None => return Err(truncated()),
            Some(0) => return Err(invalid("an element size longer than 8 bytes")),
            Some(_) => {}
        }
        let (size, size_len, unknown) = vint(rest, false).ok_or_else(truncated)?;
        let data = at + (id_len + size_len) as u64;
        let size = (!unknown).then_some(size);
        Ok(Header {
            id: id as u32,
            start: at,
            data,
            size,
        })
    }

    /// The end of an element of known size, which must lie within the file.
    pub fn end_within(&self, h: &Header) -> Result<u64, EbmlError> {
        match h.size {
            Some(size) => h
                .data
                .checked_add(size)
                .filter(|end| *end <= self.len)
                .ok_or(EbmlError::Truncated {
                    at: h.start,
                    len: self.len,
                }),
            None => Err(EbmlError::Invalid {
                at: h.start,
                what: format!(
                    "element {:#x} has an unknown size where one is required",
                    h.id
                ),
            }),
        }
    }

    /// The data of an element of known size (for small elements: headers, tags, tracks).
    pub fn data(&self, h: &Header, limit: u64) -> Result<Vec<u8>, EbmlError> {
        let size = h.size.ok_or_else(|| EbmlError::Invalid {
            at: h.start,
            what: format!(
                "element {:#x} has an unknown size where one is required",
                h.id
            ),
        })?;
        if size > limit {
            return Err(EbmlError::Invalid {
                at: h.start,
                what: format!(
                    "element {:#x} is {size} bytes, more than {limit} allowed",
                    h.id
                ),
            });
        }
        self.bytes(h.data, size, h.start)
    }
}

/// Children of an element already in memory: (id, data) pairs, in order.
pub fn children(body: &[u8], base: u64) -> Result<Vec<(u32, &[u8])>, EbmlError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < body.len() {
        let at = base + pos as u64;
        let truncated = EbmlError::Truncated {
            at,
            len: base + body.len() as u64,
        };
        let (id, id_len, _) = vint(&body[pos..], true).ok_or(EbmlError::Invalid {
            at,
            what: "not an EBML element id".into(),
        })?;
        let (size, size_len, unknown) = vint(&body[pos + id_len..], false).ok_or(truncated)?;
        if unknown {
            return Err(EbmlError::Invalid {
                at,
                what: "an element inside a header has an unknown size".into(),
            });
        }
        let start = pos + id_len + size_len;
        let end = start
            .checked_add(size as usize)
            .filter(|e| *e <= body.len())
            .ok_or(EbmlError::Truncated {
                at,
                len: base + body.len() as u64,
            })?;
        out.push((id as u32, &body[start..end]));
        pos = end;
    }
    Ok(out)
}

/// An unsigned integer element's value (0 to 8 big-endian bytes).
pub fn as_uint(data: &[u8]) -> u64 {
    data.iter().take(8).fold(0, |v, b| (v << 8) | *b as u64)
}

/// A float element's value (4 or 8 bytes; anything else reads as 0).
pub fn as_float(data: &[u8]) -> f64 {
    match data.len() {
        4 => f32::from_be_bytes([data[0], data[1], data[2], data[3]]) as f64,
        8 => f64::from_be_bytes(data.try_into().unwrap_or([0; 8])),
        _ => 0.0,
    }
}

/// A string element's value (Matroska pads strings with NULs).
pub fn as_string(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_shortest_coding_and_avoid_the_reserved_value() {
        assert_eq!(header(id::VOID, 0), vec![0xEC, 0x80]);
        assert_eq!(header(id::VOID, 126), vec![0xEC, 0xFE]);
        // 127 would be all ones in one byte (unknown): two bytes
        assert_eq!(header(id::VOID, 127), vec![0xEC, 0x40, 0x7F]);
        assert_eq!(size_bytes(5, 8), vec![0x01, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(id_bytes(id::SEGMENT), vec![0x18, 0x53, 0x80, 0x67]);
        assert_eq!(id_bytes(id::CODEC_ID), vec![0x86]);
        assert_eq!(uint(id::TRACK_NUMBER, 1), vec![0xD7, 0x81, 0x01]);
        assert_eq!(uint(id::TIMESTAMP, 0), vec![0xE7, 0x81, 0x00]);
    }

    #[test]
    fn vints_round_trip_and_unknown_sizes_are_recognised() {
        for v in [0u64, 1, 126, 127, 16_382, 16_383, 1 << 40] {
            let w = size_width(v);
            let coded = size_bytes(v, w);
            assert_eq!(read_vint(&coded), Some((v, w)), "{v}");
        }
        assert_eq!(vint(&UNKNOWN_SIZE_8, false).map(|x| x.2), Some(true));
        assert_eq!(read_vint(&[0x00, 1]), None);
    }

    #[test]
    fn a_void_has_exactly_the_asked_length() {
        for total in [2usize, 8, 9, 10, 200, 1024] {
            let v = void(total);
            assert_eq!(v.len(), total);
            let (size, n) = read_vint(&v[1..]).unwrap();
            assert_eq!(1 + n + size as usize, total, "{total}");
        }
    }

    #[test]
    fn children_are_split_and_a_short_body_is_truncated() {
        let body = [uint(id::TRACK_NUMBER, 3), string(id::NAME, "DEPTH")].concat();
        let kids = children(&body, 100).unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(as_uint(kids[0].1), 3);
        assert_eq!(as_string(kids[1].1), "DEPTH");
        let cut = &body[..body.len() - 2];
        assert!(matches!(
            children(cut, 100),
            Err(EbmlError::Truncated { at: 103, .. })
        ));
    }

    #[test]
    fn elements_past_the_end_of_the_file_are_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        let mut bytes = master(id::INFO, &[uint(id::TIMESTAMP_SCALE, 1000)]);
        std::fs::write(&path, &bytes).unwrap();
        let r = Reader::new(File::open(&path).unwrap()).unwrap();
        let h = r.header(0).unwrap();
        assert_eq!((h.id, h.data, h.size), (id::INFO, 5, Some(6)));
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).unwrap();
        let r = Reader::new(File::open(&path).unwrap()).unwrap();
        let h = r.header(0).unwrap();
        assert_eq!(
            r.end_within(&h),
            Err(EbmlError::Truncated { at: 0, len: 10 })
        );
        assert!(matches!(
            r.data(&h, 100),
            Err(EbmlError::Truncated { at: 0, .. })
        ));
        assert!(matches!(
            r.header(10),
            Err(EbmlError::Truncated { at: 10, .. })
        ));
    }
}
