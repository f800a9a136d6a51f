//! The Azure Kinect recording format (what k4arecorder and k4aviewer write, and the SDK's
//! playback API reads): Matroska with video tracks named `COLOR`, `DEPTH` and `IR` stored as
//! `V_MS/VFW/FOURCC` with a BITMAPINFOHEADER (MJPG/NV12/YUY2/BGRA color, `b16g` = 16-bit
//! big-endian depth and IR), `K4A_*` tags, the device calibration as an attachment, and block
//! timestamps in µs relative to `K4A_START_OFFSET_NS`, the device timestamp of the first
//! image. Facts: research/kinect-recordings.md and the SDK's record/playback sources.

pub mod calibration;
pub mod ebml;
pub mod reader;
pub mod writer;

#[cfg(test)]
mod tests;

use super::mode::ColorFormat;

/// Block timestamps are in µs (the SDK's MATROSKA_TIMESCALE_NS).
pub const TIMESCALE_NS: u64 = 1_000;

/// Which of the built-in tracks a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Color,
    Depth,
    Ir,
    Imu,
}

impl Role {
    /// The track name the SDK writes and looks for.
    pub fn track_name(self) -> &'static str {
        match self {
            Role::Color => "COLOR",
            Role::Depth => "DEPTH",
            Role::Ir => "IR",
            Role::Imu => "IMU",
        }
    }

    /// The tag whose target (or value) is the track's UID.
    pub fn track_tag(self) -> &'static str {
        match self {
            Role::Color => "K4A_COLOR_TRACK",
            Role::Depth => "K4A_DEPTH_TRACK",
            Role::Ir => "K4A_IR_TRACK",
            Role::Imu => "K4A_IMU_TRACK",
        }
    }
}

/// FOURCCs of BITMAPINFOHEADER.biCompression (little-endian ASCII).
pub const FOURCC_MJPG: u32 = 0x4750_4A4D;
pub const FOURCC_NV12: u32 = 0x3231_564E;
pub const FOURCC_YUY2: u32 = 0x3259_5559;
pub const FOURCC_BGRA: u32 = 0x4152_4742;
/// 16-bit grayscale, big-endian (ffmpeg's gray16be).
pub const FOURCC_B16G: u32 = 0x6736_3162;

/// The pixel format of a video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    Color(ColorFormat),
    /// Depth or IR: 16-bit big-endian in the file.
    Gray16Be,
}

impl Pixels {
    pub fn fourcc(self) -> u32 {
        match self {
            Pixels::Color(ColorFormat::Mjpg) => FOURCC_MJPG,
            Pixels::Color(ColorFormat::Nv12) => FOURCC_NV12,
            Pixels::Color(ColorFormat::Yuy2) => FOURCC_YUY2,
            Pixels::Color(ColorFormat::Bgra32) => FOURCC_BGRA,
            Pixels::Gray16Be => FOURCC_B16G,
        }
    }

    pub fn from_fourcc(fourcc: u32) -> Option<Pixels> {
        Some(match fourcc {
            FOURCC_MJPG => Pixels::Color(ColorFormat::Mjpg),
            FOURCC_NV12 => Pixels::Color(ColorFormat::Nv12),
            FOURCC_YUY2 => Pixels::Color(ColorFormat::Yuy2),
            FOURCC_BGRA => Pixels::Color(ColorFormat::Bgra32),
            FOURCC_B16G => Pixels::Gray16Be,
            _ => return None,
        })
    }

    /// (bits per pixel, image bytes; 0 for compressed) as the SDK fills them in.
    fn bits_and_size(self, width: u32, height: u32) -> (u16, u32) {
        let px = width * height;
        match self {
            Pixels::Color(ColorFormat::Mjpg) => (24, 0),
            Pixels::Color(ColorFormat::Nv12) => (12, px * 3 / 2),
            Pixels::Color(ColorFormat::Yuy2) => (16, px * 2),
            Pixels::Color(ColorFormat::Bgra32) => (32, px * 4),
            Pixels::Gray16Be => (16, px * 2),
        }
    }

    /// Exact bytes of one image, `None` for compressed formats.
    pub fn frame_bytes(self, width: u32, height: u32) -> Option<usize> {
        match self.bits_and_size(width, height) {
            (_, 0) => None,
            (_, n) => Some(n as usize),
        }
    }
}

pub const BITMAPINFOHEADER_LEN: usize = 40;

/// The 40-byte BITMAPINFOHEADER (little-endian) that is a track's CodecPrivate.
pub fn bitmap_info_header(width: u32, height: u32, pixels: Pixels) -> Vec<u8> {
    let (bits, size) = pixels.bits_and_size(width, height);
    let mut h = Vec::with_capacity(BITMAPINFOHEADER_LEN);
    h.extend((BITMAPINFOHEADER_LEN as u32).to_le_bytes()); // biSize
    h.extend(width.to_le_bytes());
    h.extend(height.to_le_bytes());
    h.extend(1u16.to_le_bytes()); // biPlanes
    h.extend(bits.to_le_bytes());
    h.extend(pixels.fourcc().to_le_bytes());
    h.extend(size.to_le_bytes());
    h.extend([0u8; 16]); // pels per metre ×2, colours used, important
    h
}

/// (width, height, biCompression) of a BITMAPINFOHEADER.
pub fn parse_bitmap_info_header(bytes: &[u8]) -> Option<(u32, u32, u32)> {
    if bytes.len() != BITMAPINFOHEADER_LEN {
        return None;
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Some((u32_at(4), u32_at(8), u32_at(16)))
}

/// `K4A_DEPTH_MODE` values (and the legacy spellings older recordings carry).
pub fn depth_mode_tag(width: u32, height: u32) -> &'static str {
    match (width, height) {
        (320, 288) => "NFOV_2X2BINNED",
        (640, 576) => "NFOV_UNBINNED",
        (512, 512) => "WFOV_2X2BINNED",
        _ => "WFOV_UNBINNED",
    }
}

/// `K4A_COLOR_MODE`: `MJPG_720P`, `BGRA_1080P`, …
pub fn color_mode_tag(format: ColorFormat, height: u32) -> String {
    let f = match format {
        ColorFormat::Mjpg => "MJPG",
        ColorFormat::Nv12 => "NV12",
        ColorFormat::Yuy2 => "YUY2",
        ColorFormat::Bgra32 => "BGRA",
    };
    format!("{f}_{height}P")
}

/// Swaps the bytes of every 16-bit sample: little-endian DEPTH16/IR16 ⇄ the file's `b16g`.
/// Four samples per step (a u64), which keeps it cheap even in unoptimised builds.
pub fn swap16(data: &[u8]) -> Vec<u8> {
    const LOW: u64 = 0x00FF_00FF_00FF_00FF;
    let mut out = Vec::with_capacity(data.len());
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        out.extend_from_slice(&(((x & LOW) << 8) | ((x >> 8) & LOW)).to_ne_bytes());
    }
    for px in words.remainder().chunks(2) {
        out.extend(px.iter().rev());
    }
    out
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn bitmap_headers_round_trip_with_the_sdk_fourccs() {
        let h = bitmap_info_header(640, 576, Pixels::Gray16Be);
        assert_eq!(h.len(), 40);
        assert_eq!(&h[16..20], b"b16g");
        assert_eq!(
            u32::from_le_bytes([h[20], h[21], h[22], h[23]]),
            640 * 576 * 2
        );
        assert_eq!(parse_bitmap_info_header(&h), Some((640, 576, FOURCC_B16G)));
        let c = bitmap_info_header(1280, 720, Pixels::Color(ColorFormat::Mjpg));
        assert_eq!(&c[16..20], b"MJPG");
        assert_eq!(
            &bitmap_info_header(1, 1, Pixels::Color(ColorFormat::Nv12))[16..20],
            b"NV12"
        );
        assert_eq!(
            &bitmap_info_header(1, 1, Pixels::Color(ColorFormat::Yuy2))[16..20],
            b"YUY2"
        );
        assert_eq!(
            &bitmap_info_header(1, 1, Pixels::Color(ColorFormat::Bgra32))[16..20],
            b"BGRA"
        );
        assert_eq!(parse_bitmap_info_header(&c[..39]), None);
    }

    #[test]
    fn swapping_twice_is_the_identity() {
        let le: Vec<u8> = (0u16..11)
            .flat_map(|v| (v * 300 + 7).to_le_bytes())
            .collect();
        let be: Vec<u8> = (0u16..11)
            .flat_map(|v| (v * 300 + 7).to_be_bytes())
            .collect();
        assert_eq!(swap16(&le), be);
        assert_eq!(swap16(&be), le);
        assert_eq!(color_mode_tag(ColorFormat::Mjpg, 720), "MJPG_720P");
        assert_eq!(depth_mode_tag(640, 576), "NFOV_UNBINNED");
    }
}
