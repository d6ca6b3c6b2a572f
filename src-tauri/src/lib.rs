//! Latchkey: connects a person's accounts at OAuth providers and keeps them connected.
//!
//! [`core`] is plain Rust (no Tauri types); the desktop shell lives in `main.rs`.

pub mod core;
pub mod demo;
