// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match latchkey::cli::run(&args) {
        latchkey::cli::Launch::Exit(code) => std::process::exit(code),
        latchkey::cli::Launch::App { hidden } => {
            #[cfg(target_os = "linux")]
            if hand_over_callback(&args) {
                return;
            }
            if hidden {
                // Without a window: the resident program, which has no GTK or WebKit in it. It
                // leaves at once when a Latchkey already runs.
                if let Some(program) = resident_program() {
                    exec(&program);
                }
                // Not installed beside the app: this one goes on, hidden.
            }
            // Before any other thread exists: what WebKit (or GTK, hidden) reads from the
            // environment.
            latchkey::app::environment::prepare(hidden);
            latchkey::app::run(hidden)
        }
    }
}

/// A launch that carries a sign-in callback while a Latchkey window runs (the OS delivering a deep
/// link) hands it over on the session bus before GTK starts, as `latchkey-resident` does, and
/// ends. Left to the single-instance plugin, the same hand-over happens inside Tauri's start-up,
/// and the process then exits with GTK's and Tauri's threads running: once in CI it ended in a
/// segmentation fault after the callback had been delivered.
#[cfg(target_os = "linux")]
fn hand_over_callback(args: &[std::ffi::OsString]) -> bool {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    latchkey_core::redirect::callback_from_args(&args).is_some()
        && latchkey_resident::handover::hand_over("latchkey", &args)
}

#[cfg(unix)]
fn resident_program() -> Option<std::path::PathBuf> {
    latchkey_resident::program_beside(&std::env::current_exe().ok()?)
}

#[cfg(unix)]
fn exec(program: &std::path::Path) {
    use std::os::unix::process::CommandExt;
    let error = std::process::Command::new(program).exec();
    eprintln!("latchkey: cannot start {}: {error}", program.display());
}

#[cfg(not(unix))]
fn resident_program() -> Option<std::path::PathBuf> {
    None
}

#[cfg(not(unix))]
fn exec(_: &std::path::Path) {}
