//! Preflight checks: one check per file or group, each a pure function of a sysroot and probes.
