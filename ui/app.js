// Latchkey's window: renders the snapshot the core sends (providers, sign-ins, connections,
// errors) and forwards clicks as commands. It never sees a token.
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

// A recognisable mark per provider: its initial on its brand colour.
let marks = {}; // provider id -> [letter, colour], from the catalog (get_marks)

let snapshot = null;
let added = new Set(); // providers the person added (removable)
let previous = new Map(); // connection id -> nickname, to announce changes
const confirming = new Set(); // connection ids whose Disconnect awaits confirmation
const explained = new Set(); // disconnected ids already announced with more to say
const openSetup = new Set(); // providers whose set-up instructions are unfolded
const openScopes = new Set(); // providers whose permissions are unfolded

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

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
function fromNow(iso) {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, "second");
  if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function announce(text) {
  $("#status").textContent = text;
}

// After a disconnect the provider did not confirm: what happened, and where to finish it.
function showRevocationNote(provider, nickname, why) {
  const place = provider.access_page
    ? el("a", { href: provider.access_page, dataAction: "open-access-page", onclick: (e) => {
        e.preventDefault();
        run("open_access_page", { providerId: provider.id });
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
  } catch (message) {
    announce(String(message));
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
  const button = el("button", { type: "button", dataKey: key + ":copy", onclick: (e) => copy(value, e.currentTarget) }, "Copy");
  return el("div", { class: "copy-row" }, input, button);
}

// A connection's details line; it reads the clock, so the minute tick updates it in place.
function connectionDetails(provider, c) {
  const needsReconnect = c.status === "needs_reconnect";
  const details = [`Connected since ${dateFormat.format(new Date(c.connected_at))}`];
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

function connectionRow(provider, c) {
  const needsReconnect = c.status === "needs_reconnect";
  const key = `conn:${c.id}`;
  const actions = el("div", { class: "actions" });
  if (needsReconnect) {
    actions.append(el("button", {
      type: "button", class: "primary", dataAction: "reconnect", dataKey: key + ":reconnect",
      onclick: (e) => run("connect", { providerId: provider.id }, e.currentTarget),
    }, "Reconnect"));
  }
  if (confirming.has(c.id)) {
    actions.append(
      el("button", {
        type: "button", class: "danger", dataAction: "confirm-disconnect", dataKey: key + ":confirm",
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
        type: "button", dataAction: "keep", dataKey: key + ":keep",
        onclick: () => { confirming.delete(c.id); render(); },
      }, "Keep"),
    );
  } else {
    actions.append(el("button", {
      type: "button", class: "danger", dataAction: "disconnect", dataKey: key + ":disconnect",
      "aria-label": `Disconnect ${c.nickname}`,
      onclick: () => { confirming.add(c.id); render(key + ":confirm"); },
    }, "Disconnect"));
  }
  return el("li", { class: "connection", dataConnection: c.id },
    el("div", { class: "grow" },
      el("div", { class: "nickname" }, c.nickname,
        needsReconnect ? el("span", { class: "badge warn" }, "needs reconnecting") : null),
      el("div", { class: "details", dataDetails: c.id }, connectionDetails(provider, c))),
    actions);
}

// The client registration form. The secret goes to the keychain and never comes back here.
function clientForm(p, key) {
  const id = el("input", { type: "text", autocomplete: "off", spellcheck: "false", dataKey: key + ":client-id",
    "aria-label": `${p.name} client ID`, placeholder: "Client ID", name: "client-id" });
  const secret = el("input", { type: "password", autocomplete: "off", dataKey: key + ":client-secret",
    "aria-label": `${p.name} client secret`, placeholder: "Client secret (if the provider gave you one)", name: "client-secret" });
  const form = el("form", { class: "client-form", dataClientForm: p.id },
    id, secret, el("button", { type: "submit", class: "primary", dataKey: key + ":save" }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await run("save_client", { providerId: p.id, clientId: id.value, clientSecret: secret.value || null },
      form.querySelector("button"));
    secret.value = "";
    if (saved !== undefined) announce(`${p.name} is set up.`);
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

// The scopes sign-ins ask for, editable; they apply from the next Connect. Folded under its own
// line for a provider that is set up; part of the set-up instructions for one that is not.
function scopesForm(p, key, inSetup = false) {
  const field = el("input", { type: "text", autocomplete: "off", spellcheck: "false", dataKey: key + ":scopes",
    "aria-label": `${p.name} scopes`, name: "scopes", value: p.scopes.join(" "), placeholder: "Scopes, separated by spaces" });
  const form = el("form", { class: "client-form scopes-form", dataScopesForm: p.id },
    field,
    el("button", { type: "submit", dataKey: key + ":scopes-save" }, "Save"),
    el("button", {
      type: "button", dataKey: key + ":scopes-reset",
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
  if (inSetup) {
    return el("div", { class: "setup-scopes" }, el("p", {}, `Permissions it will ask for: ${summary}. Change them here if your app needs others:`), form);
  }
  const details = el("details", { class: "scopes", dataKey: key + ":permissions" },
    el("summary", {}, `Permissions: ${summary}`),
    el("p", { class: "details" }, "Changes apply the next time you connect. Connected accounts keep what they granted."),
    form,
    p.redirect_choices.length > 1 ? el("p", { class: "details" }, `Redirect URI in use: ${p.redirect_uri}`) : null,
    redirectChoice(p, key));
  if (openScopes.has(p.id)) details.open = true;
  details.addEventListener("toggle", () => (details.open ? openScopes.add(p.id) : openScopes.delete(p.id)));
  return details;
}

function mark(letter, colour) {
  const node = el("div", { class: "mark", "aria-hidden": "true" }, letter);
  node.style.backgroundColor = colour; // through the CSSOM: the CSP forbids style attributes
  return node;
}

function providerCard(p) {
  const [letter, colour] = marks[p.id] || [p.name.slice(0, 1).toUpperCase(), "#64748b"];
  const waiting = p.flows.length > 0 || p.codes.length > 0;
  const connected = p.connections.length > 0;
  let state;
  if (p.setup_hint) state = "Not configured";
  else if (p.codes.length) state = "Waiting for the code to be entered…";
  else if (waiting) state = "Waiting for the browser…";
  else if (p.connections.some((c) => c.status === "needs_reconnect")) state = "Needs reconnecting";
  else if (connected) state = p.connections.length === 1 ? "Connected" : `${p.connections.length} accounts connected`;
  else state = "Not connected";

  const key = `prov:${p.id}`;
  const actions = el("div", { class: "actions" });
  if (added.has(p.id) && !connected && !waiting) {
    actions.append(el("button", {
      type: "button", dataAction: "remove-provider", dataKey: key + ":remove",
      onclick: async (e) => {
        if ((await run("remove_provider", { providerId: p.id }, e.currentTarget)) !== undefined) {
          added.delete(p.id);
          announce(`${p.name} removed.`);
        }
      },
    }, "Remove"));
  }
  if (!p.setup_hint && !waiting) {
    if (p.offers_code) {
      actions.append(el("button", {
        type: "button", class: p.code_only && !connected ? "primary" : "", dataAction: "connect-with-code",
        dataKey: key + ":code",
        title: "Enter a short code at the provider's page, in any browser: nothing to register",
        onclick: (e) => run("connect_with_code", { providerId: p.id }, e.currentTarget),
      }, p.code_only && connected ? "Sign in another account with a code" : "Sign in with a code"));
    }
    if (!p.code_only) {
      actions.append(el("button", {
        type: "button", class: connected ? "" : "primary", dataAction: "connect", dataKey: key + ":connect",
        onclick: (e) => run("connect", { providerId: p.id }, e.currentTarget),
      }, connected ? "Connect another account" : "Connect"));
    }
  }

  const card = el("li", { class: "provider", dataProvider: p.id, dataState: state },
    el("div", { class: "provider-head" },
      mark(letter, colour),
      el("div", { class: "grow" },
        el("div", { class: "provider-name" }, p.name),
        el("div", { class: "provider-state" }, state)),
      actions));

  if (p.setup_hint) {
    const details = el("details", { class: "notice setup", dataKey: key + ":setup" },
      el("summary", {}, "How to set it up"),
      el("p", {}, `To connect ${p.name}, ${p.setup_hint} before starting Latchkey, or enter the registration here.`),
      p.code_only ? el("p", {}, `This client signs in with a code: there is no redirect URI to register.`) : null,
      p.code_only ? null : el("p", {}, `Register this redirect URI with ${p.name}:`),
      p.code_only ? null : copyRow(p.redirect_uri, `Redirect URI for ${p.name}`, key + ":redirect"),
      p.code_only ? null : redirectChoice(p, key),
      clientForm(p, key),
      scopesForm(p, key, true),
      p.checked ? el("details", { class: "checked-note", dataKey: key + ":checked" },
        el("summary", {}, `What is known of ${p.name}'s rules`),
        el("p", {}, p.checked)) : null);
    if (openSetup.has(p.id)) details.open = true;
    details.addEventListener("toggle", () => (details.open ? openSetup.add(p.id) : openSetup.delete(p.id)));
    card.append(details);
  }
  if (p.plain_http && p.id !== "demo") {
    card.append(el("p", { class: "notice setup plain-http", dataKey: key + ":plain-http" },
      `${p.name} runs on this computer and is reached over plain http (127.0.0.1). Latchkey allows that only ` +
      "for this computer's own address; anything else must use https."));
  }
  if (added.has(p.id)) {
    const box = el("input", { type: "checkbox", dataKey: key + ":pkce", checked: p.pkce });
    box.addEventListener("change", async () => {
      const done = await run("set_pkce", { providerId: p.id, enabled: box.checked }, box);
      if (done === undefined) box.checked = !box.checked;
      else announce(box.checked ? `${p.name}: PKCE on.` : `${p.name}: PKCE off. Turn it off only for a server that refuses it.`);
    });
    card.append(el("label", { class: "toggle pkce" }, box,
      "Send PKCE (protects the sign-in; turn off only if this server refuses it)"));
  }
  if (p.error) {
    card.append(el("div", { class: "notice error", role: "alert" },
      el("div", { class: "grow" }, p.error),
      el("button", {
        type: "button", "aria-label": "Dismiss", dataAction: "dismiss", dataKey: key + ":dismiss",
        onclick: (e) => run("dismiss_error", { providerId: p.id }, e.currentTarget),
      }, "Dismiss")));
  }
  for (const code of p.codes) {
    const ckey = `code:${code.flow_id}`;
    card.append(el("div", { class: "waiting code-sign-in", dataCodeFlow: code.flow_id },
      el("div", { class: "waiting-line" },
        el("span", { class: "spinner", "aria-hidden": "true" }),
        el("span", { class: "grow" }, `Enter this code at ${code.verification_uri}`,
          el("span", { class: "muted countdown", dataExpires: code.expires_at }, ` (expires ${fromNow(code.expires_at)})`)),
        el("button", {
          type: "button", class: "primary", dataAction: "open-code-page", dataKey: ckey + ":open",
          onclick: (e) => run("reopen", { flowId: code.flow_id }, e.currentTarget),
        }, "Open the page"),
        el("button", {
          type: "button", dataAction: "cancel", dataKey: ckey + ":cancel",
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
    card.append(el("div", { class: "waiting", dataFlow: flow.flow_id },
      el("div", { class: "waiting-line" },
        el("span", { class: "spinner", "aria-hidden": "true" }),
        el("span", { class: "grow" }, `Finish signing in to ${p.name} in your browser.`),
        el("button", {
          type: "button", dataAction: "reopen", dataKey: fkey + ":reopen",
          onclick: (e) => run("reopen", { flowId: flow.flow_id }, e.currentTarget),
        }, "Open again"),
        el("button", {
          type: "button", dataAction: "cancel", dataKey: fkey + ":cancel",
          onclick: (e) => run("cancel", { flowId: flow.flow_id }, e.currentTarget),
        }, "Cancel")),
      el("div", { class: "details" }, "Browser didn't open? Copy this link into it:"),
      copyRow(flow.url, "Sign-in link", fkey + ":link")));
  }
  if (connected) {
    card.append(el("ul", { class: "connections", "aria-label": `${p.name} accounts` },
      p.connections.map((c) => connectionRow(p, c))));
  }
  if (!waiting && !p.setup_hint) card.append(scopesForm(p, key));
  return card;
}

// Each provider's card as last built, with what it was built from: a card is built again only
// when that changes, so a state event or the minute tick leaves the other cards (and their
// focus, alerts and open sections) as they are.
const cards = new Map(); // provider id -> { signature, node }

function cardSignature(p) {
  return JSON.stringify([p, marks[p.id] || null, added.has(p.id), openSetup.has(p.id), openScopes.has(p.id),
    p.connections.filter((c) => confirming.has(c.id)).map((c) => c.id)]);
}

function render(focusKey) {
  if (!snapshot) return;
  const focused = focusKey || document.activeElement?.dataset?.key;
  const list = $("#providers");
  // Connected first, then ready to connect, then those still to set up; by name within each.
  const rank = (p) => (p.connections.length || p.flows.length || p.codes.length ? 0 : p.setup_hint ? 2 : 1);
  const providers = [...snapshot.providers].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  // What is being typed into a client form survives the re-render.
  // (A permissions field only while it is being edited: after a save or a reset it shows the new value.)
  const drafts = [...document.querySelectorAll("form.client-form input")]
    .filter((i) => !i.closest(".scopes-form") || i === document.activeElement)
    .map((i) => [i.dataset.key, i.value]);
  const nodes = providers.map((p) => {
    const signature = cardSignature(p);
    const known = cards.get(p.id);
    if (known && known.signature === signature) return known.node;
    const node = providerCard(p);
    cards.set(p.id, { signature, node });
    return node;
  });
  for (const id of cards.keys()) {
    if (!providers.some((p) => p.id === id)) cards.delete(id);
  }
  const current = [...list.children];
  if (current.length !== nodes.length || nodes.some((node, i) => current[i] !== node)) {
    list.replaceChildren(...nodes);
  }
  for (const [draftKey, value] of drafts) {
    const input = document.querySelector(`[data-key="${CSS.escape(draftKey)}"]`);
    if (input && value) input.value = value;
  }
  $("#loading").hidden = true;
  if (snapshot.providers.length === 0) {
    list.append(el("li", { class: "muted" }, "No providers. Turn on the Demo provider below, or configure one."));
  }
  if (focused) {
    const target = document.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (target) target.focus();
  }
}

// Keeps "expires in" and the code countdowns current: the text only, in place.
function tick() {
  if (!snapshot) return;
  for (const p of snapshot.providers) {
    for (const c of p.connections) {
      const line = document.querySelector(`[data-details="${CSS.escape(c.id)}"]`);
      const text = connectionDetails(p, c);
      if (line && line.textContent !== text) line.textContent = text;
    }
  }
  for (const countdown of document.querySelectorAll("[data-expires]")) {
    const text = ` (expires ${fromNow(countdown.dataset.expires)})`;
    if (countdown.textContent !== text) countdown.textContent = text;
  }
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

async function main() {
  marks = (await run("get_marks", {})) || {};
  const background = $("#background-toggle");
  const showBackground = async () => {
    const on = await run("get_start_at_login", {});
    if (on !== undefined) background.checked = on;
  };
  await listen("latchkey://state", (event) => {
    update(event.payload);
    showBackground(); // on by default once an account is connected
  });
  showBackground();
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
  await listen("latchkey://closing", () => {
    const dialog = $("#closing");
    if (!dialog.open) dialog.showModal();
    $("#closing-close").focus();
  });
  update(await invoke("get_state"));
  const toggle = $("#demo-toggle");
  const settings = await run("get_settings", {});
  if (settings) {
    toggle.checked = settings.demo_provider;
    added = new Set(Object.keys(settings.custom || {}));
    render();
  }
  const addForm = $("#add-provider-form");
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = addForm.querySelector("button");
    const name = addForm.querySelector("[name=provider-name]").value;
    const issuer = addForm.querySelector("[name=provider-issuer]").value;
    const id = await run("add_provider", { name, issuer }, button);
    if (id) {
      added.add(id);
      announce(`${name} added. Enter its client ID to connect.`);
      addForm.reset();
      render();
    }
  });
  toggle.addEventListener("change", async () => {
    const saved = await run("set_demo_enabled", { enabled: toggle.checked }, toggle);
    if (saved) toggle.checked = saved.demo_provider;
  });
  const endpointsForm = $("#add-oauth2-form");
  endpointsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (name) => endpointsForm.querySelector(`[name=${name}]`).value;
    const id = await run("add_oauth2_provider", {
      name: value("o-name"), authorizeUrl: value("o-authorize"), tokenUrl: value("o-token"),
      userinfoUrl: value("o-userinfo"), revokeUrl: value("o-revoke") || null, scopes: value("o-scopes"),
    }, endpointsForm.querySelector("button"));
    if (id) {
      added.add(id);
      announce(`${value("o-name")} added. Enter its client ID to connect.`);
      endpointsForm.reset();
      render();
    }
  });
  setInterval(tick, 15000);
}

main().catch((e) => announce(`Latchkey's window failed to start: ${e}`));
