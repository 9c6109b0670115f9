// The resource explorer: subscriptions → resource groups → resources of every type, each shown as
// the ARM API returns it (GET at the newest api-version its provider lists, and the instance view
// of a VM), with every resource id in it a link to that resource.

import { RESOURCES_API, SUBSCRIPTIONS_API } from "./api.js";
import { isResourceId, parseId, topLevelId } from "./format.js";

const VM_TYPE = "microsoft.compute/virtualmachines";
const FALLBACK_API = { "microsoft.compute": "2024-11-01", "microsoft.network": "2024-05-01" };

export class Explorer {
  constructor(api, { notify }) {
    this.api = api;
    this.notify = notify;
    this.tree = document.getElementById("tree");
    this.view = document.getElementById("json-view");
    this.versions = new Map(); // subscription -> Map(type lower -> newest api-version)
    this.loaded = false;
    this.selected = null;
    this.tab = "get";
    this.tree.addEventListener("keydown", (e) => this.onKey(e));
    this.tree.addEventListener("click", (e) => {
      const item = e.target.closest('[role="treeitem"]');
      if (!item) return;
      e.stopPropagation();
      if (e.target.closest(".twisty")) this.toggle(item);
      else this.activate(item);
    });
    for (const [tabId, tab] of [["tab-get", "get"], ["tab-iv", "instanceView"]]) {
      document.getElementById(tabId).addEventListener("click", () => {
        this.tab = tab;
        if (this.selected) this.showJson(this.selected);
      });
    }
  }

  async show(id) {
    if (!this.loaded) {
      this.loaded = true;
      await this.loadRoot();
    }
    if (id) await this.reveal(id);
  }

  async loadRoot() {
    this.tree.replaceChildren();
    try {
      const subs = (await this.api.arm("GET", "/subscriptions", SUBSCRIPTIONS_API)).body.value || [];
      for (const s of subs) {
        this.tree.append(this.item({ id: s.id, label: s.displayName || s.subscriptionId, kind: "subscription", level: 1 }));
      }
      const first = this.tree.querySelector('[role="treeitem"]');
      if (first) first.tabIndex = 0;
    } catch (err) {
      this.loaded = false;
      this.notify(err);
    }
  }

  item({ id, label, kind, level, leaf = false }) {
    const li = document.createElement("li");
    li.setAttribute("role", "treeitem");
    li.setAttribute("aria-level", String(level));
    li.setAttribute("aria-selected", "false");
    li.tabIndex = -1;
    li.dataset.id = id;
    li.dataset.kind = kind;
    const row = document.createElement("span");
    row.className = "label";
    const twisty = document.createElement("span");
    twisty.className = "twisty";
    twisty.setAttribute("aria-hidden", "true");
    twisty.textContent = leaf ? "" : "▸";
    const name = document.createElement("span");
    name.textContent = label;
    const k = document.createElement("span");
    k.className = "kind";
    k.textContent = kind;
    row.title = `${label} (${kind})`;
    row.append(twisty, name, k);
    li.append(row);
    if (!leaf) li.setAttribute("aria-expanded", "false");
    return li;
  }

  async versionsFor(sub) {
    let v = this.versions.get(sub);
    if (v) return v;
    v = new Map();
    try {
      const providers = (await this.api.arm("GET", `/subscriptions/${sub}/providers`, RESOURCES_API)).body.value || [];
      for (const p of providers) {
        for (const t of p.resourceTypes || []) {
          const stable = (t.apiVersions || []).filter((x) => !x.includes("preview"));
          if (stable.length) v.set(`${p.namespace}/${t.resourceType}`.toLowerCase(), stable[0]);
        }
      }
    } catch (err) {
      this.notify(err);
    }
    this.versions.set(sub, v);
    return v;
  }

  async apiVersion(id) {
    const p = parseId(id);
    if (!p.provider) return p.resourceGroup ? RESOURCES_API : SUBSCRIPTIONS_API;
    const type = `${p.provider}/${p.types.join("/")}`.toLowerCase();
    const v = await this.versionsFor(p.subscription);
    return v.get(type) || FALLBACK_API[p.provider.toLowerCase()] || RESOURCES_API;
  }

  async expand(li) {
    if (li.getAttribute("aria-expanded") !== "false") return;
    li.setAttribute("aria-expanded", "true");
    li.querySelector(".twisty").textContent = "▾";
    if (li.querySelector(":scope > ul")) return;
    const group = document.createElement("ul");
    group.setAttribute("role", "group");
    li.append(group);
    const id = li.dataset.id;
    const level = Number(li.getAttribute("aria-level")) + 1;
    try {
      if (li.dataset.kind === "subscription") {
        const sub = parseId(id).subscription;
        this.versionsFor(sub);
        const groups = await this.list(`${id}/resourcegroups`, RESOURCES_API);
        groups.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
        for (const g of groups) group.append(this.item({ id: g.id, label: g.name, kind: "resource group", level }));
        if (!groups.length) group.append(this.note("no resource groups", level));
      } else {
        const resources = await this.list(`${id}/resources`, RESOURCES_API);
        resources.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name, "en", { numeric: true }));
        for (const r of resources) {
          group.append(this.item({ id: r.id, label: r.name, kind: r.type.split("/").slice(1).join("/"), level, leaf: true }));
        }
        if (!resources.length) group.append(this.note("no resources", level));
      }
    } catch (err) {
      group.append(this.note(`could not list: ${err.message}`, level));
    }
  }

  note(text, level) {
    const li = document.createElement("li");
    li.className = "muted";
    li.setAttribute("role", "none");
    li.dataset.level = String(level);
    li.textContent = text;
    return li;
  }

  async list(path, version) {
    const out = [];
    let next = `${path}?api-version=${version}`;
    while (next) {
      const body = (await this.api.request("GET", next.replace(/^https?:\/\/[^/]+/, ""))).body;
      out.push(...(body.value || []));
      next = body.nextLink || null;
    }
    return out;
  }

  collapse(li) {
    if (li.getAttribute("aria-expanded") !== "true") return;
    li.setAttribute("aria-expanded", "false");
    li.querySelector(".twisty").textContent = "▸";
    li.querySelector(":scope > ul")?.remove();
  }

  toggle(li) {
    if (li.getAttribute("aria-expanded") === "true") this.collapse(li);
    else this.expand(li);
  }

  activate(li) {
    location.hash = `#/explorer/${encodeURIComponent(li.dataset.id)}`;
  }

  focus(li) {
    for (const el of this.tree.querySelectorAll('[role="treeitem"][tabindex="0"]')) el.tabIndex = -1;
    li.tabIndex = 0;
    li.focus();
  }

  /** Open the tree down to `id` (a resource, a group or a subscription), select it, show its JSON. */
  async reveal(id) {
    const top = topLevelId(id);
    const p = parseId(top);
    const path = [`/subscriptions/${p.subscription}`];
    if (p.resourceGroup) path.push(`${path[0]}/resourceGroups/${p.resourceGroup}`);
    if (p.provider) path.push(top);
    let li = null;
    for (const step of path) {
      const found = [...this.tree.querySelectorAll('[role="treeitem"]')].find((el) => el.dataset.id.toLowerCase() === step.toLowerCase());
      if (!found) break;
      li = found;
      if (step !== path[path.length - 1]) await this.expand(li);
    }
    for (const el of this.tree.querySelectorAll('[aria-selected="true"]')) el.setAttribute("aria-selected", "false");
    if (li && li.dataset.id.toLowerCase() === top.toLowerCase()) {
      li.setAttribute("aria-selected", "true");
      li.scrollIntoView({ block: "nearest" });
      for (const el of this.tree.querySelectorAll('[role="treeitem"][tabindex="0"]')) el.tabIndex = -1;
      li.tabIndex = 0;
    }
    const isVm = (p.provider && `${p.provider}/${p.types[0]}`.toLowerCase() === VM_TYPE && p.types.length === 1);
    document.getElementById("tab-iv").hidden = !isVm;
    if (!isVm) this.tab = "get";
    this.selected = top;
    await this.showJson(top);
  }

  async showJson(id) {
    const version = await this.apiVersion(id);
    const iv = this.tab === "instanceView";
    const path = iv ? `${id}/instanceView` : id;
    document.getElementById("tab-get").setAttribute("aria-selected", String(!iv));
    document.getElementById("tab-iv").setAttribute("aria-selected", String(iv));
    const url = `${path}?api-version=${version}`;
    document.getElementById("json-url").textContent = `GET ${url}`;
    try {
      const answer = await this.api.request("GET", url);
      if (this.selected !== id) return;
      this.render(answer.body, id);
    } catch (err) {
      if (this.selected !== id) return;
      this.render(err.body ?? { error: err.message }, id);
    }
  }

  /** The JSON as it came, pretty-printed, resource ids as links; then the related resources. */
  render(body, self) {
    const text = JSON.stringify(body, null, 2);
    this.view.dataset.resource = self;
    this.view.replaceChildren();
    const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    const related = new Map();
    for (const m of text.matchAll(token)) {
      if (m.index > last) this.view.append(text.slice(last, m.index));
      const span = document.createElement("span");
      if (m[1] && m[2]) {
        span.className = "k";
        span.textContent = m[1];
        this.view.append(span, m[2]);
      } else if (m[1]) {
        const value = JSON.parse(m[1]);
        if (isResourceId(value)) {
          const a = document.createElement("a");
          a.href = `#/explorer/${encodeURIComponent(topLevelId(value))}`;
          a.textContent = m[1];
          a.className = "s";
          this.view.append(a);
          const top = topLevelId(value);
          if (top.toLowerCase() !== self.toLowerCase()) related.set(top.toLowerCase(), top);
        } else {
          span.className = "s";
          span.textContent = m[1];
          this.view.append(span);
        }
      } else {
        span.className = m[3] ? "b" : "n";
        span.textContent = m[0];
        this.view.append(span);
      }
      last = m.index + m[0].length;
    }
    if (last < text.length) this.view.append(text.slice(last));
    const links = document.getElementById("json-links");
    links.replaceChildren();
    if (related.size) {
      const label = document.createElement("span");
      label.className = "muted";
      label.textContent = "Related:";
      links.append(label);
      for (const id of related.values()) {
        const p = parseId(id);
        const a = document.createElement("a");
        a.href = `#/explorer/${encodeURIComponent(id)}`;
        a.textContent = `${p.names[p.names.length - 1]} (${p.types[p.types.length - 1]})`;
        links.append(a);
      }
    }
  }

  visibleItems() {
    return [...this.tree.querySelectorAll('[role="treeitem"]')].filter((el) => el.offsetParent !== null);
  }

  onKey(e) {
    const li = e.target.closest('[role="treeitem"]');
    if (!li) return;
    const items = this.visibleItems();
    const i = items.indexOf(li);
    switch (e.key) {
      case "ArrowDown": if (items[i + 1]) this.focus(items[i + 1]); break;
      case "ArrowUp": if (items[i - 1]) this.focus(items[i - 1]); break;
      case "Home": this.focus(items[0]); break;
      case "End": this.focus(items[items.length - 1]); break;
      case "ArrowRight":
        if (li.getAttribute("aria-expanded") === "false") this.expand(li);
        else if (li.getAttribute("aria-expanded") === "true" && items[i + 1]) this.focus(items[i + 1]);
        break;
      case "ArrowLeft": {
        if (li.getAttribute("aria-expanded") === "true") this.collapse(li);
        else {
          const parent = li.parentElement.closest('[role="treeitem"]');
          if (parent) this.focus(parent);
        }
        break;
      }
      case "Enter": case " ": this.activate(li); break;
      default: return;
    }
    e.preventDefault();
  }
}
