// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match latchkey::cli::run(&args) {
        latchkey::cli::Launch::Exit(code) => std::process::exit(code),
        latchkey::cli::Launch::App { hidden } => latchkey::app::run(hidden),
    }
}
