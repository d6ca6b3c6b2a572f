//! Deep links (a second launch's argv) and loopback callbacks: whatever arrives, parsing
//! answers or refuses without panicking, and the form written to the log never keeps the query.
#![no_main]

use latchkey_core::redirect::{callback_from_args, parse_callback, redact_for_log, redirect_base, Outcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let logged = redact_for_log(text);
    assert!(!logged.contains('?') && !logged.contains('#'), "a query reached the log form: {logged:?}");
    let _ = redirect_base(text);
    let args: Vec<&str> = text.split('\0').collect();
    if let Some(link) = callback_from_args(&args) {
        assert!(args.len() == 2 && link == args[1]);
    }
    if let Ok(callback) = parse_callback(text) {
        assert!(!callback.state.is_empty(), "a callback without state was accepted");
        if let Outcome::Code(code) = &callback.outcome {
            assert!(!code.is_empty(), "an empty code was accepted");
        }
        // Parsing is a function of the text alone.
        let again = parse_callback(text).expect("parsed once, parses again");
        assert_eq!(again.state, callback.state);
        assert_eq!(again.provider, callback.provider);
    }
});
