"""The transition table: loaded from transitions.json, validated when loaded, and turned into plans.

Validation (at import): every live situation has a rule for every operation, no pair twice, every
situation reachable from the initial one, the final situation reachable from every situation (no
trap), no exit from the final situation, and every duration key defined in every profile.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from .states import PowerState, Prov


class Situation(StrEnum):
    ABSENT = "absent"
    CREATING = "creating"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"
    HIBERNATED = "hibernated"
    DELETING = "deleting"
    DELETED = "deleted"


class Op(StrEnum):
    CREATE = "create"
    CREATE_ATTACHED = "create-attached"
    UPDATE = "update"
    START = "start"
    POWER_OFF = "powerOff"
    POWER_OFF_SKIP = "powerOff-skipShutdown"
    DEALLOCATE = "deallocate"
    HIBERNATE = "deallocate-hibernate"
    RESTART = "restart"
    REDEPLOY = "redeploy"
    REAPPLY = "reapply"
    DELETE = "delete"
    FORCE_DELETE = "delete-force"
    GUEST_SHUTDOWN = "guest-shutdown"

    @property
    def wire_name(self) -> str:
        """The operation's name in Azure's messages."""
        return _WIRE_NAMES.get(self, self.value)


_WIRE_NAMES = {
    Op.UPDATE: "Update VM",
    Op.POWER_OFF_SKIP: "powerOff",
    Op.HIBERNATE: "deallocate",
    Op.FORCE_DELETE: "delete",
    Op.CREATE_ATTACHED: "create",
}

CREATE_OPS = frozenset({Op.CREATE, Op.CREATE_ATTACHED})
LIVE: tuple[Situation, ...] = tuple(s for s in Situation if s not in (Situation.ABSENT, Situation.DELETED))


class Keep(StrEnum):
    """A plan step that leaves the provisioning or power state as it was."""

    KEEP = "keep"


class Settle(StrEnum):
    """A final power state that settles a transitional one (Starting -> Running, ...)."""

    SETTLE = "settle"


class Hibernation(StrEnum):
    NO = "no"
    HIBERNATED = "hibernated"
    KEEP = "keep"


KEEP = Keep.KEEP
SETTLE = Settle.SETTLE
_SETTLED = {
    PowerState.STARTING: PowerState.RUNNING,
    PowerState.STOPPING: PowerState.STOPPED,
    PowerState.DEALLOCATING: PowerState.DEALLOCATED,
}


def settle(power: PowerState) -> PowerState:
    return _SETTLED.get(power, power)


@dataclass(frozen=True)
class Step:
    prov: Prov | Keep
    power: PowerState | Keep
    duration: str  # a profile key; "os_complete+extensions" adds one `extension` per extension


@dataclass(frozen=True)
class Final:
    prov: Prov | Keep | None  # None: deleted
    power: PowerState | Settle | None  # None: deleted
    hibernated: Hibernation


@dataclass(frozen=True)
class Rule:
    situation: Situation
    op: Op
    evidence: str
    steps: tuple[Step, ...] = ()
    final: Final | None = None
    refuse: str | None = None  # a key of `messages`
    join: bool = False

    @property
    def outcome(self) -> str:
        if self.refuse:
            return "refused (409 OperationNotAllowed)"
        if self.join:
            return "joins the ongoing operation"
        return "accepted"


class TableError(ValueError):
    pass


@dataclass(frozen=True)
class Table:
    rules: Mapping[tuple[Situation, Op], Rule]
    situations: Mapping[Situation, str]
    profiles: Mapping[str, Mapping[str, float]]
    messages: Mapping[str, str]
    evidence: Mapping[str, str]

    def rule(self, situation: Situation, op: Op) -> Rule:
        return self.rules[(situation, op)]

    def refusal(self, rule: Rule, vm_name: str) -> str:
        assert rule.refuse is not None
        return self.messages[rule.refuse].format(op=rule.op.wire_name, vm=vm_name)


_REPRESENTATIVE_POWER = {
    Situation.CREATING: PowerState.STARTING,
    Situation.HIBERNATED: PowerState.DEALLOCATED,
    Situation.DELETING: PowerState.DEALLOCATING,
}


def situation_of(prov: str, power: str | None, hibernated: bool) -> Situation:
    """The table row a VM is in, given its current phase."""
    if power is None:
        return Situation.DELETED
    if prov == Prov.DELETING:
        return Situation.DELETING
    if prov.startswith("creating"):
        return Situation.CREATING
    if hibernated and power == PowerState.DEALLOCATED:
        return Situation.HIBERNATED
    return Situation(power)


def _parse(raw: dict[str, Any]) -> Table:
    try:
        situations = {Situation(k): str(v) for k, v in raw["situations"].items()}
        messages = dict(raw["messages"])
        evidence = dict(raw["evidence"])
        profiles = {name: {k: float(v) for k, v in p.items() if k != "about"}
                    for name, p in raw["profiles"].items()}
        rules: dict[tuple[Situation, Op], Rule] = {}
        for i, r in enumerate(raw["rules"]):
            op = Op(r["op"])
            if r["evidence"] not in evidence:
                raise TableError(f"rule {i}: unknown evidence {r['evidence']!r}")
            for sname in r["from"]:
                s = Situation(sname)
                if (s, op) in rules:
                    raise TableError(f"rule {i}: ({s}, {op}) is defined twice")
                if "refuse" in r:
                    if r["refuse"] not in messages:
                        raise TableError(f"rule {i}: unknown message {r['refuse']!r}")
                    rules[(s, op)] = Rule(s, op, r["evidence"], refuse=r["refuse"])
                elif r.get("join"):
                    rules[(s, op)] = Rule(s, op, r["evidence"], join=True)
                else:
                    acc = r["accept"]
                    steps = tuple(Step(_prov(st[0]), _power(st[1]), str(st[2])) for st in acc["steps"])
                    f = acc["final"]
                    final = (Final(None, None, Hibernation.NO) if f == ["deleted"]
                             else Final(_prov(f[0]), Settle(f[1]) if f[1] == SETTLE else PowerState(f[1]),
                                        Hibernation(f[2] if len(f) > 2 else "no")))
                    rules[(s, op)] = Rule(s, op, r["evidence"], steps=steps, final=final)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, TableError):
            raise
        raise TableError(f"malformed transition table: {e!r}") from e
    table = Table(rules, situations, profiles, messages, evidence)
    validate(table)
    return table


def _prov(text: str) -> Prov | Keep:
    return Keep(text) if text == KEEP else Prov(text)


def _power(text: str) -> PowerState | Keep:
    return Keep(text) if text == KEEP else PowerState(text)


_POWER_VALUES = frozenset(p.value for p in PowerState)


def _step_situation(source: Situation, prov: Prov | Keep, power: PowerState | Keep) -> Situation:
    rep = _REPRESENTATIVE_POWER.get(source, PowerState(source.value) if source.value in _POWER_VALUES
                                    else PowerState.RUNNING)
    p = rep if isinstance(power, Keep) else power
    pv = Prov.SUCCEEDED if isinstance(prov, Keep) else prov
    return situation_of(pv, p, source == Situation.HIBERNATED and p == PowerState.DEALLOCATED)


def _final_situation(source: Situation, f: Final) -> Situation:
    if f.power is None:
        return Situation.DELETED
    rep = _REPRESENTATIVE_POWER.get(source, PowerState.RUNNING)
    base = PowerState(source) if source.value in set(PowerState) else rep
    power = settle(base) if isinstance(f.power, Settle) else f.power
    hib = f.hibernated == Hibernation.HIBERNATED or (f.hibernated == Hibernation.KEEP
                                                     and source == Situation.HIBERNATED)
    return situation_of(Prov.SUCCEEDED, power, hib and power == PowerState.DEALLOCATED)


def graph(table: Table) -> dict[Situation, set[Situation]]:
    """Edges between situations: from a situation to those an accepted operation passes through,
    and from each intermediate situation to where that operation ends (its completion)."""
    out: dict[Situation, set[Situation]] = {s: set() for s in Situation}
    for (s, _op), rule in table.rules.items():
        if rule.final is None:
            continue
        final = _final_situation(s, rule.final)
        out[s].add(final)
        for st in rule.steps:
            mid = _step_situation(s, st.prov, st.power)
            out[s].add(mid)
            if mid != s:
                out[mid].add(final)
    return out


def successors(table: Table, source: Situation) -> set[Situation]:
    return graph(table)[source]


def validate(table: Table) -> None:
    ops_live = [op for op in Op if op not in CREATE_OPS]
    for live in LIVE:
        for op in ops_live:
            if (live, op) not in table.rules:
                raise TableError(f"no rule for operation {op} in situation {live}")
    for src, op in table.rules:
        if src == Situation.DELETED:
            raise TableError(f"the final situation has an exit: {op}")
        if src == Situation.ABSENT and op not in CREATE_OPS:
            raise TableError(f"only a create applies to an absent VM, not {op}")
        if src != Situation.ABSENT and op in CREATE_OPS:
            raise TableError(f"a create applies only to an absent VM (PUT on an existing VM is {Op.UPDATE})")
    for name, profile in table.profiles.items():
        for rule in table.rules.values():
            for st in rule.steps:
                for key in st.duration.replace("+extensions", "").split("+") + (
                        ["extension"] if st.duration.endswith("+extensions") else []):
                    if key not in profile:
                        raise TableError(f"profile {name!r} has no duration {key!r}")
    edges = graph(table)
    seen: set[Situation] = {Situation.ABSENT}
    queue: deque[Situation] = deque(seen)
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    unreachable = set(Situation) - seen
    if unreachable:
        raise TableError(f"unreachable situations: {sorted(u.value for u in unreachable)}")
    for s in Situation:
        if s == Situation.DELETED:
            continue
        reach: set[Situation] = {s}
        queue = deque([s])
        while queue:
            for nxt in edges[queue.popleft()]:
                if nxt not in reach:
                    reach.add(nxt)
                    queue.append(nxt)
        if Situation.DELETED not in reach and s != Situation.ABSENT:
            raise TableError(f"trap situation: {s} never reaches {Situation.DELETED}")


def load(text: str | None = None) -> Table:
    if text is None:
        text = resources.files("azvm.domain").joinpath("transitions.json").read_text("utf-8")
    return _parse(json.loads(text))


TABLE = load()


def failable(table: Table) -> frozenset[Op]:
    """The operations that an injected fault can end Failed: those that end in a state of their own
    (a delete always completes, and some operations only keep the state they found)."""
    return frozenset(op for (_s, op), r in table.rules.items()
                     if r.final is not None and r.final.power is not None and r.final.prov != KEEP)
