// The command line's definition, shared with the app: the completions and the manual page are
// rendered here, so the binary carries the texts and not clap_complete and clap_mangen.
#[allow(dead_code)] // the build reads the definition only, not every field
#[path = "src/cli/args.rs"]
mod args;

// The window's requests and commands, from their one list.
include!("../crates/resident/src/window_requests.rs");

/// The names of the page's commands and of the window's own.
macro_rules! command_names {
    (
        page { $($page:ident : $Variant:ident { $($arguments:tt)* }),* $(,)? }
        window { $($own:tt)* }
        commands { $($command:ident),* $(,)? }
    ) => {
        &[$(stringify!($page),)* $(stringify!($command),)*]
    };
}

fn main() {
    render_command_line_texts();

    // Declaring the app's commands makes tauri-build generate an `allow-<command>` permission
    // for each, so that capabilities/default.json grants exactly what the page uses, command by
    // command (tests/packaging checks that it grants each of them and nothing else).
    println!("cargo:rerun-if-changed=../crates/resident/src/window_requests.rs");
    let commands: &[&str] = window_requests!(command_names);
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("tauri-build failed");
}

/// Writes `completion.<shell>` for each shell and `latchkey.1` into OUT_DIR.
fn render_command_line_texts() {
    use clap::{CommandFactory, ValueEnum};
    println!("cargo:rerun-if-changed=src/cli/args.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for shell in args::Shell::value_variants() {
        let name = shell.to_possible_value().expect("every shell is listed").get_name().to_owned();
        let generator = match shell {
            args::Shell::Bash => clap_complete::Shell::Bash,
            args::Shell::Zsh => clap_complete::Shell::Zsh,
            args::Shell::Fish => clap_complete::Shell::Fish,
            args::Shell::Elvish => clap_complete::Shell::Elvish,
            args::Shell::Powershell => clap_complete::Shell::PowerShell,
        };
        let mut script = Vec::new();
        clap_complete::generate(generator, &mut args::Cli::command(), "latchkey", &mut script);
        std::fs::write(out.join(format!("completion.{name}")), script).expect("writing a completion script");
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(args::Cli::command()).render(&mut page).expect("rendering the manual page");
    std::fs::write(out.join("latchkey.1"), page).expect("writing the manual page");
}
