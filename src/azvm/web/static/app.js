// The dashboard's entry point: sign-in (with --auth strict), the event stream, the views and the theme.

import { Api, HttpError } from "./api.js";
import { applyTheme } from "./charts.js";
import { ClockPanel, FaultsView } from "./controls.js";
import { Explorer } from "./explorer.js";
import { FleetModel, FleetView } from "./fleet.js";
import { VmView } from "./vm.js";

const api = new Api();
const model = new FleetModel();
const alertBox = document.getElementById("alert");
const statusBox = document.getElementById("status");
let started = false;
let stream = null;

function say(text) {
  statusBox.textContent = text;
}

function notify(err) {
  alertBox.hidden = false;
  alertBox.textContent = err instanceof HttpError ? `${err.method} ${err.path.split("?")[0]}: ${err.message}` : String(err.message || err);
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { alertBox.hidden = true; }, 12000);
}

// -- theme: the system's (prefers-color-scheme) unless the toggle says light or dark -------------
const THEMES = ["auto", "light", "dark"];
const themeButton = document.getElementById("theme");
function setTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  localStorage.setItem("azvm.dashboard.theme", theme);
  const label = { auto: "◐ Auto", light: "☀ Light", dark: "☾ Dark" }[theme];
  themeButton.textContent = label;
  themeButton.setAttribute("aria-label", `Theme: ${theme === "auto" ? "automatic (the system's)" : theme}. Change it.`);
  applyTheme();
  views.fleet?.redrawChart();
  if (current.view === "vm") views.vm.refresh();
}
themeButton.addEventListener("click", () => {
  const now = localStorage.getItem("azvm.dashboard.theme") || "auto";
  setTheme(THEMES[(THEMES.indexOf(now) + 1) % THEMES.length]);
});
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => setTheme(localStorage.getItem("azvm.dashboard.theme") || "auto"));

// -- views and routing ------------------------------------------------------------------------------
const views = {};
const current = { view: null };

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [view, ...rest] = hash.split("/");
  const arg = rest.length ? `/${rest.join("/")}`.replace(/^\/\//, "/") : "";
  const name = ["fleet", "vm", "explorer", "faults"].includes(view) ? view : "fleet";
  for (const v of ["fleet", "vm", "explorer", "faults"]) {
    document.getElementById(`view-${v}`).hidden = v !== name;
  }
  for (const a of document.querySelectorAll(".tabs a")) {
    if (a.dataset.view === name || (name === "vm" && a.dataset.view === "fleet")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current.view === "vm" && name !== "vm") views.vm.hide();
  if (current.view === "faults" && name !== "faults") views.faults.hide();
  current.view = name;
  if (name === "fleet") views.fleet.schedule(true);
  if (name === "vm") views.vm.show(arg);
  if (name === "explorer") views.explorer.show(arg);
  if (name === "faults") views.faults.show();
  document.title = `azvm · ${name === "vm" ? arg.split("/").pop() : name}`;
}

// -- the event stream: one snapshot, then patches; reconnects after a pause when it drops ---------
async function listen() {
  let delay = 1000;
  for (;;) {
    stream = new AbortController();
    try {
      await api.events((name, data) => {
        if (name === "snapshot" || name === "patch") {
          delay = 1000;
          model.apply(name, data);
        } else if (name === "unauthorized") {
          api.onUnauthorized(new HttpError(401, data, "GET", "/ui/events"));
        }
      }, stream.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
        notify(err);
        if (err.status === 401) return;
      }
    }
    if (!api.signedIn) return;
    say("The live connection dropped; reconnecting…");
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

function start(cfg) {
  document.getElementById("main").hidden = false;
  document.getElementById("rule-set").textContent = `rules: ${cfg.ruleSet}`;
  document.getElementById("sign-out").hidden = api.mode !== "strict";
  if (!started) {
    started = true;
    views.fleet = new FleetView(model, { onOpen: (row) => { location.hash = `#/vm/${encodeURIComponent(row.id)}`; } });
    views.vm = new VmView(api, model, { notify });
    views.explorer = new Explorer(api, { notify });
    views.faults = new FaultsView(api, model, { notify, say });
    views.clock = new ClockPanel(api, model, { notify, say });
    window.addEventListener("hashchange", route);
  } else {
    views.explorer.loaded = false;
  }
  route();
  listen();
}

// -- sign-in (--auth strict): nothing is shown or asked of the server without a token ------------
const dialog = document.getElementById("signin");
function askForCredentials(message = "") {
  stream?.abort();
  document.getElementById("main").hidden = true;
  document.querySelector(".clock").hidden = true;
  document.getElementById("signin-error").textContent = message;
  if (!dialog.open) dialog.showModal();
  document.getElementById("signin-client").focus();
}

async function boot() {
  const saved = localStorage.getItem("azvm.dashboard.theme") || "auto";
  setTheme(saved);
  let cfg;
  try {
    cfg = await api.config();
  } catch (err) {
    notify(new Error(`The dashboard cannot reach azvm: ${err.message}`));
    return;
  }
  api.onUnauthorized = (err) => {
    if (api.mode !== "strict") return;
    api.signOut();
    askForCredentials(`Signed out: ${err.detail || err.message}`);
  };
  document.getElementById("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const submit = document.getElementById("signin-submit");
    submit.disabled = true;
    try {
      await api.signIn(document.getElementById("signin-client").value.trim(), document.getElementById("signin-secret").value);
      document.getElementById("signin-secret").value = "";
      dialog.close();
      start(cfg);
    } catch (err) {
      document.getElementById("signin-error").textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  dialog.addEventListener("cancel", (e) => e.preventDefault()); // there is nothing to see behind it
  document.getElementById("sign-out").addEventListener("click", () => {
    api.signOut();
    askForCredentials();
  });
  if (api.signedIn) start(cfg);
  else askForCredentials();
}

window.azvmDashboard = { api, model, views, metrics: () => views.fleet?.metrics };
boot();
