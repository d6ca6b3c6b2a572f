//! The person's default browser, for a sign-in and for a provider's pages: Latchkey never
//! shows a provider's page in a web view of its own (checklist line 1).

/// Opens `url` in the person's default browser, as `xdg-open` (or `gio open`) would from their
/// session: without the variables named in `leave_out` (what the window set for WebKit). A launcher that fails within a quarter of a
/// second is followed by the next; one still running then (xdg-open can wait for the browser it
/// started) is left to finish, and reaped. (As `tauri-plugin-opener` does, which cannot leave
/// variables out.)
pub fn open(url: &url::Url, leave_out: &[&str]) -> Result<(), String> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    // A URL (`http://…` or `https://…`) never starts with a dash, so no launcher reads it as an
    // option.
    let launchers: [(&str, &[&str]); 2] = [("xdg-open", &[]), ("gio", &["open"])];
    let mut failure = None;
    for (program, args) in launchers {
        let mut command = Command::new(program);
        command.args(args).arg(url.as_str()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        for name in leave_out {
            command.env_remove(name);
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("could not start {program}: {e}")),
        };
        let deadline = Instant::now() + Duration::from_millis(250);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    failure.get_or_insert(format!("{program} failed ({status})"));
                    break;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    std::thread::spawn(move || child.wait());
                    return Ok(());
                }
                Err(e) => return Err(format!("could not wait for {program}: {e}")),
            }
        }
    }
    Err(failure.unwrap_or_else(|| "no xdg-open or gio to open the browser with".to_owned()))
}
