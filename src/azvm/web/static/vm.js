// A VM: its states now, the actions (through the ARM API, as any client), a timeline of its states
// over simulated time, and what it has cost by state and by meter.

import { COMPUTE_API, HttpError } from "./api.js";
import { chartOn, css, hatch, stateColour } from "./charts.js";
import {
  BILLING_STATES, formatDuration, formatMoney, formatTime, fromUnits, parseId, powerState, provisioningKey,
  stateElement, toUnits,
} from "./format.js";

const NETWORK_API = "2024-05-01";
const ACTIONS = {
  start: { label: "Start", method: "POST", suffix: "/start" },
  powerOff: { label: "Stop (power off)", method: "POST", suffix: "/powerOff" },
  deallocate: { label: "Deallocate", method: "POST", suffix: "/deallocate" },
  hibernate: { label: "Hibernate", method: "POST", suffix: "/deallocate?hibernate=true" },
  restart: { label: "Restart", method: "POST", suffix: "/restart" },
  delete: { label: "Delete", method: "DELETE", suffix: "" },
};
const PROV_LANE = "Provisioning";
const POWER_LANE = "Power state";
const BILLED_LANE = "Billed";
const OPS_LANE = "Operations";

export class VmView {
  constructor(api, model, { notify }) {
    this.api = api;
    this.model = model;
    this.notify = notify;
    this.id = null;
    this.timer = null;
    this.neighbours = [];
    this.lastRow = null;
    this.lastNow = null;
    this.busy = false;
    for (const b of document.querySelectorAll("#view-vm [data-action]")) {
      b.addEventListener("click", () => this.act(b.dataset.action));
    }
    model.subscribe(({ changed }) => {
      if (!this.id) return;
      const key = this.id.toLowerCase();
      const clockMoved = this.model.clock?.nowMicroseconds !== this.lastNow;
      if (changed.has(key) || clockMoved) this.refreshSoon();
    });
  }

  async show(id) {
    const same = this.id && this.id.toLowerCase() === id.toLowerCase();
    this.id = id;
    const p = parseId(id);
    document.getElementById("vm-title").textContent = p.names[0] || id;
    document.getElementById("vm-group").textContent = `${p.resourceGroup} · ${p.subscription}`;
    document.getElementById("vm-explore").href = `#/explorer/${encodeURIComponent(id)}`;
    if (!same) {
      document.getElementById("vm-result").textContent = "";
      document.getElementById("vm-result").className = "result";
      this.neighbours = [];
      this.findNeighbours();
    }
    this.renderStates();
    await this.refresh();
  }

  hide() {
    this.id = null;
  }

  /** The VM's disks and public IPs (from its model and its NICs), whose costs are its too. */
  async findNeighbours() {
    const id = this.id;
    try {
      const vm = (await this.api.arm("GET", id, COMPUTE_API)).body;
      const storage = vm.properties?.storageProfile || {};
      const found = [];
      for (const d of [storage.osDisk, ...(storage.dataDisks || [])]) {
        if (d?.managedDisk?.id) found.push({ id: d.managedDisk.id, kind: "disk" });
      }
      for (const nic of vm.properties?.networkProfile?.networkInterfaces || []) {
        try {
          const body = (await this.api.arm("GET", nic.id, NETWORK_API)).body;
          for (const ipc of body.properties?.ipConfigurations || []) {
            const pip = ipc.properties?.publicIPAddress?.id;
            if (pip) found.push({ id: pip, kind: "publicip" });
          }
        } catch { /* a NIC that is gone has no public IP to bill */ }
      }
      if (this.id === id) {
        this.neighbours = found;
        this.refreshSoon();
      }
    } catch { /* a deleted VM: its own history still explains its costs */ }
  }

  renderStates() {
    const box = document.getElementById("vm-states");
    const row = this.model.get(this.id);
    this.lastRow = row;
    box.replaceChildren();
    const item = (label, content, attr) => {
      const d = document.createElement("div");
      const dl = document.createElement("dl");
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      if (typeof content === "string") dd.textContent = content;
      else dd.append(content);
      if (attr) dd.dataset.field = attr;
      dl.append(dt, dd);
      d.append(dl);
      box.append(d);
    };
    if (!row) {
      item("Power state", this.model.ready ? "gone (deleted)" : "…", "power");
      return;
    }
    const ps = powerState(row.powerState, row.hibernated);
    item("Power state", stateElement(ps.key, row.displayStatus, ps.glyph), "power");
    const pk = provisioningKey(row.provisioningCode);
    item("Provisioning", stateElement(pk, row.provisioningStatus, pk === "failed" ? "⚠" : "●"), "provisioning");
    item("Billed now", row.billed ? `$ Billed (${row.billingState})` : `Not billed (${row.billingState})`, "billed");
    item("Compute cost so far", formatMoney(row.cost, this.model.currency), "cost");
    item("Size · location", `${row.vmSize} · ${row.location}`);
    item("In this state since", formatTime(parseIsoUs(row.since)));
  }

  refreshSoon() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh();
    }, 150);
  }

  async refresh() {
    const id = this.id;
    if (!id) return;
    this.lastNow = this.model.clock?.nowMicroseconds;
    this.renderStates();
    const enc = encodeURIComponent(id);
    try {
      const [timeline, explain, ...others] = await Promise.all([
        this.api.get(`/ui/api/timeline?id=${enc}`),
        this.api.get(`/azvm/billing/explain?id=${enc}`).catch(() => null),
        ...this.neighbours.map((n) => this.api.get(`/azvm/billing/explain?id=${encodeURIComponent(n.id)}`).catch(() => null)),
      ]);
      if (this.id !== id) return;
      this.drawCosts(explain, others.filter(Boolean)); // first: it learns which states the rule set bills
      this.drawTimeline(timeline);
    } catch (err) {
      if (this.id === id) this.notify(err);
    }
  }

  async act(action) {
    const id = this.id;
    const result = document.getElementById("vm-result");
    const label = action === "guestShutdown" ? "Guest OS shutdown" : ACTIONS[action].label;
    if (action === "delete" && !window.confirm(`Delete the VM ${parseId(id).names[0]}?`)) return;
    result.className = "result";
    result.textContent = `${label}: sending…`;
    try {
      let answer;
      if (action === "guestShutdown") {
        answer = await this.api.request("POST", "/azvm/guest-shutdown", { body: { id } });
      } else {
        const a = ACTIONS[action];
        answer = await this.api.arm(a.method, `${id}${a.suffix}`, COMPUTE_API);
      }
      const op = answer.headers.get("Azure-AsyncOperation");
      const opId = op ? new URL(op).pathname.split("/").pop() : null;
      result.className = "result ok";
      result.textContent = `${label}: accepted (${answer.status}${opId ? `, operation ${opId}` : ""}).`;
      // the page never polls the operation: with time skipping on, a poll would move the clock;
      // the event stream shows the VM going through its states instead
    } catch (err) {
      result.className = "result error";
      result.dataset.status = err instanceof HttpError ? String(err.status) : "";
      result.dataset.code = err instanceof HttpError ? err.code : "";
      result.textContent = err instanceof HttpError
        ? `${label} refused: ${err.status} ${err.code}: ${err.detail}`
        : `${label} failed: ${err.message}`;
    }
  }

  drawTimeline(tl) {
    const spans = tl.spans || [];
    const now = tl.nowMicroseconds;
    const start = spans.length ? spans[0].startMicroseconds : now;
    const rel = (us) => (us - start) / 1e6; // seconds since the first state
    const bars = [];
    const colours = [];
    const borders = [];
    const meta = [];
    const push = (lane, s, key, label, billedHatch) => {
      const from = rel(s.startMicroseconds);
      let to = rel(s.endMicroseconds);
      if (to <= from) to = from + Math.max(1, rel(now) / 400); // an instant still shows
      bars.push({ x: [from, to], y: lane });
      const c = stateColour(key);
      colours.push(billedHatch ? hatch(c) : c);
      borders.push(c);
      meta.push({ label, s });
    };
    for (const s of spans) {
      const prov = provisioningKey(s.provisioningCode || "");
      push(PROV_LANE, s, s.powerState ? prov : "deleted", s.provisioningStatus || "deleted", false);
      const bs = BILLING_STATES[s.billingState] || { label: s.billingState };
      const billed = this.isBilled(s.billingState);
      push(POWER_LANE, s, s.billingState, `${s.displayStatus || bs.label}`, false);
      if (billed) push(BILLED_LANE, s, s.billingState, `billed: ${bs.label}`, true);
    }
    const marks = (tl.markers || []).map((m) => ({ x: rel(m.atMicroseconds), y: OPS_LANE, m }));
    const Chart = window.Chart;
    const canvas = document.getElementById("vm-timeline");
    const data = {
      datasets: [
        {
          type: "bar", label: "States", data: bars, backgroundColor: colours, borderColor: borders, borderWidth: 1,
          borderSkipped: false, barPercentage: 0.8, categoryPercentage: 0.9,
        },
        {
          type: "scatter", label: "Operations and faults", data: marks, clip: 10,
          pointStyle: marks.map((p) => (p.m.fault || p.m.error ? "crossRot" : "triangle")),
          pointRadius: marks.map((p) => (p.m.fault || p.m.error ? 9 : 6)),
          pointBorderWidth: 2,
          backgroundColor: marks.map((p) => (p.m.fault || p.m.error ? css("--danger") : css("--accent"))),
          borderColor: marks.map((p) => (p.m.fault || p.m.error ? css("--danger") : css("--accent"))),
        },
      ],
    };
    const span = Math.max(1, rel(now));
    const options = {
      indexAxis: "y",
      parsing: true,
      scales: {
        x: {
          type: "linear", min: 0, max: span,
          afterBuildTicks: (axis) => {
            const step = niceStep(span);
            axis.ticks = [];
            const first = Math.ceil(start / 1e6 / step) * step - start / 1e6; // on the clock's round times
            for (let v = first; v <= span; v += step) axis.ticks.push({ value: v });
          },
          ticks: { autoSkip: false, callback: (v) => axisTime(start + v * 1e6, span) },
          title: { display: true, text: "simulated time (UTC)" },
        },
        y: { type: "category", labels: [OPS_LANE, PROV_LANE, POWER_LANE, BILLED_LANE], offset: true },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: (ctx) => {
              if (ctx.dataset.type === "scatter") {
                const m = ctx.raw.m;
                const what = m.fault ? `fault ${m.fault}: ${m.message}` : m.error ? `${m.error.canceled ? "canceled" : "failed"}: ${m.error.code}` : "accepted";
                return `${m.operation} ${what} at ${formatTime(m.atMicroseconds)}`;
              }
              const { label, s } = meta[ctx.dataIndex];
              return `${label}: ${formatTime(s.startMicroseconds)} → ${formatTime(s.endMicroseconds)} (${s.operation})`;
            },
          },
        },
      },
    };
    const existing = Chart?.getChart(canvas);
    if (existing) {
      existing.data = data;
      existing.options = options;
      existing.update("none");
    } else {
      chartOn(canvas, { data, options });
    }
    this.drawLegend(spans);
    const body = document.querySelector("#vm-spans tbody");
    body.replaceChildren(...spans.map((s) => {
      const tr = document.createElement("tr");
      const billed = this.isBilled(s.billingState);
      for (const text of [formatTime(s.startMicroseconds), formatTime(s.endMicroseconds), s.operation,
        s.provisioningStatus || "—", s.displayStatus || "—", `${BILLING_STATES[s.billingState]?.label || s.billingState}${billed ? " ($ billed)" : ""}`]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));
  }

  isBilled(state) {
    // the fleet row says whether the VM is billed now; for past states, the rule set's answer per
    // state is learnt from the explanation (cached by drawCosts)
    return this.billedStates ? this.billedStates.has(state) : ["running", "stopping", "stopped", "unknown"].includes(state);
  }

  drawLegend(spans) {
    const seen = [...new Set(spans.map((s) => s.billingState))];
    const ul = document.getElementById("vm-legend");
    ul.replaceChildren(...seen.map((k) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.setProperty("--sc", stateColour(k));
      li.append(sw, `${BILLING_STATES[k]?.glyph || ""} ${BILLING_STATES[k]?.label || k}`);
      return li;
    }), (() => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch hatched";
      li.append(sw, "billed");
      return li;
    })(), (() => {
      const li = document.createElement("li");
      li.textContent = "▲ operation · ✕ failure or fault";
      return li;
    })());
  }

  drawCosts(explain, others) {
    const currency = this.model.currency;
    const byState = new Map();
    const byMeter = new Map();
    if (explain) {
      this.billedStates = new Set(explain.intervals.filter((i) => i.billed).map((i) => i.state));
      for (const i of explain.intervals) {
        const s = byState.get(i.state) || { seconds: 0, billed: i.billed, units: 0n, unpriced: false };
        s.seconds += i.seconds;
        s.billed = s.billed || i.billed;
        if (i.amount == null && i.billed) s.unpriced = true;
        s.units += toUnits(i.amount);
        byState.set(i.state, s);
        if (i.billed) addMeter(byMeter, i.meter || `${i.size} (no price)`, "VM", i.amount);
      }
      for (const d of explain.disks || []) addMeter(byMeter, `${d.tier || d.sku} disk`, d.name, d.amount);
      for (const r of explain.resources || []) addMeter(byMeter, r.meter, shortName(r.resourceId), r.amount);
    }
    for (const o of others) {
      for (const r of o.resources || []) addMeter(byMeter, r.meter, shortName(r.resourceId), r.amount);
    }
    const states = [...byState.entries()];
    const stateRows = states.map(([k, s]) => [
      `${BILLING_STATES[k]?.glyph || ""} ${BILLING_STATES[k]?.label || k}`, s.billed ? "$ billed" : "not billed",
      formatDuration(s.seconds), s.unpriced ? "unpriced" : formatMoney(fromUnits(s.units), currency)]);
    fillTable("vm-state-table", stateRows, [3]);
    const meters = [...byMeter.entries()].sort((a, b) => (b[1].units > a[1].units ? 1 : -1));
    fillTable("vm-meter-table", meters.map(([m, v]) => [m, [...v.resources].join(", "),
      v.unpriced ? "unpriced" : formatMoney(fromUnits(v.units), currency)]), [2]);
    const stateColours = states.map(([k]) => stateColour(k));
    this.barChart("vm-by-state", states.map(([k]) => BILLING_STATES[k]?.label || k),
      states.map(([, s]) => Number(fromUnits(s.units, 6))),
      states.map(([, s], i) => (s.billed ? hatch(stateColours[i]) : stateColours[i])), stateColours, currency);
    this.barChart("vm-by-meter", meters.map(([m]) => m), meters.map(([, v]) => Number(fromUnits(v.units, 6))),
      meters.map(() => hatch(css("--accent"))), meters.map(() => css("--accent")), currency);
  }

  barChart(id, labels, values, fill, border, currency) {
    const canvas = document.getElementById(id);
    const data = { labels, datasets: [{ label: "Cost", data: values, backgroundColor: fill, borderColor: border, borderWidth: 1 }] };
    const existing = window.Chart?.getChart(canvas);
    if (existing) {
      existing.data = data;
      existing.update("none");
      return;
    }
    chartOn(canvas, {
      type: "bar", data,
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true, ticks: { callback: (v) => formatMoney(v, currency) } },
          y: { ticks: { callback(v) { const l = this.getLabelForValue(v); return l.length > 28 ? `${l.slice(0, 27)}…` : l; } } } },
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (ctx) => formatMoney(ctx.raw, currency) } } },
      },
    });
  }
}

/** A step of the time axis that reads well (a minute, ten, an hour, a day...) for about six ticks. */
function niceStep(spanSeconds) {
  const steps = [1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];
  return steps.find((s) => spanSeconds / s <= 8) || 31536000;
}

/** A tick of the time axis: the time of day over a short span, the date too over a long one. */
function axisTime(us, spanSeconds) {
  const t = formatTime(us).replace(" UTC", "");
  if (spanSeconds < 86400) return t.slice(11, spanSeconds < 3600 ? 19 : 16);
  return t.slice(5, 16);
}

function addMeter(map, meter, resource, amount) {
  const v = map.get(meter) || { units: 0n, resources: new Set(), unpriced: false };
  if (amount == null) v.unpriced = true;
  v.units += toUnits(amount);
  v.resources.add(resource);
  map.set(meter, v);
}

function shortName(id) {
  const p = parseId(id);
  return p.names[p.names.length - 1] || id;
}

function fillTable(id, rows, numeric = []) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (numeric.includes(i)) td.className = "num";
      tr.append(td);
    });
    return tr;
  }));
}

/** "2026-01-01T00:00:44.0000000+00:00" (7 fractional digits, as ARM writes times) to microseconds. */
export function parseIsoUs(text) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text || "");
  if (!m) return NaN;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  return ms * 1000 + Number((m[2] || "").padEnd(6, "0").slice(0, 6));
}

