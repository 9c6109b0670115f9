"""Injected faults: rules taken in through the control API, applied to the operations they match
when those are accepted (a fault shapes an operation's plan, so it replays identically)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..domain.history import INTERNAL_ERROR, OS_PROVISIONING_TIMEOUT, Fault
from ..domain.table import Op


@dataclass
class FaultRule:
    op: str  # an Op value, or "*"
    fault: Fault
    remaining: int
    vm: str | None = None  # a VM resource id (lower case) or None for any


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, op: str, kind: str, *, code: str | None = None, message: str | None = None, count: int = 1,
            vm: str | None = None) -> FaultRule:
        if kind == "os-provisioning":
            code, message = code or OS_PROVISIONING_TIMEOUT[0], message or OS_PROVISIONING_TIMEOUT[1]
            op = Op.CREATE.value
        elif kind == "operation":
            code, message = code or INTERNAL_ERROR[0], message or INTERNAL_ERROR[1]
        else:
            raise ValueError(f"unknown fault kind {kind!r}: expected 'os-provisioning' or 'operation'")
        if op != "*":
            Op(op)
        rule = FaultRule(op, Fault(kind, code, message), count, vm.lower() if vm else None)
        with self._lock:
            self.rules.append(rule)
        return rule

    def peek(self, op: Op, key: str) -> FaultRule | None:
        """The rule that the operation would apply; it is spent only if the operation is accepted
        and the fault shapes its plan (a refused or retried request spends nothing)."""
        for rule in self.rules:
            if rule.remaining > 0 and rule.op in ("*", op.value) and rule.vm in (None, key):
                return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()


__all__ = ["FaultRule", "Faults"]
