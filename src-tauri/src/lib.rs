//! Latchkey: connects a person's accounts at OAuth providers and keeps them connected.
//!
//! Everything that decides lives in `latchkey-core` (no Tauri); this crate is the desktop shell
//! ([`app`]) and the command line ([`cli`]), both calling the core's one front door.

pub mod app;
pub mod cli;
