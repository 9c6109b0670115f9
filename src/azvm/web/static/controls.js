// The clock (simulated time, speed, pause, advance by a step) and the faults in force, through the
// control API (docs/faults.md); none of it exists on Azure.

import { formatTime } from "./format.js";

export class ClockPanel {
  constructor(api, model, { notify, say }) {
    this.api = api;
    this.model = model;
    this.notify = notify;
    this.say = say;
    this.el = document.querySelector(".clock");
    this.now = document.getElementById("clock-now");
    this.mode = document.getElementById("clock-mode");
    this.pause = document.getElementById("clock-pause");
    this.speed = document.getElementById("clock-speed");
    this.resumeSpeed = 1;
    this.base = null; // {us, speed, at}: the last clock the server sent, and when (page time)
    this.pause.addEventListener("click", () => this.togglePause());
    document.getElementById("clock-speed-set").addEventListener("click", () => this.setSpeed());
    this.speed.addEventListener("keydown", (e) => { if (e.key === "Enter") this.setSpeed(); });
    document.getElementById("clock-advance").addEventListener("click", () => this.advance());
    model.subscribe(() => this.update(model.clock));
    this.tick();
  }

  update(clock) {
    if (!clock) return;
    this.el.hidden = false;
    this.clock = clock; // the newest the page knows: from the event stream or the clock's own answer
    this.base = { us: clock.nowMicroseconds, speed: clock.speed, at: performance.now() };
    const paused = clock.speed === 0;
    if (!paused) this.resumeSpeed = clock.speed;
    this.pause.textContent = paused ? "Resume" : "Pause";
    this.pause.setAttribute("aria-pressed", String(paused));
    if (clock.speed !== this.shownSpeed && document.activeElement !== this.speed) {
      this.speed.value = String(clock.speed); // only when it changed: never over what is being typed
      this.shownSpeed = clock.speed;
    }
    this.mode.textContent = paused ? `paused${clock.timeSkipping ? " · time skipping" : ""}` : `×${clock.speed}`;
    this.now.dataset.us = String(clock.nowMicroseconds);
    this.render();
  }

  /** Between two events a running clock is shown moving at its speed (the server's is the truth). */
  render() {
    if (!this.base) return;
    const { us, speed, at } = this.base;
    const shown = us + (speed ? (performance.now() - at) * 1000 * speed : 0);
    this.now.textContent = formatTime(shown);
    this.now.dateTime = new Date(Math.floor(shown / 1000)).toISOString();
  }

  tick() {
    if (this.base && this.base.speed) this.render();
    setTimeout(() => this.tick(), 1000);
  }

  async move(body, what) {
    try {
      const clock = await this.api.control("POST", "clock", body);
      this.update(clock);
      this.say(`${what}: the clock reads ${formatTime(clock.nowMicroseconds)}.`);
    } catch (err) {
      this.notify(err);
    }
  }

  togglePause() {
    const paused = this.clock?.speed === 0;
    this.move({ speed: paused ? this.resumeSpeed || 1 : 0 }, paused ? "Resumed" : "Paused");
  }

  setSpeed() {
    const v = Number(this.speed.value);
    if (!Number.isFinite(v) || v < 0) {
      this.notify(new Error("The speed is a number from 0 (paused) to 1000000."));
      return;
    }
    this.move({ speed: v }, `Speed ×${v}`);
  }

  advance() {
    const select = document.getElementById("clock-step");
    const seconds = Number(select.value);
    this.move({ advanceSeconds: seconds }, `Advanced by ${select.options[select.selectedIndex].text}`);
  }
}

export class FaultsView {
  constructor(api, model, { notify, say }) {
    this.api = api;
    this.notify = notify;
    this.say = say;
    this.visible = false;
    this.timer = null;
    document.getElementById("fault-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.add();
    });
    document.getElementById("faults-clear").addEventListener("click", () => this.clear());
    model.subscribe(() => { if (this.visible) this.refreshSoon(); }); // a fault's counts move as it fires
  }

  async show() {
    this.visible = true;
    await this.refresh();
  }

  hide() {
    this.visible = false;
  }

  refreshSoon() {
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = null; this.refresh(); }, 500);
  }

  async refresh() {
    try {
      const faults = (await this.api.control("GET", "faults")).value || [];
      const body = document.querySelector("#faults-table tbody");
      if (!faults.length) {
        const tr = document.createElement("tr");
        const td = document.createElement("td");
        td.colSpan = 6;
        td.className = "muted";
        td.textContent = "No faults in force.";
        tr.append(td);
        body.replaceChildren(tr);
        return;
      }
      // Rows are kept by id and only their cells change as a fault fires: a redraw as the page polls
      // never takes away the Remove button a user (or the keyboard's focus) is on.
      const kept = new Map([...body.querySelectorAll("tr[data-id]")].map((tr) => [tr.dataset.id, tr]));
      const rows = faults.map((f) => {
        const tr = kept.get(f.id);
        if (!tr) return this.row(f);
        this.cells(f).forEach((text, i) => {
          if (tr.cells[i].textContent !== text) tr.cells[i].textContent = text;
        });
        return tr;
      });
      const now = [...body.children];
      if (rows.length !== now.length || rows.some((tr, i) => tr !== now[i])) body.replaceChildren(...rows);
    } catch (err) {
      this.notify(err);
    }
  }

  /** The texts of a fault's cells, the Remove button's aside. */
  cells(f) {
    const scope = Object.entries(f)
      .filter(([k, v]) => v != null && !["id", "kind", "remaining", "fired", "draws", "seed"].includes(k))
      .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
    return [f.id, f.kind, scope, String(f.fired ?? 0), f.remaining == null ? "no limit" : String(f.remaining)];
  }

  row(f) {
    const tr = document.createElement("tr");
    tr.dataset.id = f.id;
    for (const text of this.cells(f)) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn danger";
    b.textContent = "Remove";
    b.setAttribute("aria-label", `Remove fault ${f.id}`);
    b.addEventListener("click", () => this.remove(f.id));
    td.append(b);
    tr.append(td);
    return tr;
  }

  async add() {
    let rule;
    try {
      rule = JSON.parse(document.getElementById("fault-json").value);
    } catch (err) {
      this.notify(new Error(`The fault is not JSON: ${err.message}`));
      return;
    }
    try {
      const r = await this.api.control("POST", "faults", rule);
      this.say(`Fault ${r.id || ""} added.`);
      await this.refresh();
    } catch (err) {
      this.notify(err);
    }
  }

  async remove(id) {
    try {
      await this.api.control("DELETE", `faults/${encodeURIComponent(id)}`);
      this.say(`Fault ${id} removed.`);
      await this.refresh();
    } catch (err) {
      this.notify(err);
    }
  }

  async clear() {
    try {
      await this.api.control("DELETE", "faults");
      this.say("Every fault removed.");
      await this.refresh();
    } catch (err) {
      this.notify(err);
    }
  }
}
