//! What the benchmarks share (`#[path]`-included by each): PSS of a process tree, the WebDriver
//! server, the app of a benchmark's home and its environment.

/// `pid` and all its descendants.
fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if ppid == Some(parent) && !all.contains(&child) {
                all.push(child);
            }
        }
        i += 1;
    }
    all
}

/// The sum, in KiB, of the `fields` of a process's /proc/<pid>/smaps_rollup.
fn rollup_kib(pid: u32, fields: &[&str]) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .filter_map(|l| {
            let (field, value) = l.split_once(':')?;
            fields.contains(&field).then(|| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        })
        .sum()
}

/// PSS in KiB of `pid` and all its descendants, with their names.
pub fn pss_tree(pid: u32) -> (u64, Vec<String>) {
    let mut total = 0;
    let mut names = Vec::new();
    for p in tree(pid) {
        let pss = rollup_kib(p, &["Pss"]);
        total += pss;
        let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        names.push(format!("{} ({:.1} MiB)", name.trim(), pss as f64 / 1024.0));
    }
    (total, names)
}

/// Private memory (USS) in KiB of `pid` and all its descendants: the pages no other process
/// maps. Unlike PSS it does not change when another program maps the same libraries (another
/// WebKit window starting or ending), so it shows what the processes themselves hold.
#[allow(dead_code)] // only the soak benchmark reads it
pub fn private_tree(pid: u32) -> u64 {
    tree_kib(pid, &["Private_Clean", "Private_Dirty"])
}

/// Private dirty memory in KiB of `pid` and all its descendants: with no swap, only the
/// processes themselves can give it back (the kernel can drop clean pages, not these).
#[allow(dead_code)] // only the soak benchmark reads it
pub fn private_dirty_tree(pid: u32) -> u64 {
    tree_kib(pid, &["Private_Dirty"])
}

/// The sum, in KiB, of the smaps_rollup `fields` of `pid` and all its descendants.
#[allow(dead_code)] // only the soak benchmark's figures use it
fn tree_kib(pid: u32, fields: &[&str]) -> u64 {
    tree(pid).into_iter().map(|p| rollup_kib(p, fields)).sum()
}

/// Ends `child`'s process group (the child and all it started, with SIGKILL) and reaps the child.
#[allow(dead_code)] // not every benchmark starts process groups of its own
pub fn kill_group(child: &mut std::process::Child) {
    // SAFETY: kill(2) takes plain integers; a process group that is gone is an error we ignore.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
    let _ = child.wait();
}

/// A tauri-driver on free ports, in a process group of its own, with the environment
/// `configure` gives it (and so the app it starts); returns once it listens.
pub fn start_tauri_driver(configure: impl FnOnce(&mut std::process::Command)) -> (std::process::Child, u16) {
    use std::os::unix::process::CommandExt;
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (port, native) = (free(), free());
    let program = std::env::var_os("CARGO_HOME")
        .map(|h| std::path::PathBuf::from(h).join("bin/tauri-driver"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "tauri-driver".into());
    let mut driver = std::process::Command::new(program);
    driver.args(["--port", &port.to_string(), "--native-port", &native.to_string()]);
    configure(&mut driver);
    driver.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).process_group(0);
    let driver = driver.spawn().expect("tauri-driver");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (driver, port)
}

/// The running `app` whose environment names `dir` as its LATCHKEY_TEST_DIR.
#[allow(dead_code)] // not every benchmark looks for its app
pub fn app_pid(dir: &std::path::Path, app: &str) -> Option<u32> {
    let marker = format!("LATCHKEY_TEST_DIR={}", dir.display());
    let app = std::fs::canonicalize(app).ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        (exe == app && env.split(|b| *b == 0).any(|v| v == marker.as_bytes())).then_some(pid)
    })
}

/// The running window that a launch of `app` became, whose environment names `dir` as its
/// LATCHKEY_TEST_DIR: `latchkey` starts `latchkey-window` beside it on Linux (in place).
#[allow(dead_code)] // not every benchmark looks for its window
pub fn window_pid(dir: &std::path::Path, app: &str) -> Option<u32> {
    let window = std::path::Path::new(app).with_file_name("latchkey-window");
    let window = if window.is_file() { window.to_string_lossy().into_owned() } else { app.to_owned() };
    app_pid(dir, &window)
}

/// The environment of a benchmark's app and of the WebDriver server that starts it: a home of
/// its own under `dir`, no desktop (so xdg-open honours $BROWSER), the e2e test browser
/// approving each Demo consent and handing the callback to `app`.
#[allow(dead_code)] // the window benchmark sets its own
pub fn app_env(cmd: &mut std::process::Command, dir: &std::path::Path, app: &str) {
    let home = dir.join("home");
    cmd.env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env_remove("XDG_CURRENT_DESKTOP")
        .env("BROWSER", concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/e2e/browser.sh"))
        .env("LATCHKEY_TEST_DIR", dir)
        .env("LATCHKEY_TEST_MODE", "approve")
        .env("LATCHKEY_TEST_BIN", app)
        .env("RUST_LOG", "info");
}
