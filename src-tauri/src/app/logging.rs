//! Logs to stderr and to `latchkey.log` in the app's log directory, through `tracing`. What is
//! logged is chosen field by field in the core; no token, code or callback query is logged.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Larger than this, the previous log is moved to `latchkey.log.1` at start.
const ROTATE_BYTES: u64 = 5 * 1024 * 1024;

/// The log file, once its directory is known (at setup).
#[derive(Clone, Default)]
pub struct LogFile(Arc<Mutex<Option<File>>>);

pub struct LogFileWriter(Arc<Mutex<Option<File>>>);

impl Write for LogFileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match file.as_mut() {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut file = self.0.lock().unwrap_or_else(|p| p.into_inner());
        file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.0.clone())
    }
}

/// Starts logging to stderr (level from `RUST_LOG`, default info) and returns the file sink.
pub fn init() -> LogFile {
    let file = LogFile::default();
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        // No colours: the two layers share how span fields are formatted, and the file must
        // stay plain text.
        .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(std::io::stderr).with_filter(filter()))
        .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(file.clone()).with_filter(filter()))
        .try_init();
    file
}

/// Opens `latchkey.log` in `dir` for appending (after rotating a large one).
pub fn open_file(sink: &LogFile, dir: &Path) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::warn!(error = %e, "no log directory; logging to stderr only");
        return;
    }
    let path = dir.join("latchkey.log");
    if std::fs::metadata(&path).map(|m| m.len() > ROTATE_BYTES).unwrap_or(false) {
        let _ = std::fs::rename(&path, dir.join("latchkey.log.1"));
    }
    match OpenOptions::new().create(true).append(true).open(&path) {
        Ok(file) => {
            *sink.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
            tracing::info!(path = %path.display(), "logging to file");
        }
        Err(e) => tracing::warn!(error = %e, "cannot open the log file; logging to stderr only"),
    }
}
