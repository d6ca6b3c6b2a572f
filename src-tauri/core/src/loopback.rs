//! Loopback redirects (RFC 8252 §7.3), for providers that refuse private-use schemes: a
//! one-shot listener on the literal 127.0.0.1, on a port the OS picks, opened for one sign-in
//! and closed after its callback, on cancel or on expiry. It answers with a self-contained page
//! (nothing loaded from elsewhere, `Referrer-Policy: no-referrer`) and hands the callback to the
//! same completion path as the deep link. Checklist line 12.

use std::sync::Weak;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
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

/// Serves `path` once on `listener` for at most `ttl`.
pub(super) fn serve(listener: TcpListener, path: String, ttl: Duration, manager: Weak<dyn CompletesSignIn>) -> Guard {
    let (tx, mut cancelled) = oneshot::channel::<()>();
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        let expiry = tokio::time::sleep(ttl);
        tokio::pin!(expiry);
        loop {
            let mut stream = tokio::select! {
                _ = &mut cancelled => return,
                _ = &mut expiry => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, "the loopback listener failed");
                        return;
                    }
                },
            };
            let Some(target) = read_target(&mut stream).await else {
                respond(&mut stream, "400 Bad Request", "Latchkey", "This is not a sign-in answer.").await;
                continue;
            };
            if target.split('?').next() != Some(path.as_str()) {
                // A favicon or a stray request: not the callback, keep waiting.
                respond(&mut stream, "404 Not Found", "Latchkey", "Nothing here.").await;
                continue;
            }
            let Some(manager) = manager.upgrade() else { return };
            let url = format!("http://127.0.0.1:{port}{target}");
            debug!("loopback callback received");
            let (title, message) = match manager.complete_sign_in(&url).await {
                Ok(connection) => (
                    "Connected".to_owned(),
                    format!(
                        "Latchkey connected {}. You can close this tab and return to Latchkey.",
                        connection.nickname
                    ),
                ),
                Err(e) => ("Sign-in failed".to_owned(), format!("{e}. Return to Latchkey to try again.")),
            };
            respond(&mut stream, "200 OK", &title, &message).await;
            return; // one callback: the listener closes with this task
        }
    });
    Guard(tx)
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
