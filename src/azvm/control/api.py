"""The emulator's own API under /azvm/: health, clock, reset, guest actions, faults, history.

Kept apart from the ARM surface: none of it exists on Azure.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

from ..clock import ClockError, check_time, iso, parse_iso
from ..domain.errors import ArmError, NotFound
from ..domain.table import TABLE, Op, failable
from ..service.billing import BillingService, shown, timeline_from_store
from ..service.compute import ComputeService
from ..service.views import status_entries
from ..wire import Deferred, Req, Response, json_response, text_response

FAULT_KINDS = ("os-provisioning", "operation")
FAULT_OPS = ("*", *(o.value for o in Op))
MAX_FAULT_COUNT = 1_000_000
MAX_FAULT_MESSAGE = 4096
# an ARM error code: an identifier (letters, digits, '.', '_', '-'), as Azure's codes are
_FAULT_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")
_SEGMENT = r"[^/\x00-\x1f\x7f]+"  # no control characters: a fault's vm is compared, shown and listed
_VM_ID = re.compile(rf"/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\.Compute/"
                    rf"virtualMachines/{_SEGMENT}", re.IGNORECASE)


@dataclass(frozen=True)
class FaultSpec:
    op: str
    kind: str
    code: str | None
    message: str | None
    count: int
    vm: str | None


def _invalid(message: str, target: str) -> ArmError:
    return ArmError(message, code="InvalidParameter", target=target)


def parse_fault(body: Any) -> FaultSpec:
    """A fault rule as POST /azvm/faults takes it: {"kind", "op"?, "code"?, "message"?, "count"?, "vm"?}."""
    if not isinstance(body, dict):
        raise _invalid('Expected a JSON object {"kind": "operation" | "os-provisioning", "op"?, "code"?, "message"?,'
                       ' "count"?, "vm"?}.', "body")
    for name in body:
        if name not in FaultSpec.__dataclass_fields__:
            raise _invalid(f"Unknown fault field '{shown(name)}': expected kind, op, code, message, count, vm.",
                           shown(name))

    def text(name: str) -> str | None:
        v = body.get(name)
        if v is not None and not isinstance(v, str):
            raise _invalid(f"{name} must be a string, not {type(v).__name__ if not isinstance(v, list) else 'a list'}.",
                           name)
        return v

    kind = text("kind")
    if kind not in FAULT_KINDS:
        raise _invalid(f"kind must be one of {', '.join(FAULT_KINDS)}.", "kind")
    op = text("op") or "*"
    if op not in FAULT_OPS:
        raise _invalid(f"op '{shown(op)}' is not an operation: expected one of {', '.join(FAULT_OPS)}.", "op")
    if kind == "operation" and op != "*" and Op(op) not in failable(TABLE):
        raise _invalid(f"A '{op}' always completes: no fault can make it fail. Expected one of"
                       f" {', '.join(sorted(o.value for o in failable(TABLE)))}.", "op")
    if kind == "os-provisioning" and op not in ("*", Op.CREATE.value):
        raise _invalid("An os-provisioning fault shapes a create from an image: op must be 'create' or absent.", "op")
    code = text("code")
    if code is not None and not _FAULT_CODE.fullmatch(code):
        raise _invalid("code must be an error code: a letter, then up to 127 letters, digits, '.', '_' or '-'"
                       " (e.g. InternalExecutionError).", "code")
    message = text("message")
    if message is not None:
        check_fault_message(message)
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_FAULT_COUNT:
        raise _invalid(f"count must be an integer from 1 to {MAX_FAULT_COUNT}.", "count")
    vm = text("vm")
    if vm is not None and not _VM_ID.fullmatch(vm):
        raise _invalid("vm must be a VM resource id, /subscriptions/{id}/resourceGroups/{group}/providers/"
                       "Microsoft.Compute/virtualMachines/{name}, or absent for any VM.", "vm")
    return FaultSpec(op, kind, code, message, count, vm)


def check_fault_message(message: str) -> None:
    """A fault's message is a template: `{vm}` stands for the VM's name; `{{` and `}}` for braces."""
    problem = ""
    if not message.strip() or len(message) > MAX_FAULT_MESSAGE:
        problem = f"message must be a non-empty string of at most {MAX_FAULT_MESSAGE} characters."
    else:
        try:
            for _text, name, spec, conversion in string.Formatter().parse(message):
                if name is not None and (name != "vm" or spec or conversion):
                    problem = (f"message has the placeholder '{{{shown(name + (spec or ''))}}}': the only placeholder"
                               " is {vm} (the VM's name); write {{ and }} for literal braces.")
                    break
            else:
                message.format(vm="vm")
        except (ValueError, KeyError, IndexError, AttributeError):
            problem = "message has an unmatched '{' or '}': write {{ and }} for literal braces, {vm} for the VM's name."
    if problem:
        raise _invalid(problem, "message")


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
        if p == ["faults"]:
            if m == "GET":
                return json_response({"value": [
                    {"op": f.op, "kind": f.fault.kind, "code": f.fault.code, "message": f.fault.message,
                     "remaining": f.remaining, "vm": f.vm} for f in self.svc.faults.rules]})
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

    def add_fault(self, body: Any) -> Response:
        """Every field is checked here, when the fault is accepted: a fault taken in is one that
        every later matching request can apply (never a 500 then)."""
        f = parse_fault(body)
        rule = self.svc.faults.add(f.op, f.kind, code=f.code, message=f.message, count=f.count, vm=f.vm)
        return json_response({"op": rule.op, "kind": rule.fault.kind, "code": rule.fault.code,
                              "remaining": rule.remaining}, 201)

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
