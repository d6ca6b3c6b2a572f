//! Integration tests of the core: full flows against providers faked on 127.0.0.1, tokens in
//! the real Secret Service, and one test per line of the OAuth native-app checklist that the
//! core owns (the names start with `checklist_NN`).

mod bad_input;
mod catalog;
mod checklist;
// Kills processes mid-step and limits file sizes with Unix calls.
#[cfg(unix)]
mod crashes;
mod demo;
mod discovery;
mod faults;
mod flows;
mod front_door;
mod keychain;
mod linear;
mod loopback;
mod ordering;
mod provider_shapes;
mod refresh;
mod support;
