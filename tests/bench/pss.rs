//! PSS of a process tree, for the benchmarks (`#[path]`-included by each).

/// PSS in KiB of `pid` and all its descendants, with their names.
pub fn pss_tree(pid: u32) -> (u64, Vec<String>) {
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
    let mut total = 0;
    let mut names = Vec::new();
    for p in all {
        let rollup = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).unwrap_or_default();
        let pss: u64 = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        total += pss;
        let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        names.push(format!("{} ({:.1} MiB)", name.trim(), pss as f64 / 1024.0));
    }
    (total, names)
}
