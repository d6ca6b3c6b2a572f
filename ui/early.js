// Run by the window as the document starts (a Tauri initialization script, app/window.rs), not
// loaded by the page: asks for what the first render needs before the page's stylesheet and
// scripts have arrived. app.js takes each answer once, for its first request of that command.
// Every page of the window is Latchkey's own; the guard is for a window without Tauri's IPC.
"use strict";
(() => {
  const internals = window.__TAURI_INTERNALS__;
  if (!internals || window.__LATCHKEY_EARLY__) return;
  // Settled here, so that an error waits for app.js (which reports it) instead of going unhandled.
  const ask = (command, args) =>
    internals.invoke(command, args).then((value) => ({ value }), (error) => ({ error }));
  window.__LATCHKEY_EARLY__ = new Map([
    ["get_state", ask("get_state", { catalog: null })],
    ["get_marks", ask("get_marks", {})],
    ["get_settings", ask("get_settings", {})],
    ["get_start_at_login", ask("get_start_at_login", {})],
  ]);
})();
