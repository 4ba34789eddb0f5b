//! Empty: the crate has a build script only so that its `[build-dependencies]` feature pin
//! (see Cargo.toml) takes part in feature resolution.

fn main() {}
