// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

//! `latchkey-window`: Latchkey's window, which `latchkey` starts on Linux when a launch is to
//! open it (the accounts are `latchkey-resident`'s, which the window starts when none runs). A
//! sign-in callback among its arguments is completed. Elsewhere `latchkey` is the window itself.

fn main() {
    latchkey::app::start(false)
}
