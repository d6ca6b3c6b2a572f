//! A small W3C WebDriver client over HTTP, enough to drive Latchkey's window through
//! tauri-driver and WebKitWebDriver: sessions, finding elements, clicks, text, attributes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Session {
    http: reqwest::Client,
    base: String,
    id: String,
}

impl Session {
    /// Starts the app at `application` with `args` through the driver at `port`.
    pub async fn start(port: u16, application: &str, args: &[String]) -> Session {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let body = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "wry",
            "tauri:options": { "application": application, "args": args }
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&body)
            .send()
            .await
            .expect("the WebDriver answers")
            .json()
            .await
            .expect("JSON");
        let id = answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned();
        Session { http, base, id }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.id);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.expect("the WebDriver answers").json().await.expect("JSON");
        answer["value"].clone()
    }

    /// The element matching `css`, if any, now.
    pub async fn find(&self, css: &str) -> Option<String> {
        let v =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> String {
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

    /// Clicks; false when the element was gone (replaced by a re-render) or not clickable.
    pub async fn click(&self, element: &str) -> bool {
        let v = self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
        v.get("error").is_none()
    }

    /// Empties an input (WebDriver "Element Clear").
    pub async fn clear(&self, element: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({}))).await;
    }

    /// Types `text` into an input.
    pub async fn send_keys(&self, element: &str, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text }))).await;
    }

    pub async fn text(&self, element: &str) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.call(reqwest::Method::GET, &format!("/element/{element}/attribute/{name}"), None)
            .await
            .as_str()
            .map(str::to_owned)
    }

    /// Runs `script` in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    pub async fn text_of_body(&self) -> String {
        self.execute("return document.body.innerText").await.as_str().unwrap_or_default().to_owned()
    }

    /// The whole DOM as HTML, to search for secrets.
    pub async fn html(&self) -> String {
        self.execute("return document.documentElement.outerHTML").await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(png) = v.as_str().and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()) {
            let _ = std::fs::write(path, png);
        }
    }

    /// Ends the session; tauri-driver stops the app.
    pub async fn end(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.id)).send().await;
    }
}
