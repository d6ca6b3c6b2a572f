//! The `latchkey` command as scripts, programs and git meet it: the binary just built, in a
//! home of its own, against a connection signed in through the core to a GitHub faked on
//! 127.0.0.1 and kept in the real Secret Service. Run by scripts/test.sh (session bus, keychain).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use latchkey_core::manager::ManagerOptions;
use latchkey_core::vault::Vault;
use latchkey_core::ConnectionManager;
use latchkey_tests::wiremock::matchers::{method, path};
use latchkey_tests::wiremock::{Mock, ResponseTemplate};
use latchkey_tests::{callback, unique, FakeProvider, Recorder};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
/// The keychain service the command line reads, as the app does.
const SERVICE: &str = "dev.latchkey.desktop";

/// A home with one GitHub account signed in ("octocat", a one-hour token), its provider faked.
struct Home {
    dir: tempfile::TempDir,
    access: String,
    _github: Option<FakeProvider>,
}

impl Home {
    async fn with_github_account() -> Home {
        latchkey_tests::require_session_bus();
        let dir = tempfile::tempdir().unwrap();
        let github = FakeProvider::start("github").await;
        let access = unique("gho");
        let answer = serde_json::json!({
            "access_token": access, "refresh_token": unique("ghr"), "token_type": "bearer",
            "expires_in": 3600, "scope": "repo read:user",
        });
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&github.server)
            .await;
        Mock::given(path("/userinfo"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({ "login": "octocat" })))
            .mount(&github.server)
            .await;
        let data_dir = dir.path().join("data").join(SERVICE);
        let options = ManagerOptions { keychain_service: SERVICE.into(), ..ManagerOptions::new(&data_dir) };
        let browser = Arc::new(Recorder::default());
        let manager = Arc::new(ConnectionManager::with_vault(options, Vault::new(SERVICE), browser.clone()).unwrap());
        manager.add_provider(github.provider());
        manager.connect(&github.name).await.unwrap();
        manager.complete(&callback(&browser.last(), "&code=the-code")).await.unwrap();
        Home { dir, access, _github: Some(github) }
    }

    fn empty() -> Home {
        Home { dir: tempfile::tempdir().unwrap(), access: String::new(), _github: None }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let home = self.dir.path();
        cmd.env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("LATCHKEY_DEMO", "0")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GITHUB_CLIENT_ID")
            .stdin(Stdio::null());
        cmd
    }

    fn latchkey(&self, args: &[&str]) -> Output {
        self.command(BIN).args(args).output().unwrap()
    }

    /// Runs with `input` on stdin.
    fn with_input(&self, mut cmd: Command, input: &str) -> Output {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_command_has_help_and_a_misspelled_flag_or_command_is_refused() {
    let home = Home::empty();
    for args in [
        &["--help"][..],
        &["--version"],
        &["token", "--help"],
        &["list", "--help"],
        &["status", "--help"],
        &["exec", "--help"],
        &["git-credential", "--help"],
        &["completions", "--help"],
        &["man", "--help"],
        &["connect", "--help"],
        &["quit", "--help"],
    ] {
        let out = home.latchkey(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
    }
    for args in [&["list", "--jsno"][..], &["token"], &["frobnicate"], &["exec", "--env", "1X=github", "--", "true"]] {
        let out = home.latchkey(args);
        assert_eq!(out.status.code(), Some(2), "{args:?} is a usage error");
        assert!(text(&out.stderr).contains("error:"), "{args:?}: {}", text(&out.stderr));
    }
    let bash = home.latchkey(&["completions", "bash"]);
    assert!(bash.status.success() && text(&bash.stdout).contains("git-credential"), "bash completion");
    let man = home.latchkey(&["man"]);
    assert!(man.status.success() && text(&man.stdout).contains(".TH latchkey 1"), "man page");
}

#[tokio::test]
async fn token_json_gives_the_token_with_what_it_is_for() {
    let home = Home::with_github_account().await;
    let out = home.latchkey(&["token", "github", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["token"], home.access.as_str());
    assert_eq!(doc["type"], "Bearer");
    assert_eq!(doc["account"], "octocat");
    assert_eq!(doc["provider"], "github");
    assert_eq!(doc["scopes"], serde_json::json!(["repo", "read:user"]));
    assert!(doc["expires_at"].as_str().is_some_and(|t| t.starts_with("20")), "{doc}");
    assert!(doc["connection"].as_str().is_some_and(|c| c.starts_with("github-")), "{doc}");
    let plain = home.latchkey(&["token", "github"]);
    assert_eq!(text(&plain.stdout).trim(), home.access);
    let missing = home.latchkey(&["token", "gitlab"]);
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing.stderr));
}

#[tokio::test]
async fn exec_puts_the_token_in_the_environment_only_and_exits_as_the_program_does() {
    let home = Home::with_github_account().await;
    let script = r#"printf %s "$GH_TOKEN" > "$1"; printf '%s\n' "$0" "$@" > "$2"; exit 7"#;
    let (env_out, argv_out) = (home.file("env.txt"), home.file("argv.txt"));
    let out = home.latchkey(&[
        "exec",
        "--env",
        "GH_TOKEN=github",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        env_out.to_str().unwrap(),
        argv_out.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(7), "the program's exit code: {}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&env_out).unwrap(), home.access, "the token is in GH_TOKEN");
    let argv = std::fs::read_to_string(&argv_out).unwrap();
    assert!(!argv.contains(&home.access), "the token is in no argument: {argv}");
    let unknown = home.latchkey(&["exec", "--env", "T=nosuch", "--", "sh", "-c", "exit 0"]);
    assert_eq!(unknown.status.code(), Some(3), "an unknown account is refused before the program runs");
}

#[tokio::test]
async fn git_credential_fill_gets_the_token_of_the_connected_account() {
    let home = Home::with_github_account().await;
    let helper = format!("{BIN} git-credential");
    let fill = |host: &str| {
        let mut git = home.command("git");
        git.args(["-c", "credential.helper=", "-c", &format!("credential.helper={helper}"), "credential", "fill"]);
        home.with_input(git, &format!("protocol=https\nhost={host}\n\n"))
    };
    let out = fill("github.com");
    assert!(out.status.success(), "git credential fill: {}", text(&out.stderr));
    let answer = text(&out.stdout);
    assert!(answer.contains("username=octocat\n"), "GitHub's user name is the login: {answer}");
    assert!(answer.contains(&format!("password={}\n", home.access)), "{answer}");

    // A host no connection serves: the helper says nothing, so git goes on (and, with no
    // terminal to ask, fails on its own).
    let mut helper_alone = home.command(BIN);
    helper_alone.args(["git-credential", "get"]);
    let none = home.with_input(helper_alone, "protocol=https\nhost=example.org\n\n");
    assert!(none.status.success() && none.stdout.is_empty(), "{}", text(&none.stdout));
    assert!(!text(&fill("example.org").stdout).contains(&home.access));

    // store and erase change nothing: the token is still handed out.
    for op in ["store", "erase"] {
        let mut cmd = home.command(BIN);
        cmd.args(["git-credential", op]);
        let line = format!("protocol=https\nhost=github.com\nusername=octocat\npassword={}\n\n", home.access);
        assert!(home.with_input(cmd, &line).status.success(), "{op}");
    }
    assert!(text(&fill("github.com").stdout).contains(&home.access), "the keychain still has it");
}

/// `latchkey connect <provider> --device` (issue 14): the code and the address on the terminal,
/// the wait, the account kept; then `latchkey token` hands out its token. Against an OpenID
/// Connect server faked on 127.0.0.1 that offers the device grant, added as the window adds one.
#[tokio::test]
async fn connect_with_a_code_signs_in_without_a_redirect() {
    use latchkey_core::description::{Nickname, ProviderSpec};
    use latchkey_core::settings::{ClientSettings, Settings};
    latchkey_tests::require_session_bus();
    let home = Home::empty();
    let sso = latchkey_tests::wiremock::MockServer::start().await;
    let base = sso.uri();
    let url = |p: &str| url::Url::parse(&format!("{base}{p}")).unwrap();
    Mock::given(method("POST"))
        .and(path("/device"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "device_code": "dc-1", "user_code": "WDJB-MJHT", "verification_uri": "https://sso.example/device",
            "expires_in": 60, "interval": 1,
        })))
        .expect(1)
        .mount(&sso)
        .await;
    let access = unique("sso-at");
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "authorization_pending"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&sso)
        .await;
    latchkey_tests::mount_sso_account(&sso, &access, &unique("sso-rt")).await;
    let id = latchkey_core::ProviderId::new("sso").unwrap();
    let mut spec = ProviderSpec::new(
        id.clone(),
        "SSO",
        url("/authorize"),
        url("/token"),
        Nickname::get(url("/userinfo"), &["/email"]),
    );
    spec.device_url = Some(url("/device"));
    let mut settings = Settings { demo_provider: false, ..Default::default() };
    settings.custom.insert(id.clone(), spec);
    settings.clients.insert(id, ClientSettings { client_id: "sso-client".into(), scopes: None });
    let config = home.dir.path().join("config").join(SERVICE);
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("settings.json"), serde_json::to_vec(&settings).unwrap()).unwrap();

    let out = home.command(BIN).args(["connect", "sso", "--device"]).env_remove("DISPLAY").output().unwrap();
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(said.contains("https://sso.example/device") && said.contains("WDJB-MJHT"), "{said}");
    assert!(said.contains("Connected ada@sso.example to sso"), "{said}");
    assert!(!said.contains(&access) && !said.contains("dc-1"), "no secret printed");
    let token = home.latchkey(&["token", "sso"]);
    assert_eq!(text(&token.stdout).trim(), access, "{}", text(&token.stderr));
    let listed = home.latchkey(&["list", "--json"]);
    let connections: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let cid = connections[0]["id"].as_str().unwrap().to_owned();
    let _ = Command::new("secret-tool").args(["clear", "service", SERVICE, "username", &cid]).status();

    // A provider without the grant says so.
    let out = home.latchkey(&["connect", "github", "--device"]);
    assert_ne!(out.status.code(), Some(0));
}

/// `latchkey connect demo --device` (issue 14), as a newcomer on a machine without a desktop
/// would try it: the code and the Demo's address on the terminal, the code approved on the
/// Demo's page over HTTP (curl here, a browser anywhere), the account kept.
#[test]
fn connect_demo_with_a_code_on_the_command_line() {
    use std::io::BufRead;
    latchkey_tests::require_session_bus();
    let home = Home::empty();
    let mut child = home
        .command(BIN)
        .args(["connect", "demo", "--device"])
        .env("LATCHKEY_DEMO", "1")
        .env_remove("DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = String::new();
    let (address, code) = loop {
        let line = lines.next().expect("the code is printed").unwrap();
        said += &line;
        said.push('\n');
        let code = line.trim();
        if code.len() == 9 && code.as_bytes()[4] == b'-' {
            let address = said.split("open ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
            break (address, code.to_owned());
        }
    };
    assert!(address.starts_with("http://127.0.0.1:") && address.ends_with("/device"), "{said}");
    let approved = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "-d", &format!("user_code={code}&user=ada&decision=approve"), &address])
        .status()
        .unwrap();
    assert!(approved.success(), "the Demo's page took the code");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let rest = rest.join("\n");
    assert!(status.success(), "{said}{rest}");
    assert!(rest.contains("Connected ada to demo"), "{said}{rest}");
    let listed = home.latchkey(&["list", "--json"]);
    let connections: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = connections[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(connections[0]["nickname"], "ada");
    let _ = Command::new("secret-tool").args(["clear", "service", SERVICE, "username", &id]).status();
}
