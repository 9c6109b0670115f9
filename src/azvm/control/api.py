"""The emulator's own API under /azvm/: health, clock, reset, guest actions, faults, history.

Kept apart from the ARM surface: none of it exists on Azure.
"""

from __future__ import annotations

from typing import Any

from ..arm.http import Req, Response, json_response, text_response
from ..arm.render import status_entries
from ..clock import ClockError, iso, parse_iso
from ..domain.errors import ArmError, NotFound
from ..service.billing import BillingService, timeline_from_store
from ..service.compute import ComputeService


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

    def __call__(self, req: Req) -> Response:
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
            try:
                start_us = parse_iso(start) if isinstance(start, str) else None
            except ValueError:
                start_us = None
            if start is not None and start_us is None:
                raise ArmError("startTime must be an ISO 8601 time with a zone.", code="InvalidParameter",
                               target="startTime")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise ArmError("seed must be an integer.", code="InvalidParameter", target="seed")
            skip = body.get("timeSkipping")
            self.svc.reset(start_us=start_us, seed=seed, skip=bool(skip) if skip is not None else None)
            return json_response({"status": "reset", **self.clock_body()})
        if p == ["guest-shutdown"] and m == "POST":
            body = req.json()
            if not isinstance(body, dict) or not isinstance(body.get("id"), str):
                raise ArmError("Expected {\"id\": \"<VM resource id>\"}.", code="InvalidParameter", target="id")
            op = self.svc.guest_shutdown(body["id"])
            return json_response({"id": body["id"], "startTime": iso(op.at_us), "endTime": iso(op.end_us)})
        if p == ["faults"]:
            if m == "GET":
                return json_response({"value": [
                    {"op": f.op, "kind": f.fault.kind, "code": f.fault.code, "message": f.fault.message,
                     "remaining": f.remaining, "vm": f.vm} for f in self.svc.faults]})
            if m == "POST":
                return self.add_fault(req.json())
            if m == "DELETE":
                self.svc.faults.clear()
                return json_response({"value": []})
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
        set_us: int | None = None
        if "set" in body:
            v = body["set"]
            try:
                set_us = parse_iso(v) if isinstance(v, str) else None
            except ValueError:
                set_us = None
            if set_us is None:
                raise ArmError("set must be an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z.",
                               code="InvalidParameter", target="set")
        skip = body.get("timeSkipping")
        if skip is not None and not isinstance(skip, bool):
            raise ArmError("timeSkipping must be true or false.", code="InvalidParameter", target="timeSkipping")
        clock = self.svc.clock
        with self.svc._lock:
            now = clock.now_us()
            target = now + round((advance or 0) * 1_000_000)
            if set_us is not None:
                if set_us < now:
                    raise ArmError(f"the clock never goes backwards: it reads {iso(now)}.", code="InvalidParameter",
                                   target="set")
                target = max(target, set_us)
            try:
                if target > now:
                    clock.set(target)
                if speed is not None:
                    clock.set_speed(speed)
                if skip is not None:
                    clock.set_skip(skip)
            except ClockError as e:
                raise ArmError(str(e), code="InvalidParameter", target="clock") from None
            self.svc.persist_clock()
        return json_response(self.clock_body())

    def add_fault(self, body: Any) -> Response:
        if not isinstance(body, dict):
            raise ArmError("Expected a JSON object.", code="InvalidParameter", target="body")
        count = body.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ArmError("count must be a positive integer.", code="InvalidParameter", target="count")
        try:
            rule = self.svc.add_fault(str(body.get("op", "*")), str(body.get("kind", "")), code=body.get("code"),
                                      message=body.get("message"), count=count, vm=body.get("vm"))
        except ValueError as e:
            raise ArmError(str(e), code="InvalidParameter", target="kind") from None
        return json_response({"op": rule.op, "kind": rule.fault.kind, "code": rule.fault.code,
                              "remaining": rule.remaining}, 201)

    def bill(self, req: Req, rest: list[str]) -> Response:
        """GET /azvm/billing[?from&to&groupBy&rules], /azvm/billing/explain?id=, /azvm/billing/what-if,
        /azvm/billing/cost-details (CSV with the cost-details columns)."""
        from .. import billing as b

        try:
            svc = self.billing.with_rules(req.q("rules"))
            tl = timeline_from_store(self.svc.store, tags=rest == ["cost-details"])
            start, end = svc.window(tl, req.q("from"), req.q("to"), self.svc.now())
            if rest == []:
                group_by = req.q("groupBy") or "vm"
                if group_by not in b.GROUP_BY:
                    raise ArmError(f"groupBy must be one of {', '.join(b.GROUP_BY)}.", code="InvalidParameter",
                                   target="groupBy")
                return json_response(svc.bill_json(svc.bill(tl, start, end, group_by)))
            if rest == ["explain"]:
                vm = req.q("id")
                if not vm:
                    raise ArmError("Query parameter 'id' (a VM resource id) is required.", code="InvalidParameter",
                                   target="id")
                return json_response(svc.explain_json(svc.explain(tl, vm, start, end)))
            if rest == ["what-if"]:
                return json_response(svc.what_if_json(svc.what_if(tl, start, end)))
            if rest == ["cost-details"]:
                return text_response(svc.cost_csv(tl, start, end), "text/csv; charset=utf-8")
        except b.BillingError as e:
            raise ArmError(str(e), code="InvalidParameter", target=getattr(e, "field", None)) from None
        raise ArmError(f"No azvm billing resource at '/{'/'.join(req.parts)}'.", code="NotFound")

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
