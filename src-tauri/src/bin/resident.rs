//! `latchkey-resident`: Latchkey with its window closed. It uses only `latchkey-resident` (and
//! through it the core), so nothing of Tauri, GTK or WebKit is linked into it.

fn main() {
    #[cfg(target_os = "linux")]
    callback();
    std::process::exit(latchkey_resident::agent::main());
}

/// `latchkey-resident <callback URL>`, the scheme handler's command where the per-user entry runs
/// it: hands the callback to the running window and exits, in a few milliseconds (the app itself
/// takes ~80 ms just to load WebKit's libraries). With no window running, it starts the app beside
/// it with the callback, as the OS would have.
#[cfg(target_os = "linux")]
fn callback() {
    use std::os::unix::process::CommandExt;
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let Some(url) = latchkey_core::redirect::callback_from_args(&args) else { return };
    let Some(app) = std::env::current_exe().ok().and_then(|me| latchkey_resident::app_beside(&me)) else {
        eprintln!("latchkey-resident: no latchkey program beside this one to hand the sign-in to");
        std::process::exit(1);
    };
    if latchkey_resident::handover::hand_over("latchkey-resident", &[app.display().to_string(), url.to_owned()]) {
        std::process::exit(0);
    }
    let error = std::process::Command::new(&app).arg(url).exec();
    eprintln!("latchkey-resident: cannot start {}: {error}", app.display());
    std::process::exit(1);
}
