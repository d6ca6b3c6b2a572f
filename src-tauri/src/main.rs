// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    #[cfg(target_os = "linux")]
    let hidden = {
        linux::launch(&args);
        false
    };
    #[cfg(not(target_os = "linux"))]
    let hidden = match latchkey::cli::run(&args) {
        latchkey::cli::Launch::Exit(code) => std::process::exit(code),
        latchkey::cli::Launch::App { hidden } => hidden,
    };
    // Before any other thread exists: what WebKit reads from the environment.
    latchkey::app::environment::prepare();
    latchkey::app::run(hidden)
}

/// On Linux this program is the window and nothing else: the accounts, the command line and the
/// work in the background are `latchkey-resident`'s, installed beside it, so that neither the
/// core nor the command line is linked in here.
#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;
    use std::process::{exit, Command};

    /// Returns for a launch that opens the window; any other ends here.
    pub fn launch(args: &[OsString]) {
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        if args.len() < 2 {
            // The window is open already: it is brought forward, and this launch ends before GTK
            // starts. (Also where that window is ending: then this launch opens the window.)
            if latchkey_resident::handover::hand_over("latchkey", &text) {
                exit(0);
            }
            return;
        }
        if let Some(url) = latchkey_core::redirect::callback_from_args(&text) {
            callback(url, &text[0]);
            return;
        }
        let me = std::env::current_exe().ok();
        let Some(resident) = me.as_deref().and_then(latchkey_resident::program_beside) else {
            eprintln!("latchkey: latchkey-resident, which this needs, is not installed beside this program");
            exit(1);
        };
        let mut command = Command::new(&resident);
        // `--hidden` (at login): Latchkey without its window is that program, started alone.
        if text[1..] != ["--hidden"] {
            // A command (`latchkey token github`, `--help`): the same words, under this name.
            command.arg0(&args[0]).args(&args[1..]);
        }
        let error = command.exec();
        eprintln!("latchkey: cannot start {}: {error}", resident.display());
        exit(1);
    }

    /// The OS delivering a sign-in callback: to the running Latchkey first, which completes it
    /// at once; then the window is brought forward (the running one, through the single-instance
    /// plugin's method, before GTK starts here), or this launch becomes it. With no Latchkey
    /// running, returns: the window starts latchkey-resident and hands the callback over itself.
    fn callback(url: &str, program: &str) {
        if !latchkey_resident::client::deliver_to_running(url) {
            return;
        }
        if latchkey_resident::handover::hand_over("latchkey", &[program.to_owned()]) {
            exit(0);
        }
        // Without the callback, which is delivered: this process's arguments are read for one.
        match std::env::current_exe() {
            Ok(me) => {
                let error = Command::new(&me).exec();
                eprintln!("latchkey: cannot open the window: {error}");
            }
            Err(e) => eprintln!("latchkey: cannot open the window: {e}"),
        }
        exit(1);
    }
}
