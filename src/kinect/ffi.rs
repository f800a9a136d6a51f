//! The part of libk4a's C API that devstack uses, declared by hand (research/kinect.md §5) and
//! resolved at run time with `libloading`: the SDK is not in any registry we can build against.
//! Enums are plain `i32` constants (a Rust enum holding an unknown value would be UB), handles
//! are opaque pointers, structs are `#[repr(C)]` with their layout asserted in the tests below.

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub type K4aResult = i32;
pub const K4A_RESULT_SUCCEEDED: K4aResult = 0;
pub const K4A_RESULT_FAILED: K4aResult = 1;

pub type K4aBufferResult = i32;
pub const K4A_BUFFER_RESULT_SUCCEEDED: K4aBufferResult = 0;
pub const K4A_BUFFER_RESULT_FAILED: K4aBufferResult = 1;
pub const K4A_BUFFER_RESULT_TOO_SMALL: K4aBufferResult = 2;

pub type K4aWaitResult = i32;
pub const K4A_WAIT_RESULT_SUCCEEDED: K4aWaitResult = 0;
pub const K4A_WAIT_RESULT_FAILED: K4aWaitResult = 1;
pub const K4A_WAIT_RESULT_TIMEOUT: K4aWaitResult = 2;

pub type K4aLogLevel = i32;
pub const K4A_LOG_LEVEL_CRITICAL: K4aLogLevel = 0;
pub const K4A_LOG_LEVEL_ERROR: K4aLogLevel = 1;
pub const K4A_LOG_LEVEL_WARNING: K4aLogLevel = 2;
pub const K4A_LOG_LEVEL_INFO: K4aLogLevel = 3;
pub const K4A_LOG_LEVEL_TRACE: K4aLogLevel = 4;
pub const K4A_LOG_LEVEL_OFF: K4aLogLevel = 5;

pub type K4aImageFormat = i32;
pub const K4A_IMAGE_FORMAT_COLOR_MJPG: K4aImageFormat = 0;
pub const K4A_IMAGE_FORMAT_COLOR_NV12: K4aImageFormat = 1;
pub const K4A_IMAGE_FORMAT_COLOR_YUY2: K4aImageFormat = 2;
pub const K4A_IMAGE_FORMAT_COLOR_BGRA32: K4aImageFormat = 3;
pub const K4A_IMAGE_FORMAT_DEPTH16: K4aImageFormat = 4;
pub const K4A_IMAGE_FORMAT_IR16: K4aImageFormat = 5;

pub type K4aColorResolution = i32;
pub const K4A_COLOR_RESOLUTION_OFF: K4aColorResolution = 0;
pub const K4A_COLOR_RESOLUTION_720P: K4aColorResolution = 1;
pub const K4A_COLOR_RESOLUTION_1080P: K4aColorResolution = 2;
pub const K4A_COLOR_RESOLUTION_1440P: K4aColorResolution = 3;
pub const K4A_COLOR_RESOLUTION_1536P: K4aColorResolution = 4;
pub const K4A_COLOR_RESOLUTION_2160P: K4aColorResolution = 5;
pub const K4A_COLOR_RESOLUTION_3072P: K4aColorResolution = 6;

pub type K4aDepthMode = i32;
pub const K4A_DEPTH_MODE_OFF: K4aDepthMode = 0;
pub const K4A_DEPTH_MODE_NFOV_2X2BINNED: K4aDepthMode = 1;
pub const K4A_DEPTH_MODE_NFOV_UNBINNED: K4aDepthMode = 2;
pub const K4A_DEPTH_MODE_WFOV_2X2BINNED: K4aDepthMode = 3;
pub const K4A_DEPTH_MODE_WFOV_UNBINNED: K4aDepthMode = 4;
pub const K4A_DEPTH_MODE_PASSIVE_IR: K4aDepthMode = 5;

pub type K4aFps = i32;
pub const K4A_FRAMES_PER_SECOND_5: K4aFps = 0;
pub const K4A_FRAMES_PER_SECOND_15: K4aFps = 1;
pub const K4A_FRAMES_PER_SECOND_30: K4aFps = 2;

pub type K4aWiredSyncMode = i32;
pub const K4A_WIRED_SYNC_MODE_STANDALONE: K4aWiredSyncMode = 0;

pub type K4aFirmwareBuild = i32;
pub const K4A_FIRMWARE_BUILD_RELEASE: K4aFirmwareBuild = 0;
pub const K4A_FIRMWARE_BUILD_DEBUG: K4aFirmwareBuild = 1;

pub type K4aFirmwareSignature = i32;
pub const K4A_FIRMWARE_SIGNATURE_MSFT: K4aFirmwareSignature = 0;
pub const K4A_FIRMWARE_SIGNATURE_TEST: K4aFirmwareSignature = 1;
pub const K4A_FIRMWARE_SIGNATURE_UNSIGNED: K4aFirmwareSignature = 2;

/// `K4A_DECLARE_HANDLE` makes each handle a pointer to an opaque struct.
pub type K4aDevice = *mut c_void;
pub type K4aCapture = *mut c_void;
pub type K4aImage = *mut c_void;

/// `k4a_device_configuration_t`: 36 bytes, align 4 (C `bool` is one byte plus padding).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct K4aDeviceConfiguration {
    pub color_format: K4aImageFormat,
    pub color_resolution: K4aColorResolution,
    pub depth_mode: K4aDepthMode,
    pub camera_fps: K4aFps,
    pub synchronized_images_only: bool,
    pub depth_delay_off_color_usec: i32,
    pub wired_sync_mode: K4aWiredSyncMode,
    pub subordinate_delay_off_master_usec: u32,
    pub disable_streaming_indicator: bool,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct K4aVersion {
    pub major: u32,
    pub minor: u32,
    pub iteration: u32,
}

/// `k4a_hardware_version_t`: 56 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct K4aHardwareVersion {
    pub rgb: K4aVersion,
    pub depth: K4aVersion,
    pub audio: K4aVersion,
    pub depth_sensor: K4aVersion,
    pub firmware_build: K4aFirmwareBuild,
    pub firmware_signature: K4aFirmwareSignature,
}

/// `k4a_logging_message_cb_t(void *context, k4a_log_level_t, const char *file, const int line,
/// const char *message)`.
pub type K4aLoggingMessageCb = unsafe extern "C" fn(
    context: *mut c_void,
    level: K4aLogLevel,
    file: *const c_char,
    line: c_int,
    message: *const c_char,
);

/// Library names tried, in order, when no path is configured (the soname first).
pub const DEFAULT_LIBRARY_NAMES: [&str; 3] = ["libk4a.so.1.4", "libk4a.so.1", "libk4a.so"];

/// The resolved entry points. Function pointers are copied out of the `Library`, which is kept
/// alive next to them for the life of the process (libk4a starts threads and has static
/// destructors: unloading it mid-run is unsafe).
pub struct K4a {
    pub path: String,
    _library: libloading::Library,
    pub device_get_installed_count: unsafe extern "C" fn() -> u32,
    pub set_debug_message_handler:
        unsafe extern "C" fn(Option<K4aLoggingMessageCb>, *mut c_void, K4aLogLevel) -> K4aResult,
    pub device_open: unsafe extern "C" fn(u32, *mut K4aDevice) -> K4aResult,
    pub device_close: unsafe extern "C" fn(K4aDevice),
    pub device_get_serialnum:
        unsafe extern "C" fn(K4aDevice, *mut c_char, *mut usize) -> K4aBufferResult,
    pub device_get_version: unsafe extern "C" fn(K4aDevice, *mut K4aHardwareVersion) -> K4aResult,
    pub device_start_cameras:
        unsafe extern "C" fn(K4aDevice, *const K4aDeviceConfiguration) -> K4aResult,
    pub device_stop_cameras: unsafe extern "C" fn(K4aDevice),
    pub device_get_capture: unsafe extern "C" fn(K4aDevice, *mut K4aCapture, i32) -> K4aWaitResult,
    pub capture_release: unsafe extern "C" fn(K4aCapture),
    pub capture_get_color_image: unsafe extern "C" fn(K4aCapture) -> K4aImage,
    pub capture_get_depth_image: unsafe extern "C" fn(K4aCapture) -> K4aImage,
    pub capture_get_ir_image: unsafe extern "C" fn(K4aCapture) -> K4aImage,
    /// `k4a_device_get_raw_calibration(device, uint8_t *data, size_t *size)`: the device's
    /// calibration JSON, which recordings carry as `calibration.json`.
    pub device_get_raw_calibration:
        unsafe extern "C" fn(K4aDevice, *mut u8, *mut usize) -> K4aBufferResult,
    pub image_get_buffer: unsafe extern "C" fn(K4aImage) -> *mut u8,
    pub image_get_size: unsafe extern "C" fn(K4aImage) -> usize,
    pub image_get_format: unsafe extern "C" fn(K4aImage) -> K4aImageFormat,
    pub image_get_width_pixels: unsafe extern "C" fn(K4aImage) -> c_int,
    pub image_get_height_pixels: unsafe extern "C" fn(K4aImage) -> c_int,
    pub image_get_stride_bytes: unsafe extern "C" fn(K4aImage) -> c_int,
    pub image_get_device_timestamp_usec: unsafe extern "C" fn(K4aImage) -> u64,
    pub image_release: unsafe extern "C" fn(K4aImage),
}

/// Why libk4a could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "cannot load libk4a (the Azure Kinect Sensor SDK); tried:\n{}\n\
         fix: for an Azure Kinect, install Microsoft's SDK runtime package `libk4a1.4` (it is not \
         in Debian or Ubuntu: add https://packages.microsoft.com/ubuntu/18.04/prod and \
         `apt-get install libk4a1.4`, or extract its .deb); for an Orbbec Femto, unpack Orbbec's \
         K4A wrapper (github.com/orbbec/OrbbecSDK-K4A-Wrapper releases); then point --k4a-lib / \
         DEVSTACK_K4A_LIB at that libk4a.so.1.4",
        .attempts.iter().map(|a| format!("  - {a}")).collect::<Vec<_>>().join("\n")
    )]
    NotFound { attempts: Vec<String> },
    #[error(
        "{path} was loaded but is not a usable libk4a: symbol `{symbol}` is missing ({detail}); \
         fix: point --k4a-lib at libk4a.so.1.4 from the `libk4a1.4` package (SDK 1.4.x)"
    )]
    MissingSymbol {
        path: String,
        symbol: &'static str,
        detail: String,
    },
}

/// libloading 0.9's `Display` is just "dlopen failed"; the loader's own reason (dlerror) is in
/// `source()`, so that is what is shown when present.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut reasons = Vec::new();
    let mut cause = err.source();
    while let Some(c) = cause {
        reasons.push(c.to_string());
        cause = c.source();
    }
    if reasons.is_empty() {
        err.to_string()
    } else {
        reasons.join(": ")
    }
}

static LOADED: OnceLock<K4a> = OnceLock::new();

/// Loads libk4a once per process: `explicit` (from `--k4a-lib` / `DEVSTACK_K4A_LIB`) if given,
/// else the default names through the dynamic loader's search path.
pub fn load(explicit: Option<&Path>) -> Result<&'static K4a, LoadError> {
    if let Some(k4a) = LOADED.get() {
        return Ok(k4a);
    }
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_path_buf()],
        None => DEFAULT_LIBRARY_NAMES.iter().map(PathBuf::from).collect(),
    };
    let mut attempts = Vec::new();
    for candidate in candidates {
        if explicit.is_some() && !candidate.exists() {
            attempts.push(format!(
                "{} (--k4a-lib / DEVSTACK_K4A_LIB): no such file",
                candidate.display()
            ));
            continue;
        }
        // SAFETY: loading a library runs its initialisers; libk4a's are the SDK's own.
        match unsafe { libloading::Library::new(&candidate) } {
            Ok(library) => {
                let k4a = resolve(candidate.display().to_string(), library)?;
                return Ok(LOADED.get_or_init(|| k4a));
            }
            Err(err) => {
                let shown = candidate.display().to_string();
                let reason = error_chain(&err);
                // dlerror usually starts with the path already
                let reason = reason
                    .strip_prefix(&format!("{shown}: "))
                    .unwrap_or(&reason);
                attempts.push(format!("{shown}: {reason}"));
            }
        }
    }
    Err(LoadError::NotFound { attempts })
}

fn resolve(path: String, library: libloading::Library) -> Result<K4a, LoadError> {
    /// Copies one entry point out of the library. SAFETY (for callers): `T` must be the
    /// function-pointer type that k4a.h declares for `name` (research/kinect.md §5.1).
    unsafe fn sym<T: Copy>(
        library: &libloading::Library,
        path: &str,
        name: &'static str,
    ) -> Result<T, LoadError> {
        match unsafe { library.get::<T>(name) } {
            Ok(symbol) => Ok(*symbol),
            Err(err) => Err(LoadError::MissingSymbol {
                path: path.to_string(),
                symbol: name,
                detail: error_chain(&err),
            }),
        }
    }
    let l = &library;
    let p = path.as_str();
    // SAFETY: every field's type is the k4a.h signature of the symbol it is resolved from.
    unsafe {
        Ok(K4a {
            device_get_installed_count: sym(l, p, "k4a_device_get_installed_count")?,
            set_debug_message_handler: sym(l, p, "k4a_set_debug_message_handler")?,
            device_open: sym(l, p, "k4a_device_open")?,
            device_close: sym(l, p, "k4a_device_close")?,
            device_get_serialnum: sym(l, p, "k4a_device_get_serialnum")?,
            device_get_version: sym(l, p, "k4a_device_get_version")?,
            device_start_cameras: sym(l, p, "k4a_device_start_cameras")?,
            device_stop_cameras: sym(l, p, "k4a_device_stop_cameras")?,
            device_get_capture: sym(l, p, "k4a_device_get_capture")?,
            capture_release: sym(l, p, "k4a_capture_release")?,
            capture_get_color_image: sym(l, p, "k4a_capture_get_color_image")?,
            capture_get_depth_image: sym(l, p, "k4a_capture_get_depth_image")?,
            capture_get_ir_image: sym(l, p, "k4a_capture_get_ir_image")?,
            device_get_raw_calibration: sym(l, p, "k4a_device_get_raw_calibration")?,
            image_get_buffer: sym(l, p, "k4a_image_get_buffer")?,
            image_get_size: sym(l, p, "k4a_image_get_size")?,
            image_get_format: sym(l, p, "k4a_image_get_format")?,
            image_get_width_pixels: sym(l, p, "k4a_image_get_width_pixels")?,
            image_get_height_pixels: sym(l, p, "k4a_image_get_height_pixels")?,
            image_get_stride_bytes: sym(l, p, "k4a_image_get_stride_bytes")?,
            image_get_device_timestamp_usec: sym(l, p, "k4a_image_get_device_timestamp_usec")?,
            image_release: sym(l, p, "k4a_image_release")?,
            path,
            _library: library,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn device_configuration_matches_the_c_layout() {
        assert_eq!(size_of::<K4aDeviceConfiguration>(), 36);
        assert_eq!(align_of::<K4aDeviceConfiguration>(), 4);
        assert_eq!(offset_of!(K4aDeviceConfiguration, color_format), 0);
        assert_eq!(offset_of!(K4aDeviceConfiguration, color_resolution), 4);
        assert_eq!(offset_of!(K4aDeviceConfiguration, depth_mode), 8);
        assert_eq!(offset_of!(K4aDeviceConfiguration, camera_fps), 12);
        assert_eq!(
            offset_of!(K4aDeviceConfiguration, synchronized_images_only),
            16
        );
        assert_eq!(
            offset_of!(K4aDeviceConfiguration, depth_delay_off_color_usec),
            20
        );
        assert_eq!(offset_of!(K4aDeviceConfiguration, wired_sync_mode), 24);
        assert_eq!(
            offset_of!(K4aDeviceConfiguration, subordinate_delay_off_master_usec),
            28
        );
        assert_eq!(
            offset_of!(K4aDeviceConfiguration, disable_streaming_indicator),
            32
        );
    }

    #[test]
    fn hardware_version_matches_the_c_layout() {
        assert_eq!(size_of::<K4aVersion>(), 12);
        assert_eq!(size_of::<K4aHardwareVersion>(), 56);
        assert_eq!(offset_of!(K4aHardwareVersion, rgb), 0);
        assert_eq!(offset_of!(K4aHardwareVersion, depth), 12);
        assert_eq!(offset_of!(K4aHardwareVersion, audio), 24);
        assert_eq!(offset_of!(K4aHardwareVersion, depth_sensor), 36);
        assert_eq!(offset_of!(K4aHardwareVersion, firmware_build), 48);
        assert_eq!(offset_of!(K4aHardwareVersion, firmware_signature), 52);
    }

    #[test]
    fn handles_and_enums_have_the_c_sizes() {
        assert_eq!(size_of::<K4aDevice>(), size_of::<usize>());
        assert_eq!(size_of::<K4aImageFormat>(), 4);
        assert_eq!(size_of::<Option<K4aLoggingMessageCb>>(), size_of::<usize>());
    }

    #[test]
    fn enum_values_match_k4atypes_h() {
        assert_eq!(
            (K4A_RESULT_SUCCEEDED, K4A_RESULT_FAILED),
            (0, 1),
            "k4a_result_t"
        );
        assert_eq!(
            (
                K4A_BUFFER_RESULT_SUCCEEDED,
                K4A_BUFFER_RESULT_FAILED,
                K4A_BUFFER_RESULT_TOO_SMALL
            ),
            (0, 1, 2)
        );
        assert_eq!(
            (
                K4A_WAIT_RESULT_SUCCEEDED,
                K4A_WAIT_RESULT_FAILED,
                K4A_WAIT_RESULT_TIMEOUT
            ),
            (0, 1, 2)
        );
        assert_eq!(
            [
                K4A_LOG_LEVEL_CRITICAL,
                K4A_LOG_LEVEL_ERROR,
                K4A_LOG_LEVEL_WARNING,
                K4A_LOG_LEVEL_INFO,
                K4A_LOG_LEVEL_TRACE,
                K4A_LOG_LEVEL_OFF
            ],
            [0, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            [
                K4A_IMAGE_FORMAT_COLOR_MJPG,
                K4A_IMAGE_FORMAT_COLOR_NV12,
                K4A_IMAGE_FORMAT_COLOR_YUY2,
                K4A_IMAGE_FORMAT_COLOR_BGRA32,
                K4A_IMAGE_FORMAT_DEPTH16,
                K4A_IMAGE_FORMAT_IR16
            ],
            [0, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            [
                K4A_COLOR_RESOLUTION_OFF,
                K4A_COLOR_RESOLUTION_720P,
                K4A_COLOR_RESOLUTION_1080P,
                K4A_COLOR_RESOLUTION_1440P,
                K4A_COLOR_RESOLUTION_1536P,
                K4A_COLOR_RESOLUTION_2160P,
                K4A_COLOR_RESOLUTION_3072P
            ],
            [0, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(
            [
                K4A_DEPTH_MODE_OFF,
                K4A_DEPTH_MODE_NFOV_2X2BINNED,
                K4A_DEPTH_MODE_NFOV_UNBINNED,
                K4A_DEPTH_MODE_WFOV_2X2BINNED,
                K4A_DEPTH_MODE_WFOV_UNBINNED,
                K4A_DEPTH_MODE_PASSIVE_IR
            ],
            [0, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            [
                K4A_FRAMES_PER_SECOND_5,
                K4A_FRAMES_PER_SECOND_15,
                K4A_FRAMES_PER_SECOND_30
            ],
            [0, 1, 2]
        );
        assert_eq!(K4A_WIRED_SYNC_MODE_STANDALONE, 0);
        assert_eq!(
            (K4A_FIRMWARE_BUILD_RELEASE, K4A_FIRMWARE_BUILD_DEBUG),
            (0, 1)
        );
        assert_eq!(
            (
                K4A_FIRMWARE_SIGNATURE_MSFT,
                K4A_FIRMWARE_SIGNATURE_TEST,
                K4A_FIRMWARE_SIGNATURE_UNSIGNED
            ),
            (0, 1, 2)
        );
    }

    #[test]
    fn missing_library_error_names_every_attempt_and_the_package() {
        let err = match load(Some(Path::new("/nonexistent/libk4a.so.1.4"))) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a nonexistent path loaded"),
        };
        assert!(err.contains("/nonexistent/libk4a.so.1.4"), "{err}");
        assert!(err.contains("no such file"), "{err}");
        assert!(err.contains("libk4a1.4"), "{err}");
    }
}
