//! The camera mode asked for on the command line, checked against what the SDK accepts
//! (`validate_configuration` in src/sdk/k4a.c, research/kinect.md §5.2).

use super::ffi;

/// The `--depth-mode` values the capture accepts (the help lists exactly these; passive-ir is
/// refused: it gives an IR image and no depth, which the publisher does not ship).
pub const DEPTH_MODES: [&str; 5] = [
    "nfov-unbinned",
    "nfov-2x2binned",
    "wfov-unbinned",
    "wfov-2x2binned",
    "off",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthMode {
    pub k4a: ffi::K4aDepthMode,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorFormat {
    Mjpg,
    Nv12,
    /// Only from recordings: the capture does not offer it (NV12 is the cheaper raw format).
    Yuy2,
    Bgra32,
}

impl ColorFormat {
    /// The `color_format` field of a stream entry.
    pub fn name(self) -> &'static str {
        match self {
            ColorFormat::Mjpg => "mjpg",
            ColorFormat::Nv12 => "nv12",
            ColorFormat::Yuy2 => "yuy2",
            ColorFormat::Bgra32 => "bgra32",
        }
    }

    pub fn k4a(self) -> ffi::K4aImageFormat {
        match self {
            ColorFormat::Mjpg => ffi::K4A_IMAGE_FORMAT_COLOR_MJPG,
            ColorFormat::Nv12 => ffi::K4A_IMAGE_FORMAT_COLOR_NV12,
            ColorFormat::Yuy2 => ffi::K4A_IMAGE_FORMAT_COLOR_YUY2,
            ColorFormat::Bgra32 => ffi::K4A_IMAGE_FORMAT_COLOR_BGRA32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorMode {
    pub k4a: ffi::K4aColorResolution,
    pub width: u32,
    pub height: u32,
    pub format: ColorFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureMode {
    pub depth: Option<DepthMode>,
    pub color: Option<ColorMode>,
    pub fps: u32,
}

impl CaptureMode {
    /// Parses the `--depth-mode`, `--color`, `--color-format` and `--fps` values; the error
    /// is a usage message naming the flag.
    pub fn parse(depth: &str, color: &str, color_format: &str, fps: u32) -> Result<Self, String> {
        let depth = match depth.to_ascii_lowercase().as_str() {
            "off" => None,
            "nfov-2x2binned" => Some((ffi::K4A_DEPTH_MODE_NFOV_2X2BINNED, 320, 288)),
            "nfov-unbinned" => Some((ffi::K4A_DEPTH_MODE_NFOV_UNBINNED, 640, 576)),
            "wfov-2x2binned" => Some((ffi::K4A_DEPTH_MODE_WFOV_2X2BINNED, 512, 512)),
            "wfov-unbinned" => Some((ffi::K4A_DEPTH_MODE_WFOV_UNBINNED, 1024, 1024)),
            "passive-ir" => {
                return Err(
                    "--depth-mode passive-ir produces only an IR image and no depth, \
                            which this publisher does not ship; use nfov-unbinned (default), \
                            nfov-2x2binned, wfov-unbinned, wfov-2x2binned or off"
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "--depth-mode {other:?} is not a depth mode; use nfov-unbinned (default), \
                     nfov-2x2binned, wfov-unbinned, wfov-2x2binned or off"
                ))
            }
        }
        .map(|(k4a, width, height)| DepthMode { k4a, width, height });
        let resolution = match color.to_ascii_lowercase().as_str() {
            "off" => None,
            "720p" => Some((ffi::K4A_COLOR_RESOLUTION_720P, 1280, 720)),
            "1080p" => Some((ffi::K4A_COLOR_RESOLUTION_1080P, 1920, 1080)),
            "1440p" => Some((ffi::K4A_COLOR_RESOLUTION_1440P, 2560, 1440)),
            "1536p" => Some((ffi::K4A_COLOR_RESOLUTION_1536P, 2048, 1536)),
            "2160p" => Some((ffi::K4A_COLOR_RESOLUTION_2160P, 3840, 2160)),
            "3072p" => Some((ffi::K4A_COLOR_RESOLUTION_3072P, 4096, 3072)),
            other => {
                return Err(format!(
                    "--color {other:?} is not a color resolution; use 720p (default), 1080p, \
                     1440p, 1536p, 2160p, 3072p or off"
                ))
            }
        };
        let format = match color_format.to_ascii_lowercase().as_str() {
            "mjpg" | "mjpeg" | "jpeg" => ColorFormat::Mjpg,
            "nv12" => ColorFormat::Nv12,
            "bgra32" | "bgra" => ColorFormat::Bgra32,
            other => {
                return Err(format!(
                    "--color-format {other:?} is not supported; use mjpg (default), nv12 or bgra32"
                ))
            }
        };
        if ![30, 15, 5].contains(&fps) {
            return Err(format!("--fps {fps} is not a camera rate; use 30, 15 or 5"));
        }
        let color = resolution.map(|(k4a, width, height)| ColorMode {
            k4a,
            width,
            height,
            format,
        });
        if depth.is_none() && color.is_none() {
            return Err(
                "--depth-mode off and --color off leave nothing to capture; enable one".into(),
            );
        }
        if let Some(c) = color {
            if c.format == ColorFormat::Nv12 && c.k4a != ffi::K4A_COLOR_RESOLUTION_720P {
                return Err(format!(
                    "--color-format nv12 is only available at 720p (asked: {}x{}); use mjpg or \
                     bgra32 for higher resolutions",
                    c.width, c.height
                ));
            }
            if c.k4a == ffi::K4A_COLOR_RESOLUTION_3072P && fps == 30 {
                return Err("--color 3072p runs at most at 15 fps; add --fps 15".into());
            }
        }
        if depth.is_some_and(|d| d.k4a == ffi::K4A_DEPTH_MODE_WFOV_UNBINNED) && fps == 30 {
            return Err("--depth-mode wfov-unbinned runs at most at 15 fps; add --fps 15".into());
        }
        Ok(CaptureMode { depth, color, fps })
    }

    /// The depth mode of an image size (recordings name sizes, not modes).
    pub fn depth_mode_for(width: u32, height: u32) -> ffi::K4aDepthMode {
        match (width, height) {
            (320, 288) => ffi::K4A_DEPTH_MODE_NFOV_2X2BINNED,
            (640, 576) => ffi::K4A_DEPTH_MODE_NFOV_UNBINNED,
            (512, 512) => ffi::K4A_DEPTH_MODE_WFOV_2X2BINNED,
            _ => ffi::K4A_DEPTH_MODE_WFOV_UNBINNED,
        }
    }

    /// The color resolution of an image height.
    pub fn color_resolution_for(height: u32) -> ffi::K4aColorResolution {
        match height {
            720 => ffi::K4A_COLOR_RESOLUTION_720P,
            1080 => ffi::K4A_COLOR_RESOLUTION_1080P,
            1440 => ffi::K4A_COLOR_RESOLUTION_1440P,
            1536 => ffi::K4A_COLOR_RESOLUTION_1536P,
            2160 => ffi::K4A_COLOR_RESOLUTION_2160P,
            _ => ffi::K4A_COLOR_RESOLUTION_3072P,
        }
    }

    pub fn frame_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1) / self.fps
    }

    /// The `k4a_device_configuration_t` for this mode: synchronized captures when both streams
    /// run, so each stream entry holds a matching pair.
    pub fn device_configuration(&self) -> ffi::K4aDeviceConfiguration {
        ffi::K4aDeviceConfiguration {
            color_format: self
                .color
                .map_or(ffi::K4A_IMAGE_FORMAT_COLOR_MJPG, |c| c.format.k4a()),
            color_resolution: self.color.map_or(ffi::K4A_COLOR_RESOLUTION_OFF, |c| c.k4a),
            depth_mode: self.depth.map_or(ffi::K4A_DEPTH_MODE_OFF, |d| d.k4a),
            camera_fps: match self.fps {
                5 => ffi::K4A_FRAMES_PER_SECOND_5,
                15 => ffi::K4A_FRAMES_PER_SECOND_15,
                _ => ffi::K4A_FRAMES_PER_SECOND_30,
            },
            synchronized_images_only: self.depth.is_some() && self.color.is_some(),
            depth_delay_off_color_usec: 0,
            wired_sync_mode: ffi::K4A_WIRED_SYNC_MODE_STANDALONE,
            subordinate_delay_off_master_usec: 0,
            disable_streaming_indicator: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mode_is_nfov_unbinned_plus_720p_mjpg_at_30() {
        let m = CaptureMode::parse("nfov-unbinned", "720p", "mjpg", 30).expect("valid");
        let c = m.device_configuration();
        assert_eq!(
            (
                c.color_format,
                c.color_resolution,
                c.depth_mode,
                c.camera_fps
            ),
            (0, 1, 2, 2)
        );
        assert!(c.synchronized_images_only);
        assert_eq!(m.depth.map(|d| (d.width, d.height)), Some((640, 576)));
        assert_eq!(m.color.map(|c| (c.width, c.height)), Some((1280, 720)));
    }

    #[test]
    fn combinations_the_sdk_rejects_are_usage_errors() {
        for (d, c, f, fps, flag) in [
            ("wfov-unbinned", "720p", "mjpg", 30, "--fps 15"),
            ("nfov-unbinned", "1080p", "nv12", 30, "720p"),
            ("off", "off", "mjpg", 30, "nothing to capture"),
            ("nfov-unbinned", "720p", "yuv", 30, "--color-format"),
            ("nfov-unbinned", "720p", "mjpg", 60, "--fps 60"),
            ("passive-ir", "720p", "mjpg", 30, "IR"),
        ] {
            let err = CaptureMode::parse(d, c, f, fps).expect_err("rejected");
            assert!(err.contains(flag), "{err}");
        }
        let single = CaptureMode::parse("off", "720p", "bgra32", 15).expect("color only");
        assert!(!single.device_configuration().synchronized_images_only);
    }

    /// What `kinect capture --help` lists: the words after `label:` up to the period.
    fn listed(arg: &str, label: &str) -> Vec<String> {
        use clap::CommandFactory;
        let cmd = crate::cli::Cli::command();
        let capture = cmd
            .find_subcommand("kinect")
            .and_then(|k| k.find_subcommand("capture"))
            .expect("kinect capture");
        let help = capture
            .get_arguments()
            .find(|a| a.get_id() == arg)
            .and_then(|a| a.get_help())
            .expect("help")
            .to_string();
        let list = help.strip_prefix(label).unwrap_or_else(|| panic!("{help}"));
        list.trim_end_matches('.')
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "or")
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_help_lists_exactly_what_is_accepted() {
        let depth = listed("depth_mode", "Depth mode:");
        assert_eq!(depth, DEPTH_MODES.to_vec(), "help and DEPTH_MODES differ");
        for d in &depth {
            let color = if d == "off" { "720p" } else { "off" };
            CaptureMode::parse(d, color, "mjpg", 15)
                .unwrap_or_else(|e| panic!("--depth-mode {d} is in the help but refused: {e}"));
        }
        assert!(CaptureMode::parse("passive-ir", "off", "mjpg", 15).is_err());
        for c in listed("color", "Color resolution:") {
            CaptureMode::parse("off", &c, "mjpg", 15)
                .or_else(|e| {
                    if c == "off" {
                        Ok(CaptureMode::parse("nfov-unbinned", "off", "mjpg", 15).unwrap())
                    } else {
                        Err(e)
                    }
                })
                .unwrap_or_else(|e| panic!("--color {c} is in the help but refused: {e}"));
        }
        for f in listed("color_format", "Color format:") {
            CaptureMode::parse("off", "720p", &f, 15)
                .unwrap_or_else(|e| panic!("--color-format {f} is in the help but refused: {e}"));
        }
    }
}
