//! The benchmark's baseline: a bare Tauri window with the same plugins as Latchkey
//! (single-instance, deep-link, opener), built the same way, that says when its page loaded.

fn main() {
    let started = std::time::Instant::now();
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|_, _, _| {}))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .on_page_load(move |_, payload| {
            if matches!(payload.event(), tauri::webview::PageLoadEvent::Finished) {
                eprintln!("window loaded after {} ms", started.elapsed().as_millis());
            }
        })
        .run(tauri::generate_context!("../tests/bench/bare/tauri.conf.json"))
        .expect("the bare window runs");
}
