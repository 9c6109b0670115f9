// What the page shows of states, times and money: one place for labels, glyphs and formats.

// Power states as the instance view names them (docs/states.md); each has a name and a glyph, so
// that colour is never the only signal.
export const POWER_STATES = [
  { code: "PowerState/starting", key: "starting", label: "Starting", glyph: "◔" },
  { code: "PowerState/running", key: "running", label: "Running", glyph: "▶" },
  { code: "PowerState/stopping", key: "stopping", label: "Stopping", glyph: "◑" },
  { code: "PowerState/stopped", key: "stopped", label: "Stopped (allocated)", glyph: "■" },
  { code: "PowerState/deallocating", key: "deallocating", label: "Deallocating", glyph: "◒" },
  { code: "PowerState/deallocated", key: "deallocated", label: "Deallocated", glyph: "○" },
  { code: "PowerState/unknown", key: "unknown", label: "Unknown", glyph: "?" },
];
const BY_CODE = new Map(POWER_STATES.map((s) => [s.code, s]));

// The billing meter's states (docs/billing.md): the power states, with creating and hibernated apart.
export const BILLING_STATES = {
  creating: { label: "Creating", glyph: "✚" },
  starting: { label: "Starting", glyph: "◔" },
  running: { label: "Running", glyph: "▶" },
  stopping: { label: "Stopping", glyph: "◑" },
  stopped: { label: "Stopped (allocated)", glyph: "■" },
  deallocating: { label: "Deallocating", glyph: "◒" },
  deallocated: { label: "Deallocated", glyph: "○" },
  hibernated: { label: "Hibernated", glyph: "☾" },
  unknown: { label: "Unknown", glyph: "?" },
  deleted: { label: "Deleted", glyph: "✕" },
};

export function powerState(code, hibernated = false) {
  const s = BY_CODE.get(code);
  if (!s) return { key: "unknown", label: code || "—", glyph: "?" };
  if (hibernated && s.key === "deallocated") return { key: "hibernated", label: "Deallocated (hibernated)", glyph: "☾" };
  return s;
}

export function provisioningKey(code) {
  const c = (code || "").toLowerCase();
  if (c.includes("failed")) return "failed";
  if (c.includes("creating")) return "creating";
  if (c.includes("deleting")) return "deleting";
  if (c.includes("updating")) return "updating";
  return "succeeded";
}

/** A state as a small labelled element: glyph (hidden from screen readers) and name. */
export function stateElement(key, label, glyph) {
  const span = document.createElement("span");
  span.className = "state";
  span.dataset.state = key;
  const dot = document.createElement("span");
  dot.className = "dot";
  dot.setAttribute("aria-hidden", "true");
  dot.textContent = glyph;
  const text = document.createElement("span");
  text.textContent = label;
  span.append(dot, text);
  return span;
}

/** Simulated time (microseconds since the epoch) as "2026-01-01 00:00:44 UTC". */
export function formatTime(us, { seconds = true } = {}) {
  if (us == null || !Number.isFinite(us)) return "—";
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)} UTC`;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const parts = [];
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m && !d) parts.push(`${m} min`);
  if (!d && !h && s % 60) parts.push(`${s % 60} s`);
  return parts.join(" ");
}

const moneyFormats = new Map();
/** An amount given as a decimal string (already exact or rounded by the server), in its currency. */
export function formatMoney(amount, currency = "USD") {
  if (amount == null) return "unpriced";
  let f = moneyFormats.get(currency);
  if (!f) {
    f = new Intl.NumberFormat("en-US", { style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 2 });
    moneyFormats.set(currency, f);
  }
  return f.format(Number(amount));
}

// Exact sums of the server's decimal strings (up to 12 places), as BigInt micro-micro-units.
const SCALE = 12;
export function toUnits(amount) {
  if (amount == null) return 0n;
  const [whole, frac = ""] = String(amount).replace(/^-/, "").split(".");
  const units = BigInt(whole || "0") * 10n ** BigInt(SCALE) + BigInt((frac + "0".repeat(SCALE)).slice(0, SCALE));
  return String(amount).startsWith("-") ? -units : units;
}
export function fromUnits(units, places = 2) {
  const neg = units < 0n;
  let u = neg ? -units : units;
  const step = 10n ** BigInt(SCALE - places);
  u = (u + step / 2n) / step; // half up, once
  const s = u.toString().padStart(places + 1, "0");
  return `${neg ? "-" : ""}${s.slice(0, -places)}.${s.slice(-places)}`;
}

/** The parts of an ARM resource id. */
export function parseId(id) {
  const parts = String(id).split("/").filter(Boolean);
  const out = { subscription: null, resourceGroup: null, provider: null, types: [], names: [] };
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i].toLowerCase();
    if (p === "subscriptions") out.subscription = parts[++i];
    else if (p === "resourcegroups") out.resourceGroup = parts[++i];
    else if (p === "providers") {
      out.provider = parts[++i];
      for (i++; i < parts.length; i += 2) { out.types.push(parts[i]); out.names.push(parts[i + 1]); }
    }
  }
  return out;
}

/** The top-level resource an id belongs to (a subnet's virtual network, a NIC's IP configuration's NIC). */
export function topLevelId(id) {
  const parts = String(id).split("/");
  const i = parts.findIndex((p) => p.toLowerCase() === "providers");
  if (i < 0) return id;
  return parts.slice(0, Math.min(parts.length, i + 4)).join("/");
}

export function isResourceId(value) {
  return typeof value === "string" && /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+/i.test(value);
}
