//! Loopback redirects (RFC 8252 §7.3), for providers that refuse private-use schemes: a
//! listener on the literal 127.0.0.1, on a port the OS picks, opened for one sign-in and closed
//! after the callback with its state, on cancel or on expiry. It answers with a self-contained page
//! (nothing loaded from elsewhere, `Referrer-Policy: no-referrer`) and hands the callback to the
//! same completion path as the deep link. Checklist line 12.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

use super::error::{html_escape as escape, printable};
use super::{AuthError, Connection};

/// Where a loopback callback goes: the same completion path as a deep link.
#[async_trait::async_trait]
pub trait CompletesSignIn: Send + Sync {
    async fn complete_sign_in(&self, callback_url: &str) -> Result<Connection, AuthError>;
}

/// Closes the listener when dropped (the flow was cancelled or forgotten). A callback already
/// being completed is not interrupted.
pub struct Guard(#[allow(dead_code)] oneshot::Sender<()>);

/// Binds 127.0.0.1 on a port the OS picks.
pub(super) async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// At most this many connections are served at once; more are closed unanswered.
const MAX_CONNECTIONS: usize = 8;

/// What one sign-in's listener answers for: its path, its state, its port, and the host its
/// redirect URI names (`127.0.0.1`, or `localhost` for Microsoft).
#[derive(Clone)]
struct Expected {
    host: &'static str,
    path: String,
    state: String,
    port: u16,
}

/// Serves `path` on `listener` for at most `ttl`, until the callback of this sign-in (its exact
/// `state`) has been answered. Connections are served concurrently, a few at a time, so an idle
/// one holds nothing up; a request with another state is refused and the listener stays.
pub(super) fn serve(
    listener: TcpListener,
    host: &'static str,
    path: String,
    state: String,
    ttl: Duration,
    manager: Weak<dyn CompletesSignIn>,
) -> Guard {
    let (tx, mut cancelled) = oneshot::channel::<()>();
    let expected = Expected { host, path, state, port: listener.local_addr().map(|a| a.port()).unwrap_or(0) };
    tokio::spawn(async move {
        let expiry = tokio::time::sleep(ttl);
        tokio::pin!(expiry);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (answered, mut done) = mpsc::channel::<()>(1);
        loop {
            let stream = tokio::select! {
                _ = &mut cancelled => return,
                _ = &mut expiry => return,
                _ = done.recv() => return, // this sign-in's callback was answered: close
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, "the loopback listener failed");
                        return;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                debug!("too many connections to the loopback listener; one closed unanswered");
                continue;
            };
            // Not a child of this task: a callback being completed is not interrupted by a cancel.
            tokio::spawn(answer(stream, expected.clone(), manager.clone(), answered.clone(), slot));
        }
    });
    Guard(tx)
}

/// Answers one connection; completes the sign-in only for a GET of the path with its state.
async fn answer(
    mut stream: TcpStream,
    expected: Expected,
    manager: Weak<dyn CompletesSignIn>,
    answered: mpsc::Sender<()>,
    _slot: OwnedSemaphorePermit,
) {
    let Some(target) = read_target(&mut stream).await else {
        respond(&mut stream, "400 Bad Request", "Latchkey", "This is not a sign-in answer.").await;
        return;
    };
    let (target_path, query) = target.split_once('?').unwrap_or((&target, ""));
    if target_path != expected.path {
        // A favicon or a stray request: not the callback, keep waiting.
        respond(&mut stream, "404 Not Found", "Latchkey", "Nothing here.").await;
        return;
    }
    let state = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "state").map(|(_, v)| v);
    if state.as_deref() != Some(expected.state.as_str()) {
        debug!("a loopback request for another sign-in was refused; still waiting for this one");
        respond(&mut stream, "400 Bad Request", "Latchkey", "This answer is not for the sign-in in progress.").await;
        return;
    }
    let Some(manager) = manager.upgrade() else { return };
    let url = format!("http://{}:{}{target}", expected.host, expected.port);
    debug!("loopback callback received");
    let (title, message) = match manager.complete_sign_in(&url).await {
        Ok(connection) => (
            "Connected".to_owned(),
            format!("Latchkey connected {}. You can close this tab and return to Latchkey.", connection.nickname),
        ),
        Err(e) => ("Sign-in failed".to_owned(), format!("{e}. Return to Latchkey to try again.")),
    };
    respond(&mut stream, "200 OK", &title, &message).await;
    let _ = answered.try_send(());
}

/// The request target of a `GET`, from a request head of at most 8 KiB read within 5 s.
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    })
    .await;
    read.ok().flatten()?;
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(version)) if target.starts_with('/') && version.starts_with("HTTP/1.") => {
            Some(target.to_owned())
        }
        _ => None,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:4rem auto;max-width:32rem;padding:0 1rem}}</style>\
         </head><body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(&printable(message, 400))
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Referrer-Policy: no-referrer\r\nContent-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
