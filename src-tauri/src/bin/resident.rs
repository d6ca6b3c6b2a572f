//! `latchkey-resident`: Latchkey with its window closed. It uses only `latchkey-resident` (and
//! through it the core), so nothing of Tauri, GTK or WebKit is linked into it.

fn main() {
    std::process::exit(latchkey_resident::agent::main());
}
