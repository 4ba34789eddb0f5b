//! The standing adversarial suite: every attack an agent holding its passport *and* private key
//! was found to make, one test each, named after what the attacker does. Each must be denied (or
//! refused with a typed error); a test here that starts passing for the attacker is a security bug.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests

#[path = "../support/mod.rs"]
mod support;

mod identity;
mod input;
