//! Host processes, auto-heal, background mode.
