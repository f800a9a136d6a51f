//! The `calibration.json` attachment. A camera's comes from `k4a_device_get_raw_calibration`
//! (the device's own JSON, as k4arecorder stores it). Synthetic frames have no device, so they
//! get nominal values in the same schema — the fields the SDK's parser requires
//! (src/calibration/calibration.c: cameras D0 and PV0, gyro and accelerometer) — marked as
//! synthetic in its `Metadata`, so a playback API can open the file and nobody mistakes it
//! for a measured calibration.

use serde_json::{json, Value};

/// Brown–Conrady-style parameters as the SDK stores them: cx, cy, fx, fy normalised by the
/// sensor size, then k1..k6, codx, cody, p2, p1, metric radius (15 values, no distortion).
fn intrinsics(cx: f64, cy: f64, fx: f64, fy: f64, radius: f64) -> Value {
    let mut p = vec![cx, cy, fx, fy];
    p.extend(zeros(10));
    p.push(radius);
    json!({
        "ModelParameterCount": 15,
        "ModelParameters": p,
        "ModelType": "CALIBRATION_LensDistortionModelRational6KT"
    })
}

fn rt(rotation: [f64; 9], translation_m: [f64; 3]) -> Value {
    json!({ "Rotation": rotation, "Translation": translation_m })
}

fn zeros(n: usize) -> Vec<f64> {
    vec![0.0; n]
}

const IDENTITY: [f64; 9] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

fn camera(
    location: &str,
    purpose: &str,
    width: u32,
    height: u32,
    intr: Value,
    extr: Value,
) -> Value {
    json!({
        "Intrinsics": intr,
        "Location": location,
        "Purpose": purpose,
        "MetricRadius": 1.74,
        "Rt": extr,
        "SensorHeight": height,
        "SensorWidth": width,
        "Shutter": "CALIBRATION_ShutterTypeUndefined",
        "ThermalAdjustmentParams": { "Params": zeros(12) }
    })
}

/// An IMU without bias or noise: the mixing matrix is the identity (temperature model
/// coefficient 0 of each of the 9 entries), everything else 0.
fn inertial(sensor_type: &str) -> Value {
    let mut mixing = zeros(36);
    for i in [0, 4, 8] {
        mixing[i * 4] = 1.0;
    }
    json!({
        "BiasTemperatureModel": zeros(12),
        "BiasUncertainty": zeros(3),
        "Id": "CALIBRATION_InertialSensorId_SYNTHETIC",
        "MixingMatrixTemperatureModel": mixing,
        "ModelTypeMask": 16,
        "Noise": zeros(6),
        "Rt": rt(IDENTITY, [0.0; 3]),
        "SecondOrderScaling": zeros(9),
        "SensorType": sensor_type,
        "TemperatureBounds": [5.0, 60.0],
        "TemperatureC": 0.0
    })
}

/// The synthetic calibration: a depth camera with a 1024×1024 sensor and a color camera with
/// a 4096×3072 one, both pinhole with their principal point in the middle and focal lengths
/// near the real camera's, the color camera 32 mm to the side.
pub fn synthetic() -> Vec<u8> {
    let value = json!({
        "CalibrationInformation": {
            "Cameras": [
                camera(
                    "CALIBRATION_CameraLocationD0",
                    "CALIBRATION_CameraPurposeDepth",
                    1024,
                    1024,
                    intrinsics(0.5, 0.5, 0.492, 0.492, 1.74),
                    rt(IDENTITY, [0.0; 3]),
                ),
                camera(
                    "CALIBRATION_CameraLocationPV0",
                    "CALIBRATION_CameraPurposePhotoVideo",
                    4096,
                    3072,
                    intrinsics(0.5, 0.5, 0.47, 0.627, 0.0),
                    rt(IDENTITY, [-0.032, -0.002, 0.004]),
                ),
            ],
            "InertialSensors": [
                inertial("CALIBRATION_InertialSensorType_Gyro"),
                inertial("CALIBRATION_InertialSensorType_Accelerometer"),
            ],
            "Metadata": {
                "SerialId": "synthetic",
                "Notes": "devstack synthetic source: nominal values, not a device calibration",
                "Synthetic": true
            }
        }
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// Whether a calibration blob says it is synthetic (the note above).
pub fn is_synthetic(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v["CalibrationInformation"]["Metadata"]["Synthetic"].as_bool())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field and array length the SDK's parser requires (calibration.c).
    #[test]
    fn the_synthetic_calibration_has_what_the_sdk_parser_reads() {
        let v: Value = serde_json::from_slice(&synthetic()).unwrap();
        let info = &v["CalibrationInformation"];
        let cams = info["Cameras"].as_array().unwrap();
        for loc in [
            "CALIBRATION_CameraLocationD0",
            "CALIBRATION_CameraLocationPV0",
        ] {
            let c = cams.iter().find(|c| c["Location"] == loc).unwrap();
            assert_eq!(
                c["Intrinsics"]["ModelParameters"].as_array().unwrap().len(),
                15
            );
            assert!(c["Intrinsics"]["ModelParameterCount"].is_number());
            assert!(c["Intrinsics"]["ModelType"].is_string());
            assert_eq!(c["Rt"]["Rotation"].as_array().unwrap().len(), 9);
            assert_eq!(c["Rt"]["Translation"].as_array().unwrap().len(), 3);
            for k in ["SensorHeight", "SensorWidth", "MetricRadius"] {
                assert!(c[k].is_number(), "{k}");
            }
        }
        let imus = info["InertialSensors"].as_array().unwrap();
        for t in [
            "CALIBRATION_InertialSensorType_Gyro",
            "CALIBRATION_InertialSensorType_Accelerometer",
        ] {
            let s = imus.iter().find(|s| s["SensorType"] == t).unwrap();
            for (k, n) in [
                ("BiasTemperatureModel", 12),
                ("BiasUncertainty", 3),
                ("MixingMatrixTemperatureModel", 36),
                ("Noise", 6),
                ("SecondOrderScaling", 9),
                ("TemperatureBounds", 2),
            ] {
                assert_eq!(s[k].as_array().unwrap().len(), n, "{t} {k}");
            }
            assert!(s["ModelTypeMask"].is_number() && s["TemperatureC"].is_number());
        }
        assert!(is_synthetic(&synthetic()));
        assert!(!is_synthetic(b"{\"CalibrationInformation\": {}}"));
    }
}
