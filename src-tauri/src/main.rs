// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

//! `latchkey`: what a person, the desktop entry and the login entry start.
//!
//! On Linux this program has nothing of GTK or WebKit linked (their libraries alone take ~75 ms
//! to load): a command (`latchkey token github`) runs as `latchkey-resident`, a launch while the
//! window is open hands over to it, and only a launch that is to be the window starts
//! `latchkey-window`, all three installed side by side. Elsewhere this program is the window,
//! with the command line and the core in its process.

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    linux::launch(&args)
}

#[cfg(not(target_os = "linux"))]
fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let hidden = match latchkey::cli::run(&args) {
        latchkey::cli::Launch::Exit(code) => std::process::exit(code),
        latchkey::cli::Launch::App { hidden } => hidden,
    };
    latchkey::app::start(hidden)
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::{exit, Command};

    use latchkey_resident::{handover, program_beside, window_beside};

    pub fn launch(args: &[OsString]) -> ! {
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let me = std::env::current_exe().ok();
        let beside = |find: fn(&Path) -> Option<std::path::PathBuf>, name: &str| {
            me.as_deref().and_then(find).unwrap_or_else(|| {
                eprintln!("latchkey: {name}, which this needs, is not installed beside this program");
                exit(1)
            })
        };
        if args.len() < 2 {
            // The window is open already: it is brought forward, and this launch ends. (Also
            // where that window is ending: then this launch opens the window.)
            if handover::hand_over("latchkey", &text) {
                exit(0);
            }
            window(&beside(window_beside, "latchkey-window"), args);
        }
        if let Some(url) = latchkey_core::redirect::callback_from_args(&text) {
            let window_program = beside(window_beside, "latchkey-window");
            if handover::deliver_and_show(url, "latchkey", &window_program) {
                exit(0);
            }
            // No Latchkey runs: the window starts latchkey-resident and hands the callback over.
            window(&window_program, args);
        }
        let resident = beside(program_beside, "latchkey-resident");
        let mut command = Command::new(&resident);
        // `--hidden` (at login): Latchkey without its window is that program, started alone.
        if text[1..] != ["--hidden"] {
            // A command (`latchkey token github`, `--help`): the same words, under this name.
            command.arg0(&args[0]).args(&args[1..]);
        }
        let error = command.exec();
        eprintln!("latchkey: cannot start {}: {error}", resident.display());
        exit(1)
    }

    /// This launch becomes the window, with the same arguments.
    fn window(program: &Path, args: &[OsString]) -> ! {
        let error = handover::window_command(program).args(args.iter().skip(1)).exec();
        eprintln!("latchkey: cannot start {}: {error}", program.display());
        exit(1)
    }
}
