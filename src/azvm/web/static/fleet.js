// The fleet: every VM, kept up to date from the event stream, in a virtualized table (only the rows
// in view are in the DOM; an update patches the rows it changed, never the whole table).

import { chartOn, hatch, stateColour } from "./charts.js";
import { POWER_STATES, formatMoney, fromUnits, powerState, provisioningKey, stateElement, toUnits } from "./format.js";

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/** The fleet's rows by lower-case id, and who wants to know when they change. */
export class FleetModel {
  constructor() {
    this.rows = new Map();
    this.clock = null;
    this.currency = "USD";
    this.ruleSet = "";
    this.priced = true;
    this.listeners = new Set();
    this.ready = false;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** A `snapshot` (everything) or a `patch` (the rows that changed, the ids removed) of /ui/events. */
  apply(kind, data) {
    this.clock = data.clock;
    this.currency = data.currency || this.currency;
    this.ruleSet = data.ruleSet || this.ruleSet;
    this.priced = data.priced !== false; // false: the costs are still being computed
    const changed = new Set();
    if (kind === "snapshot") {
      for (const key of this.rows.keys()) changed.add(key);
      this.rows = new Map();
    }
    for (const row of rowsOf(data)) {
      const key = row.id.toLowerCase();
      this.rows.set(key, row);
      changed.add(key);
    }
    for (const id of data.removed || []) {
      const key = id.toLowerCase();
      this.rows.delete(key);
      changed.add(key);
    }
    this.ready = true;
    for (const fn of this.listeners) fn({ kind, changed });
  }

  get(id) {
    return this.rows.get(String(id).toLowerCase());
  }
}

/** The rows of an event: `columns` (the field names, once) and `rows` (each row's values in that order). */
function* rowsOf(data) {
  const columns = data.columns || [];
  for (const values of data.rows || []) {
    const row = {};
    for (let i = 0; i < columns.length; i++) row[columns[i]] = values[i];
    yield row;
  }
}

function stateKey(row) {
  return row.hibernated ? "hibernated" : powerState(row.powerState).key;
}

const COLUMNS = [
  { key: "name", label: "Name", cls: "c-name", sort: (a, b) => collator.compare(a.name, b.name) },
  { key: "resourceGroup", label: "Resource group", cls: "c-group", sort: (a, b) => collator.compare(a.resourceGroup, b.resourceGroup) },
  { key: "location", label: "Location", cls: "c-location", sort: (a, b) => collator.compare(a.location, b.location) },
  { key: "vmSize", label: "Size", cls: "c-size", sort: (a, b) => collator.compare(a.vmSize, b.vmSize) },
  { key: "provisioningState", label: "Provisioning", cls: "c-prov", sort: (a, b) => collator.compare(a.provisioningState, b.provisioningState) },
  { key: "powerState", label: "Power state", cls: "c-power", sort: (a, b) => collator.compare(a.displayStatus, b.displayStatus) },
  { key: "billed", label: "Billed", cls: "c-billed", sort: (a, b) => Number(a.billed) - Number(b.billed) },
  { key: "cost", label: "Cost", title: "Compute cost so far", cls: "c-cost num", sort: (a, b) => Number(a.cost ?? -1) - Number(b.cost ?? -1) },
];

export class FleetView {
  constructor(model, { onOpen }) {
    this.model = model;
    this.onOpen = onOpen;
    this.table = document.getElementById("fleet-table");
    this.body = this.table.querySelector(".vbody");
    this.spacer = this.table.querySelector(".vspacer");
    this.headRow = this.table.querySelector(".vrow.head");
    this.rowHeight = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--row-h")) || 38;
    this.order = [];
    this.pool = [];
    this.sortKey = "name";
    this.sortDir = 1;
    this.current = -1;
    this.filters = { text: "", state: "", group: "", billed: "" };
    this.groups = new Set();
    this.pending = null;
    this.dirtyOrder = true;
    this.chart = null;
    this.chartTimer = null;
    this.metrics = {};
    this.buildHead();
    this.buildFilters();
    this.body.addEventListener("scroll", () => this.schedule(false), { passive: true });
    new ResizeObserver(() => this.schedule(false)).observe(this.body);
    this.table.addEventListener("keydown", (e) => this.onKey(e));
    this.body.addEventListener("click", (e) => {
      const el = e.target.closest(".vrow");
      if (el && el._key) {
        e.preventDefault();
        this.onOpen(this.model.rows.get(el._key));
      }
    });
    model.subscribe(({ kind, changed }) => this.onChange(kind, changed));
  }

  buildHead() {
    for (const col of COLUMNS) {
      const cell = document.createElement("div");
      cell.setAttribute("role", "columnheader");
      cell.className = col.cls;
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.sort = col.key;
      b.textContent = col.label;
      if (col.title) b.title = col.title;
      const arrow = document.createElement("span");
      arrow.setAttribute("aria-hidden", "true");
      b.append(arrow);
      b.addEventListener("click", () => {
        this.sortDir = this.sortKey === col.key ? -this.sortDir : 1;
        this.sortKey = col.key;
        this.dirtyOrder = true;
        this.schedule(true);
      });
      cell.append(b);
      this.headRow.append(cell);
    }
  }

  buildFilters() {
    const state = document.getElementById("f-state");
    for (const s of [...POWER_STATES, { key: "hibernated", label: "Hibernated" }]) {
      state.append(new Option(s.label, s.key));
    }
    const on = (id, key) => {
      const el = document.getElementById(id);
      el.addEventListener("input", () => {
        this.filters[key] = el.value.trim().toLowerCase();
        this.dirtyOrder = true;
        this.current = -1;
        this.body.scrollTop = 0;
        this.schedule(true);
      });
    };
    on("f-text", "text");
    on("f-state", "state");
    on("f-group", "group");
    on("f-billed", "billed");
    document.getElementById("fleet-filters").addEventListener("submit", (e) => e.preventDefault());
  }

  onChange(kind, changed) {
    if (kind === "snapshot" && !this.metrics.snapshotAt) this.metrics.snapshotAt = performance.now();
    const group = document.getElementById("f-group");
    for (const key of changed) {
      const row = this.model.rows.get(key);
      if (row && !this.groups.has(row.resourceGroup)) {
        this.groups.add(row.resourceGroup);
        const names = [...this.groups].sort(collator.compare);
        const at = names.indexOf(row.resourceGroup);
        group.insertBefore(new Option(row.resourceGroup, row.resourceGroup.toLowerCase()), group.options[at + 1] || null);
      }
    }
    // a changed row may move (sorted by it) or leave the filter: the order is worked out again
    this.dirtyOrder = true;
    this.schedule(true);
    this.scheduleChart();
  }

  schedule(withSummary) {
    this.withSummary = this.withSummary || withSummary;
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = null;
      this.render();
    });
  }

  matches(row) {
    const f = this.filters;
    if (f.state && stateKey(row) !== f.state) return false;
    if (f.group && row.resourceGroup.toLowerCase() !== f.group) return false;
    if (f.billed && (f.billed === "yes") !== row.billed) return false;
    if (f.text) {
      const hay = `${row.name} ${row.resourceGroup} ${row.location} ${row.vmSize} ${row.displayStatus} ${row.provisioningState}`.toLowerCase();
      if (!hay.includes(f.text)) return false;
    }
    return true;
  }

  computeOrder() {
    const col = COLUMNS.find((c) => c.key === this.sortKey) || COLUMNS[0];
    const dir = this.sortDir;
    const currentKey = this.order[this.current];
    const out = [];
    for (const [key, row] of this.model.rows) if (this.matches(row)) out.push(key);
    const rows = this.model.rows;
    out.sort((a, b) => dir * col.sort(rows.get(a), rows.get(b)) || collator.compare(a, b));
    this.order = out;
    this.current = currentKey ? out.indexOf(currentKey) : -1;
    for (const cell of this.headRow.children) {
      const b = cell.querySelector("button");
      const active = b.dataset.sort === this.sortKey;
      cell.setAttribute("aria-sort", active ? (dir > 0 ? "ascending" : "descending") : "none");
      b.lastChild.textContent = active ? (dir > 0 ? " ▲" : " ▼") : "";
    }
  }

  render() {
    if (this.dirtyOrder) {
      this.computeOrder();
      this.dirtyOrder = false;
      this.spacer.style.height = `${this.order.length * this.rowHeight}px`;
      this.table.setAttribute("aria-rowcount", String(this.order.length + 1));
    }
    const h = this.rowHeight;
    const top = this.body.scrollTop;
    const overscan = 6;
    const first = Math.max(0, Math.floor(top / h) - overscan);
    const last = Math.min(this.order.length, Math.ceil((top + this.body.clientHeight) / h) + overscan);
    const needed = last - first;
    while (this.pool.length < needed) this.pool.push(this.makeRow(this.pool.length));
    for (let j = 0; j < this.pool.length; j++) {
      const el = this.pool[j];
      const index = first + j;
      if (j >= needed) {
        if (!el.hidden) { el.hidden = true; el._key = null; el._row = null; }
        continue;
      }
      const key = this.order[index];
      const row = this.model.rows.get(key);
      el.hidden = false;
      if (el._index !== index) {
        el._index = index;
        el.style.transform = `translateY(${index * h}px)`;
        el.setAttribute("aria-rowindex", String(index + 2));
      }
      if (el._row !== row) this.fill(el, key, row); // a patched row is a new object: only it is redrawn
      el.classList.toggle("current", index === this.current);
    }
    const cur = this.pool.find((el) => !el.hidden && el._index === this.current);
    if (cur) this.table.setAttribute("aria-activedescendant", cur.id);
    else this.table.removeAttribute("aria-activedescendant");
    if (this.withSummary) {
      this.withSummary = false;
      this.summary();
    }
    if (!this.metrics.firstRenderMs && this.metrics.snapshotAt && this.order.length) {
      this.metrics.firstRenderMs = performance.now() - this.metrics.snapshotAt;
      this.metrics.sinceNavigationMs = performance.now();
      this.metrics.rows = this.model.rows.size;
      this.metrics.rowsInDom = this.pool.filter((el) => !el.hidden).length;
      document.documentElement.dataset.fleetRendered = String(this.model.rows.size);
    }
  }

  makeRow(j) {
    const el = document.createElement("div");
    el.className = "vrow";
    el.id = `fleet-row-${j}`;
    el.setAttribute("role", "row");
    for (const col of COLUMNS) {
      const c = document.createElement("div");
      c.className = col.cls;
      c.setAttribute("role", "gridcell");
      el.append(c);
    }
    const link = document.createElement("a");
    link.tabIndex = -1;
    el.firstChild.append(link);
    this.body.append(el);
    return el;
  }

  fill(el, key, row) {
    el._key = key;
    el._row = row;
    el.dataset.id = row.id;
    const [name, group, location, size, prov, power, billed, cost] = el.children;
    const link = name.firstChild;
    link.textContent = row.name;
    link.href = `#/vm/${encodeURIComponent(row.id)}`;
    group.textContent = row.resourceGroup;
    location.textContent = row.location;
    size.textContent = row.vmSize;
    prov.textContent = row.provisioningState;
    prov.dataset.state = provisioningKey(row.provisioningCode);
    const ps = powerState(row.powerState, row.hibernated);
    power.replaceChildren(stateElement(ps.key, row.displayStatus, ps.glyph));
    power.title = row.powerState;
    billed.textContent = row.billed ? "$ Billed" : "Not billed";
    billed.className = `c-billed ${row.billed ? "billed-yes" : "billed-no"}`;
    cost.textContent = row.cost == null && !this.model.priced ? "…" : formatMoney(row.cost, this.model.currency);
  }

  summary() {
    let billed = 0;
    let total = 0n;
    let unpriced = 0;
    for (const row of this.model.rows.values()) {
      if (row.billed) billed++;
      if (row.cost == null) unpriced++;
      else total += toUnits(row.cost);
    }
    const n = this.model.rows.size;
    const shown = this.order.length;
    const parts = [`${n.toLocaleString("en")} VM${n === 1 ? "" : "s"}`, `${billed.toLocaleString("en")} billed now`,
      `compute so far ${formatMoney(fromUnits(total), this.model.currency)}`];
    if (!this.model.priced) parts[2] = "costs being computed…";
    else if (unpriced) parts.push(`${unpriced} unpriced`);
    if (shown !== n) parts.push(`${shown.toLocaleString("en")} shown`);
    document.getElementById("fleet-summary").textContent = parts.join(" · ");
  }

  scheduleChart() {
    if (!this.chart) {
      this.drawChart(); // the first one at once, later ones at most four times a second
      return;
    }
    if (this.chartTimer) return;
    this.chartTimer = setTimeout(() => {
      this.chartTimer = null;
      this.drawChart();
    }, 250);
  }

  drawChart() {
    const keys = [...POWER_STATES.map((s) => s.key), "hibernated"];
    const labels = [...POWER_STATES.map((s) => s.label), "Hibernated"];
    const billed = new Array(keys.length).fill(0);
    const free = new Array(keys.length).fill(0);
    for (const row of this.model.rows.values()) {
      const i = keys.indexOf(stateKey(row));
      if (i >= 0) (row.billed ? billed : free)[i]++;
    }
    const used = keys.map((_, i) => billed[i] + free[i] > 0);
    const pick = (arr) => arr.filter((_, i) => used[i]);
    const colours = pick(keys.map((k) => stateColour(k)));
    const data = {
      labels: pick(labels),
      datasets: [
        { label: "Billed (hatched)", data: pick(billed), backgroundColor: colours.map((c) => hatch(c)), borderColor: colours, borderWidth: 1 },
        { label: "Not billed", data: pick(free), backgroundColor: colours, borderColor: colours, borderWidth: 1 },
      ],
    };
    if (this.chart && this.chart.canvas.isConnected) {
      this.chart.data = data;
      this.chart.update("none");
      return;
    }
    this.chart = chartOn(document.getElementById("fleet-chart"), {
      type: "bar",
      data,
      options: {
        indexAxis: "y",
        scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      },
    });
  }

  redrawChart() {
    this.chart?.destroy();
    this.chart = null;
    this.drawChart();
  }

  onKey(e) {
    if (e.target.closest(".vhead")) return;
    const n = this.order.length;
    if (!n) return;
    const page = Math.max(1, Math.floor(this.body.clientHeight / this.rowHeight) - 1);
    let next = this.current;
    switch (e.key) {
      case "ArrowDown": next = Math.min(n - 1, this.current + 1); break;
      case "ArrowUp": next = Math.max(0, this.current - 1); break;
      case "PageDown": next = Math.min(n - 1, this.current + page); break;
      case "PageUp": next = Math.max(0, this.current - page); break;
      case "Home": next = 0; break;
      case "End": next = n - 1; break;
      case "Enter":
        if (this.current >= 0) this.onOpen(this.model.rows.get(this.order[this.current]));
        e.preventDefault();
        return;
      default: return;
    }
    e.preventDefault();
    this.current = Math.max(0, next);
    const y = this.current * this.rowHeight;
    if (y < this.body.scrollTop) this.body.scrollTop = y;
    else if (y + this.rowHeight > this.body.scrollTop + this.body.clientHeight) {
      this.body.scrollTop = y + this.rowHeight - this.body.clientHeight;
    }
    this.render();
  }
}
