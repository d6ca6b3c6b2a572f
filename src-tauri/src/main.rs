// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = latchkey::cli::run(&args) {
        std::process::exit(code);
    }
    latchkey::app::run();
}
