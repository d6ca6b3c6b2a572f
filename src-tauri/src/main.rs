// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(code) = latchkey::cli::run(&args) {
        std::process::exit(code);
    }
    latchkey::app::run();
}
