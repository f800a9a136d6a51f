//! Azure Kinect (and Orbbec Femto) host capture: libk4a via libloading, capture, Redis
//! publishing, the synthetic source, and recordings (`record`, `--source replay:`).
//!
//! The depth engine needs the host's OpenGL 4.4 / X11 context, so the camera runs on the host
//! and its frames reach the containers through a Redis stream (one entry per capture).

pub mod capture;
pub mod depth_engine;
pub mod device;
pub mod ffi;
pub mod frame;
pub mod handoff;
pub mod mode;
pub mod publisher;
pub mod record;
pub mod recording;
pub mod replay;
pub mod resp;
pub mod source;
pub mod stats;
pub mod synthetic;
pub mod usb;
