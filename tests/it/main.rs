//! The one integration-test binary. Topic modules below; shared helpers in `common`.

mod doctor;
mod kinect;
mod stack;
