//! `latchkey-resident`: Latchkey without its window, and (on Linux) the command line: `latchkey
//! token github` runs as this program. It uses the core, `latchkey-resident` and the command
//! line, so nothing of Tauri, GTK or WebKit is linked into it.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    #[cfg(target_os = "linux")]
    callback(&args);
    // A command (`latchkey <command>` comes here under the app's name); `--hidden` or nothing:
    // Latchkey in the background.
    if let latchkey::cli::Launch::Exit(code) = latchkey::cli::run(&args) {
        std::process::exit(code);
    }
    std::process::exit(latchkey_resident::agent::main());
}

/// `latchkey-resident <callback URL>`, the scheme handler's command where the per-user entry runs
/// it: hands the callback to the running Latchkey and brings its window forward (or opens it),
/// in a few milliseconds. With no Latchkey running, it starts the window with the callback, as
/// the OS would have.
#[cfg(target_os = "linux")]
fn callback(args: &[std::ffi::OsString]) {
    use std::os::unix::process::CommandExt;
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let Some(url) = latchkey_core::redirect::callback_from_args(&args) else { return };
    let Some(window) = std::env::current_exe().ok().and_then(|me| latchkey_resident::window_beside(&me)) else {
        eprintln!("latchkey-resident: no latchkey-window beside this program to show the sign-in in");
        std::process::exit(1);
    };
    if latchkey_resident::handover::deliver_and_show(url, "latchkey-resident", &window) {
        std::process::exit(0);
    }
    let error = latchkey_resident::handover::window_command(&window).arg(url).exec();
    eprintln!("latchkey-resident: cannot start {}: {error}", window.display());
    std::process::exit(1);
}
