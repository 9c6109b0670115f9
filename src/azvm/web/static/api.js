// The page's one way to the server: the same ARM API as any client, the control API, the dashboard's
// reads and its event stream, each request with the signed-in principal's token.

export const COMPUTE_API = "2024-11-01";
export const RESOURCES_API = "2021-04-01";
export const SUBSCRIPTIONS_API = "2022-12-01";
const OPEN_TOKEN = "azvm-dashboard"; // --auth open takes any bearer token (ARM wants one to be there)
const TOKEN_KEY = "azvm.dashboard.token";

/** An answer that was not a success: its status and the ARM error envelope's code and message. */
export class HttpError extends Error {
  constructor(status, body, method, path) {
    const err = body && typeof body === "object" ? body.error || {} : {};
    const code = err.code || body?.error_codes?.join(",") || `HTTP ${status}`;
    const message = err.message || body?.error_description || (typeof body === "string" ? body : "");
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.detail = message;
    this.body = body;
    this.method = method;
    this.path = path;
  }
}

export class Api {
  constructor() {
    this.mode = "open";
    this.token = sessionStorage.getItem(TOKEN_KEY);
    this.onUnauthorized = () => {};
  }

  get signedIn() {
    return this.mode === "open" || Boolean(this.token);
  }

  authHeader() {
    return { Authorization: `Bearer ${this.mode === "open" ? this.token || OPEN_TOKEN : this.token}` };
  }

  /** One request; JSON in and out. Resolves to {status, body, headers}; rejects with HttpError. */
  async request(method, path, { body, headers = {}, raw = false } = {}) {
    const init = { method, headers: { ...this.authHeader(), ...headers }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let parsed = text;
    if (text && (res.headers.get("content-type") || "").includes("json")) {
      try { parsed = JSON.parse(text); } catch { /* shown as text */ }
    }
    if (!res.ok) {
      const err = new HttpError(res.status, parsed, method, path);
      if (res.status === 401) this.onUnauthorized(err);
      throw err;
    }
    return { status: res.status, body: text ? parsed : null, text, headers: res.headers };
  }

  get(path) { return this.request("GET", path).then((r) => r.body); }

  /** An ARM request at an api-version. */
  arm(method, path, apiVersion, body) {
    const sep = path.includes("?") ? "&" : "?";
    return this.request(method, `${path}${sep}api-version=${apiVersion}`, { body });
  }

  control(method, path, body) {
    return this.request(method, `/azvm/${path}`, { body }).then((r) => r.body);
  }

  async config() {
    const res = await fetch("/ui/config", { cache: "no-store" });
    const cfg = await res.json();
    this.mode = cfg.auth;
    if (this.mode === "open") this.token = null;
    return cfg;
  }

  /** Client credentials at azvm's own token endpoint (docs/identity.md), as azure-identity does. */
  async signIn(clientId, secret) {
    const form = new URLSearchParams({
      grant_type: "client_credentials", client_id: clientId, client_secret: secret,
      scope: "https://management.azure.com/.default",
    });
    const res = await fetch("/organizations/oauth2/v2.0/token", {
      method: "POST", body: form, headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || !body.access_token) {
      throw new Error(body.error_description || body.error || `The token endpoint answered ${res.status}.`);
    }
    this.token = body.access_token;
    sessionStorage.setItem(TOKEN_KEY, this.token);
  }

  signOut() {
    this.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  /**
   * The server-sent events of /ui/events, read with fetch (EventSource cannot send a token).
   * Calls onEvent(name, data) for each; resolves when the stream ends; reconnects are the caller's.
   */
  async events(onEvent, signal) {
    const res = await fetch("/ui/events", { headers: { ...this.authHeader(), Accept: "text/event-stream" }, signal, cache: "no-store" });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      const err = new HttpError(res.status, body, "GET", "/ui/events");
      if (res.status === 401) this.onUnauthorized(err);
      throw err;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let from = 0; // where to look for the next blank line: a big event comes in many chunks
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      from = Math.max(0, buffer.length - 1);
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n", from)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        from = 0;
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }
}
