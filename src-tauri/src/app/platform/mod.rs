//! One architecture per platform family, each in a file named for it, behind the same few
//! functions, so that the window's start-up (`app/mod.rs`) and its parts (`backend.rs`,
//! `window.rs`) carry no `cfg` of their own for it:
//!
//! - `linux.rs`: the window is a client of `latchkey-resident`, which holds the accounts and
//!   answers it over the session bus; the window's process ends with its window
//!   (docs/decisions/0001-the-resident-holds-the-accounts.md).
//! - `in_process.rs`: the window's process holds the core and runs what `latchkey-resident` runs
//!   on Linux beside the window (macOS, Windows).
//!
//! Each gives: `Holder` (where the window's requests and sign-in callbacks go, and how Latchkey
//! quits), `prepare` (the builder before set-up), `setup`, `page_loaded`, `window_destroyed`,
//! `keeps_running` (whether the process outlives its window) and `cannot_build`.

// The feature `in-process` selects the in-process architecture on Linux too, so that it runs
// under test here (tests/e2e/in_process.rs), not only compiled for Windows.
#[cfg(any(not(target_os = "linux"), feature = "in-process"))]
mod in_process;
#[cfg(all(target_os = "linux", not(feature = "in-process")))]
mod linux;

#[cfg(any(not(target_os = "linux"), feature = "in-process"))]
pub use in_process::*;
#[cfg(all(target_os = "linux", not(feature = "in-process")))]
pub use linux::*;
