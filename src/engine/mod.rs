//! Everything that talks to Docker.
