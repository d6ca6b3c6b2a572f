// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match latchkey::cli::run(&args) {
        latchkey::cli::Launch::Exit(code) => std::process::exit(code),
        latchkey::cli::Launch::App { hidden } => {
            // Started without a window (at login), Latchkey has nothing to draw: without this,
            // GTK loads the OpenGL driver when it opens the display (on software rendering,
            // with LLVM: about 30 MiB of a resident process that should stay small). A window
            // opened later draws without GTK's GL. Set here, before any other thread exists.
            if hidden && std::env::var_os("GDK_GL").is_none() {
                std::env::set_var("GDK_GL", "disable");
            }
            latchkey::app::run(hidden)
        }
    }
}
