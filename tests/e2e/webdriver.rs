//! The WebDriver session of the end-to-end tests and the window benchmark: fantoccini speaking
//! W3C WebDriver to tauri-driver (which puts WebKitWebDriver in front of the app), with the few
//! waits the tests need. Every WebDriver failure fails the test, except the two that are
//! answers: "no such element" (not there yet, or gone) and "stale element" (re-rendered).

use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// Whether an error says the element is no longer in the page (a re-render replaced it).
fn gone(e: &CmdError) -> bool {
    e.is_stale_element_reference() || e.is_no_such_element()
}

pub struct Session {
    client: Client,
}

impl Session {
    /// Starts the app at `application` with `args` through the driver at `port`.
    pub async fn start(port: u16, application: &str, args: &[String]) -> Session {
        Session::try_start(port, application, args).await.unwrap_or_else(|(_, e)| panic!("{e}"))
    }

    /// As [`Session::start`], saying why when there is no session: `Err((true, …))` when the
    /// driver itself did not answer the request (its transport failed), as opposed to a session
    /// that never came (the app did not start).
    pub async fn try_start(port: u16, application: &str, args: &[String]) -> Result<Session, (bool, String)> {
        let capabilities = json!({
            "browserName": "wry",
            "tauri:options": { "application": application, "args": args }
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        // Creating a session launches the app; one that never answers fails the test instead of
        // holding the suite (and CI) forever.
        let driver = format!("http://127.0.0.1:{port}");
        let connecting = builder.connect(&driver);
        match tokio::time::timeout(Duration::from_secs(90), connecting).await {
            Err(_) => Err((false, "no WebDriver session within 90 s".into())),
            Ok(Err(e)) => {
                use fantoccini::error::NewSessionError::{Failed, FailedC, Lost};
                let transport = matches!(e, Failed(_) | FailedC(_) | Lost(_));
                Err((transport, format!("no WebDriver session: {e}")))
            }
            Ok(Ok(client)) => Ok(Session { client }),
        }
    }

    /// The element matching `css`, if any, now. A find that races a re-render (WebKitWebDriver:
    /// "stale element found when trying to create the node handle") finds nothing this time.
    pub async fn find(&self, css: &str) -> Option<Element> {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => Some(element),
            Err(e) if gone(&e) => None,
            Err(e) => panic!("finding {css}: {e:?}"),
        }
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let start = Instant::now();
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            if start.elapsed() > timeout {
                panic!("no element {css} after {timeout:?}; the page is:\n{}", self.text_of_body().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `css` matches nothing.
    pub async fn wait_gone(&self, css: &str, timeout: Duration) {
        let start = Instant::now();
        while self.find(css).await.is_some() {
            if start.elapsed() > timeout {
                panic!("{css} still there after {timeout:?}; the page is:\n{}", self.text_of_body().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks; false when the element was replaced by a re-render (or is not clickable yet).
    pub async fn click(&self, element: &Element) -> bool {
        self.click_closing(element, false).await
    }

    /// As [`Session::click`]; with `closes`, the button closes the window, which may be gone
    /// before the driver answers the click: "no such window" then says the click did its work,
    /// and so does an unknown error, which WebKitWebDriver answers when the window's process
    /// ended under the click (on Linux that process ends with its window). Every caller then
    /// checks that the window did close.
    pub async fn click_closing(&self, element: &Element, closes: bool) -> bool {
        match element.click().await {
            Ok(()) => true,
            Err(CmdError::Standard(w))
                if closes && matches!(w.error, ErrorStatus::NoSuchWindow | ErrorStatus::UnknownError) =>
            {
                true
            }
            Err(e) if gone(&e) || e.is_element_not_interactable() => false,
            Err(CmdError::Standard(w)) if w.error == ErrorStatus::ElementClickIntercepted => false,
            Err(e) => panic!("clicking: {e:?}"),
        }
    }

    /// Empties an input (WebDriver "Element Clear").
    pub async fn clear(&self, element: &Element) {
        element.clear().await.unwrap_or_else(|e| panic!("clearing an input: {e}"));
    }

    /// Types `text` into an input.
    pub async fn send_keys(&self, element: &Element, text: &str) {
        element.send_keys(text).await.unwrap_or_else(|e| panic!("typing into an input: {e}"));
    }

    /// The element's text; `None` when a re-render replaced the element meanwhile.
    pub async fn text(&self, element: &Element) -> Option<String> {
        match element.text().await {
            Ok(text) => Some(text),
            Err(e) if gone(&e) => None,
            Err(e) => panic!("reading an element's text: {e:?}"),
        }
    }

    /// The element's attribute; `None` when it has none, or when a re-render replaced the element.
    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        match element.attr(name).await {
            Ok(value) => value,
            Err(e) if gone(&e) => None,
            Err(e) => panic!("reading attribute {name}: {e:?}"),
        }
    }

    /// Runs `script` in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("running {script:?}: {e}"))
    }

    /// Resizes the window (the narrow-window checks).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resizing to {width}x{height}: {e}"));
    }

    pub async fn text_of_body(&self) -> String {
        self.execute("return document.body.innerText").await.as_str().unwrap_or_default().to_owned()
    }

    /// The whole DOM as HTML, to search for secrets.
    pub async fn html(&self) -> String {
        self.execute("return document.documentElement.outerHTML").await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("taking a screenshot: {e}"));
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Ends the session; tauri-driver stops the app.
    pub async fn end(self) {
        if let Err(e) = self.client.close().await {
            eprintln!("ending the WebDriver session: {e}");
        }
    }
}
