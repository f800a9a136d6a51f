//! An Azure Kinect opened through libk4a: the camera source of `kinect capture` and the facts
//! `kinect info` prints. libk4a's log messages are routed into tracing, and depth-engine codes
//! found in them are kept to explain a failure.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Once;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::depth_engine::{self, Diagnosis};
use super::ffi::{self, K4a};
use super::frame::{wall_clock_ns, Frame, Image};
use super::mode::CaptureMode;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "no camera found (k4a_device_get_installed_count() = 0); fix: plug the camera into a \
         USB3 port directly (no hub or dock) with its power supply, and use the libk4a that \
         serves it (Microsoft's SDK for an Azure Kinect, Orbbec's K4A wrapper for a Femto), then \
         check `devstack kinect info` and `devstack doctor`"
    )]
    NoDevice,
    #[error(
        "camera {index} is on the bus ({count} found) but k4a_device_open failed; fix: \
         another process may hold it (k4aviewer, a container, a stale `devstack kinect capture`: \
         only one may open it), or the udev rule is missing: `sudo devstack kinect install-udev` \
         and replug"
    )]
    OpenFailed { index: u32, count: u32 },
    #[error("{}", start_failed(.0))]
    StartFailed(Option<Diagnosis>),
    #[error("{}", capture_failed(.0))]
    CaptureFailed(Option<Diagnosis>),
    #[error(
        "no capture from the camera for {0:?} (timeouts only); fix: check the USB3 connection \
         and `usbcore.usbfs_memory_mb` (devstack doctor), then restart the capture"
    )]
    Silent(Duration),
    #[error("k4a_device_get_{0} failed")]
    Query(&'static str),
}

fn start_failed(d: &Option<Diagnosis>) -> String {
    match d {
        Some(d) => format!("k4a_device_start_cameras failed: {d}"),
        None => "k4a_device_start_cameras failed (see the SDK messages above); fix: check that \
                 DISPLAY/XAUTHORITY reach an X session with OpenGL 4.4 and that the camera is on \
                 USB3 (`devstack kinect info`, `devstack doctor`)"
            .into(),
    }
}

fn capture_failed(d: &Option<Diagnosis>) -> String {
    match d {
        Some(d) => format!("k4a_device_get_capture failed, streaming ended: {d}"),
        None => "k4a_device_get_capture failed, streaming ended (see the SDK messages above); \
                 the cameras were stopped; restart the capture (the supervisor does this with \
                 `restart: on-failure`)"
            .into(),
    }
}

/// The last depth-engine code seen in the SDK's log (0 = none).
static LAST_ENGINE_CODE: AtomicU32 = AtomicU32::new(0);

fn last_diagnosis() -> Option<Diagnosis> {
    depth_engine::decode(LAST_ENGINE_CODE.load(Relaxed))
}

/// Called by libk4a on any of its threads. It must not unwind into C (that would abort), so
/// everything runs under `catch_unwind` and failures are ignored.
unsafe extern "C" fn on_sdk_message(
    _context: *mut c_void,
    level: ffi::K4aLogLevel,
    file: *const c_char,
    line: c_int,
    message: *const c_char,
) {
    let _ = std::panic::catch_unwind(|| {
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: libk4a passes NUL-terminated strings valid for this call.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        let (message, file) = (text(message), text(file));
        match level {
            ffi::K4A_LOG_LEVEL_CRITICAL | ffi::K4A_LOG_LEVEL_ERROR => {
                tracing::error!("libk4a: {message} ({file}:{line})")
            }
            ffi::K4A_LOG_LEVEL_WARNING => tracing::warn!("libk4a: {message} ({file}:{line})"),
            ffi::K4A_LOG_LEVEL_INFO => tracing::info!("libk4a: {message}"),
            _ => tracing::trace!("libk4a: {message} ({file}:{line})"),
        }
        if let Some(d) = depth_engine::scan(&message) {
            LAST_ENGINE_CODE.store(d.code, Relaxed);
            tracing::error!("{d}");
        }
    });
}

/// Routes libk4a's messages into our log. Must run before the first `k4a_device_open` (that
/// also turns the SDK's own stdout logging off); the SDK accepts one handler per process.
pub fn route_sdk_log(k4a: &K4a) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the callback is a plain extern "C" fn that never unwinds; no context pointer.
        let r = unsafe {
            (k4a.set_debug_message_handler)(
                Some(on_sdk_message),
                std::ptr::null_mut(),
                ffi::K4A_LOG_LEVEL_INFO,
            )
        };
        if r != ffi::K4A_RESULT_SUCCEEDED {
            tracing::warn!("libk4a refused the log handler; its messages go to its own stdout");
        }
    });
}

pub fn installed_count(k4a: &K4a) -> u32 {
    // SAFETY: no arguments; enumerates USB without opening anything.
    unsafe { (k4a.device_get_installed_count)() }
}

pub struct Device {
    k4a: &'static K4a,
    handle: ffi::K4aDevice,
    streaming: bool,
}

// SAFETY: a k4a device handle may be used from any thread (one at a time here: it is owned).
unsafe impl Send for Device {}

impl Device {
    pub fn open(k4a: &'static K4a, index: u32) -> Result<Self, DeviceError> {
        route_sdk_log(k4a);
        let count = installed_count(k4a);
        if count == 0 {
            return Err(DeviceError::NoDevice);
        }
        let mut handle: ffi::K4aDevice = std::ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer.
        let r = unsafe { (k4a.device_open)(index, &mut handle) };
        if r != ffi::K4A_RESULT_SUCCEEDED || handle.is_null() {
            return Err(DeviceError::OpenFailed { index, count });
        }
        Ok(Device {
            k4a,
            handle,
            streaming: false,
        })
    }

    pub fn serial(&self) -> Result<String, DeviceError> {
        let mut size = 0usize;
        // SAFETY: the size query with a null buffer is the documented first step.
        let r = unsafe {
            (self.k4a.device_get_serialnum)(self.handle, std::ptr::null_mut(), &mut size)
        };
        if r != ffi::K4A_BUFFER_RESULT_TOO_SMALL || size == 0 {
            return Err(DeviceError::Query("serialnum"));
        }
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` holds `size` bytes, as the SDK asked.
        let r = unsafe {
            (self.k4a.device_get_serialnum)(self.handle, buf.as_mut_ptr().cast(), &mut size)
        };
        if r != ffi::K4A_BUFFER_RESULT_SUCCEEDED {
            return Err(DeviceError::Query("serialnum"));
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    pub fn version(&self) -> Result<ffi::K4aHardwareVersion, DeviceError> {
        let mut v = ffi::K4aHardwareVersion::default();
        // SAFETY: `v` is a valid out-pointer of the C layout.
        match unsafe { (self.k4a.device_get_version)(self.handle, &mut v) } {
            ffi::K4A_RESULT_SUCCEEDED => Ok(v),
            _ => Err(DeviceError::Query("version")),
        }
    }

    /// The device's calibration JSON (what recordings attach as `calibration.json`).
    pub fn raw_calibration(&self) -> Result<Vec<u8>, DeviceError> {
        let mut size = 0usize;
        // SAFETY: the size query with a null buffer is the documented first step.
        let r = unsafe {
            (self.k4a.device_get_raw_calibration)(self.handle, std::ptr::null_mut(), &mut size)
        };
        if r != ffi::K4A_BUFFER_RESULT_TOO_SMALL || size == 0 {
            return Err(DeviceError::Query("raw_calibration"));
        }
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` holds `size` bytes, as the SDK asked.
        let r = unsafe {
            (self.k4a.device_get_raw_calibration)(self.handle, buf.as_mut_ptr(), &mut size)
        };
        if r != ffi::K4A_BUFFER_RESULT_SUCCEEDED {
            return Err(DeviceError::Query("raw_calibration"));
        }
        buf.truncate(size);
        // k4arecorder drops the terminating NUL before attaching it
        if buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(buf)
    }

    fn start(&mut self, mode: &CaptureMode) -> Result<(), DeviceError> {
        LAST_ENGINE_CODE.store(0, Relaxed);
        let config = mode.device_configuration();
        // SAFETY: `config` has the C layout and lives across the call.
        let r = unsafe { (self.k4a.device_start_cameras)(self.handle, &config) };
        if r != ffi::K4A_RESULT_SUCCEEDED {
            return Err(DeviceError::StartFailed(last_diagnosis()));
        }
        self.streaming = true;
        Ok(())
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: the handle is open; every capture was released by `K4aSource::next_frame`.
        unsafe {
            if self.streaming {
                (self.k4a.device_stop_cameras)(self.handle);
            }
            (self.k4a.device_close)(self.handle);
        }
    }
}

/// An image handle released when it goes out of scope.
struct ImageRef<'a> {
    k4a: &'a K4a,
    handle: ffi::K4aImage,
}

impl Drop for ImageRef<'_> {
    fn drop(&mut self) {
        // SAFETY: each `k4a_capture_get_*_image` reference is released exactly once.
        unsafe { (self.k4a.image_release)(self.handle) }
    }
}

impl ImageRef<'_> {
    /// Copies the pixels out, packing rows when the SDK pads them (`bytes_per_pixel` 0:
    /// compressed, copied whole).
    fn copy(&self, bytes_per_pixel: usize) -> Image {
        let k = self.k4a;
        // SAFETY: the handle is valid; the buffer holds `size` bytes while we hold the image.
        unsafe {
            let width = (k.image_get_width_pixels)(self.handle).max(0) as usize;
            let height = (k.image_get_height_pixels)(self.handle).max(0) as usize;
            let stride = (k.image_get_stride_bytes)(self.handle).max(0) as usize;
            let size = (k.image_get_size)(self.handle);
            let ptr = (k.image_get_buffer)(self.handle);
            let buffer: &[u8] = if ptr.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(ptr, size)
            };
            let row = width * bytes_per_pixel;
            let data = if bytes_per_pixel == 0 || stride == row || stride == 0 {
                Bytes::copy_from_slice(buffer)
            } else {
                let mut packed = Vec::with_capacity(row * height);
                for r in buffer.chunks(stride).take(height) {
                    packed.extend_from_slice(&r[..row.min(r.len())]);
                }
                Bytes::from(packed)
            };
            Image {
                data,
                width: width as u32,
                height: height as u32,
                device_ts_usec: (k.image_get_device_timestamp_usec)(self.handle),
            }
        }
    }
}

/// What a recording stores about the camera it came from.
#[derive(Debug, Clone, Default)]
pub struct DeviceFacts {
    pub serial: Option<String>,
    /// (color, depth) firmware versions, dotted.
    pub firmware: Option<(String, String)>,
    pub calibration: Option<Vec<u8>>,
}

/// The camera as a frame source for the capture loop.
pub struct K4aSource {
    device: Device,
    mode: CaptureMode,
    /// Whether IR images are copied out too (recordings only: the stream carries no IR).
    ir: bool,
    pub facts: DeviceFacts,
    last_capture: Option<Instant>,
    started: Instant,
}

/// The first capture can take seconds (depth engine start); then a few frame periods.
const FIRST_CAPTURE_TIMEOUT: Duration = Duration::from_secs(4);
const LATER_TIMEOUT_PERIODS: u32 = 5;
/// Timeouts are retried; this long without any capture ends the run (the supervisor restarts).
const MAX_SILENCE: Duration = Duration::from_secs(10);

impl K4aSource {
    pub fn start(k4a: &'static K4a, mode: CaptureMode, ir: bool) -> Result<Self, DeviceError> {
        let mut device = Device::open(k4a, 0)?;
        let dotted = |v: ffi::K4aVersion| format!("{}.{}.{}", v.major, v.minor, v.iteration);
        let mut facts = DeviceFacts::default();
        match (device.serial(), device.version()) {
            (Ok(serial), Ok(v)) => {
                tracing::info!(
                    "camera {serial}: firmware rgb {} depth {}",
                    dotted(v.rgb),
                    dotted(v.depth)
                );
                facts.serial = Some(serial);
                facts.firmware = Some((dotted(v.rgb), dotted(v.depth)));
            }
            _ => tracing::warn!("could not read the camera's serial number or firmware version"),
        }
        if ir {
            match device.raw_calibration() {
                Ok(c) => facts.calibration = Some(c),
                Err(e) => tracing::warn!("the recording gets no calibration: {e}"),
            }
        }
        device.start(&mode)?;
        Ok(K4aSource {
            device,
            mode,
            ir,
            facts,
            last_capture: None,
            started: Instant::now(),
        })
    }

    /// The next capture; `Ok(None)` on a timeout (the caller counts it and retries).
    pub fn next_frame(&mut self, seq: u64) -> Result<Option<Frame>, DeviceError> {
        let timeout = match self.last_capture {
            None => FIRST_CAPTURE_TIMEOUT,
            Some(_) => self.mode.frame_period() * LATER_TIMEOUT_PERIODS,
        };
        let k = self.device.k4a;
        let mut capture: ffi::K4aCapture = std::ptr::null_mut();
        // SAFETY: valid device handle and out-pointer.
        let r = unsafe {
            (k.device_get_capture)(self.device.handle, &mut capture, timeout.as_millis() as i32)
        };
        match r {
            ffi::K4A_WAIT_RESULT_SUCCEEDED => {}
            ffi::K4A_WAIT_RESULT_TIMEOUT => {
                let silent = self.last_capture.unwrap_or(self.started).elapsed();
                if silent > MAX_SILENCE {
                    return Err(DeviceError::Silent(silent));
                }
                return Ok(None);
            }
            _ => return Err(DeviceError::CaptureFailed(last_diagnosis())),
        }
        let host_ts_ns = wall_clock_ns();
        let captured_at = Instant::now();
        self.last_capture = Some(captured_at);
        let image = |h: ffi::K4aImage| (!h.is_null()).then_some(ImageRef { k4a: k, handle: h });
        // SAFETY: the capture is valid until released below; each image holds its own reference.
        let (depth, color, ir) = unsafe {
            let depth = image((k.capture_get_depth_image)(capture));
            let color = image((k.capture_get_color_image)(capture));
            let ir = if self.ir {
                image((k.capture_get_ir_image)(capture))
            } else {
                None
            };
            (k.capture_release)(capture);
            (depth, color, ir)
        };
        let depth = depth.map(|d| d.copy(2));
        let ir = ir.map(|i| i.copy(2));
        let color = self.mode.color.and_then(|c| {
            let bpp = match c.format {
                super::mode::ColorFormat::Bgra32 => 4,
                super::mode::ColorFormat::Yuy2 => 2,
                // MJPG is compressed; NV12's two planes are copied as delivered
                super::mode::ColorFormat::Mjpg | super::mode::ColorFormat::Nv12 => 0,
            };
            color.map(|img| (img.copy(bpp), c.format))
        });
        let device_ts_usec = depth
            .as_ref()
            .or(color.as_ref().map(|(img, _)| img))
            .map_or(0, |img| img.device_ts_usec);
        Ok(Some(Frame {
            seq,
            device_ts_usec,
            host_ts_ns,
            captured_at,
            depth,
            color,
            ir,
        }))
    }
}
