"""The emulator's own API under /azvm/: health, clock, reset, guest actions, faults, history.

Kept apart from the ARM surface: none of it exists on Azure.
"""

from __future__ import annotations

from typing import Any

from ..clock import ClockError, check_time, iso, parse_iso
from ..domain.errors import ArmError, NotFound
from ..service.billing import BillingService, shown, timeline_from_store
from ..service.compute import ComputeService
from ..service.views import status_entries
from ..wire import Deferred, Req, Response, json_response, text_response


class ControlApi:
    def __init__(self, service: ComputeService, *, store_kind: str, version: str,
                 billing: BillingService | None = None) -> None:
        self.svc = service
        self.billing = billing or BillingService()
        self.store_kind = store_kind
        self.version = version

    def clock_body(self) -> dict[str, Any]:
        s = self.svc.clock.state
        now = self.svc.now()
        return {"now": iso(now), "nowMicroseconds": now, "manual": s.manual, "speed": s.speed,
                "timeSkipping": s.skip}

    def __call__(self, req: Req) -> Response | Deferred:
        p, m = req.low[1:], req.method
        if p == ["health"] and m == "GET":
            return json_response({"status": "ok", "version": self.version, "store": self.store_kind,
                                  "now": iso(self.svc.now())})
        if p == ["clock"]:
            if m == "GET":
                return json_response(self.clock_body())
            if m == "POST":
                return self.move_clock(req.json())
        if p == ["reset"] and m == "POST":
            body = req.json(required=False)
            if body is None and not req.body.strip():
                body = {}
            if not isinstance(body, dict):
                raise ArmError("Expected a JSON object or no body.", code="InvalidParameter", target="body")
            start = body.get("startTime")
            seed = body.get("seed")
            start_us = None if start is None else self._time(start, "startTime")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise ArmError("seed must be an integer.", code="InvalidParameter", target="seed")
            skip = body.get("timeSkipping")
            if skip is not None and not isinstance(skip, bool):
                raise ArmError("timeSkipping must be true or false.", code="InvalidParameter", target="timeSkipping")
            self.svc.reset(start_us=start_us, seed=seed, skip=skip)
            return json_response({"status": "reset", **self.clock_body()})
        if p == ["guest-shutdown"] and m == "POST":
            body = req.json()
            if not isinstance(body, dict) or not isinstance(body.get("id"), str):
                raise ArmError("Expected {\"id\": \"<VM resource id>\"}.", code="InvalidParameter", target="id")
            op = self.svc.guest_shutdown(body["id"])
            return json_response({"id": body["id"], "startTime": iso(op.at_us), "endTime": iso(op.end_us)})
        if p and p[0] == "faults":
            return self.faults(req, m, p[1:])
        if p == ["history"] and m == "GET":
            return self.history(req)
        if p and p[0] == "billing" and m == "GET":
            return self.bill(req, p[1:])
        raise ArmError(f"No azvm control resource at '/{'/'.join(req.parts)}' for {m}.", code="NotFound")

    def move_clock(self, body: Any) -> Response:
        """Validate every field first, then apply them all: a request that fails changes nothing."""
        if not isinstance(body, dict) or not body:
            raise ArmError('Expected one of {"advanceSeconds": N}, {"set": "<ISO time>"}, {"speed": F},'
                           ' {"timeSkipping": true|false}.', code="InvalidParameter", target="body")
        unknown = set(body) - {"advanceSeconds", "set", "speed", "timeSkipping"}
        if unknown:
            raise ArmError(f"Unknown clock field(s): {', '.join(sorted(unknown))}.", code="InvalidParameter",
                           target=sorted(unknown)[0])

        def number(name: str, low: float, high: float) -> float | None:
            if name not in body:
                return None
            v = body[name]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not low <= v <= high:
                raise ArmError(f"{name} must be a number from {low:g} to {high:g}.", code="InvalidParameter",
                               target=name)
            return float(v)

        advance = number("advanceSeconds", 0, 100 * 366 * 86400)
        speed = number("speed", 0, 1e6)
        set_us = self._time(body["set"], "set") if "set" in body else None
        skip = body.get("timeSkipping")
        if skip is not None and not isinstance(skip, bool):
            raise ArmError("timeSkipping must be true or false.", code="InvalidParameter", target="timeSkipping")
        self.svc.time.move(advance_us=round((advance or 0) * 1_000_000), set_us=set_us, speed=speed, skip=skip)
        return json_response(self.clock_body())

    @staticmethod
    def _time(value: Any, name: str) -> int:
        """A time the clock may show: ISO 8601 with a zone, not after 9999-12-31T23:59:59Z."""
        try:
            us = parse_iso(value) if isinstance(value, str) else None
        except ValueError:
            us = None
        if us is None:
            raise ArmError(f"{name} must be an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z.",
                           code="InvalidParameter", target=name)
        try:
            return check_time(us, name)
        except ClockError as e:
            raise ArmError(f"{e}.", code="InvalidParameter", target=name) from None

    def faults(self, req: Req, m: str, rest: list[str]) -> Response:
        """/azvm/faults: GET lists the rules (with where each stands), POST adds one or a list of them
        (every field checked first: a bad one is a 400 and nothing is added), DELETE clears them;
        /azvm/faults/{id}: GET shows one, DELETE removes it."""
        faults = self.svc.faults
        if not rest:
            if m == "GET":
                return json_response({"value": [r.to_json() for r in faults.rules]})
            if m == "POST":
                body = req.json()
                if isinstance(body, list) and body:
                    return json_response({"value": [r.to_json() for r in faults.take_all(body)]}, 201)
                return json_response(faults.take(body).to_json(), 201)
            if m == "DELETE":
                faults.clear()
                return json_response({"value": []})
        elif len(rest) == 1 and m in ("GET", "DELETE"):
            rule = faults.get(rest[0]) if m == "GET" else faults.remove(rest[0])
            if rule is None:
                raise NotFound(f"No fault '{shown(req.parts[2])}': GET /azvm/faults lists them.", code="NotFound")
            return json_response(rule.to_json())
        raise ArmError(f"No azvm control resource at '/{'/'.join(req.parts)}' for {m}.", code="NotFound")

    def bill(self, req: Req, rest: list[str]) -> Response | Deferred:
        """GET /azvm/billing[?from&to&groupBy&rules], /azvm/billing/explain?id=, /azvm/billing/what-if,
        /azvm/billing/cost-details (CSV with the cost-details columns).

        Everything a request says is checked here, then the store is read, then the bill itself is
        computed off the event loop (Deferred): other requests are served meanwhile. The window ends
        at the simulated now at the latest (`to`, `requestedTo`, `truncatedAtNow`)."""
        if rest not in ([], ["explain"], ["what-if"], ["cost-details"]):
            raise ArmError(f"No azvm billing resource at '/{'/'.join(req.parts)}'.", code="NotFound")
        svc = self.billing.with_rules(req.q("rules"))
        group_by = req.q("groupBy") or "vm"
        vm = req.q("id")
        if rest == ["explain"] and not vm:
            raise ArmError("Query parameter 'id' (a VM resource id) is required.", code="InvalidParameter",
                           target="id")
        tl = timeline_from_store(self.svc.store, tags=rest == ["cost-details"])
        w = svc.window_until_now(tl, req.q("from"), req.q("to"), self.svc.now())
        if rest == ["cost-details"]:
            csv = svc.cost_details_report(tl, w)
            window = {"x-azvm-billed-to": iso(w.end_us), "x-azvm-truncated-at-now": str(w.truncated).lower()}

            def export() -> Response:
                r = text_response(csv(), "text/csv; charset=utf-8")
                return Response(r.status, r.body, {**r.headers, **window})
            return Deferred(export)
        if rest == ["explain"]:
            work = svc.explain_report(tl, w, vm or "")
        elif rest == ["what-if"]:
            work = svc.what_if_report(tl, w)
        else:
            work = svc.bill_report(tl, w, group_by)
        return Deferred(lambda: json_response(work()))

    def history(self, req: Req) -> Response:
        rid = req.q("id")
        if not rid:
            raise ArmError("Query parameter 'id' (a VM resource id) is required.", code="InvalidParameter",
                           target="id")
        ops = self.svc.store.load_history(rid.lower())
        if not ops:
            raise NotFound(f"No history for '{rid}'.")
        out = []
        for op in ops:
            out.append({"id": op.op_id, "name": op.name, "acceptedAt": iso(op.at_us), "phases": [
                {"at": iso(ph.at_us), "statuses": status_entries(ph) if ph.power else [], "deleted": ph.power is None}
                for ph in op.phases]})
        return json_response({"id": rid, "operations": out})
