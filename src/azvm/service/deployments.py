"""ARM template deployments (`Microsoft.Resources/deployments`) over simulated time.

A deployment is accepted with its template checked and planned (`azvm.templates.prepare`: parameters,
resources with their ids, copy loops, conditions, the dependency graph). It then runs as a small
discrete-event simulation driven by the clock: at each instant where something falls due (the first
wave one second after acceptance, a resource's own operation ending), the deployment settles what
ended, starts every resource whose dependencies have all succeeded — through that resource type's
own slot, exactly as a client's PUT would, so a VM goes through Creating and its OS provisioning
sub-states and is billed — and, when nothing is left to run, ends Succeeded (with its outputs),
Failed (`DeploymentFailed`, with each failed resource's error) or stays Canceled.

The work of an instant runs *as of that instant* (`Clock.replay_at`), before any request that comes
after it is answered (`catch_up`, run before every request): what it writes is dated when it fell
due, whether or not anyone was polling, and a restart replays nothing twice (each step is written,
in the request's transaction, with the deployment's new version). The deployments still running and
when each next falls due are kept in the store (meta `deployments.due`).

Facts: ../shared/reference/arm-templates.md §4-5 (deployment semantics, the REST API, the
deployment and operation objects, the errors), MicrosoftDocs `azure-resource-manager/management/
async-operations.md` (the status resource) and the REST reference for Deployments - Cancel ("only if
the provisioningState is Accepted or Running ... leaves the resources partially deployed") and
Deployments - Delete ("a template deployment that is currently running cannot be deleted").
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

from .. import templates
from ..clock import Clock, iso, to_datetime
from ..domain.errors import ArmError, Conflict, NotFound
from ..domain.resource_id import ResourceId
from ..ids import IdSource
from . import callers
from .clock import ClockKeeper
from .ports import ResourceRow, Store
from .resources import Resources, ResourceType

if TYPE_CHECKING:
    from ..templates import PlannedResource, Prepared, Scope, TemplateError

TYPE = "Microsoft.Resources/deployments"
US = 1_000_000
START_DELAY_US = 1 * US  # Accepted, then Running: the first wave starts a second after the PUT
DUE_KEY = "deployments.due"
TERMINAL = ("Succeeded", "Failed", "Canceled")
TEMPLATE_ONLY = ("template", "parameters", "steps")
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.()")
FAILED_MESSAGE = ("At least one resource deployment operation failed. Please list deployment operations for"
                  " details. Please see https://aka.ms/arm-deployment-operations for usage details.")
ASYNC_FAILED = ("The resource write operation failed to complete successfully, because it reached terminal"
                " provisioning state '{state}'.")


@dataclass(frozen=True)
class Outcome:
    """What a resource type's slot answered to one write."""

    status: int  # the HTTP status it answered
    end_us: int | None = None  # when its own operation ends, if later than now
    op_url: str | None = None  # its Azure-AsyncOperation, to read the result at the end
    error: dict[str, Any] | None = None  # its error envelope's `error`, when it refused


class Slots(Protocol):
    """The resource types' own slots, as the deployment engine reaches them (azvm.providers.deployments)."""

    def preflight(self, r: PlannedResource) -> dict[str, Any] | None:
        """An error detail if no slot serves the resource's type at its api-version, else None."""
    def put(self, r: PlannedResource, body: dict[str, Any]) -> Outcome: ...
    def delete(self, rid: str) -> Outcome: ...
    def result(self, op_url: str) -> tuple[str, dict[str, Any] | None, int | None]:
        """(status, error, end) of an operation, read at the current (replayed) instant."""
    def read(self, rid: str, api_version: str | None) -> dict[str, Any] | None:
        """The resource as its GET shows it now, or None."""
    def group_members(self, sub: str, rg: str) -> list[str]:
        """The ids of the top-level resources in a group now (complete mode's candidates)."""


def deployment_id(sub: str, rg: str | None, name: str) -> str:
    scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg is not None else "")
    return f"{scope}/providers/{TYPE}/{name}"


def check_name(name: str) -> None:
    """1-64 of letters, digits, '-', '_', '.', '(' and ')' (the REST reference's pattern ^[-\\w\\._\\(\\)]+$)."""
    if not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise ArmError(f"The deployment name '{name[:80]}' is invalid: it must be 1 to 64 characters of letters,"
                       " digits, '-', '_', '.', '(' and ')'.", code="InvalidDeploymentName", target="deploymentName")


def duration(us: int) -> str:
    """ISO 8601, as ARM shows a deployment's duration ("PT36.0746958S")."""
    seconds = us / US
    return f"PT{seconds:.7f}".rstrip("0").rstrip(".") + "S"


def _status_code(status: int) -> str:
    return HTTPStatus(status).phrase.replace(" ", "") if status in HTTPStatus._value2member_map_ else str(status)


def _hex_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:16].upper()


def _numeric_id(seed: str) -> str:
    return "0858" + str(int(hashlib.sha256(seed.encode()).hexdigest()[:15], 16)).zfill(16)[:16]


def invalid_template(name: str, tracking: str, details: list[dict[str, Any]]) -> ArmError:
    return ArmError(f"The template deployment '{name}' is not valid according to the validation procedure. The"
                    f" tracking id is '{tracking}'. See inner errors for details.", code="InvalidTemplateDeployment",
                    details=details)


def _template_error(e: TemplateError) -> dict[str, Any]:
    d: dict[str, Any] = {"code": e.code, "message": e.message}
    if e.target:
        d["target"] = e.target
    return d


class Deployments:
    def __init__(self, store: Store, resources: Resources, time: ClockKeeper, clock: Clock, ids: IdSource,
                 lock: threading.RLock, tenant_id: Callable[[str], str], *, shared: bool = False) -> None:
        self.store = store
        self.resources = resources
        self.time = time
        self.clock = clock
        self.ids = ids
        self._lock = lock
        self.tenant_id = tenant_id
        self.shared = shared
        self.slots: Slots | None = None  # set by the provider
        # when the next deployment work falls due, as last read from the store: None = read it again
        # (after every write: a request that fails rolls its writes back, so the store is the truth);
        # MAX = nothing is running
        self._due: int | None = None
        self.spec = resources.register(ResourceType(type=TYPE, family="deployments", normalize=_never,
                                                    etag_in_body=False, generic=False))

    # -- the schedule ----------------------------------------------------------------------------------
    def _load_due(self) -> dict[str, int]:
        raw = self.store.get_meta(DUE_KEY)
        return {str(k): int(v) for k, v in json.loads(raw).items()} if raw else {}

    def _save_due(self, due: dict[str, int]) -> None:
        self.store.set_meta(DUE_KEY, json.dumps(due, sort_keys=True))
        self._due = None

    def catch_up(self) -> None:
        """Run every deployment's work that has fallen due, in time order, each at its own instant."""
        hint = self._due
        if hint is not None and hint > self.clock.now_us() and not (self.shared and self.store.foreign_writes):
            return
        with self._lock:
            due = self._load_due()
            now = self.clock.now_us()
            queue = [(t, k) for k, t in due.items()]
            heapq.heapify(queue)
            changed = False
            while queue and queue[0][0] <= now:
                t, key = heapq.heappop(queue)
                if due.get(key) != t:
                    continue
                with self.clock.replay_at(t), callers.acting_as(partial(self._caller, key)):
                    nxt = self._advance(key, t)  # its resources are written as the deployment's caller
                changed = True
                if nxt is None:
                    due.pop(key, None)
                else:
                    due[key] = max(nxt, t)
                    heapq.heappush(queue, (due[key], key))
            if changed:
                self._save_due(due)
            else:
                self._due = min(due.values()) if due else 2**62

    def _caller(self, key: str) -> str | None:
        row = self.resources.store.get_resource(key)
        return str(row.body["caller"]) if row is not None and row.body.get("caller") else None

    def _schedule(self, key: str, at_us: int | None) -> None:
        due = self._load_due()
        if at_us is None:
            due.pop(key, None)
        else:
            due[key] = at_us
        self._save_due(due)

    def next_due(self, key: str) -> int | None:
        return self._load_due().get(key)

    # -- accept ------------------------------------------------------------------------------------------
    def _scope(self, sub: str, rg: str | None, name: str, location: str | None, at_us: int) -> Scope:
        group: dict[str, Any] | None = None
        if rg is not None:
            g = self.resources.require_group(sub, rg)
            group = {"id": f"/subscriptions/{sub}/resourceGroups/{g.name}", "name": g.name,
                     "type": "Microsoft.Resources/resourceGroups", "location": g.location,
                     "properties": {"provisioningState": "Succeeded"}}
            if g.tags:
                group["tags"] = dict(g.tags)
        return templates.Scope(subscription_id=sub, tenant_id=self.tenant_id(sub), resource_group=group,
                     deployment_name=name, location=location, now=to_datetime(at_us))

    @staticmethod
    def _request(body: Any) -> dict[str, Any]:
        if isinstance(body, (bytes, str)):
            try:
                body = templates.parse_jsonc(body)
            except templates.TemplateError as e:
                raise ArmError(e.message, code="InvalidRequestContent") from None
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ArmError("The request content was invalid and could not be deserialized: 'properties' is"
                           " required.", code="InvalidRequestContent", target="properties")
        props = body["properties"]
        if "templateLink" in props and "template" not in props:
            raise ArmError("A template given by link (properties.templateLink) is not supported by azvm: give"
                           " the template inline (properties.template).", code="InvalidTemplate",
                           target="properties.templateLink")
        if not isinstance(props.get("template"), dict):
            raise ArmError("The request content was invalid and could not be deserialized: 'properties.template'"
                           " must be an object.", code="InvalidRequestContent", target="properties.template")
        params = props.get("parameters", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ArmError("'properties.parameters' must be an object.", code="InvalidRequestContent",
                           target="properties.parameters")
        if "parametersLink" in props:
            raise ArmError("Parameters given by link (properties.parametersLink) are not supported by azvm.",
                           code="InvalidTemplate", target="properties.parametersLink")
        mode = props.get("mode", "Incremental")
        if not isinstance(mode, str) or mode.lower() not in ("incremental", "complete"):
            raise ArmError(f"The deployment mode '{mode}' is not valid: expected 'Incremental' or 'Complete'.",
                           code="InvalidDeploymentMode", target="properties.mode")
        return body

    def _plan(self, sub: str, rg: str | None, name: str, body: dict[str, Any], at_us: int) -> Prepared:
        props = body["properties"]
        location = body.get("location") if isinstance(body.get("location"), str) else None
        tracking = _uuid_of(f"{sub}|{rg}|{name}|{at_us}|tracking")
        try:
            prepared = templates.prepare(props["template"], props.get("parameters") or {},
                               self._scope(sub, rg, name, location, at_us))
        except templates.TemplateError as e:
            raise invalid_template(name, tracking, [_template_error(e)]) from None
        assert self.slots is not None
        problems = [p for p in (self.slots.preflight(r) for r in prepared.resources) if p is not None]
        if problems:
            raise invalid_template(name, tracking, problems)
        return prepared

    def validate(self, sub: str, rg: str | None, name: str, raw: Any) -> dict[str, Any]:
        """POST .../validate: the template checked and planned, nothing written."""
        check_name(name)
        body = self._request(raw)
        now = self.clock.now_us()
        if rg is None and not isinstance(body.get("location"), str):
            raise ArmError("The location of a deployment at subscription scope is required.",
                           code="InvalidDeploymentLocation", target="location")
        prepared = self._plan(sub, rg, name, body, now)
        rid = deployment_id(sub, rg, name)
        props = body["properties"]
        out: dict[str, Any] = {"id": rid, "name": name, "type": TYPE, "properties": {
            "templateHash": templates.template_hash(props["template"]), "parameters": prepared.parameters,
            "mode": _mode(props), "provisioningState": "Succeeded", "timestamp": iso(now), "duration": "PT0S",
            "correlationId": _uuid_of(f"{rid}|{now}|correlation"), "providers": _providers(prepared.resources),
            "dependencies": _dependencies(prepared.resources),
            "validatedResources": [{"id": r.id} for r in prepared.resources]}}
        if rg is None:
            out["location"] = body["location"]
        return out

    def create(self, sub: str, rg: str | None, name: str, raw: Any) -> tuple[ResourceRow, bool]:
        """PUT: accept a deployment (Accepted now; its first wave falls due a second later)."""
        check_name(name)
        body = self._request(raw)
        with self._lock:
            now = self.clock.now_us()
            rid = ResourceId.parse(deployment_id(sub, rg, name))
            if rg is not None:
                self.resources.require_group(sub, rg)
            elif not isinstance(body.get("location"), str):
                raise ArmError("The location of a deployment at subscription scope is required.",
                               code="InvalidDeploymentLocation", target="location")
            old = self.resources.find(rid)
            if old is not None and old.body.get("state") not in TERMINAL:
                raise Conflict(f"The deployment '{name}' is still running: it cannot be replaced until it ends or"
                               " is canceled.", code="DeploymentActive")
            prepared = self._plan(sub, rg, name, body, now)
            props = body["properties"]
            seed = f"{rid.key}|{now}|{self.ids.uuid()}"
            steps = [_step(r, seed) for r in prepared.resources]
            record: dict[str, Any] = {
                "id": str(rid) if old is None else str(old.body.get("id")), "name": name, "type": TYPE,
                "state": "Accepted", "acceptedUs": now, "startUs": now + START_DELAY_US,
                "opId": _numeric_id(seed), "correlationId": self.ids.uuid(), "mode": _mode(props),
                "templateHash": templates.template_hash(props["template"]),
                "template": props["template"], "parameters": props.get("parameters") or {},
                "shownParameters": prepared.parameters,
                "providers": _providers(prepared.resources),
                "dependencies": _dependencies(prepared.resources), "steps": steps,
                "caller": callers.current()}
            for k in ("debugSetting", "onErrorDeployment", "expressionEvaluationOptions"):
                if props.get(k) is not None:
                    record[k] = props[k]
            if rg is None:
                record["location"] = body["location"]
            if isinstance(body.get("tags"), dict):
                record["tags"] = body["tags"]
            row = self.resources.write(rid, record, old)
            self._schedule(rid.key, now + START_DELAY_US)
            return row, old is None

    # -- the simulation ----------------------------------------------------------------------------------
    def _advance(self, key: str, t: int) -> int | None:
        """One deployment's work at instant t (the clock replays t); returns when it next falls due."""
        row = self.resources.find(key)
        if row is None:
            return None  # deleted (its resource group went)
        rec = copy.deepcopy(row.body)
        steps: list[dict[str, Any]] = rec["steps"]
        rid = ResourceId.parse(str(rec["id"]))
        prepared: Prepared | None = None
        assert self.slots is not None
        slots = self.slots

        def planned() -> Prepared:
            nonlocal prepared
            if prepared is None:
                prepared = templates.prepare(rec["template"], rec["parameters"],
                                   self._scope(rid.subscription, rid.resource_group, rid.name, rec.get("location"),
                                               int(rec["acceptedUs"])))
            return prepared

        if rec["state"] == "Accepted" and t >= int(rec["startUs"]):
            rec["state"] = "Running"
        progress = True
        while progress:
            progress = False
            for s in steps:
                if s["state"] == "Running" and s.get("end") is not None and int(s["end"]) <= t:
                    self._settle(s, t, slots)
                    progress = True
            if rec["state"] != "Running":
                continue
            by_id = {s["id"].lower(): s for s in steps if s["op"] == "Create"}
            for s in steps:
                if s["state"] != "Waiting":
                    continue
                deps = [by_id[d.lower()] for d in s["dependsOn"] if d.lower() in by_id]
                if any(d["state"] in ("Failed", "Skipped") for d in deps):
                    s["state"] = "Skipped"  # never started: something it needs failed
                    progress = True
                elif all(d["state"] == "Succeeded" for d in deps):
                    self._start(s, t, planned, slots)
                    progress = True
            if not progress and rec["mode"] == "Complete" and not rec.get("cleaned") \
                    and all(s["state"] == "Succeeded" for s in steps) and rid.resource_group is not None:
                rec["cleaned"] = True
                named = {s["id"].lower() for s in steps}
                for other in slots.group_members(rid.subscription, rid.resource_group):
                    if other.lower() not in named:
                        step: dict[str, Any] = {"id": other, "type": ResourceId.parse(other).type,
                                "name": "/".join(ResourceId.parse(other).names), "apiVersion": None,
                                "dependsOn": [], "where": "complete mode", "op": "Delete", "state": "Waiting",
                                "operationId": _hex_id(f"{rec['opId']}|delete|{other}"),
                                "serviceRequestId": self.ids.uuid()}
                        steps.append(step)
                        self._start(step, t, planned, slots)
                        progress = True
        running = [s for s in steps if s["state"] == "Running"]
        if rec["state"] == "Running" and not running and not any(s["state"] == "Waiting" for s in steps):
            self._finish(rec, t, planned)
        self.resources.write(rid, rec, row)
        if rec["state"] == "Accepted":
            return int(rec["startUs"])
        ends = [int(s["end"]) for s in running if s.get("end") is not None]
        return min(ends) if ends else None

    def _start(self, s: dict[str, Any], t: int, planned: Callable[[], Prepared], slots: Slots) -> None:
        s["state"], s["start"] = "Running", t
        try:
            if s["op"] == "Delete":
                outcome = slots.delete(s["id"])
            else:
                p = planned()
                r = next(x for x in p.resources if x.id.lower() == s["id"].lower())
                outcome = slots.put(r, p.evaluate(r, self._reference(slots)))
        except templates.TemplateError as e:
            outcome = Outcome(400, error=_template_error(e))
        s["statusCode"] = _status_code(outcome.status)
        if outcome.error is not None:
            s.update(state="Failed", end=t, error=outcome.error)
            return
        s["opUrl"] = outcome.op_url
        s["end"] = outcome.end_us if outcome.end_us is not None and outcome.end_us > t else t
        if s["end"] == t:
            self._settle(s, t, slots)

    def _settle(self, s: dict[str, Any], t: int, slots: Slots) -> None:
        """A resource's own operation has reached its end: read how it ended."""
        if not s.get("opUrl"):
            s.update(state="Succeeded", end=t)
            return
        status, error, end = slots.result(str(s["opUrl"]))
        if status == "Succeeded":
            s.update(state="Succeeded", end=t, statusCode="OK")
        elif status in ("Failed", "Canceled"):
            detail: dict[str, Any] = {"code": "ResourceDeploymentFailure", "target": s["id"],
                                      "message": ASYNC_FAILED.format(state=status)}
            if error:
                detail["details"] = [error]
            s.update(state="Failed", end=t, statusCode="Conflict", error=detail)
        else:  # still going (an operation that something lengthened): look again when it says it ends
            s["end"] = end if end is not None and end > t else t + US

    def _finish(self, rec: dict[str, Any], t: int, planned: Callable[[], Prepared]) -> None:
        steps = rec["steps"]
        failed = [s for s in steps if s["state"] == "Failed"]
        rec["endUs"] = t
        if failed:
            rec["state"] = "Failed"
            rec["error"] = {"code": "DeploymentFailed", "target": rec["id"], "message": FAILED_MESSAGE,
                            "details": [s["error"] for s in failed]}
            return
        try:
            assert self.slots is not None
            rec["outputs"] = planned().outputs(self._reference(self.slots))
            rec["state"] = "Succeeded"
        except templates.TemplateError as e:
            rec["state"] = "Failed"
            rec["error"] = {"code": "DeploymentOutputEvaluationFailed", "target": rec["id"],
                            "message": "Unable to evaluate template outputs. Please see error details and deployment"
                                       " operations.", "details": [_template_error(e)]}

    @staticmethod
    def _reference(slots: Slots) -> Callable[[str, str | None, bool], dict[str, Any]]:
        def reference(rid: str, api_version: str | None, full: bool) -> dict[str, Any]:
            body = slots.read(rid, api_version)
            if body is None:
                raise templates.TemplateError(f"The Resource '{rid}' was not found: reference() needs a"
                                    " resource that exists.", code="ResourceNotFound")
            if not full:
                props = body.get("properties")
                return props if isinstance(props, dict) else {}
            out = dict(body)
            parsed = ResourceId.parse(rid)
            out.setdefault("resourceId", rid)
            out.setdefault("subscriptionId", parsed.subscription)
            if parsed.resource_group is not None:
                out.setdefault("resourceGroupName", parsed.resource_group)
            if api_version:
                out.setdefault("apiVersion", api_version)
            return out
        return reference

    # -- reads and the other verbs -------------------------------------------------------------------------
    def find(self, sub: str, rg: str | None, name: str) -> ResourceRow | None:
        if rg is not None:
            self.resources.require_group(sub, rg)
        return self.resources.find(ResourceId.parse(deployment_id(sub, rg, name)))

    def require(self, sub: str, rg: str | None, name: str) -> ResourceRow:
        row = self.find(sub, rg, name)
        if row is None:
            raise NotFound(f"Deployment '{name}' could not be found.", code="DeploymentNotFound")
        return row

    def listed(self, sub: str, rg: str | None) -> list[ResourceRow]:
        if rg is not None:
            self.resources.require_group(sub, rg)
        rows = list(self.resources.iter_type(sub, TYPE))
        return [r for r in rows if (r.rg or "").lower() == (rg or "").lower()]

    def cancel(self, sub: str, rg: str | None, name: str) -> None:
        with self._lock:
            row = self.require(sub, rg, name)
            rec = copy.deepcopy(row.body)
            if rec["state"] not in ("Accepted", "Running"):
                raise Conflict(f"The deployment '{name}' cannot be canceled: its provisioning state is"
                               f" '{rec['state']}'. Only a deployment that is Accepted or Running can be canceled.",
                               code="DeploymentCannotBeCanceled")
            now = self.clock.now_us()
            rec["state"], rec["endUs"] = "Canceled", now
            for s in rec["steps"]:
                if s["state"] == "Waiting":
                    s["state"] = "Skipped"
            rid = ResourceId.parse(str(rec["id"]))
            self.resources.write(rid, rec, row)
            ends = [int(s["end"]) for s in rec["steps"] if s["state"] == "Running" and s.get("end") is not None]
            self._schedule(rid.key, min(ends) if ends else None)  # what runs still ends, and is recorded

    def delete(self, sub: str, rg: str | None, name: str) -> bool:
        """Delete a deployment from the history (not its resources); False if there was none."""
        with self._lock:
            row = self.find(sub, rg, name)
            if row is None:
                return False
            if row.body.get("state") not in TERMINAL:
                raise Conflict(f"The deployment '{name}' is currently running and cannot be deleted; cancel it"
                               " first.", code="DeploymentActive")
            rid = ResourceId.parse(str(row.body["id"]))
            self.resources.write(rid, row.body, row, gone_us=self.clock.now_us())
            self._schedule(rid.key, None)
            return True

    # -- rendering -------------------------------------------------------------------------------------------
    def render(self, row: ResourceRow) -> dict[str, Any]:
        rec = row.body
        now = self.clock.now_us()
        state = rec["state"]
        end = rec.get("endUs")
        props: dict[str, Any] = {
            "templateHash": rec["templateHash"], "parameters": rec["shownParameters"], "mode": rec["mode"],
            "provisioningState": state, "timestamp": iso(row.at_us),
            "duration": duration((int(end) if end is not None else now) - int(rec["acceptedUs"])),
            "correlationId": rec["correlationId"], "providers": rec["providers"],
            "dependencies": rec["dependencies"]}
        for k in ("debugSetting", "onErrorDeployment"):
            if k in rec:
                props[k] = rec[k]
        if state == "Succeeded":
            props["outputs"] = rec.get("outputs") or {}
        done = [s for s in rec["steps"] if s["op"] == "Create" and s["state"] == "Succeeded"]
        if done:
            props["outputResources"] = [{"id": s["id"]} for s in done]
        if state == "Failed" and rec.get("error"):
            props["error"] = rec["error"]
        out: dict[str, Any] = {"id": rec["id"], "name": rec["name"], "type": TYPE}
        if "location" in rec:
            out["location"] = rec["location"]
        if rec.get("tags"):
            out["tags"] = rec["tags"]
        out["properties"] = props
        return out

    def status(self, row: ResourceRow) -> dict[str, Any]:
        """The operation status resource (operationStatuses/{opId}) of the deployment's PUT."""
        state = row.body["state"]
        out: dict[str, Any] = {"status": "Running" if state == "Accepted" else state}
        if state == "Failed" and row.body.get("error"):
            out["error"] = row.body["error"]
        return out

    def operations(self, row: ResourceRow) -> list[dict[str, Any]]:
        now = self.clock.now_us()
        out = []
        for s in row.body["steps"]:
            if s["state"] in ("Waiting", "Skipped"):
                continue
            start = int(s["start"])
            end = int(s["end"]) if s["state"] in ("Succeeded", "Failed") else now
            props: dict[str, Any] = {
                "provisioningOperation": s["op"], "provisioningState": s["state"],
                "timestamp": iso(end), "duration": duration(end - start), "trackingId": s["serviceRequestId"],
                "serviceRequestId": s["serviceRequestId"], "statusCode": s.get("statusCode", "Accepted"),
                "targetResource": {"id": s["id"], "resourceType": s["type"], "resourceName": s["name"]}}
            if s.get("error"):
                props["statusMessage"] = {"status": "Failed", "error": s["error"]}
            out.append({"id": f"{row.body['id']}/operations/{s['operationId']}", "operationId": s["operationId"],
                        "properties": props})
        out.reverse()  # the newest first, as ARM lists them
        return out

    def export(self, row: ResourceRow) -> dict[str, Any]:
        return {"template": row.body["template"]}


def _never(_ctx: Resources, _rid: ResourceId, stored: dict[str, Any], _old: ResourceRow | None) -> dict[str, Any]:
    raise ArmError("Deployments are written by the deployment engine only.", code="InvalidResourceType")


def _mode(props: dict[str, Any]) -> str:
    return "Complete" if str(props.get("mode", "Incremental")).lower() == "complete" else "Incremental"


def _step(r: PlannedResource, seed: str) -> dict[str, Any]:
    return {"id": r.id, "type": r.type, "name": r.name, "apiVersion": r.api_version, "dependsOn": list(r.depends_on),
            "where": r.where, "op": "Create", "state": "Waiting", "operationId": _hex_id(f"{seed}|{r.id}"),
            "serviceRequestId": _uuid_of(f"{seed}|request|{r.id}")}


def _uuid_of(seed: str) -> str:
    """A GUID derived from `seed`: ids that reads and validations show without spending the id source."""
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def _providers(resources: list[PlannedResource]) -> list[dict[str, Any]]:
    by_ns: dict[str, dict[str, None]] = {}
    for r in resources:
        ns, t = r.type.split("/", 1)
        by_ns.setdefault(ns, {})[t] = None
    return [{"namespace": ns, "resourceTypes": [{"resourceType": t, "locations": []} for t in types]}
            for ns, types in by_ns.items()]


def _dependencies(resources: list[PlannedResource]) -> list[dict[str, Any]]:
    by_id = {r.id.lower(): r for r in resources}
    out = []
    for r in resources:
        if not r.depends_on:
            continue
        deps = [by_id[d.lower()] for d in r.depends_on if d.lower() in by_id]
        out.append({"dependsOn": [{"id": d.id, "resourceType": d.type, "resourceName": d.name} for d in deps],
                    "id": r.id, "resourceType": r.type, "resourceName": r.name})
    return out


__all__ = ["Deployments", "Outcome", "Slots", "TYPE", "check_name", "deployment_id", "duration"]
