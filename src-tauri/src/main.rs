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
                // Not installed beside the app: the app, hidden. Started without a window, it
                // has nothing to draw: without this, GTK loads the OpenGL driver when it opens
                // the display (with LLVM on software rendering: about 30 MiB). A window opened
                // later draws without GTK's GL. Set before any other thread exists.
                if std::env::var_os("GDK_GL").is_none() {
                    std::env::set_var("GDK_GL", "disable");
                }
            }
            // WebKitGTK paints pages with Skia on the GPU; where the GPU is Mesa's software one
            // (llvmpipe: virtual machines, no driver) that JIT-compiles shaders with LLVM and
            // keeps about 40 MiB more in the web process for this window (docs/benchmarks.md,
            // seventh part). A list of text and small icons paints as fast on the CPU, and the
            // page is still composited. The web process inherits the setting; one the person
            // set wins. Set before any other thread exists.
            #[cfg(target_os = "linux")]
            if std::env::var_os("WEBKIT_SKIA_ENABLE_CPU_RENDERING").is_none() {
                std::env::set_var("WEBKIT_SKIA_ENABLE_CPU_RENDERING", "1");
            }
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
    use latchkey_resident::handover::{hand_over, Handover};
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    if latchkey_core::redirect::callback_from_args(&args).is_none() {
        return false;
    }
    match hand_over(&args) {
        Handover::Delivered => true,
        Handover::NoneRunning => false,
        Handover::Failed(e) => {
            eprintln!("latchkey: the running Latchkey did not take the sign-in: {e}");
            false
        }
    }
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
