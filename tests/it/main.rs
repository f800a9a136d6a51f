//! The one integration-test binary. Topic modules below; shared helpers in `common`.
