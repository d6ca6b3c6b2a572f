// Latchkey's window: renders the snapshot the core sends (providers, sign-ins, connections,
// errors) and forwards clicks as commands. It never sees a token.
//
// Two lists: "Your accounts" (every connection, whatever its provider) and "Add an account" (the
// providers, one line each, the ready ones first; a searchable list with one panel open at a
// time). Each row is kept and rebuilt only when what it is made of changes, so a change leaves
// the others (their focus and their open panel) as they were, and a notice is announced once; what
// every refresh changes (an account's state, expiry, last refresh) is patched into the kept row.
"use strict";

// Tauri's IPC as every page has it, without the global API bundle (`withGlobalTauri`), which
// cost the web process about 40 MiB (docs/benchmarks.md): commands only, no events (see follow).
// Each request is a command of its own, granted to the page one by one; those about accounts and
// providers are relayed to the part of Latchkey that holds them (on Linux another process). The
// list of them is crates/resident/src/window_requests.rs.
const internals = window.__TAURI_INTERNALS__; // (not `ipc`: wry's page already has a global of that name)
const ask = (command, args = {}) => internals.invoke(command, args);
// The first request of a command early.js already made is answered by that request.
const early = window.__LATCHKEY_EARLY__ || new Map();
const invoke = (command, args = {}) => {
  const asked = early.get(command);
  if (!asked) return ask(command, args);
  early.delete(command);
  return asked.then((answer) => ("error" in answer ? Promise.reject(answer.error) : answer.value));
};

let marks = {}; // provider id -> [letter, colour], from the catalog (get_marks)
const logos = window.LATCHKEY_LOGOS || {}; // provider id -> [brand colour, logo path] (ui/logos/logos.js)

let snapshot = null;
let settings = { clients: {}, custom: {} };
let previous = new Map(); // connection id -> nickname, to announce changes
const confirming = new Set(); // connection ids whose Disconnect awaits confirmation
const explained = new Set(); // disconnected ids already announced with more to say
const editingClient = new Set(); // providers whose client registration is being changed
let openPanel = null; // the one provider whose set-up or options are unfolded ("add": the address form)
const announcedErrors = new Map(); // provider id -> the error text last announced

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else if (key.startsWith("data")) node.setAttribute(key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A value made at its first use.
function once(make) {
  let value;
  return () => (value ??= make());
}

// The formatters load the locale's data when made (about 7 ms at start-up, with no account to
// show), so they are made when first needed.
const relativeFormat = once(() => new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }));
const dateFormat = once(() => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }));

function fromNow(iso) {
  const relative = relativeFormat();
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, "second");
  if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

// Says what happened in the status line. A refusal's kind (`not_found`, `provider_unavailable`,
// …: the classification the command line's exit codes and the D-Bus errors use) marks it as an
// error; a plain text is news.
function announce(text, kind) {
  const status = $("#status");
  status.textContent = text;
  if (kind) status.dataset.kind = kind;
  else delete status.dataset.kind;
}

// A refused request as the window's commands give it (`{kind, message}`), or anything else thrown.
function refusal(e) {
  return e && typeof e === "object" && typeof e.message === "string"
    ? { kind: typeof e.kind === "string" ? e.kind : "failed", message: e.message }
    : { kind: "failed", message: String(e) };
}

// After a disconnect the provider did not confirm: what happened, and where to finish it.
function showRevocationNote(provider, nickname, why) {
  const place = provider.access_page
    ? el("a", { href: provider.access_page, dataAction: "open-access-page", onclick: (e) => {
        e.preventDefault();
        run("open_provider_page", { providerId: provider.id, page: "access" });
      } }, `${provider.name}'s page for connected apps`)
    : `your ${provider.name} account settings`;
  const note = el("p", { class: "revocation-note", role: "status", dataRevocation: provider.id },
    `Disconnected ${nickname} from Latchkey. ${why} You can remove Latchkey's access in `, place, ".");
  $("#status").replaceChildren(note);
}

async function run(command, args, busyButton) {
  if (busyButton) busyButton.disabled = true;
  try {
    return await invoke(command, args);
  } catch (e) {
    const { kind, message } = refusal(e);
    announce(message, kind);
    return undefined;
  } finally {
    if (busyButton) busyButton.disabled = false;
  }
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const field = button.closest(".copy-row")?.querySelector("input");
    if (field) { field.focus(); field.select(); document.execCommand("copy"); }
  }
  announce("Copied.");
}

function copyRow(value, label, key) {
  const input = el("input", { type: "text", readonly: true, value, "aria-label": label, dataKey: key + ":field" });
  const button = el("button", { type: "button", dataKey: key + ":copy", "aria-label": `Copy the ${label.toLowerCase()}`,
    onclick: (e) => copy(value, e.currentTarget) }, "Copy");
  return el("div", { class: "copy-row" }, input, button);
}

// A provider's mark: its logo (simple-icons, white on the brand colour) or its initial. The logo is
// an SVG element in the page, not an image: the eighteen SVG images a stylesheet named held the
// page's load and its first frame back, and an image set on a rebuilt element was kept by WebKit
// (~75 KiB each time; docs/decisions/0008-logos-are-svg-elements.md). The colour is set through the
// CSSOM (the CSP forbids style attributes, not that).
const SVG = "http://www.w3.org/2000/svg";
function mark(id, name) {
  const node = el("span", { class: "mark", "aria-hidden": "true" });
  const [colour, path] = Array.isArray(logos[id]) ? logos[id] : [];
  if (/^#[0-9A-Fa-f]{6}$/.test(colour || "") && typeof path === "string") {
    node.classList.add("logo");
    node.style.backgroundColor = colour;
    const glyph = document.createElementNS(SVG, "svg");
    glyph.setAttribute("class", "glyph");
    glyph.setAttribute("viewBox", "0 0 24 24");
    const shape = document.createElementNS(SVG, "path");
    shape.setAttribute("d", path);
    glyph.append(shape);
    node.append(glyph);
  } else {
    const [letter, background] = marks[id] || [name.slice(0, 1).toUpperCase(), "#64748b"];
    node.textContent = letter;
    node.style.backgroundColor = background;
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Your accounts

// A connection's details line; it reads the clock, so the tick updates it in place.
function connectionDetails(provider, c) {
  const needsReconnect = c.status === "needs_reconnect";
  const details = [`Connected since ${dateFormat().format(new Date(c.connected_at))}`];
  if (provider.refreshing.includes(c.id)) {
    details.push("refreshing…");
  } else if (!needsReconnect && c.expires_at) {
    const expired = new Date(c.expires_at) <= new Date();
    details.push(expired ? `token expired ${fromNow(c.expires_at)}` : `token expires ${fromNow(c.expires_at)}`);
  }
  if (c.last_refreshed) details.push(`last refreshed ${fromNow(c.last_refreshed)}`);
  if (!needsReconnect && c.renewable === false) {
    details.push(`${provider.name} gave no refresh token: reconnect when this token expires`);
  }
  return details.join(" · ");
}

function accountRow(provider, c) {
  const needsReconnect = c.status === "needs_reconnect";
  const who = `${c.nickname} at ${provider.name}`;
  const key = `conn:${c.id}`;
  const actions = el("div", { class: "actions" });
  if (needsReconnect) {
    actions.append(el("button", {
      type: "button", class: "primary", dataAction: "reconnect", dataKey: key + ":reconnect",
      "aria-label": `Reconnect ${who}`,
      onclick: async (e) => {
        if ((await run("connect", { providerId: provider.id }, e.currentTarget)) !== undefined) {
          announce(`Finish signing in to ${provider.name} in your browser.`);
        }
      },
    }, "Reconnect"));
  }
  if (confirming.has(c.id)) {
    actions.append(
      el("button", {
        type: "button", class: "danger", dataAction: "confirm-disconnect", dataKey: key + ":confirm",
        "aria-label": `Disconnect ${who} now`,
        onclick: async (e) => {
          confirming.delete(c.id);
          const result = await run("disconnect", { connectionId: c.id }, e.currentTarget);
          if (result === "not_confirmed" || result === "not_supported") {
            explained.add(c.id);
            const why = result === "not_supported"
              ? `${provider.name} offers no way for apps to end their access, so it stays until you remove it there.`
              : `${provider.name} did not confirm that it ended Latchkey's access.`;
            showRevocationNote(provider, c.nickname, why);
          }
        },
      }, "Disconnect now"),
      el("button", {
        type: "button", dataAction: "keep", dataKey: key + ":keep", "aria-label": `Keep ${who}`,
        onclick: () => { confirming.delete(c.id); render(key + ":disconnect"); },
      }, "Keep"),
    );
  } else {
    actions.append(el("button", {
      type: "button", class: "danger", dataAction: "disconnect", dataKey: key + ":disconnect",
      "aria-label": `Disconnect ${who}`,
      onclick: () => { confirming.add(c.id); render(key + ":confirm"); },
    }, "Disconnect"));
  }
  const granted = c.scopes.length ? c.scopes.join(", ") : "what the provider granted by default";
  const row = el("li", { class: "account", dataConnection: c.id, dataOf: provider.id },
    mark(provider.id, provider.name),
    el("div", { class: "grow" },
      el("h3", { class: "account-title" }, el("span", { class: "nickname" }, c.nickname),
        el("span", { class: "visually-hidden" }, `, ${provider.name}`)),
      el("div", { class: "account-provider" }, provider.name,
        el("span", { class: needsReconnect ? "badge warn" : "badge ok" })),
      el("div", { class: "details", dataDetails: c.id }),
      el("div", { class: "details granted", dataGranted: c.id }, `Granted: ${granted}`),
      confirming.has(c.id)
        ? el("p", { class: "confirm-note" }, `Disconnect ends Latchkey's access at ${provider.name} and deletes the tokens from your keychain.`)
        : null),
    actions);
  patchAccount(row, provider, c);
  return row;
}

// What changes with every refresh (the state, "expires in", "last refreshed"), set on a kept
// row in place: a refresh rebuilds nothing.
function patchAccount(row, provider, c) {
  let state = "Connected";
  if (c.status === "needs_reconnect") state = "Needs reconnecting";
  else if (provider.refreshing.includes(c.id)) state = "Refreshing";
  if (row.dataset.state !== state) row.dataset.state = state;
  const badge = row.querySelector(".badge");
  if (badge.textContent !== state) badge.textContent = state;
  const details = row.querySelector("[data-details]");
  const text = connectionDetails(provider, c);
  if (details.textContent !== text) details.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Add an account: the providers

// The client registration form. The secret goes to the keychain and never comes back here.
function clientForm(p, key, current) {
  const id = el("input", { type: "text", autocomplete: "off", spellcheck: "false", dataKey: key + ":client-id",
    "aria-label": `${p.name} client ID`, placeholder: "Client ID", name: "client-id", value: current || null });
  const secret = el("input", { type: "password", autocomplete: "off", dataKey: key + ":client-secret",
    "aria-label": `${p.name} client secret`, placeholder: "Client secret (if the provider gave you one)", name: "client-secret" });
  const form = el("form", { class: "client-form", dataClientForm: p.id },
    id, secret, el("button", { type: "submit", class: "primary", dataKey: key + ":save",
      "aria-label": `Save the ${p.name} client registration` }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await run("save_client", { providerId: p.id, clientId: id.value, clientSecret: secret.value || null },
      form.querySelector("button"));
    secret.value = "";
    if (saved !== undefined) {
      editingClient.delete(p.id);
      await loadSettings();
      announce(`${p.name} is set up: you can connect it now.`);
      render(`prov:${p.id}:connect`);
    }
  });
  return form;
}

// The redirect kinds a provider accepts, when there is a choice: the window says which URI to
// register for each and switches on a click (for the next sign-in).
const REDIRECT_LABELS = { "private-use": "an app link", loopback: "a local address (any port)" };
function redirectChoice(p, key) {
  if (p.redirect_choices.length < 2) return null;
  const group = el("fieldset", { class: "redirect-choice", dataRedirectChoice: p.id },
    el("legend", {}, "If the provider refuses this redirect URI, use instead:"));
  for (const choice of p.redirect_choices.slice(1)) {
    group.append(el("button", {
      type: "button", dataKey: `${key}:redirect-${choice.kind}`, dataRedirectKind: choice.kind,
      onclick: async (e) => {
        if ((await run("set_redirect", { providerId: p.id, kind: choice.kind }, e.currentTarget)) !== undefined) {
          announce(`${p.name} will use ${REDIRECT_LABELS[choice.kind] || choice.kind}: register ${choice.uri}`);
        }
      },
    }, `${REDIRECT_LABELS[choice.kind] || choice.kind}: ${choice.uri}`));
  }
  return group;
}

// The scopes sign-ins ask for, editable; they apply from the next Connect.
function scopesForm(p, key) {
  const field = el("input", { type: "text", autocomplete: "off", spellcheck: "false", dataKey: key + ":scopes",
    "aria-label": `${p.name} permissions (scopes)`, name: "scopes", value: p.scopes.join(" "), placeholder: "Scopes, separated by spaces" });
  const form = el("form", { class: "client-form scopes-form", dataScopesForm: p.id },
    field,
    el("button", { type: "submit", dataKey: key + ":scopes-save", "aria-label": `Save the ${p.name} permissions` }, "Save"),
    el("button", {
      type: "button", dataKey: key + ":scopes-reset", "aria-label": `Use the default ${p.name} permissions`,
      onclick: async (e) => {
        if ((await run("set_scopes", { providerId: p.id, scopes: "" }, e.currentTarget)) !== undefined) {
          announce(`${p.name} will ask for its usual permissions.`);
        }
      },
    }, "Use defaults"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await run("set_scopes", { providerId: p.id, scopes: field.value }, form.querySelector("button"));
    if (saved !== undefined) announce(`${p.name} will ask for these permissions at the next sign-in.`);
  });
  const summary = p.scopes.length ? p.scopes.join(", ") : "the provider's defaults";
  return el("div", { class: "scopes", dataKey: key + ":permissions" },
    el("p", { class: "scopes-summary" }, `Permissions: ${summary}`),
    el("p", { class: "details" }, "Changes apply the next time you connect. Connected accounts keep what they granted."),
    form);
}

function pageButton(p, page, label, key) {
  return el("button", { type: "button", class: "link", dataAction: `open-${page}`, dataKey: `${key}:${page}`,
    onclick: (e) => run("open_provider_page", { providerId: p.id, page }, e.currentTarget) }, label);
}

function checkedNote(p, key) {
  return p.checked ? el("details", { class: "checked-note", dataKey: key + ":checked" },
    el("summary", {}, `What is known of ${p.name}'s rules`),
    el("p", {}, p.checked)) : null;
}

// The numbered steps to register Latchkey at a provider, then the client form.
function setupPanel(p, key) {
  const steps = el("ol", { class: "steps" });
  steps.append(el("li", {},
    p.console
      ? [`Open ${p.name}'s page for registering apps: `, pageButton(p, "console", `open ${p.name}'s developer page`, key), "."]
      : `Ask ${p.name}'s administrator for an app (client) registration, or open its developer console.`));
  steps.append(el("li", {}, p.code_only
    ? "Create an OAuth client of the type “TVs and Limited Input devices”. It signs in with a code: there is no redirect URI to register."
    : "Create an app (an OAuth client) named Latchkey. If asked for its type, choose desktop, native or public."));
  if (!p.code_only) {
    steps.append(el("li", {}, `Paste this redirect URI into the app's settings:`,
      copyRow(p.redirect_uri, `Redirect URI for ${p.name}`, key + ":redirect"),
      redirectChoice(p, key)));
  }
  steps.append(el("li", {}, "Paste the client ID it gives you here, and the client secret if it gave one:",
    clientForm(p, key)));
  const hint = el("p", { class: "details" },
    `Or, before starting Latchkey, ${p.setup_hint}.`);
  return el("div", { class: "panel setup", id: `panel-${p.id}`, dataKey: key + ":setup-panel" },
    steps,
    scopesForm(p, key),
    el("p", { class: "details" }, p.docs ? pageButton(p, "docs", `Read ${p.name}'s documentation`, key) : null),
    hint,
    checkedNote(p, key));
}

// A configured provider's options: its client registration (change, forget), permissions,
// redirect, PKCE, removal.
function optionsPanel(p, key) {
  const panel = el("div", { class: "panel options", id: `panel-${p.id}`, dataKey: key + ":options-panel" });
  const client = settings.clients?.[p.id];
  if (p.id !== "demo") {
    const section = el("div", { class: "client" });
    if (client) {
      section.append(el("p", {}, "Client ID: ", el("code", { dataClientId: p.id }, client.client_id)));
      if (editingClient.has(p.id)) {
        section.append(el("p", { class: "details" }, "Enter the new registration. A secret left empty removes the saved one."),
          clientForm(p, key, client.client_id));
      } else {
        section.append(el("div", { class: "actions" },
          el("button", { type: "button", dataAction: "edit-client", dataKey: key + ":edit-client",
            "aria-label": `Change the ${p.name} client registration`,
            onclick: () => { editingClient.add(p.id); render(key + ":client-id"); } }, "Change"),
          el("button", { type: "button", class: "danger", dataAction: "forget-client", dataKey: key + ":forget-client",
            "aria-label": `Forget the ${p.name} client registration`,
            onclick: async (e) => {
              if ((await run("forget_client", { providerId: p.id }, e.currentTarget)) !== undefined) {
                await loadSettings();
                announce(`Forgot the ${p.name} client registration. Connected accounts stay until you disconnect them.`);
                render();
              }
            } }, "Forget")));
      }
    } else {
      section.append(el("p", { class: "details" },
        "Its client registration comes from the environment Latchkey was started in, not from its settings."));
    }
    panel.append(section);
  }
  panel.append(scopesForm(p, key));
  if (!p.code_only) {
    panel.append(el("p", { class: "details" }, `Redirect URI in use: ${p.redirect_uri}`), redirectChoice(p, key));
  }
  if (settings.custom?.[p.id]) {
    const box = el("input", { type: "checkbox", dataKey: key + ":pkce", checked: p.pkce });
    box.addEventListener("change", async () => {
      const done = await run("set_pkce", { providerId: p.id, enabled: box.checked }, box);
      if (done === undefined) box.checked = !box.checked;
      else announce(box.checked ? `${p.name}: PKCE on.` : `${p.name}: PKCE off. Turn it off only for a server that refuses it.`);
    });
    panel.append(el("label", { class: "toggle pkce" }, box,
      "Send PKCE (protects the sign-in; turn off only if this server refuses it)"));
  }
  const links = [p.console ? pageButton(p, "console", `${p.name}'s developer page`, key) : null,
    p.docs ? pageButton(p, "docs", `${p.name}'s documentation`, key) : null].filter(Boolean);
  if (links.length) panel.append(el("p", { class: "details links" }, ...links));
  panel.append(checkedNote(p, key));
  return panel;
}

function providerState(p) {
  if (p.codes.length) return "Waiting for the code to be entered…";
  if (p.flows.length) return "Waiting for the browser…";
  if (p.setup_hint) return "Needs an app registration";
  const n = p.connections.length;
  if (n) return n === 1 ? "1 account connected" : `${n} accounts connected`;
  return p.code_only ? "Ready: sign in with a code" : "Ready to connect";
}

function providerRow(p) {
  const waiting = p.flows.length > 0 || p.codes.length > 0;
  const connected = p.connections.length > 0;
  const state = providerState(p);
  const key = `prov:${p.id}`;
  const open = openPanel === p.id;
  const actions = el("div", { class: "actions" });
  if (!p.setup_hint && !waiting) {
    if (p.offers_code) {
      actions.append(el("button", {
        type: "button", class: p.code_only && !connected ? "primary" : "", dataAction: "connect-with-code",
        dataKey: key + ":code", "aria-label": `Sign in to ${p.name} with a code`,
        title: "Enter a short code at the provider's page, in any browser",
        onclick: (e) => run("connect_with_code", { providerId: p.id }, e.currentTarget),
      }, p.code_only && connected ? "Sign in another account with a code" : "Sign in with a code"));
    }
    if (!p.code_only) {
      actions.append(el("button", {
        type: "button", class: connected ? "" : "primary", dataAction: "connect", dataKey: key + ":connect",
        "aria-label": connected ? `Connect another ${p.name} account` : `Connect ${p.name}`,
        onclick: (e) => run("connect", { providerId: p.id }, e.currentTarget),
      }, connected ? "Connect another" : "Connect"));
    }
  }
  if (settings.custom?.[p.id] && !connected && !waiting) {
    actions.append(el("button", {
      type: "button", dataAction: "remove-provider", dataKey: key + ":remove", "aria-label": `Remove ${p.name}`,
      onclick: async (e) => {
        if ((await run("remove_provider", { providerId: p.id }, e.currentTarget)) !== undefined) {
          if (openPanel === p.id) openPanel = null;
          await loadSettings();
          announce(`${p.name} removed.`);
          render();
        }
      },
    }, "Remove"));
  }
  const toggle = p.setup_hint ? "setup" : "options";
  actions.append(el("button", {
    type: "button", class: p.setup_hint ? "primary" : "icon-button", dataAction: toggle, dataKey: `${key}:${toggle}`,
    "aria-expanded": open ? "true" : "false", "aria-controls": `panel-${p.id}`,
    "aria-label": p.setup_hint ? `Set up ${p.name}` : `${p.name} options`,
    title: p.setup_hint ? null : "Options: client registration, permissions, redirect",
    onclick: () => { openPanel = open ? null : p.id; render(`${key}:${toggle}`); },
  }, open ? "Hide" : p.setup_hint ? "Set up" : "Options"));

  const row = el("li", { class: "provider", dataProvider: p.id, dataState: state },
    el("div", { class: "provider-head" },
      mark(p.id, p.name),
      el("div", { class: "grow" },
        el("div", { class: "provider-name" }, p.name),
        el("div", { class: "provider-state" }, state)),
      actions));

  if (p.plain_http && p.id !== "demo") {
    row.append(el("p", { class: "notice setup plain-http", dataKey: key + ":plain-http" },
      `${p.name} runs on this computer and is reached over plain http (127.0.0.1). Latchkey allows that only ` +
      "for this computer's own address; anything else must use https."));
  }
  if (p.error) {
    // Not an alert itself: a rebuilt row would announce it again. announceErrors() says it once.
    row.append(el("div", { class: "notice error", dataError: p.id },
      el("div", { class: "grow" }, p.error),
      el("button", {
        type: "button", "aria-label": `Dismiss the ${p.name} error`, dataAction: "dismiss", dataKey: key + ":dismiss",
        onclick: (e) => run("dismiss_error", { providerId: p.id }, e.currentTarget),
      }, "Dismiss")));
  }
  for (const code of p.codes) {
    const ckey = `code:${code.flow_id}`;
    row.append(el("div", { class: "waiting code-sign-in", dataCodeFlow: code.flow_id },
      el("div", { class: "waiting-line" },
        el("span", { class: "spinner", "aria-hidden": "true" }),
        el("span", { class: "grow" }, `Enter this code at ${code.verification_uri}`,
          el("span", { class: "muted countdown", dataExpires: code.expires_at }, ` (expires ${fromNow(code.expires_at)})`)),
        el("button", {
          type: "button", class: "primary", dataAction: "open-code-page", dataKey: ckey + ":open",
          "aria-label": `Open ${p.name}'s page for the code`,
          onclick: (e) => run("reopen", { flowId: code.flow_id }, e.currentTarget),
        }, "Open the page"),
        el("button", {
          type: "button", dataAction: "cancel", dataKey: ckey + ":cancel", "aria-label": `Cancel signing in to ${p.name}`,
          onclick: (e) => run("cancel", { flowId: code.flow_id }, e.currentTarget),
        }, "Cancel")),
      el("div", { class: "user-code", dataUserCode: code.user_code, dataVerification: code.verification_uri,
        "aria-label": `Code: ${code.user_code.split("").join(" ")}` }, code.user_code),
      el("button", {
        type: "button", dataKey: ckey + ":copy", onclick: (e) => copy(code.user_code, e.currentTarget),
      }, "Copy the code")));
  }
  for (const flow of p.flows) {
    const fkey = `flow:${flow.flow_id}`;
    row.append(el("div", { class: "waiting", dataFlow: flow.flow_id },
      el("div", { class: "waiting-line" },
        el("span", { class: "spinner", "aria-hidden": "true" }),
        el("span", { class: "grow" }, `Finish signing in to ${p.name} in your browser.`),
        el("button", {
          type: "button", dataAction: "reopen", dataKey: fkey + ":reopen", "aria-label": `Open the ${p.name} sign-in again`,
          onclick: (e) => run("reopen", { flowId: flow.flow_id }, e.currentTarget),
        }, "Open again"),
        el("button", {
          type: "button", dataAction: "cancel", dataKey: fkey + ":cancel", "aria-label": `Cancel signing in to ${p.name}`,
          onclick: (e) => run("cancel", { flowId: flow.flow_id }, e.currentTarget),
        }, "Cancel")),
      el("div", { class: "details" }, "Browser didn't open? Copy this link into it:"),
      copyRow(flow.url, "Sign-in link", fkey + ":link")));
  }
  if (open) row.append(p.setup_hint ? setupPanel(p, key) : optionsPanel(p, key));
  return row;
}

// ---------------------------------------------------------------------------------------------
// Rendering: rows kept by what they were built from.

const rows = new Map(); // "acct:<id>" or "prov:<id>" -> { signature, node }

function keep(id, signature, build) {
  const known = rows.get(id);
  if (known && known.signature === signature) return known.node;
  const node = build();
  rows.set(id, { signature, node });
  return node;
}

function place(list, nodes) {
  const current = [...list.children];
  if (current.length !== nodes.length || nodes.some((node, i) => current[i] !== node)) list.replaceChildren(...nodes);
}

const addRow = $("#add-provider");
const normalise = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

function render(focusKey) {
  if (!snapshot) return;
  const focused = focusKey || document.activeElement?.dataset?.key;
  // What is being typed into a client form survives a rebuild (a permissions field only while it
  // is being edited: after a save or a reset it shows the new value).
  const drafts = [...document.querySelectorAll("form.client-form input:not([type=password])")]
    .filter((i) => i.dataset.key && (!i.closest(".scopes-form") || i === document.activeElement))
    .map((i) => [i.dataset.key, i.value]);
  const byName = (a, b) => a.name.localeCompare(b.name);
  const providers = [...snapshot.providers].sort(byName);
  const seen = new Set();

  // Those needing the person first (to reconnect), then by provider and nickname.
  const pairs = providers.flatMap((p) => p.connections.map((c) => [p, c]));
  const urgent = ([, c]) => (c.status === "needs_reconnect" ? 0 : 1);
  pairs.sort((a, b) => urgent(a) - urgent(b) || byName(a[0], b[0]) || a[1].nickname.localeCompare(b[1].nickname));
  const accounts = pairs.map(([p, c]) => {
    const id = `acct:${c.id}`;
    seen.add(id);
    // Rebuilt when what it is made of changes; the times and the refreshing state are patched.
    const { expires_at, last_refreshed, ...shape } = c;
    const node = keep(id, JSON.stringify([shape, p.name, confirming.has(c.id)]), () => accountRow(p, c));
    patchAccount(node, p, c);
    return node;
  });
  place($("#accounts"), accounts);
  $("#no-accounts").hidden = accounts.length > 0;

  // Busy first (a sign-in waiting, an error), then by name.
  const busy = (p) => (p.flows.length || p.codes.length || p.error ? 0 : 1);
  const ready = [], setup = [];
  for (const p of [...providers].sort((a, b) => busy(a) - busy(b) || byName(a, b))) {
    const id = `prov:${p.id}`;
    seen.add(id);
    // A row shows how many accounts its provider has, not their times or refreshes.
    const shape = { ...p, connections: p.connections.length, refreshing: null };
    const signature = JSON.stringify([shape, openPanel === p.id, editingClient.has(p.id),
      settings.clients?.[p.id] || null, Boolean(settings.custom?.[p.id])]);
    (p.setup_hint ? setup : ready).push(keep(id, signature, () => providerRow(p)));
  }
  for (const id of rows.keys()) if (!seen.has(id)) rows.delete(id);
  place($("#ready"), ready);
  place($("#setup"), [...setup, addRow]);
  setAddPanel(openPanel === "add");

  for (const [draftKey, value] of drafts) {
    const input = document.querySelector(`[data-key="${CSS.escape(draftKey)}"]`);
    if (input && value) input.value = value;
  }
  $("#loading").hidden = true;
  filter();
  announceErrors();
  if (focused) {
    const target = document.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (target && !target.closest("[hidden]")) target.focus();
  }
}

function setAddPanel(open) {
  $("#add-provider-panel").hidden = !open;
  $("#add-provider-toggle").setAttribute("aria-expanded", open ? "true" : "false");
}

// The search: hides the rows whose name does not match, in place.
function filter() {
  const query = normalise($("#search").value.trim());
  let shown = 0;
  for (const row of document.querySelectorAll("#ready > li, #setup > li[data-provider]")) {
    const p = snapshot?.providers.find((x) => x.id === row.dataset.provider);
    const name = query && p ? normalise(`${p.name} ${p.id}`) : "";
    const match = !query || name.includes(query);
    row.hidden = !match;
    if (match) shown += 1;
  }
  $("#ready-title").hidden = ![...$("#ready").children].some((r) => !r.hidden);
  $("#no-match").hidden = !query || shown > 0;
  const total = snapshot ? snapshot.providers.length : 0;
  const count = query ? (shown === 1 ? "1 provider matches" : `${shown} providers match`) : "";
  if ($("#search-count").textContent !== count) $("#search-count").textContent = count;
  if (total === 0) $("#no-match").hidden = true;
}

// Each new sign-in error is announced once, through the one alert region.
function announceErrors() {
  for (const p of snapshot.providers) {
    if (!p.error) {
      announcedErrors.delete(p.id);
    } else if (announcedErrors.get(p.id) !== p.error) {
      announcedErrors.set(p.id, p.error);
      $("#alerts").textContent = `${p.name}: ${p.error}`;
    }
  }
}

// Keeps "expires in" and the code countdowns current: the text only, in place.
function tick() {
  if (!snapshot) return;
  for (const p of snapshot.providers) {
    for (const c of p.connections) {
      const row = document.querySelector(`#accounts > [data-connection="${CSS.escape(c.id)}"]`);
      if (row) patchAccount(row, p, c);
    }
  }
  for (const countdown of document.querySelectorAll("[data-expires]")) {
    const text = ` (expires ${fromNow(countdown.dataset.expires)})`;
    if (countdown.textContent !== text) countdown.textContent = text;
  }
}

// The providers' descriptions (names, set-up text, redirect URIs, scopes) are most of the state
// and rarely change: latchkey-resident sends them when they differ from the ones this page has
// (`catalog` names those), and otherwise each provider's changing part (sign-ins, accounts,
// error), merged here into the snapshot the rest of the page reads.
let described = { catalog: null, byId: new Map() };

async function fetchState(call) {
  const answer = await call("get_state", { catalog: described.catalog });
  if (!answer) return answer;
  if (answer.described) {
    described = { catalog: answer.catalog, byId: new Map(answer.described.map((p) => [p.id, p])) };
  } else if (answer.providers.some((p) => !described.byId.has(p.id))) {
    described.catalog = null; // not expected: ask again for everything
    return fetchState(call);
  }
  return { providers: answer.providers.map((p) => ({ ...described.byId.get(p.id), ...p })) };
}

function update(next) {
  const now = new Map();
  for (const p of next.providers) {
    for (const c of p.connections) {
      now.set(c.id, c.nickname);
      if (!previous.has(c.id) && snapshot) announce(`Connected ${c.nickname} to ${p.name}.`);
    }
  }
  for (const [id, nickname] of previous) {
    if (!now.has(id) && !explained.delete(id)) announce(`Disconnected ${nickname}.`);
  }
  previous = now;
  snapshot = next;
  render();
}

async function loadSettings() {
  const loaded = await run("get_settings", {});
  if (loaded) settings = loaded;
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// About

async function showAbout() {
  const dialog = $("#about");
  if (!dialog.open) dialog.showModal();
  $("#about-close").focus();
  const about = await run("get_about", {});
  if (!about) return;
  $("#about-version").textContent = `Latchkey ${about.version}`;
  $("#about-keychain").textContent = about.keychain_ok
    ? "Reachable: tokens and client secrets are kept there."
    : `Not reachable: ${about.keychain}`;
  const accounts = about.connections === 1 ? "1 account" : `${about.connections} accounts`;
  const reconnect = about.needs_reconnect ? `, ${about.needs_reconnect} needing reconnecting` : "";
  $("#about-background").textContent =
    `Keeps ${accounts} fresh${reconnect}, with the window open or closed. ` +
    (about.start_at_login ? "Starts when you log in." : "Does not start when you log in.");
  $("#about-service").textContent = about.token_service
    ? "Answering on the session bus (dev.latchkey.Latchkey1) and to latchkey token."
    : "Not answering on the session bus: programs cannot ask for tokens right now.";
  $("#about-log").textContent = about.log_dir ? `${about.log_dir}/latchkey.log` : "no log folder";
  $("#about-log-open").disabled = !about.log_dir;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const background = $("#background-toggle");
  const showBackground = async () => {
    const on = await run("get_start_at_login", {});
    if (on !== undefined) background.checked = on;
  };
  // A change is told by the window's `next_news` (below); the snapshot is then fetched, one
  // request at a time, the last change always read.
  let fetching = false, again = false, accountsShown = -1;
  const refresh = async () => {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      do {
        again = false;
        const next = await fetchState(run);
        if (next) update(next);
      } while (again);
    } finally {
      fetching = false;
    }
    // Start at login is switched on with the first account: asked again only when their number
    // changes, not at every refresh.
    const count = previous.size;
    if (count !== accountsShown) { accountsShown = count; showBackground(); }
  };
  // What the window has to tell: a request that answers when something happened that the page
  // has not heard of (Latchkey's state changed; the window's first close was held back to
  // explain). Not events: listening to one makes the window's process evaluate a script, and
  // start a JavaScript engine of its own to keep the result. Started once the page has loaded,
  // as a pending request holds the load; a change since the window started is read then (the
  // first state may predate it).
  const follow = async () => {
    let known = { changes: 0, closings: 0 };
    for (;;) {
      let heard;
      try {
        heard = await ask("next_news", { known });
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 1000)); // the window is closing
        continue;
      }
      if (heard.closings > known.closings) {
        const dialog = $("#closing");
        if (!dialog.open) dialog.showModal();
        $("#closing-close").focus();
      }
      if (heard.changes > known.changes) refresh();
      known = heard;
    }
  };
  // What the first render needs is asked for at once, not one answer after another: each
  // request is a round trip through the app's main thread, busy while the app starts, and one
  // still pending holds the page's load.
  const toggle = $("#demo-toggle");
  const [gotMarks, gotSettings, first] = await Promise.all([
    run("get_marks", {}),
    loadSettings(),
    fetchState(invoke),
  ]);
  marks = gotMarks || {};
  if (gotSettings) toggle.checked = settings.demo_provider;
  update(first);
  if (document.readyState === "complete") follow();
  else window.addEventListener("load", follow, { once: true });
  showBackground();
  // ...and whenever the window comes back to the person (the command line may have changed it).
  window.addEventListener("focus", showBackground);
  background.addEventListener("change", async () => {
    const on = await run("set_start_at_login", { enabled: background.checked }, background);
    if (on !== undefined) background.checked = on;
    announce(background.checked ? "Latchkey will start when you log in." : "Latchkey will not start when you log in.");
  });
  const quit = async (e) => {
    announce("Quitting…");
    await run("quit", {}, e.currentTarget);
  };
  $("#quit").addEventListener("click", quit);
  $("#closing-quit").addEventListener("click", quit);
  $("#closing-close").addEventListener("click", () => run("close_window", {}));
  $("#about-open").addEventListener("click", showAbout);
  $("#about-close").addEventListener("click", () => { $("#about").close(); $("#about-open").focus(); });
  $("#about-log-open").addEventListener("click", (e) => run("open_log_folder", {}, e.currentTarget));

  // The search: filters as you type; "/" or Ctrl+F goes to it; Enter or Down goes to the first
  // match's first button; Escape clears it.
  const search = $("#search");
  search.addEventListener("input", filter);
  search.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && search.value) {
      search.value = "";
      filter();
      e.preventDefault();
    } else if (e.key === "Enter" || e.key === "ArrowDown") {
      const first = document.querySelector("#ready > li:not([hidden]) button, #setup > li:not([hidden]) button");
      if (first) { first.focus(); e.preventDefault(); }
    }
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest?.("input, textarea, select");
    if ((e.key === "/" && !typing) || (e.key === "f" && (e.ctrlKey || e.metaKey))) {
      search.focus();
      search.select();
      e.preventDefault();
    }
  });

  const toggleAdd = (open) => {
    openPanel = open ? "add" : null;
    render();
    if (open) $("#add-provider-form [name=provider-name]").focus();
  };
  $("#add-provider-toggle").addEventListener("click", () => toggleAdd(openPanel !== "add"));
  $("#no-match-add").addEventListener("click", () => {
    const name = search.value.trim();
    search.value = "";
    toggleAdd(true);
    if (name) $("#add-provider-form [name=provider-name]").value = name;
  });
  const afterAdd = async (id, name, form) => {
    if (!id) return;
    await loadSettings();
    openPanel = id;
    form.reset();
    announce(`${name} added. Follow its set-up steps to connect it.`);
    render(`prov:${id}:client-id`);
  };
  const addForm = $("#add-provider-form");
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = addForm.querySelector("[name=provider-name]").value;
    const issuer = addForm.querySelector("[name=provider-issuer]").value;
    await afterAdd(await run("add_provider", { name, issuer }, addForm.querySelector("button")), name, addForm);
  });
  toggle.addEventListener("change", async () => {
    const saved = await run("set_demo_enabled", { enabled: toggle.checked }, toggle);
    if (saved) { settings = saved; toggle.checked = saved.demo_provider; }
  });
  const endpointsForm = $("#add-oauth2-form");
  endpointsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (name) => endpointsForm.querySelector(`[name=${name}]`).value;
    const name = value("o-name");
    const id = await run("add_oauth2_provider", {
      name, authorizeUrl: value("o-authorize"), tokenUrl: value("o-token"),
      userinfoUrl: value("o-userinfo"), revokeUrl: value("o-revoke") || null, scopes: value("o-scopes"),
    }, endpointsForm.querySelector("button"));
    await afterAdd(id, name, endpointsForm);
  });
  setInterval(tick, 15000);
}

main().catch((e) => announce(`Latchkey's window failed to start: ${refusal(e).message}`, "failed"));
