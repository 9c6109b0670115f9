"""Injected faults: rules taken in at start (`azvm serve --faults FILE`) and at run time (the
control API, `azvm.testing`), validated completely when they are set, applied to the requests they
match, and kept in the store with their remaining counts and random state.

A rule is scoped by subscription, resource group, name pattern (a glob), resource type and
operation (or, for throttling, rate-limit bucket). It fires at most `count` times, and on each
event it matches with `probability` (deterministic: the n-th draw of a rule is a pure function of
its seed and n). Plan faults (azvm.domain.history.FaultKind) shape an operation's plan when the
operation is accepted, so they replay identically; read faults change what one read shows;
throttling answers a request 429. A rule's state moves only with a request that applies it, and is
written in that request's transaction (`Store.set_meta`), so a restarted server goes on with the
same rules at the same point of their sequence. Messages are Azure's; docs/faults.md lists them.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ..domain.errors import ArmError, Conflict
from ..domain.history import (
    INTERNAL_ERROR,
    OS_PROVISIONING_TIMEOUT,
    PLAN_FAULTS,
    PREEMPTED,
    READ_FAULTS,
    Fault,
    FaultKind,
    Stretch,
    fault_applies,
)
from ..domain.table import Op
from .billing import shown
from .ports import Store

META_KEY = "faults"
VM_TYPE_LOWER = "microsoft.compute/virtualmachines"
MAX_FAULT_COUNT = 1_000_000
MAX_FAULT_MESSAGE = 4096
MAX_FACTOR = 1000.0
MAX_ADD_SECONDS = 7 * 86400
MAX_RETRY_AFTER = 3600

# Azure's messages for the codes of an OS provisioning failure (`{vm}`: the VM's name).
# OSProvisioningTimedOut and OSProvisioningInternalError: MicrosoftDocs/azure-docs
# `articles/virtual-machines/error-codes.md` ("Understand common error messages when you manage virtual
# machines in Azure"); OSProvisioningClientError: an operation status a client printed (terraform-provider-
# azurerm users, 2026-01), the generalization failure of a Windows image; InternalOperationError: SPEC.md §2.
OS_PROVISIONING_MESSAGES: dict[str, str] = {
    OS_PROVISIONING_TIMEOUT[0]: OS_PROVISIONING_TIMEOUT[1],
    "OSProvisioningClientError": "OS provisioning for VM '{vm}' failed. Error details: This installation of Windows"
                                 " is undeployable. Make sure the image has been properly prepared (generalized).",
    "OSProvisioningInternalError": "OS Provisioning failed for VM '{vm}' due to an internal error.",
    INTERNAL_ERROR[0]: INTERNAL_ERROR[1],
}

# the buckets a throttling fault can empty: ARM's per subscription (request-limits-and-throttling.md) and
# Compute's per API (compute-throttling-limits.md); service/throttling.py has their sizes
ARM_BUCKETS = ("reads", "writes", "deletes")
COMPUTE_POLICIES = ("PutVM", "UpdateVM", "DeleteVM", "LowCostGet", "HighCostGet", "GetOperation")
BUCKETS = ("*", *ARM_BUCKETS, *COMPUTE_POLICIES)

_FIELDS = ("kind", "op", "bucket", "subscription", "resourceGroup", "name", "resourceType", "vm", "count",
           "probability", "seed", "code", "message", "factor", "addSeconds", "retryAfterSeconds")
_OUTPUT_FIELDS = ("id", "remaining", "fired", "draws")  # shown by the listing; ignored when posted back
_KIND_FIELDS: dict[FaultKind, frozenset[str]] = {
    FaultKind.OS_PROVISIONING: frozenset({"op", "code", "message"}),
    FaultKind.OPERATION: frozenset({"op", "code", "message"}),
    FaultKind.PREEMPTED: frozenset({"op"}),
    FaultKind.SLOW: frozenset({"op", "factor", "addSeconds"}),
    FaultKind.POWER_MISSING: frozenset(),
    FaultKind.POWER_UNKNOWN: frozenset(),
    FaultKind.THROTTLE: frozenset({"bucket", "retryAfterSeconds"}),
}
_SCOPE = frozenset({"kind", "subscription", "resourceGroup", "name", "resourceType", "vm", "count", "probability",
                    "seed"})
_FAULT_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,127}")  # an ARM error code, as Azure's are
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_GROUP = re.compile(r"[-\w._()]{0,89}[-\w_()]")  # Azure's rule for resource group names
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9.]*/[A-Za-z][A-Za-z0-9]*(/[A-Za-z][A-Za-z0-9]*)*")
_PATTERN = re.compile(r"[^/\x00-\x1f\x7f]{1,260}")  # a glob over names: no control characters, no '/'
_SEGMENT = r"[^/\x00-\x1f\x7f]+"
_VM_ID = re.compile(rf"/subscriptions/{_SEGMENT}/resourceGroups/{_SEGMENT}/providers/Microsoft\.Compute/"
                    rf"virtualMachines/{_SEGMENT}", re.IGNORECASE)
_API_OPS = tuple(o for o in Op if o != Op.GUEST_SHUTDOWN)


def _ops_for(kind: FaultKind) -> tuple[Op, ...]:
    if kind == FaultKind.SLOW:
        return _API_OPS
    return tuple(o for o in Op if fault_applies(kind, o))


def invalid(message: str, target: str) -> ArmError:
    return ArmError(message, code="InvalidParameter", target=target)


@dataclass(frozen=True)
class Target:
    """What a fault's scope is compared with: a resource (all lower case); `name` None for a list."""

    sub: str | None
    rg: str | None
    type: str | None
    name: str | None
    key: str | None = None  # the VM's resource id when the target is a VM

    @classmethod
    def vm(cls, key: str) -> Target:
        """A VM from its key: /subscriptions/{s}/resourcegroups/{rg}/providers/microsoft.compute/virtualmachines/{n}."""
        parts = key.split("/")
        return cls(parts[2], parts[4], VM_TYPE_LOWER, parts[8], key) if len(parts) == 9 else cls(
            None, None, VM_TYPE_LOWER, None, key)


@dataclass
class FaultRule:
    """One fault: what it does, where, how often; and where it stands in its sequence."""

    id: str
    kind: FaultKind
    op: str = "*"  # an Op value or "*" (plan faults)
    bucket: str = "*"  # a bucket of BUCKETS (throttling)
    subscription: str | None = None
    resource_group: str | None = None
    name: str | None = None  # a glob
    resource_type: str | None = None
    vm: str | None = None  # a VM resource id
    remaining: int | None = 1  # None: no limit (a probability alone decides)
    probability: float | None = None
    seed: int = 0
    code: str | None = None
    message: str | None = None
    factor: float = 1.0
    add_seconds: float = 0.0
    retry_after: int | None = None
    draws: int = 0  # draws made so far (the next is the draws-th)
    fired: int = 0  # times it shaped a request

    # -- what the rule does --------------------------------------------------------------------------
    @property
    def fault(self) -> Fault:
        """The error an outcome fault ends an operation with."""
        if self.kind == FaultKind.PREEMPTED:
            return Fault(self.kind, PREEMPTED[0], self.message or PREEMPTED[1])
        if self.kind == FaultKind.OS_PROVISIONING:
            code = self.code or OS_PROVISIONING_TIMEOUT[0]
            default = OS_PROVISIONING_MESSAGES.get(code, OS_PROVISIONING_MESSAGES["OSProvisioningInternalError"])
            return Fault(self.kind, code, self.message or default)
        return Fault(self.kind, self.code or INTERNAL_ERROR[0], self.message or INTERNAL_ERROR[1])

    @property
    def stretch(self) -> Stretch:
        return Stretch(self.factor, round(self.add_seconds * 1_000_000))

    def matches(self, t: Target) -> bool:
        return ((self.subscription is None or self.subscription == t.sub)
                and (self.resource_group is None or self.resource_group == t.rg)
                and (self.resource_type is None or self.resource_type == t.type)
                and (self.name is None or (t.name is not None and fnmatchcase(t.name, self.name)))
                and (self.vm is None or self.vm == t.key))

    def live(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def draw(self, offset: int = 0) -> bool:
        """Whether the rule fires on its next event (`offset` events ahead): always, until its count
        is spent, without a probability; else the (draws+offset)-th draw of its seed decides."""
        if self.probability is None:
            return True
        digest = hashlib.blake2b(f"azvm-fault:{self.seed}:{self.draws + offset}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.probability

    def spend(self, fired: bool) -> None:
        if self.probability is not None:
            self.draws += 1
        if fired:
            self.fired += 1
            if self.remaining is not None:
                self.remaining -= 1

    # -- its stored and shown form ------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind.value}
        if self.kind in PLAN_FAULTS:
            d["op"] = self.op
        if self.kind == FaultKind.THROTTLE:
            d["bucket"] = self.bucket
            d["retryAfterSeconds"] = self.retry_after
        for k, v in (("subscription", self.subscription), ("resourceGroup", self.resource_group),
                     ("name", self.name), ("resourceType", self.resource_type), ("vm", self.vm)):
            d[k] = v
        if self.kind in (FaultKind.OS_PROVISIONING, FaultKind.OPERATION):
            f = self.fault
            d["code"], d["message"] = f.code, f.message
        if self.kind == FaultKind.SLOW:
            d["factor"], d["addSeconds"] = self.factor, self.add_seconds
        d.update({"remaining": self.remaining, "probability": self.probability, "seed": self.seed,
                  "draws": self.draws, "fired": self.fired})
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FaultRule:
        """A stored rule (written by to_json)."""
        kind = FaultKind(d["kind"])
        return cls(str(d["id"]), kind, d.get("op", "*"), d.get("bucket", "*"), d.get("subscription"),
                   d.get("resourceGroup"), d.get("name"), d.get("resourceType"), d.get("vm"), d.get("remaining"),
                   d.get("probability"), int(d.get("seed", 0)),
                   d.get("code") if kind != FaultKind.PREEMPTED else None,
                   d.get("message") if kind != FaultKind.PREEMPTED else None,
                   float(d.get("factor", 1.0)), float(d.get("addSeconds", 0.0)), d.get("retryAfterSeconds"),
                   int(d.get("draws", 0)), int(d.get("fired", 0)))


# -- validation: a rule taken in is one that every later matching request can apply -------------------

def check_message(message: str) -> None:
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
        raise invalid(problem, "message")


def parse_rule(body: Any, rule_id: str, *, default_seed: int = 0) -> FaultRule:
    """A fault rule as POST /azvm/faults and `--faults FILE` take it (docs/faults.md); every field
    checked, so that a bad one is a 400 now and never a 500 later."""
    if not isinstance(body, dict):
        raise invalid('Expected a JSON object {"kind": "operation" | "os-provisioning" | "preempted" | "slow" |'
                      ' "power-missing" | "power-unknown" | "throttle", ...}.', "body")
    for name in body:
        if name not in _FIELDS and name not in _OUTPUT_FIELDS:
            raise invalid(f"Unknown fault field '{shown(name)}': expected {', '.join(_FIELDS)}.", shown(name))

    def text(name: str) -> str | None:
        v = body.get(name)
        if v is not None and not isinstance(v, str):
            raise invalid(f"{name} must be a string, not {'a list' if isinstance(v, list) else type(v).__name__}.",
                          name)
        return v

    def number(name: str, low: float, high: float, *, integer: bool = False) -> int | float | None:
        v = body.get(name)
        if v is None:
            return None
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if not ok or isinstance(v, bool) or not low <= v <= high:
            raise invalid(f"{name} must be {'an integer' if integer else 'a number'} from {low:g} to {high:g}.", name)
        return int(v) if integer else float(v)

    raw_kind = text("kind")
    try:
        kind = FaultKind(raw_kind or "")
    except ValueError:
        raise invalid(f"kind must be one of {', '.join(k.value for k in FaultKind)}.", "kind") from None
    allowed = _KIND_FIELDS[kind] | _SCOPE
    for name in body:
        if name in _FIELDS and name not in allowed and body[name] is not None:
            raise invalid(f"A {kind.value} fault takes no '{name}' (it takes {', '.join(sorted(allowed))}).", name)

    op = text("op") or "*"
    if kind in PLAN_FAULTS:
        ops = _ops_for(kind)
        if op != "*" and op not in {o.value for o in Op}:
            raise invalid(f"op '{shown(op)}' is not an operation: expected *, {', '.join(o.value for o in ops)}.", "op")
        if op != "*" and Op(op) not in ops:
            why = {FaultKind.OS_PROVISIONING: "An os-provisioning fault shapes a create from an image: op must be"
                                              " 'create' or absent.",
                   FaultKind.PREEMPTED: f"A '{op}' cannot be preempted by the platform (a create or a delete"
                                        " is not)."}.get(kind, f"A '{op}' always completes: no fault can make it fail.")
            raise invalid(f"{why} Expected one of {', '.join(o.value for o in ops)}.", "op")
    bucket = text("bucket") or "*"
    if bucket not in BUCKETS:
        raise invalid(f"bucket '{shown(bucket)}' is not a rate-limit bucket: expected {', '.join(BUCKETS)}.", "bucket")

    sub = text("subscription")
    if sub is not None and not _GUID.fullmatch(sub):
        raise invalid("subscription must be a subscription id (a GUID).", "subscription")
    rg = text("resourceGroup")
    if rg is not None and (not _GROUP.fullmatch(rg) or rg.endswith(".")):
        raise invalid("resourceGroup must be a resource group name: up to 90 letters, digits, '_', '-', '.', '(' or"
                      " ')', not ending in '.'.", "resourceGroup")
    name = text("name")
    if name is not None and not _PATTERN.fullmatch(name):
        raise invalid("name must be a name or a pattern (* any characters, ? one, [abc] one of them), up to 260"
                      " characters, without '/' or control characters.", "name")
    rtype = text("resourceType")
    if rtype is not None and not _TYPE.fullmatch(rtype):
        raise invalid("resourceType must be a resource type such as Microsoft.Compute/virtualMachines.",
                      "resourceType")
    if rtype is not None and kind != FaultKind.THROTTLE and rtype.lower() != VM_TYPE_LOWER:
        raise invalid(f"A {kind.value} fault applies to virtual machines: resourceType must be"
                      " Microsoft.Compute/virtualMachines or absent.", "resourceType")
    vm = text("vm")
    if vm is not None and not _VM_ID.fullmatch(vm):
        raise invalid("vm must be a VM resource id, /subscriptions/{id}/resourceGroups/{group}/providers/"
                      "Microsoft.Compute/virtualMachines/{name}, or absent for any VM.", "vm")

    code = text("code")
    if code is not None and not _FAULT_CODE.fullmatch(code):
        raise invalid("code must be an error code: a letter, then up to 127 letters, digits, '.', '_' or '-'"
                      " (e.g. InternalExecutionError).", "code")
    message = text("message")
    if message is not None:
        check_message(message)

    count = number("count", 1, MAX_FAULT_COUNT, integer=True)
    probability = number("probability", 0, 1)
    seed = number("seed", -(2**63), 2**63 - 1, integer=True)
    factor = number("factor", 1, MAX_FACTOR)
    add = number("addSeconds", 0, MAX_ADD_SECONDS)
    if kind == FaultKind.SLOW and (factor or 1) == 1 and not add:
        raise invalid("A slow fault needs factor (above 1, at most 1000: how many times longer every phase lasts)"
                      f" or addSeconds (above 0, at most {MAX_ADD_SECONDS}: seconds added to the operation).",
                      "factor")
    retry = number("retryAfterSeconds", 0, MAX_RETRY_AFTER, integer=True)
    remaining = int(count) if count is not None else (None if probability is not None else 1)
    return FaultRule(rule_id, kind, op, bucket, sub.lower() if sub else None, rg.lower() if rg else None,
                     name.lower() if name else None, rtype.lower() if rtype else None, vm.lower() if vm else None,
                     remaining, float(probability) if probability is not None else None,
                     int(seed) if seed is not None else default_seed, code, message, float(factor or 1.0),
                     float(add or 0.0), int(retry) if retry is not None else None)


def parse_rules(doc: Any) -> list[Any]:
    """The fault bodies of a `--faults FILE` document: a list of faults, or {"faults": [...]}."""
    if isinstance(doc, dict) and set(doc) == {"faults"}:
        doc = doc["faults"]
    if not isinstance(doc, list):
        raise invalid('Expected a JSON list of faults, or {"faults": [...]}.', "faults")
    return list(doc)


def read_fault_file(path: str) -> list[Any]:
    """The fault bodies of a `--faults FILE` (OSError, ValueError when it cannot be read as JSON)."""
    with open(path, encoding="utf-8") as f:
        return parse_rules(json.load(f))


def check_fault_file(path: str) -> str:
    """`--faults FILE`: every rule of the file checked as POST /azvm/faults would (ValueError saying
    which rule and field is wrong)."""
    try:
        Faults().take_all(read_fault_file(path))
    except ArmError as e:
        raise ValueError(e.message) from None
    return path


# -- the registry ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanDecision:
    """What the plan faults do to one operation: its outcome and slowness, and every rule consulted
    (with whether it fires) so that their state moves only if the operation is accepted."""

    outcome: FaultRule | None = None
    slow: FaultRule | None = None
    consulted: tuple[tuple[FaultRule, bool], ...] = ()

    @property
    def fault(self) -> Fault | None:
        return self.outcome.fault if self.outcome is not None else None

    @property
    def stretch(self) -> Stretch | None:
        return self.slow.stretch if self.slow is not None else None


NO_DECISION = PlanDecision()


@dataclass
class Faults:
    """The rules in force, in the order they were set, and their durable state."""

    store: Store | None = None
    rules: list[FaultRule] = field(default_factory=list)
    next_id: int = 1

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._dirty = False  # moved by reads, not yet written
        self._raw: str | None = None  # the stored rules as this process last read or wrote them
        self.shared = False  # several processes over the store: rules are read back and written by compare-and-set
        self.on_change: list[Callable[[], None]] = []  # told when the set of rules changes
        self._index()

    # -- durable state --------------------------------------------------------------------------------
    @classmethod
    def restore(cls, store: Store) -> Faults:
        """The rules a store holds (none for a fresh one)."""
        f = cls(store)
        f._load(store.get_meta(META_KEY))
        return f

    def _load(self, raw: str | None) -> None:
        self._raw = raw
        state: dict[str, Any] = json.loads(raw) if raw else {"rules": [], "next": 1}
        self.rules = [FaultRule.from_json(r) for r in state["rules"]]
        self.next_id = int(state["next"])
        self._index()

    def sync(self) -> None:
        """With several processes over one store: adopt the rules (and where each stands) that another
        process wrote since this one last read or wrote them."""
        if self.store is None:
            return
        raw = self.store.get_meta(META_KEY)
        if raw != self._raw:
            with self._lock:
                self._load(raw)

    @property
    def stored(self) -> bool:
        return self.store is not None and self.store.get_meta(META_KEY) is not None

    def save(self) -> None:
        """Written in the current request's transaction (its rollback takes it back too)."""
        if self.store is not None:
            raw = json.dumps({"next": self.next_id, "rules": [r.to_json() for r in self.rules]}, separators=(",", ":"))
            if not self.shared:  # one process: the store holds what it wrote (or what a rollback put back)
                self.store.set_meta(META_KEY, raw)
                self._raw = raw
                return
            if raw == self._raw:  # (each request began by reading the stored rules: see sync)
                return
            # compare-and-set: never over rules another process changed meanwhile (it is re-read then)
            if not self.store.compare_and_set_meta(META_KEY, self._raw, raw):
                self._load(self.store.get_meta(META_KEY))
                raise Conflict("The fault rules were changed by another process meanwhile; retry the request.")
            self._raw = raw

    def _index(self) -> None:
        self.plan_rules = [r for r in self.rules if r.kind in PLAN_FAULTS]
        self.read_rules = {k: [r for r in self.rules if r.kind == k] for k in READ_FAULTS}
        self.throttle_rules = [r for r in self.rules if r.kind == FaultKind.THROTTLE]
        self.reads_on = any(self.read_rules.values())
        for tell in self.on_change:
            tell()

    # -- rules ----------------------------------------------------------------------------------------
    def take(self, body: Any) -> FaultRule:
        """Validate and add a rule (InvalidParameter when it is bad: nothing changes then)."""
        with self._lock:
            rule = parse_rule(body, f"fault-{self.next_id}", default_seed=self.next_id)
            self._append(rule)
            return rule

    def take_all(self, bodies: Sequence[Any]) -> list[FaultRule]:
        """Validate every rule, then add them all (or none); an error's target names the rule."""
        with self._lock:
            rules = []
            for i, body in enumerate(bodies):
                n = self.next_id + i
                try:
                    rules.append(parse_rule(body, f"fault-{n}", default_seed=n))
                except ArmError as e:
                    raise invalid(f"faults[{i}]: {e.message}", f"faults[{i}].{e.target}") from None
            for rule in rules:
                self._append(rule, save=False)
            self.save()
            return rules

    def _append(self, rule: FaultRule, *, save: bool = True) -> None:
        self.rules.append(rule)
        self.next_id += 1
        self._index()
        if save:
            self.save()

    def add(self, op: str, kind: str, *, code: str | None = None, message: str | None = None, count: int = 1,
            vm: str | None = None) -> FaultRule:
        """A plan fault on an operation (of one VM, or any): the short form tests use."""
        body: dict[str, Any] = {"kind": kind, "op": op, "count": count}
        for k, v in (("code", code), ("message", message), ("vm", vm)):
            if v is not None:
                body[k] = v
        return self.take(body)

    def get(self, rule_id: str) -> FaultRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def remove(self, rule_id: str) -> FaultRule | None:
        with self._lock:
            rule = self.get(rule_id)
            if rule is not None:
                self.rules.remove(rule)
                self._index()
                self.save()
            return rule

    def clear(self, *, save: bool = True) -> None:
        """No rule in force; ids go on from where they were unless the store was reset (save=False)."""
        with self._lock:
            self.rules.clear()
            if not save:
                self.next_id = 1
            self._index()
            if save:
                self.save()

    # -- plan faults: decided when an operation is accepted -------------------------------------------
    def decide(self, op: Op, key: str) -> PlanDecision:
        """The plan faults that `op` on the VM `key` would apply. Nothing moves until `commit`: a
        refused or retried request spends nothing."""
        if not self.plan_rules:
            return NO_DECISION
        target = Target.vm(key)
        outcome = slow = None
        consulted: list[tuple[FaultRule, bool]] = []
        with self._lock:
            for rule in self.plan_rules:
                if not rule.live() or rule.op not in ("*", op.value) or not rule.matches(target):
                    continue
                if rule.kind == FaultKind.SLOW:
                    if slow is not None:
                        continue
                elif outcome is not None or not fault_applies(rule.kind, op):
                    continue
                fires = rule.draw()
                consulted.append((rule, fires))
                if fires and rule.kind == FaultKind.SLOW:
                    slow = rule
                elif fires:
                    outcome = rule
        return PlanDecision(outcome, slow, tuple(consulted)) if consulted else NO_DECISION

    def commit(self, decision: PlanDecision, *, shaped: bool) -> list[tuple[FaultRule, int, int | None, int]]:
        """The operation was accepted (in the current request): each rule consulted has made its
        draw; those that fired are spent if they shaped its plan (`shaped`: it is not a join).
        Returns what `undo` needs if the request is rolled back after all."""
        if not decision.consulted:
            return []
        with self._lock:
            before = [(rule, rule.draws, rule.remaining, rule.fired) for rule, _ in decision.consulted]
            outcome_shaped = shaped and decision.outcome is not None
            for rule, fired in decision.consulted:
                applied = fired and shaped and (rule is not decision.outcome or outcome_shaped)
                rule.spend(applied)
            self.save()
            return before

    def undo(self, before: list[tuple[FaultRule, int, int | None, int]]) -> None:
        """The request that committed `before` rolls back (and its write of the rules with it)."""
        with self._lock:
            for rule, draws, remaining, fired in before:
                rule.draws, rule.remaining, rule.fired = draws, remaining, fired

    # -- read faults: decided on each read of a VM ----------------------------------------------------
    def on_read(self, kind: FaultKind, key: str, *, save: bool = True) -> bool:
        """Whether a read fault of `kind` applies to this read of the VM `key` (its state moves now;
        with `save` False it is written by the next `flush`: one write for a whole list)."""
        rules = self.read_rules[kind]
        if not rules:
            return False
        target = Target.vm(key)
        with self._lock:
            for rule in rules:
                if rule.live() and rule.matches(target):
                    fires = rule.draw()
                    rule.spend(fires)
                    self._dirty = True
                    if fires:
                        break
            else:
                fires = False
            if save:
                self.flush()
        return fires

    def flush(self) -> None:
        """Write what reads moved (in the current request's transaction)."""
        with self._lock:
            if self._dirty:
                self._dirty = False
                self.save()

    # -- throttling -----------------------------------------------------------------------------------
    def on_request(self, target: Target, buckets: Iterable[str]) -> tuple[FaultRule, str] | None:
        """The throttling rule that refuses this request, and the bucket it names."""
        if not self.throttle_rules:
            return None
        names = tuple(buckets)
        with self._lock:
            for rule in self.throttle_rules:
                if not rule.live() or not rule.matches(target):
                    continue
                if rule.bucket != "*" and rule.bucket not in names:
                    continue
                fires = rule.draw()
                rule.spend(fires)
                self.save()
                if fires:
                    return rule, names[0] if rule.bucket == "*" else rule.bucket
        return None


__all__ = ["BUCKETS", "COMPUTE_POLICIES", "NO_DECISION", "OS_PROVISIONING_MESSAGES", "FaultRule", "Faults",
           "PlanDecision", "Target", "check_fault_file", "check_message", "parse_rule", "parse_rules",
           "read_fault_file"]
