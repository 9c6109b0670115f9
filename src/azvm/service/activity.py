"""The Activity Log (Administrative category), derived from the stored VM histories and the time.

Nothing here is stored: every event is a function of an operation of a VM's history and the
simulated now (graph-health-activity.md section C). Each visible operation gives up to three
events sharing its `correlationId` and `operationId`: `Started` (BeginRequest) and `Accepted`
(EndRequest, with the HTTP status ARM answered) when it was accepted, then `Succeeded`, `Failed`
or `Canceled` (EndRequest) when it ended, once the clock has passed that end. A guest shutdown is
not an API call and gives no event.

The caller: each operation records who asked for it (`azvm.service.callers`: a user's `upn`, else
a service principal's or managed identity's application id, from the request's token); an
operation recorded before azvm kept callers, or asked for without a token, names `CALLER`.
`submissionTimestamp` equals `eventTimestamp` (Azure's ingestion delay is not simulated), so an
event is listed as soon as it happened.

The `$filter` grammar (`parse_filter`): a conjunction of `field op value` clauses joined by `and`;
`eventTimestamp ge <time>` and `eventTimestamp le <time>` are required (quoted or not, with or
without a zone: naive times are UTC, as az sends them); `resourceGroupName`, `resourceUri`
(`resourceId`, as az spells it), `resourceProvider`, `correlationId`, `caller` and `status` take
`eq '<value>'`, each at most once, compared case-insensitively. Anything else is a 400 that names it.
"""

from __future__ import annotations

import re
import uuid
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..clock import from_datetime
from ..domain.errors import BadRequest
from ..domain.history import US, History, Operation, operation_status
from ..domain.resource_id import ResourceId
from ..domain.states import OperationStatus
from ..domain.table import Op
from .compute import VM_TYPE
from .ports import Store

CALLER = "azvm@azvm.local"  # the caller of an operation whose caller is not known (see above)
MAX_WINDOW_DAYS = 90
_NS = uuid.UUID("8f1d6b0e-6c3a-4f0e-9a57-61c0a7e4b1d2")  # azvm's namespace for derived event ids

# Op -> (operation name suffix, localized name); the HTTP method and ARM's answer follow (`_request`)
_OPERATIONS: dict[str, tuple[str, str]] = {
    Op.CREATE: ("write", "Create or Update Virtual Machine"),
    Op.CREATE_ATTACHED: ("write", "Create or Update Virtual Machine"),
    Op.UPDATE: ("write", "Create or Update Virtual Machine"),
    Op.START: ("start/action", "Start Virtual Machine"),
    Op.POWER_OFF: ("powerOff/action", "Power Off Virtual Machine"),
    Op.POWER_OFF_SKIP: ("powerOff/action", "Power Off Virtual Machine"),
    Op.DEALLOCATE: ("deallocate/action", "Deallocate Virtual Machine"),
    Op.HIBERNATE: ("deallocate/action", "Deallocate Virtual Machine"),
    Op.RESTART: ("restart/action", "Restart Virtual Machine"),
    Op.REDEPLOY: ("redeploy/action", "Redeploy Virtual Machine"),
    Op.REAPPLY: ("reapply/action", "Reapply Virtual Machine"),
    Op.DELETE: ("delete", "Delete Virtual Machine"),
    Op.FORCE_DELETE: ("delete", "Delete Virtual Machine"),
}


def _request(op: str, suffix: str) -> tuple[str, tuple[str, int]]:
    """The HTTP method of an operation and ARM's answer when it accepted it: a PUT creates (201) or
    replaces (200); an action or a deletion is a long-running 202."""
    if suffix == "write":
        return "PUT", ("OK", 200) if op == Op.UPDATE else ("Created", 201)
    return "DELETE" if suffix == "delete" else "POST", ("Accepted", 202)


_FINAL_LEVEL = {OperationStatus.SUCCEEDED: "Informational", OperationStatus.FAILED: "Error",
                OperationStatus.CANCELED: "Warning"}


@dataclass(frozen=True)
class ActivityEvent:
    """One Activity Log event (Administrative), in Azure's terms; rendered by the provider."""

    sort_key: str  # "<eventTimestamp us>|<operation id>|<phase>": newest first is descending order
    event_data_id: str
    correlation_id: str
    operation_id: str
    operation_name: str  # e.g. Microsoft.Compute/virtualMachines/start/action
    operation_localized: str
    event_name: str  # BeginRequest | EndRequest
    status: str  # Started | Accepted | Succeeded | Failed | Canceled
    sub_status: str  # "" | Created | OK | Accepted | the error code
    sub_status_localized: str
    status_code: str  # properties.statusCode
    level: str
    at_us: int
    subscription_id: str
    resource_group: str
    resource_id: str
    resource_type: str
    method: str
    error: tuple[str, str] | None = None
    caller: str = CALLER

    @property
    def resource_provider(self) -> str:
        return self.resource_type.split("/", 1)[0]


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def operation_events(rid: ResourceId, op: Operation, successor: Operation | None, now_us: int) -> list[ActivityEvent]:
    """The events of one VM operation that have happened by `now_us`, oldest first."""
    known = _OPERATIONS.get(op.name)
    if known is None or not op.visible or op.at_us > now_us:
        return []
    suffix, localized = known
    method, (code_name, code) = _request(op.name, suffix)
    common = {"correlation_id": _id("correlation", op.op_id), "operation_id": op.op_id,
              "operation_name": f"{VM_TYPE}/{suffix}", "operation_localized": localized,
              "subscription_id": rid.subscription, "resource_group": rid.resource_group or "",
              "resource_id": str(rid), "resource_type": VM_TYPE, "method": method, "caller": op.caller or CALLER}

    def event(phase: int, at_us: int, event_name: str, status: str, sub: tuple[str, str], status_code: str,
              level: str, error: tuple[str, str] | None = None) -> ActivityEvent:
        return ActivityEvent(sort_key=f"{at_us:020d}|{op.op_id}|{phase}",
                             event_data_id=_id("event", op.op_id, str(phase)),
                             event_name=event_name, status=status, sub_status=sub[0], sub_status_localized=sub[1],
                             status_code=status_code, level=level, at_us=at_us, error=error, **common)

    events = [event(0, op.at_us, "BeginRequest", "Started", ("", ""), "", "Informational"),
              event(1, op.at_us, "EndRequest", "Accepted", (code_name, f"{code_name} (HTTP Status Code: {code})"),
                    code_name, "Informational")]
    view = operation_status(op, successor, now_us)
    if view.status != OperationStatus.IN_PROGRESS and view.end_us is not None and view.end_us <= now_us:
        sub = ("", "") if view.error is None else (view.error[0], view.error[0])
        events.append(event(2, view.end_us, "EndRequest", str(view.status), sub,
                            "OK" if view.error is None else "Conflict" if view.status == OperationStatus.CANCELED
                            else "InternalServerError", _FINAL_LEVEL[view.status], view.error))
    return events


def vm_events(store: Store, prefix: str, now_us: int) -> Iterator[ActivityEvent]:
    """The events up to `now_us` of every operation of the VMs whose lower-case ids start with `prefix`
    (a subscription's, a resource group's: `_prefix`), in no particular order."""
    for _key, ops in store.iter_histories(prefix=prefix):
        model = History(ops).model(ops[-1].at_us) if ops else None
        rid = ResourceId.try_parse(str(model.get("id"))) if model is not None else None
        if rid is None:
            continue
        for i, op in enumerate(ops):
            yield from operation_events(rid, op, ops[i + 1] if i + 1 < len(ops) else None, now_us)


# -- $filter -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventFilter:
    start_us: int
    end_us: int
    equals: tuple[tuple[str, str], ...]  # (canonical field, value lower case)

    def matches(self, e: ActivityEvent) -> bool:
        if not self.start_us <= e.at_us <= self.end_us:
            return False
        return all(_FIELDS[f](e).lower() == v for f, v in self.equals)


_FIELDS: dict[str, Callable[[ActivityEvent], str]] = {
    "resourceGroupName": lambda e: e.resource_group,
    "resourceUri": lambda e: e.resource_id,
    "resourceProvider": lambda e: e.resource_provider,
    "correlationId": lambda e: e.correlation_id,
    "caller": lambda e: e.caller,
    "status": lambda e: e.status,
}
_ALIASES = {k.lower(): k for k in (*_FIELDS, "eventTimestamp")} | {"resourceid": "resourceUri"}
_CLAUSE = re.compile(r"\s*(?P<field>[A-Za-z]+)\s+(?P<op>[A-Za-z]+)\s+(?P<value>'(?:[^']|'')*'|[^\s']+)\s*")
_AND = re.compile(r"and(?=\s)", re.IGNORECASE)


def _shown(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _time(value: str, clause: str) -> int:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"The $filter clause '{_shown(clause)}' has an invalid time '{_shown(value)}'.") from None
    return from_datetime(dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC))


def parse_filter(text: str | None, now_us: int) -> EventFilter:
    """Parse Azure's Activity Log `$filter`; raise BadRequest (400) naming what is not supported."""
    if text is None or not text.strip():
        raise BadRequest("The $filter query parameter is required: it must contain a time window"
                         " \"eventTimestamp ge '<start>' and eventTimestamp le '<end>'\".")
    pos, start, end = 0, None, None
    equals: dict[str, str] = {}
    while True:
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise BadRequest(f"The $filter part '{_shown(text[pos:])}' is not supported: the filter is a"
                             " conjunction of \"field op 'value'\" clauses joined by 'and'.")
        clause, raw_field, op = m.group(0), m.group("field"), m.group("op").lower()
        value = m.group("value")
        value = value[1:-1].replace("''", "'") if value.startswith("'") else value
        field = _ALIASES.get(raw_field.lower())
        if field is None:
            raise BadRequest(f"The $filter field '{_shown(raw_field)}' is not supported; the supported fields are"
                             " eventTimestamp, resourceGroupName, resourceUri, resourceId, resourceProvider,"
                             " correlationId, caller and status.")
        if field == "eventTimestamp":
            if op not in ("ge", "le"):
                raise BadRequest(f"The $filter clause '{_shown(clause)}' is not supported: eventTimestamp takes"
                                 " 'ge' and 'le'.")
            if (start if op == "ge" else end) is not None:
                raise BadRequest(f"The $filter clause '{_shown(clause)}' repeats 'eventTimestamp {op}'.")
            t = _time(value, clause)
            start, end = (t, end) if op == "ge" else (start, t)
        else:
            if op != "eq":
                raise BadRequest(f"The $filter clause '{_shown(clause)}' is not supported: {field} takes only 'eq'.")
            if field in equals:
                raise BadRequest(f"The $filter clause '{_shown(clause)}' repeats the field '{field}'.")
            equals[field] = value.lower()
        pos = m.end()
        if pos == len(text):
            break
        a = _AND.match(text, pos)
        if a is None:
            raise BadRequest(f"The $filter part '{_shown(text[pos:])}' is not supported: clauses are joined by 'and'.")
        pos = a.end()
    if start is None or end is None:
        raise BadRequest("The $filter must contain a time window \"eventTimestamp ge '<start>' and"
                         " eventTimestamp le '<end>'\"; the part missing is"
                         f" 'eventTimestamp {'ge' if start is None else 'le'}'.")
    if start < now_us - MAX_WINDOW_DAYS * 86_400 * US:
        raise BadRequest("The start time cannot be more than 90 days in the past.")
    return EventFilter(start, end, tuple(sorted(equals.items())))


class EventPages:
    """The events of a listing, kept from one page to the next. A listing reads the events up to the
    instant of its first page (its nextLink carries it: `ActivityLog`), and those never change, since
    a history only grows after that instant: so every page is cut from one ordered list, made once,
    rather than from all the subscription's events made again per page (a listing of 13,500 events in
    68 pages took 17.7 s; its time grew as the square of the fleet). A few recent listings are kept;
    another process, or an evicted listing, makes the same list again from the store."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._kept: OrderedDict[tuple[Any, ...], list[ActivityEvent]] = OrderedDict()

    def page(self, store: Store, sub: str, flt: EventFilter, now_us: int, *, after: str | None = None,
             limit: int = 200) -> tuple[list[ActivityEvent], str | None]:
        """A page of the events that match, newest first (as Azure lists them), and the key to continue after."""
        key = (sub.lower(), flt, now_us, store.get_meta("generation"))
        events = self._kept.get(key)
        if events is None:
            events = self._kept[key] = sorted(
                (e for e in vm_events(store, _prefix(sub, flt), now_us) if flt.matches(e)), key=_sort_key)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        end = bisect_left(events, after, key=_sort_key) if after is not None else len(events)
        start = max(0, end - limit)
        page = events[start:end][::-1]
        return page, page[-1].sort_key if start > 0 and page else None


def _sort_key(e: ActivityEvent) -> str:
    return e.sort_key


def _prefix(sub: str, flt: EventFilter) -> str:
    """The keys (lower-case resource ids) that the filter can match, as narrow a prefix as it allows."""
    equals = dict(flt.equals)
    uri = equals.get("resourceUri")
    if uri is not None and uri.startswith(f"/subscriptions/{sub.lower()}/"):
        return uri
    rg = equals.get("resourceGroupName")
    if rg is not None and "/" not in rg:
        return f"/subscriptions/{sub.lower()}/resourcegroups/{rg}/"
    return f"/subscriptions/{sub.lower()}/"


__all__ = ["CALLER", "ActivityEvent", "EventFilter", "EventPages", "operation_events", "parse_filter", "vm_events"]
