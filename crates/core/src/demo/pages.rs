//! The Demo authority's pages: self-contained HTML (inline style, nothing loaded from
//! elsewhere), every dynamic value escaped.

use super::CLIENT_ID;
use crate::error::html_escape as escape;

const STYLE: &str = "
:root { color-scheme: light dark; --accent: #0f766e; }
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh;
       background: Canvas; color: CanvasText; }
main { max-width: 26rem; padding: 2rem; border: 1px solid color-mix(in srgb, CanvasText 20%, transparent);
       border-radius: 12px; }
h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
.badge { display: inline-block; background: var(--accent); color: white; border-radius: 6px; padding: 0 .4rem;
         font-weight: 600; }
label { display: block; margin: 1rem 0 .25rem; }
input[type=text] { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem .5rem; }
.actions { display: flex; gap: .75rem; margin-top: 1.25rem; }
button { font: inherit; padding: .45rem 1rem; border-radius: 8px; border: 1px solid var(--accent); cursor: pointer; }
button.primary { background: var(--accent); color: white; }
button.secondary { background: transparent; color: inherit; }
small { opacity: .75; }
";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

pub fn home() -> String {
    layout(
        "Latchkey Demo provider",
        "<h1><span class=\"badge\">Demo</span> Latchkey Demo provider</h1>\
         <p>A small OAuth 2 server that runs inside Latchkey so that you can try connecting an account \
         without registering anything anywhere.</p>",
    )
}

pub fn error(message: &str) -> String {
    layout("Demo sign-in failed", &format!("<h1>Sign-in cannot continue</h1><p>{}</p>", escape(message)))
}

/// The sign-in and consent page. The fields of the request go back with the decision.
pub fn consent(scope: &str, state: Option<&str>, challenge: &str, redirect_uri: &str) -> String {
    let hidden =
        |name: &str, value: &str| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value));
    let mut fields = String::new();
    fields += &hidden("client_id", CLIENT_ID);
    fields += &hidden("redirect_uri", redirect_uri);
    fields += &hidden("response_type", "code");
    fields += &hidden("code_challenge", challenge);
    fields += &hidden("code_challenge_method", "S256");
    fields += &hidden("scope", scope);
    if let Some(state) = state {
        fields += &hidden("state", state);
    }
    layout(
        "Sign in to the Demo provider",
        &format!(
            "<h1><span class=\"badge\">Demo</span> Sign in and allow Latchkey</h1>\
             <p><strong>Latchkey</strong> asks to see your Demo profile (<code>{}</code>).</p>\
             <form method=\"post\" action=\"/authorize\">{fields}\
             <label for=\"user\">Your Demo user name</label>\
             <input type=\"text\" id=\"user\" name=\"user\" value=\"demo-user\" maxlength=\"40\" autofocus>\
             <div class=\"actions\">\
             <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Allow</button>\
             <button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\
             </div></form>\
             <p><small>Nothing leaves this computer: the Demo provider runs inside Latchkey.</small></p>",
            escape(scope)
        ),
    )
}

/// Shown while the browser hands the answer to Latchkey.
pub fn handoff(link: &str) -> String {
    layout(
        "Return to Latchkey",
        &format!(
            "<h1>Return to Latchkey</h1><p>Your browser is handing the answer to Latchkey. \
             If nothing happens, <a href=\"{}\">open Latchkey</a>. You can close this tab.</p>",
            escape(link)
        ),
    )
}

/// Where the person enters the code Latchkey shows (RFC 8628's verification page).
pub fn device_entry(user_code: &str) -> String {
    layout(
        "Connect Latchkey with a code",
        &format!(
            "<h1><span class=\"badge\">Demo</span> Enter the code Latchkey shows</h1>\
             <form method=\"post\" action=\"/device\">\
             <label for=\"user_code\">Code</label>\
             <input type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{}\" maxlength=\"9\" autocomplete=\"off\" autofocus>\
             <label for=\"user\">Your Demo user name</label>\
             <input type=\"text\" id=\"user\" name=\"user\" value=\"demo-user\" maxlength=\"40\">\
             <div class=\"actions\">\
             <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Allow</button>\
             <button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\
             </div></form>\
             <p><small>Latchkey asks to see your Demo profile. Nothing leaves this computer.</small></p>",
            escape(user_code)
        ),
    )
}

/// After the person decided on the verification page.
pub fn device_done(approved: bool) -> String {
    let (title, text) = if approved {
        ("Latchkey is connected", "You can close this tab: Latchkey finishes the sign-in by itself.")
    } else {
        ("Sign-in declined", "Latchkey was not given access. You can close this tab.")
    };
    layout(title, &format!("<h1>{title}</h1><p>{text}</p>"))
}
