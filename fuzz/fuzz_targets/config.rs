//! The provider catalog (TOML), the settings file (JSON) and scopes typed in the window: bad
//! text is refused with an error, never a panic, and an accepted catalog only names https URLs.
#![no_main]

use latchkey_core::catalog;
use latchkey_core::settings::{parse_scopes, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(entries) = catalog::parse(text) {
        for entry in &entries {
            assert!(entry.urls().iter().all(|u| u.scheme() == "https"), "{} has a non-https URL", entry.id);
            assert!(!entry.redirect.is_empty());
        }
    }
    let _ = serde_json::from_str::<Settings>(text);
    if let Ok(scopes) = parse_scopes(text) {
        assert!(scopes.len() <= 100);
        assert!(scopes.iter().all(|s| !s.is_empty() && !s.chars().any(char::is_control)));
    }
});
