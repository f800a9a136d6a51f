//! The one integration-test binary. Topic modules below; shared helpers in `common`.

mod adoption;
mod attached;
mod buildkit;
mod chaos;
mod common;
mod compose_cases;
mod compose_spec;
mod core;
mod dash;
mod doctor;
mod engine;
mod errors;
mod flags;
mod fuzz;
mod gpu;
mod graph;
mod images;
mod kinect;
mod logs;
mod private_engine;
mod recordings;
mod remote;
mod stack;
mod supervisor;
mod verbs;
mod watch;
