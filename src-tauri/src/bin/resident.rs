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
/// in a few milliseconds (the app itself takes ~80 ms just to load WebKit's libraries). With no
/// Latchkey running, it starts the app beside it with the callback, as the OS would have.
#[cfg(target_os = "linux")]
fn callback(args: &[std::ffi::OsString]) {
    use std::os::unix::process::CommandExt;
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let Some(url) = latchkey_core::redirect::callback_from_args(&args) else { return };
    let Some(app) = std::env::current_exe().ok().and_then(|me| latchkey_resident::app_beside(&me)) else {
        eprintln!("latchkey-resident: no latchkey program beside this one to show the sign-in in");
        std::process::exit(1);
    };
    let app = app.display().to_string();
    if latchkey_resident::client::deliver_to_running(url) {
        if !latchkey_resident::handover::hand_over("latchkey-resident", std::slice::from_ref(&app)) {
            let opened = std::process::Command::new(&app)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            if let Err(e) = opened {
                eprintln!("latchkey-resident: cannot open the window: {e}");
            }
        }
        std::process::exit(0);
    }
    let error = std::process::Command::new(&app).arg(url).exec();
    eprintln!("latchkey-resident: cannot start {app}: {error}");
    std::process::exit(1);
}
