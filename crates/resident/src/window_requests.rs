// The window's requests, written once. Everything that names them is generated from this list:
// the `Request` enum and its reading and writing (crate::window_api), one Tauri command per page
// request with its arguments typed (src-tauri/src/app/commands.rs), the window's permission per
// command (src-tauri/build.rs, which includes this file), and the page's calls and the capability
// are checked against it (tests/packaging). Add a request here, answer it in
// `window_api::answer` (the compiler asks for it), and call it from ui/app.js.
//
// Each entry: the command's name, as the page calls it; its variant of `Request`; its arguments,
// with their Rust names (the page sends them in camelCase: `provider_id` is `providerId`) and
// types. `page` requests are the page's own, each a Tauri command granted in
// src-tauri/capabilities/default.json; `window` requests are made by the window's process itself
// and are no command of the page's. `commands` are the window's own Tauri commands
// (src-tauri/src/app/commands.rs), which the page calls too but which no request carries.

/// Expands `$then! { page { … } window { … } commands { … } }` with every request of the window, so that each
/// place that needs the list takes it from here (see the top of this file).
#[macro_export]
macro_rules! window_requests {
    ($then:ident) => {
        $then! {
            page {
                get_state: GetState { catalog: Option<String> },
                get_marks: GetMarks {},
                get_settings: GetSettings {},
                get_start_at_login: GetStartAtLogin {},
                connect: Connect { provider_id: String },
                connect_with_code: ConnectWithCode { provider_id: String },
                cancel: Cancel { flow_id: String },
                reopen: Reopen { flow_id: String },
                disconnect: Disconnect { connection_id: String },
                dismiss_error: DismissError { provider_id: String },
                set_demo_enabled: SetDemoEnabled { enabled: bool },
                save_client: SaveClient { provider_id: String, client_id: String, client_secret: Option<String> },
                forget_client: ForgetClient { provider_id: String },
                set_scopes: SetScopes { provider_id: String, scopes: String },
                set_redirect: SetRedirect { provider_id: String, kind: latchkey_core::provider::RedirectKind },
                set_pkce: SetPkce { provider_id: String, enabled: bool },
                add_provider: AddProvider { name: String, issuer: String },
                add_oauth2_provider: AddOauth2Provider {
                    name: String,
                    authorize_url: String,
                    token_url: String,
                    userinfo_url: String,
                    revoke_url: Option<String>,
                    scopes: String
                },
                remove_provider: RemoveProvider { provider_id: String },
                set_start_at_login: SetStartAtLogin { enabled: bool },
            }
            window {
                get_version: GetVersion {},
                get_status: GetStatus {},
                background_notice_seen: BackgroundNoticeSeen {},
                provider_page: ProviderPage { provider_id: String, page: String },
            }
            commands {
                next_news,
                close_window,
                quit,
                open_provider_page,
                get_about,
                open_log_folder,
            }
        }
    };
}
