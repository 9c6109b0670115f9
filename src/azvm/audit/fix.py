"""`--fix`: deallocate the VMs that are Stopped (allocated) and billed, side by side within the
service's announced limits, each on its own: a deallocation that is refused or fails is recorded
and the others go on.

A deallocation is `POST .../deallocate` (`begin_deallocate`), a long-running operation followed to its
end (the SDK polls `Azure-AsyncOperation` as its `Retry-After` asks); it ends `Succeeded` or with
its error (`Failed`, `Canceled`), which is what the summary says.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from azure.core.exceptions import AzureError

from .collect import error_of
from .connect import Connection
from .costing import Finding

__all__ = ["FixResult", "deallocate", "targets"]


@dataclass(frozen=True)
class FixResult:
    vm_id: str
    name: str
    ok: bool
    saving: Fraction
    error: tuple[str, str] | None = None


def targets(findings: Sequence[Finding]) -> list[Finding]:
    """The VMs `--fix` deallocates: Stopped (allocated), billed, not excluded."""
    return [f for f in findings if f.category == "stopped-billed" and f.excluded is None]


def _one(conn: Connection, f: Finding) -> FixResult:
    vm = f.vm
    try:
        conn.compute(vm.subscription_id).virtual_machines.begin_deallocate(vm.resource_group, vm.name).result()
    except AzureError as e:
        return FixResult(vm.id, vm.name, False, f.saving, error_of(e))
    return FixResult(vm.id, vm.name, True, f.saving)


def deallocate(conn: Connection, todo: Sequence[Finding], progress: Any = None) -> list[FixResult]:
    """Deallocate each VM of `todo`; every one is tried, whatever happens to the others."""
    task = progress.add_task("deallocating", total=len(todo)) if progress is not None else None
    results: list[FixResult] = []
    with ThreadPoolExecutor(max_workers=max(1, min(len(todo), conn.gate.concurrency)),
                            thread_name_prefix="audit-fix") as pool:
        for r in pool.map(lambda f: _one(conn, f), todo):
            results.append(r)
            if progress is not None:
                progress.advance(task)
    return results
