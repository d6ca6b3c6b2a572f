//! The environment Latchkey's own web view starts with, and the one the person's browser gets.
//!
//! WebKitGTK reads some of its settings only from the environment, which its web process
//! inherits. Latchkey sets them for its window, before any other thread exists, unless the person
//! set them; the browser it opens for a sign-in gets the environment the person had, without
//! them (a browser built on WebKitGTK, such as GNOME Web, would otherwise take them too).

use std::sync::OnceLock;

/// The variables this process set itself, to leave out of the browser's environment.
static SET_HERE: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Sets what the window runs best with. Call it first thing in `main`, before any other thread
/// exists: the environment is not safe to change after that. (On Linux a start without the window
/// is `latchkey-resident`, which has no GTK to set up.)
pub fn prepare() {
    // WebKitGTK paints pages with Skia on the GPU; where the GPU is Mesa's software one
    // (llvmpipe: virtual machines, no driver) that JIT-compiles shaders with LLVM and keeps about
    // 40 MiB more in the web process for this window. A list of text and small icons paints as
    // fast on the CPU, and the page is still composited (docs/decisions/0003-webkit-paints-on-the-cpu.md).
    //
    // JavaScriptCore runs the page without its JIT compilers, in its interpreter, as Apple's
    // Lockdown Mode runs every page: the page's script runs for a few milliseconds at a time
    // (a render of some twenty rows), too little for compiled code to pay back, and the
    // compilers' own code and buffers were 7-10 MiB of the web process. It also takes the JIT's
    // attack surface away from the page that shows the person's accounts. (The optimising JIT
    // alone, `JSC_useDFGJIT=false`, was tried against a window that grew while left open: not the
    // cause.) docs/decisions/0006-the-page-runs-without-jit.md.
    //
    // JavaScriptCore collects the page's garbage on a timer, which in about one window in three
    // stops being armed (docs/decisions/0004-a-memory-limit-for-the-web-process.md); what each refresh
    // allocates then stays until WebKit's memory limit collects it (web_memory.rs). A collection is
    // also started by allocation, once the heap passes a size that for a web page starts at 32 MB.
    // At 4 MiB (this page's heap is 1-4 MB), a stalled timer means a collection every few minutes,
    // which arms the timer again, instead of one at WebKit's limit
    // (docs/decisions/0005-the-javascript-heap-is-collected-by-size.md).
    let wanted: &[(&'static str, &'static str)] = if cfg!(target_os = "linux") {
        &[("WEBKIT_SKIA_ENABLE_CPU_RENDERING", "1"), ("JSC_useJIT", "false"), ("JSC_largeHeapSize", "4194304")]
    } else {
        &[]
    };

    let mut set = Vec::new();
    for &(name, value) in wanted {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
            set.push(name);
        }
    }
    let _ = SET_HERE.set(set);
}

/// What [`prepare`] set (nothing when it was not called): left out of what Latchkey starts.
#[cfg(target_os = "linux")]
pub fn set_here() -> &'static [&'static str] {
    SET_HERE.get().map_or(&[], Vec::as_slice)
}

/// Opens `url` in the person's default browser, without the variables [`prepare`] set.
#[cfg(target_os = "linux")]
pub fn open_in_browser(url: &url::Url) -> Result<(), String> {
    latchkey_resident::browser::open(url, set_here())
}
