//! Logs to stderr and to `latchkey.log` in the app's log directory, through `tracing`. What is
//! logged is chosen field by field in the core; no token, code or callback query is logged.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use latchkey_core::sync::lock;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Larger than this, the previous log is moved to `latchkey.log.1` at start.
const ROTATE_BYTES: u64 = 5 * 1024 * 1024;

/// Lines logged before the file is open (the first moments of start-up), kept for it.
const EARLY_LIMIT: usize = 64 * 1024;

/// Where file lines go: held in memory until the log directory is known (at setup), then the
/// file, which receives the held lines first.
#[derive(Default)]
pub enum Sink {
    #[default]
    Early,
    Held(Vec<u8>),
    Open(File),
}

/// The log file, once its directory is known (at setup).
#[derive(Clone, Default)]
pub struct LogFile(Arc<Mutex<Sink>>);

pub struct LogFileWriter(Arc<Mutex<Sink>>);

impl Write for LogFileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut sink = lock(&self.0);
        match &mut *sink {
            Sink::Open(f) => f.write(buf),
            Sink::Early => {
                *sink = Sink::Held(buf.to_vec());
                Ok(buf.len())
            }
            Sink::Held(held) => {
                if held.len() + buf.len() <= EARLY_LIMIT {
                    held.extend_from_slice(buf);
                }
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut sink = lock(&self.0);
        match &mut *sink {
            Sink::Open(f) => f.flush(),
            _ => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.0.clone())
    }
}

/// Which lines are logged: `RUST_LOG` as a list of levels by target (`info,latchkey=debug`),
/// info when it is unset; a value that is not such a list is named and info used. Targets only,
/// not `EnvFilter`'s span and field patterns: those need the regex engine, 0.9 MB of each
/// binary as shipped (docs/decisions/0010-a-smaller-binary.md).
fn filter(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => (info(), None),
        Some(value) => match value.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(e) => {
                (info(), Some(format!("RUST_LOG={value:?} is not a list of levels by target ({e}); logging at info")))
            }
        },
    }
}

/// Starts logging to stderr (level from `RUST_LOG`, default info) and returns the file sink.
pub fn init() -> LogFile {
    let file = LogFile::default();
    let (filter, refused) = filter(std::env::var("RUST_LOG").ok().as_deref());
    // One layer writing each line to both: two `fmt` layers would share the spans' formatted
    // fields, and each would append a recorded field again (`provider="demo" provider="demo"`).
    // No colours: the file stays plain text.
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::io::stderr.and(file.clone())))
        .with(filter)
        .try_init();
    if let Some(refused) = refused {
        tracing::warn!("{refused}");
    }
    file
}

/// Opens `latchkey.log` in `dir` for appending (after rotating a large one).
pub fn open_file(sink: &LogFile, dir: &Path) {
    if let Err(e) = latchkey_core::files::private_dir(dir) {
        tracing::warn!(error = %e, "no log directory; logging to stderr only");
        return;
    }
    let path = dir.join("latchkey.log");
    if std::fs::metadata(&path).map(|m| m.len() > ROTATE_BYTES).unwrap_or(false) {
        let _ = std::fs::rename(&path, dir.join("latchkey.log.1"));
    }
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.create(true).append(true).open(&path) {
        Ok(mut file) => {
            {
                let mut current = lock(&sink.0);
                if let Sink::Held(held) = &*current {
                    let _ = file.write_all(held);
                }
                *current = Sink::Open(file);
            }
            tracing::info!(path = %path.display(), "logging to file");
        }
        Err(e) => tracing::warn!(error = %e, "cannot open the log file; logging to stderr only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_sets_levels_by_target_and_a_bad_value_is_named() {
        use tracing::Level;
        let (f, refused) = filter(Some("warn,latchkey=debug,latchkey_core::refresh=trace"));
        assert!(refused.is_none());
        assert!(f.would_enable("latchkey::commands", &Level::DEBUG));
        assert!(!f.would_enable("latchkey::commands", &Level::TRACE));
        assert!(f.would_enable("latchkey_core::refresh", &Level::TRACE));
        assert!(!f.would_enable("zbus", &Level::INFO));
        assert!(f.would_enable("zbus", &Level::WARN));

        let (f, refused) = filter(None);
        assert!(refused.is_none());
        assert!(f.would_enable("zbus", &Level::INFO) && !f.would_enable("zbus", &Level::DEBUG));

        let (f, refused) = filter(Some("latchkey=loud"));
        let refused = refused.expect("an unknown level is refused");
        assert!(refused.contains("latchkey=loud"), "{refused}");
        assert!(f.would_enable("latchkey", &Level::INFO) && !f.would_enable("latchkey", &Level::DEBUG));
    }

    /// A span's field recorded after the span began appears once on each line.
    #[test]
    fn a_recorded_span_field_is_logged_once() {
        let dir = std::env::temp_dir().join(format!("latchkey-log-test-{}", std::process::id()));
        let sink = init();
        open_file(&sink, &dir);
        // At warn: shown whatever RUST_LOG a developer's shell sets, short of error or off.
        let span = tracing::warn_span!("complete", provider = tracing::field::Empty);
        span.record("provider", "demo");
        span.in_scope(|| tracing::warn!("connected"));
        let text = std::fs::read_to_string(dir.join("latchkey.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        let line = text.lines().find(|l| l.contains("connected")).unwrap_or_else(|| panic!("no line in {text:?}"));
        assert_eq!(line.matches("provider=").count(), 1, "{line}");
    }
}
