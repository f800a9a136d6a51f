//! `gpu.driver`, `gpu.devices`, `gpu.selection` from NVML (no NVIDIA library → skip).

use serde_json::json;

use super::{Check, Status};
use crate::gpu::{GpuInventory, GpuSelection, GpuStatus};

/// The pose image is built on CUDA 12.1: the driver must support at least that.
pub const NEEDED_CUDA: (u32, u32) = (12, 1);

pub fn driver(inv: &GpuInventory) -> Check {
    let Some(driver) = &inv.driver_version else {
        let why = inv
            .unavailable_reason
            .clone()
            .unwrap_or_else(|| "no NVIDIA library".into());
        return Check::new("gpu.driver", Status::Skip, format!("no NVIDIA driver visible ({why}); the stack can run CPU-only with DEVSTACK_GPU=none"));
    };
    let cuda = inv.cuda_driver_version.clone().unwrap_or_default();
    let parsed = cuda
        .split_once('.')
        .map(|(a, b)| (a.parse::<u32>().unwrap_or(0), b.parse::<u32>().unwrap_or(0)))
        .unwrap_or((0, 0));
    let details = json!({ "driver": driver, "cuda": cuda });
    if parsed < NEEDED_CUDA {
        return Check::new("gpu.driver", Status::Fail, format!("NVIDIA driver {driver} supports CUDA {cuda}; the pose image needs CUDA {}.{}", NEEDED_CUDA.0, NEEDED_CUDA.1))
            .fix("install NVIDIA driver 530 or newer (`sudo ubuntu-drivers install` or your distribution's nvidia-driver package), then reboot")
            .details(details);
    }
    Check::new(
        "gpu.driver",
        Status::Ok,
        format!("NVIDIA driver {driver}, CUDA {cuda}"),
    )
    .details(details)
}

pub fn devices(inv: &GpuInventory, status: &Result<Vec<GpuStatus>, String>) -> Check {
    match status {
        Err(why) => Check::new("gpu.devices", Status::Skip, format!("no GPU listed: {why}")),
        Ok(devs) if devs.is_empty() => {
            Check::new("gpu.devices", Status::Warn, "NVML works but lists no GPU")
                .fix("check `nvidia-smi`; the GPU may be held by vfio or disabled in the BIOS")
        }
        Ok(devs) => {
            let list: Vec<String> = devs
                .iter()
                .map(|d| {
                    format!(
                        "{}: {} {} ({} / {} MiB used, {}% busy, {} processes)",
                        d.index,
                        d.name,
                        d.uuid,
                        d.memory_used_mib,
                        d.memory_total_mib,
                        d.utilization_pct
                            .map(|u| u.to_string())
                            .unwrap_or_else(|| "?".into()),
                        d.processes.len()
                    )
                })
                .collect();
            let _ = inv;
            Check::new("gpu.devices", Status::Ok, list.join("; ")).details(json!(devs))
        }
    }
}

pub fn selection(inv: &GpuInventory, sel: &GpuSelection, raw: Option<&str>) -> Check {
    let from = raw.map(|r| format!(" (from {r})")).unwrap_or_default();
    match sel {
        GpuSelection::None => Check::new(
            "gpu.selection",
            Status::Ok,
            format!("CPU only: no GPU requested{from}"),
        ),
        GpuSelection::All if inv.available => Check::new(
            "gpu.selection",
            Status::Ok,
            format!("all {} GPUs{from}", inv.devices.len()),
        ),
        GpuSelection::All => Check::new(
            "gpu.selection",
            Status::Warn,
            format!("all GPUs requested{from}, but none is visible here"),
        )
        .fix(
            "set DEVSTACK_GPU=none for a CPU-only stack, or fix the NVIDIA driver (see gpu.driver)",
        ),
        GpuSelection::Ids(ids) => {
            if !inv.available {
                return Check::new(
                    "gpu.selection",
                    Status::Warn,
                    format!(
                        "GPUs {} requested{from}; cannot verify them without NVML",
                        ids.join(",")
                    ),
                );
            }
            let missing: Vec<&String> = ids
                .iter()
                .filter(|id| {
                    !inv.devices
                        .iter()
                        .any(|d| d.index.to_string() == **id || d.uuid.starts_with(id.as_str()))
                })
                .collect();
            if missing.is_empty() {
                Check::new(
                    "gpu.selection",
                    Status::Ok,
                    format!("GPUs {}{from}", ids.join(",")),
                )
            } else {
                let have: Vec<String> = inv
                    .devices
                    .iter()
                    .map(|d| format!("{} ({})", d.index, d.uuid))
                    .collect();
                Check::new(
                    "gpu.selection",
                    Status::Fail,
                    format!(
                        "selected GPU {} does not exist{from}; this machine has {}",
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        have.join(", ")
                    ),
                )
                .fix(
                    "set DEVSTACK_GPU to one of those indices or UUIDs (or `all` / `none`) in .env",
                )
            }
        }
    }
}
