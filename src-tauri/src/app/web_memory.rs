//! A memory limit for the window's web process. Besides JavaScriptCore's own collections, WebKit
//! frees its caches and collects garbage when a web process passes a third of its memory limit,
//! and the default limit is the machine's memory up to 3 GB: about 1 GB here. A window left open
//! could grow that far (docs/decisions/0004-a-memory-limit-for-the-web-process.md). The limit is
//! the `WebKitWebContext`'s `memory-pressure-settings`, which can only be given when the context
//! is made; wry makes it and Tauri passes nothing through. So before the first window, the context class's GObject
//! `constructor` is wrapped: a context made without settings gets Latchkey's.

use std::ffi::CStr;
use std::sync::OnceLock;

use webkit2gtk::glib::ffi::GType;
use webkit2gtk::glib::gobject_ffi::{GObject, GObjectClass, GObjectConstructParam};
use webkit2gtk::glib::translate::IntoGlibPtr;
use webkit2gtk::MemoryPressureSettings;

/// WebKit's memory limit for the web process, in MiB, and the fractions of it where WebKit starts
/// to free caches (conservative: 80 MiB) and to collect garbage as well (strict: 100 MiB),
/// measured every 30 s (its default). WebKit measures the process's private dirty memory: about
/// 65 MiB for this window, which stays there while JavaScriptCore collects garbage on its own
/// timer. In some runs that timer is never armed again and the page keeps what each refresh
/// leaves behind (docs/decisions/0004-a-memory-limit-for-the-web-process.md); the strict threshold then collects it. No
/// kill threshold: the page is never ended for its size.
const LIMIT_MB: u32 = 200;
const CONSERVATIVE: f64 = 0.4;
const STRICT: f64 = 0.5;

type Constructor = unsafe extern "C" fn(GType, u32, *mut GObjectConstructParam) -> *mut GObject;

/// The class's own constructor, called after the settings are filled in.
static PARENT: OnceLock<Option<Constructor>> = OnceLock::new();

/// Gives every web context made from now on Latchkey's memory limit. Call it before the first
/// window is built; later calls do nothing. False when the class has no constructor to wrap (the
/// settings are then WebKit's own).
pub fn limit() -> bool {
    PARENT
        .get_or_init(|| {
            // SAFETY: the class is referenced and never released, so the pointer stays valid; the
            // class struct of WebKitWebContext begins with its GObjectClass. It is changed once,
            // before any context exists (the window is built after this returns).
            unsafe {
                let class =
                    webkit2gtk::glib::gobject_ffi::g_type_class_ref(webkit2gtk::ffi::webkit_web_context_get_type())
                        as *mut GObjectClass;
                if class.is_null() {
                    return None;
                }
                let parent = (*class).constructor?;
                (*class).constructor = Some(construct);
                Some(parent)
            }
        })
        .is_some()
}

/// The wrapped constructor: fills in `memory-pressure-settings` when it came empty, then makes
/// the context as WebKit does.
unsafe extern "C" fn construct(type_: GType, n: u32, params: *mut GObjectConstructParam) -> *mut GObject {
    if !params.is_null() {
        // SAFETY: GObject passes `n` construct parameters, each with its pspec and a value of the
        // pspec's type; the boxed value is owned by that GValue, which takes ours.
        for param in std::slice::from_raw_parts_mut(params, n as usize) {
            if param.pspec.is_null() || param.value.is_null() {
                continue;
            }
            let name = CStr::from_ptr((*param.pspec).name);
            if name.to_bytes() == b"memory-pressure-settings"
                && webkit2gtk::glib::gobject_ffi::g_value_get_boxed(param.value).is_null()
            {
                let mut settings = MemoryPressureSettings::new();
                settings.set_memory_limit(LIMIT_MB);
                settings.set_conservative_threshold(CONSERVATIVE);
                settings.set_strict_threshold(STRICT);
                let settings: *mut webkit2gtk::ffi::WebKitMemoryPressureSettings = settings.into_glib_ptr();
                webkit2gtk::glib::gobject_ffi::g_value_take_boxed(param.value, settings.cast());
                tracing::info!(limit_mb = LIMIT_MB, "the window's web process has a memory limit");
            }
        }
    }
    match PARENT.get().copied().flatten() {
        Some(parent) => parent(type_, n, params),
        None => std::ptr::null_mut(), // not reached: `construct` is installed only with a parent
    }
}
