//! Depth-engine result codes (k4aplugin.h, research/kinect.md §4.3) decoded into a cause and a
//! fix. libk4a only reports them inside log text ("... failed with error code: 204."), so the
//! SDK's log messages are scanned for them.

use std::sync::OnceLock;

/// What a depth-engine code means for the person at the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnosis {
    pub code: u32,
    pub cause: &'static str,
    pub fix: &'static str,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "depth engine error {}: {}; fix: {}",
            self.code, self.cause, self.fix
        )
    }
}

const GPU_RESTART_FIX: &str = "restart the capture (the SDK cannot recover after this); if it \
     repeats, check `nvidia-smi`/dmesg for GPU faults and lower the load on the GPU";

pub fn decode(code: u32) -> Option<Diagnosis> {
    let (cause, fix) = match code {
        108 => (
            "the depth engine plugin libdepthengine.so.2.0 was not loaded",
            "install Microsoft's `libk4a1.4` package, which puts the engine in \
             /usr/lib/x86_64-linux-gnu/libk4a1.4/; with a copied libk4a keep the engine in a \
             `libk4a1.4/` directory next to it (libk4a's RUNPATH is $ORIGIN/libk4a1.4) or add its \
             directory to LD_LIBRARY_PATH",
        ),
        204 => (
            "no usable X display: the GPU API (OpenGL through GLX) failed to start",
            "run on the desktop session or set DISPLAY (e.g. :0) and XAUTHORITY to the logged-in \
             user's X session (`xhost +SI:localuser:$USER`); over SSH or from systemd there is no \
             display unless you pass one",
        ),
        206 => (
            "the depth engine's GPU shaders failed to compile",
            "update the GPU driver (NVIDIA proprietary driver recommended); check that \
             `glxinfo -B` on this DISPLAY shows the real GPU, not llvmpipe",
        ),
        207 => (
            "an OpenGL 4.4 context could not be created",
            "install a GPU driver with OpenGL >= 4.4 (`glxinfo -B` must report core profile 4.4 or \
             newer); VMs and old Mesa/llvmpipe do not provide it; on hybrid laptops select the \
             discrete GPU (__NV_PRIME_RENDER_OFFLOAD=1 __GLX_VENDOR_LIBRARY_NAME=nvidia)",
        ),
        106 => (
            "the depth engine timed out waiting for GPU processing to complete",
            GPU_RESTART_FIX,
        ),
        208 => ("GPU processing of a depth frame timed out", GPU_RESTART_FIX),
        _ => return None,
    };
    Some(Diagnosis { code, cause, fix })
}

/// Finds a depth-engine code in an SDK log message and decodes it.
pub fn scan(message: &str) -> Option<Diagnosis> {
    static CODE: OnceLock<regex::Regex> = OnceLock::new();
    let re = CODE.get_or_init(|| regex::Regex::new(r"error code: ?(\d+)").expect("valid regex"));
    let code: u32 = re.captures(message)?.get(1)?.as_str().parse().ok()?;
    decode(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_a_cause_and_a_fix() {
        for code in [108, 204, 206, 207, 106, 208] {
            let d = decode(code).unwrap_or_else(|| panic!("{code} not decoded"));
            assert_eq!(d.code, code);
            assert!(!d.cause.is_empty() && !d.fix.is_empty());
        }
        assert_eq!(decode(0), None);
        assert_eq!(decode(301), None);
    }

    #[test]
    fn no_display_names_display_and_xauthority() {
        let d = decode(204).expect("204");
        assert!(d.cause.contains("X display"), "{}", d.cause);
        assert!(
            d.fix.contains("DISPLAY") && d.fix.contains("XAUTHORITY"),
            "{}",
            d.fix
        );
        assert!(decode(108)
            .expect("108")
            .cause
            .contains("libdepthengine.so.2.0"));
        assert!(decode(207).expect("207").cause.contains("OpenGL 4.4"));
    }

    #[test]
    fn codes_are_found_in_the_sdk_log_lines() {
        let start = "Depth engine create and initialize failed with error code: 204.";
        assert_eq!(scan(start).map(|d| d.code), Some(204));
        let run = "Depth engine process frame failed with error code: 208.";
        assert_eq!(scan(run).map(|d| d.code), Some(208));
        assert_eq!(
            scan("Loaded Depth Engine version: 2.0.0").map(|d| d.code),
            None
        );
        assert_eq!(scan("error code: 3").map(|d| d.code), None);
    }
}
