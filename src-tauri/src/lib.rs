//! Latchkey: connects a person's accounts at OAuth providers and keeps them connected.
//!
//! [`core`], [`demo`], [`settings`] and [`cli`] are plain Rust, with no Tauri types; [`app`] is
//! the desktop shell.

pub mod app;
pub mod cli;
pub mod core;
pub mod demo;
pub mod settings;
