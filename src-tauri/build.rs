fn main() {
    // Declaring the app's commands makes tauri-build generate an `allow-<command>` permission
    // for each, so that capabilities/default.json grants exactly what the UI uses.
    let commands = &[
        "get_state",
        "connect",
        "connect_with_code",
        "cancel",
        "reopen",
        "disconnect",
        "dismiss_error",
        "get_settings",
        "set_demo_enabled",
        "save_client",
        "forget_client",
        "set_scopes",
        "set_redirect",
        "get_marks",
        "add_provider",
        "add_oauth2_provider",
        "remove_provider",
        "get_start_at_login",
        "set_start_at_login",
        "close_window",
        "quit",
        "open_provider_page",
        "get_about",
        "open_log_folder",
        "set_pkce",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri-build failed");
}
