"""Load on real server processes: a world of VMs made over HTTP, concurrent clients issuing a mix of
reads, actions, creates and deletes, and the checks that the world is still what the lifecycle rules
make of what was acknowledged. Used by tests/load and benchmarks/bench_load.py.

The clients are asyncio tasks, each with a keep-alive connection of its own to one of the servers'
endpoints. What they send follows a fixed pseudo-random sequence per client (no `random`: a counter
through a hash). A client whose server stops answering (a killed process) goes on through the next
endpoint; a 503 is retried after a short pause. Every answer is classified: expected (what the
lifecycle rules allow for that request: 2xx, 409, 404 on a VM that the load creates and deletes),
retryable (503 with Retry-After, a connection error) or unexpected (anything else: a 500, a 400, a 503
without Retry-After, a 404 on a VM that the load never deletes). Every 2xx that names an operation
(Azure-AsyncOperation) is recorded as acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

SUB = "00000000-0000-0000-0000-000000000000"
RG = "load"
API = "2026-04-01"
NET_API = "2024-05-01"
GROUP = f"/subscriptions/{SUB}/resourceGroups/{RG}"
VMS = f"{GROUP}/providers/Microsoft.Compute/virtualMachines"
VNET = f"{GROUP}/providers/Microsoft.Network/virtualNetworks/vnet"
PER_SUBNET = 250
HEADERS = {"Authorization": "Bearer azvm"}
TLS = ssl.create_default_context()  # plain HTTP here; one context for every client (httpx makes one per client)
START_TIME = "2026-01-01T00:00:00Z"
ACTIONS = ("start", "powerOff", "deallocate", "restart")
KINDS = frozenset({"get", "instanceView", "list", "create", "delete", *ACTIONS})  # what a load must have had accepted
COVER_S = 60.0  # at most how much longer than its duration a load goes on until it is covered (KINDS)
POWER_CODES = {f"PowerState/{s}" for s in ("starting", "running", "stopping", "stopped", "deallocating",
                                             "deallocated")}  # docs/states.md; `unknown` only under faults
PROVISIONING = re.compile(r"ProvisioningState/(creating(/OSProvisioning(Inprogress|Complete))?|updating|deleting"
                          r"|succeeded|failed/\w+)$")
SETTLED = {"PowerState/running", "PowerState/stopped", "PowerState/deallocated"}


# --- server processes ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """An `azvm serve` process (with --workers N, the supervisor of N worker processes)."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def workers(self) -> list[int]:
        """The pids of the worker processes that answer requests (`--workers N`): the supervisor's
        children that run azvm (not multiprocessing's resource tracker)."""
        out = []
        for pid in children(self.proc.pid):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                out.append(pid)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def serve(args: Sequence[str], log: Path, *, host: str = "127.0.0.1", netns: str | None = None,
          wait_s: float = 60.0, workers: int = 1) -> Server:
    """Start `azvm serve ARGS` (plain HTTP, manual clock) on a free port and wait until its health
    endpoint answers (from every one of `workers` processes' shared socket: the first answer)."""
    port = free_port() if netns is None else 8080
    cmd = [sys.executable, "-m", "azvm", "serve", "--no-tls", "--host", host, "--port", str(port),
           "--manual-clock", "--start-time", START_TIME, "--time-skipping", "off", *args]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if host != "127.0.0.1":
        cmd += ["--allow-host", host]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    out = log.open("ab")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out.close()
    base = f"http://{host}:{port}"
    server = Server(proc, base, log)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/azvm/health", timeout=2).status_code == 200:
                if workers <= 1 or len(server.workers()) >= workers:
                    return server
        except httpx.TransportError:
            pass
        threading.Event().wait(0.05)  # real processes starting: wall time is unavoidable here
    server.stop()
    raise AssertionError(f"azvm serve did not start: {' '.join(cmd)}\n{log.read_text(errors='replace')[-3000:]}")


# --- the world -------------------------------------------------------------------------------------------

def vm_path(name: str) -> str:
    return f"{VMS}/{name}"


def nic_path(name: str) -> str:
    return f"{GROUP}/providers/Microsoft.Network/networkInterfaces/{name}-nic"


def vm_body(name: str) -> dict[str, Any]:
    return {"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3" if int(name[2:]) % 3 else "Standard_B2s"},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                              "sku": "server", "version": "latest"}},
        "osProfile": {"computerName": name, "adminUsername": "azure", "adminPassword": "Passw0rd!!"},
        "networkProfile": {"networkInterfaces": [{"id": nic_path(name)}]}}}


def names(n: int) -> list[str]:
    return [f"vm{i}" for i in range(n)]


async def _each(bases: Sequence[str], items: Sequence[Any], fn: Callable[[httpx.AsyncClient, Any], Awaitable[None]],
                concurrency: int = 16) -> None:
    queue = list(reversed(items))

    async def run(i: int) -> None:
        async with httpx.AsyncClient(base_url=bases[i % len(bases)], headers=HEADERS, verify=TLS, timeout=120) as c:
            while queue:
                await fn(c, queue.pop())

    await asyncio.gather(*(run(i) for i in range(concurrency)))


def populate(bases: Sequence[str], n: int, *, concurrency: int = 16) -> float:
    """The resource group, one virtual network, a NIC and a VM (from an image) each for vm0..vm{n-1},
    through every endpoint; then the clock moves 10 minutes on, so that every create has finished.
    Returns the seconds it took. Raises on any unexpected answer."""
    t0 = time.monotonic()
    subnets = (n + PER_SUBNET - 1) // PER_SUBNET
    with httpx.Client(base_url=bases[0], headers=HEADERS, verify=TLS, timeout=120) as c:
        r = c.put(GROUP, params={"api-version": API}, json={"location": "eastus"})
        assert r.status_code in (200, 201), r.text
        r = c.put(VNET, params={"api-version": NET_API}, json={"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/8"]},
            "subnets": [{"name": f"s{k}", "properties": {"addressPrefix": f"10.{k // 256}.{k % 256}.0/24"}}
                        for k in range(subnets)]}})
        assert r.status_code in (200, 201), r.text

    async def nic(c: httpx.AsyncClient, i: int) -> None:
        r = await c.put(nic_path(f"vm{i}"), params={"api-version": NET_API}, json={
            "location": "eastus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
                "subnet": {"id": f"{VNET}/subnets/s{i // PER_SUBNET}"}}}]}})
        assert r.status_code in (200, 201), r.text

    async def vm(c: httpx.AsyncClient, i: int) -> None:
        r = await c.put(vm_path(f"vm{i}"), params={"api-version": API}, json=vm_body(f"vm{i}"))
        assert r.status_code in (200, 201), r.text

    asyncio.run(_each(bases, range(n), nic, concurrency))
    asyncio.run(_each(bases, range(n), vm, concurrency))
    with httpx.Client(base_url=bases[0], headers=HEADERS, verify=TLS, timeout=120) as c:
        assert c.post("/azvm/clock", json={"advanceSeconds": 600}).status_code == 200
    return time.monotonic() - t0


# --- the load --------------------------------------------------------------------------------------------

@dataclass
class Acked:
    vm: str
    op_id: str
    kind: str
    status: int


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)  # (kind, status)
    acked: list[Acked] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    retryable: Counter[str] = field(default_factory=Counter)  # "503", "connection"
    refused: list[str] = field(default_factory=list)  # each 503: what was asked, and the answer
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # monotonic time of each answer
    statuses: list[int] = field(default_factory=list)  # and its status
    steps_done: list[float] = field(default_factory=list)  # when each step of a schedule() returned
    # requests that each endpoint answered (any status) after `mark()` was called
    answered_after_mark: Counter[str] = field(default_factory=Counter)
    marked: bool = False
    clock_moves: int = 0

    def mark(self) -> None:
        self.marked = True

    def answered_after(self, t: float, low: int = 200, high: int = 299) -> int:
        """How many answers with a status in [low, high] came after monotonic time t."""
        return sum(1 for at, s in zip(self.done_at, self.statuses, strict=True) if at > t and low <= s <= high)

    def covered(self) -> bool:
        """Every kind of request has been accepted at least once (a slow machine may need longer than the
        load's duration for a churn VM to be deleted and seen gone, and so created again)."""
        kinds = {k for (k, st) in self.counts if 200 <= st < 300}
        return KINDS <= kinds

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Mix:
    """Each client's next request, from a counter through a hash: 45% reads (a VM, its instance view, a
    page of the listing), 40% power actions on the stable VMs, 15% creates and deletes on the churn VMs
    (a delete when the client last saw the VM there, else a create)."""

    def __init__(self, stable: Sequence[str], churn: Sequence[str]) -> None:
        self.stable, self.churn = list(stable), list(churn)

    @staticmethod
    def draw(client: int, i: int) -> int:
        return int.from_bytes(hashlib.blake2b(f"{client}:{i}".encode(), digest_size=8).digest(), "big")

    def next(self, client: int, i: int, gone: set[str]) -> tuple[str, str, str]:
        """(kind, method, vm name)"""
        d = self.draw(client, i)
        roll, pick = d % 100, d // 100
        pool = self.stable + self.churn
        if roll < 20:
            return "get", "GET", pool[pick % len(pool)]
        if roll < 40:
            return "instanceView", "GET", pool[pick % len(pool)]
        if roll < 45:
            return "list", "GET", ""
        if roll < 85 or not self.churn:
            return ACTIONS[pick % len(ACTIONS)], "POST", self.stable[(pick // 4) % len(self.stable)]
        name = self.churn[pick % len(self.churn)]
        return ("create", "PUT", name) if name in gone else ("delete", "DELETE", name)


def _op_id(r: httpx.Response) -> str | None:
    url: str | None = r.headers.get("azure-asyncoperation")
    if not url:
        return None
    return url.split("/operations/")[1].split("?")[0]


def check_statuses(view: dict[str, Any]) -> str | None:
    """Why an instance view's statuses are not a documented state (docs/states.md), or None."""
    codes = [s.get("code", "") for s in view.get("statuses", [])]
    power = [c for c in codes if c.startswith("PowerState/")]
    prov = [c for c in codes if c.startswith("ProvisioningState/")]
    if len(prov) != 1 or not PROVISIONING.match(prov[0]):
        return f"provisioning statuses {prov}"
    if len(power) != 1 or power[0] not in POWER_CODES:
        return f"power statuses {power}"
    if prov[0] == "ProvisioningState/deleting" and power[0] != "PowerState/deallocating":
        return f"deleting with {power[0]}"
    return None


async def _client(index: int, bases: list[str], mix: Mix, deadline: float, res: LoadResult,
                  clock_every: int) -> None:
    """One client: its requests in sequence over a keep-alive connection to bases[index % n]; on a
    connection error it goes on through the next endpoint."""
    gone: set[str] = set()
    churn = set(mix.churn)
    endpoint = index % len(bases)
    client = httpx.AsyncClient(base_url=bases[endpoint], headers=HEADERS, verify=TLS, timeout=60)
    i = 0
    try:
        while time.monotonic() < deadline or (not res.covered() and time.monotonic() < deadline + COVER_S):
            i += 1
            if clock_every and res.requests // clock_every > res.clock_moves:
                res.clock_moves += 1  # one client moves the clock on for everyone
                kind, method, name = "clock", "POST", ""
            else:
                kind, method, name = mix.next(index, i, gone)
            params = {"api-version": API}
            body: Any = None
            if kind == "clock":
                path, params, body = "/azvm/clock", {}, {"advanceSeconds": 7}
            elif kind == "list":
                path, params = VMS, {"api-version": API, "statusOnly": "true"}
            elif kind == "instanceView":
                path = f"{vm_path(name)}/instanceView"
            elif kind in ACTIONS:
                path = f"{vm_path(name)}/{kind}"
            elif kind == "create":
                path, body = vm_path(name), vm_body(name)
            else:
                path = vm_path(name)
            t0 = time.monotonic()
            try:
                r = await client.request(method, path, params=params, json=body)
            except httpx.TransportError:
                res.retryable["connection"] += 1
                await client.aclose()
                endpoint = (endpoint + 1) % len(bases)
                client = httpx.AsyncClient(base_url=bases[endpoint], headers=HEADERS, verify=TLS, timeout=60)
                await asyncio.sleep(0.05)  # a real process going away: wall time is unavoidable here
                continue
            res.latencies.append(time.monotonic() - t0)
            res.done_at.append(time.monotonic())
            res.statuses.append(r.status_code)
            res.requests += 1
            if res.marked:
                res.answered_after_mark[bases[endpoint]] += 1
            s = r.status_code
            res.counts[(kind, s)] += 1
            if s == 503 and r.headers.get("retry-after"):
                res.retryable["503"] += 1
                res.refused.append(f"{method} {path} via {bases[endpoint]}: {r.text[:300]}")
                await asyncio.sleep(0.1)  # Retry-After says 1 s; the test's clients are impatient
                continue
            why = _unexpected(kind, s, name in churn, r)
            if why:
                res.unexpected.append(f"{method} {path} via {bases[endpoint]}: {why}")
                continue
            if kind == "delete" and s in (202, 204):
                gone.add(name)
            elif kind == "create" and s in (200, 201):
                gone.discard(name)
            elif kind in ("get", "instanceView", *ACTIONS) and s == 404:
                gone.add(name)
            if 200 <= s < 300 and method != "GET" and kind != "clock":
                op = _op_id(r)
                if op is None and s != 204:
                    res.unexpected.append(f"{method} {path}: {s} without Azure-AsyncOperation")
                elif op is not None:
                    res.acked.append(Acked(name, op, kind, s))
            if kind == "instanceView" and s == 200:
                bad = check_statuses(r.json())
                if bad:
                    res.unexpected.append(f"GET {path}: not a documented state: {bad}")
    finally:
        await client.aclose()


def _unexpected(kind: str, status: int, churn: bool, r: httpx.Response) -> str | None:
    ok: set[int]
    if kind == "clock":
        ok = {200}
    elif kind == "list":
        ok = {200}
    elif kind in ("get", "instanceView"):
        ok = {200, 404} if churn else {200}
    elif kind in ACTIONS:
        ok = {202, 409, 404} if churn else {202, 409}
    elif kind == "create":
        ok = {200, 201, 409}
    else:  # delete
        ok = {202, 204, 409}
    if status == 429 and r.headers.get("retry-after"):
        return None  # throttling, documented (when rate limits are on)
    if status in ok:
        if status >= 400:
            try:
                err = r.json()["error"]
                assert isinstance(err["code"], str) and isinstance(err["message"], str)
            except (ValueError, KeyError, TypeError, AssertionError):
                return f"{status} without an ARM error envelope: {r.text[:300]}"
        return None
    return f"{status} {r.text[:400]}"


def run_load(bases: Sequence[str], stable: Sequence[str], churn: Sequence[str], *, clients: int = 64,
             seconds: float = 5.0, clock_every: int = 40,
             during: Callable[[LoadResult], Awaitable[None]] | None = None) -> LoadResult:
    """`clients` concurrent clients for `seconds`; the shared clock moves 7 s on after every
    `clock_every` requests (of all clients together). `during(result)` runs beside them (e.g. kills a process)."""
    res = LoadResult()
    mix = Mix(stable, churn)

    async def main() -> None:
        t0 = time.monotonic()
        deadline = t0 + seconds
        tasks: list[Awaitable[None]] = [_client(i, list(bases), mix, deadline, res, clock_every)
                                        for i in range(clients)]
        if during is not None:
            tasks.append(during(res))
        await asyncio.gather(*tasks)
        res.seconds = time.monotonic() - t0

    asyncio.run(main())
    return res


# --- the checks ------------------------------------------------------------------------------------------

def settle(base: str, seconds: int = 7200) -> str:
    """Move the shared clock on (every operation of the load ends well within it); the new now."""
    with httpx.Client(base_url=base, headers=HEADERS, verify=TLS, timeout=60) as c:
        r = c.post("/azvm/clock", json={"advanceSeconds": seconds})
        assert r.status_code == 200, r.text
        now: str = r.json()["now"]
        return now


def operation_statuses(base: str, op_ids: Sequence[str], concurrency: int = 16) -> dict[str, str]:
    """The status of each operation, as its Azure-AsyncOperation URL shows it."""
    out: dict[str, str] = {}

    async def one(c: httpx.AsyncClient, op: str) -> None:
        r = await c.get(f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/{op}",
                        params={"api-version": API})
        out[op] = r.json().get("status", f"{r.status_code} {r.text[:200]}") if r.status_code == 200 else \
            f"{r.status_code} {r.text[:200]}"

    asyncio.run(_each([base], list(op_ids), one, concurrency))
    return out


def final_views(base: str, vm_names: Sequence[str], concurrency: int = 16) -> dict[str, tuple[int, list[str]]]:
    """Each VM's (status, status codes of its instance view)."""
    out: dict[str, tuple[int, list[str]]] = {}

    async def one(c: httpx.AsyncClient, name: str) -> None:
        r = await c.get(f"{vm_path(name)}/instanceView", params={"api-version": API})
        out[name] = (r.status_code, [s["code"] for s in r.json().get("statuses", [])] if r.status_code == 200 else [])

    asyncio.run(_each([base], list(vm_names), one, concurrency))
    return out


def served_bill(base: str, to: str) -> dict[str, Any]:
    with httpx.Client(base_url=base, headers=HEADERS, verify=TLS, timeout=120) as c:
        r = c.get("/azvm/billing", params={"to": to})
        assert r.status_code == 200, r.text
        bill: dict[str, Any] = r.json()
        return bill


def recomputed_bill(store: Any, to: str) -> dict[str, Any]:
    """The bill over the same window as the server's (from the first change to `to`), computed here
    from the histories alone: the billing projections (usage and disk rows) are folded again from every
    VM's operations, not read from the store's projection tables."""
    from azvm.clock import parse_iso
    from azvm.domain.usage import disk_rows, usage_rows
    from azvm.service.billing import BillingService, resolve_prices, resolve_rules, timeline_from_store

    histories = list(store.iter_histories())

    class FromHistories:
        def usage_rows(self) -> list[Any]:
            return [r for _k, h in histories for r in usage_rows(h)]

        def disk_rows(self) -> list[Any]:
            return [d for _k, h in histories for d in disk_rows(h)]

        def usage_columns(self) -> Any:  # bills read columns: these, from the histories too
            from azvm.billing import UsageColumns
            from azvm.domain.usage import USAGE_STATES

            return UsageColumns.from_rows(self.usage_rows(), USAGE_STATES)

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

    svc = BillingService(resolve_prices(None), resolve_rules(None))
    tl = timeline_from_store(FromHistories())

    w = svc.window_until_now(tl, None, to, parse_iso(to))
    return svc.bill_report(tl, w, "vm")()


def total(bill: dict[str, Any]) -> Decimal:
    return Decimal(str(bill["total"]))


def replay(history: Sequence[Any], name: str) -> str | None:
    """Why `history` is not what the lifecycle rules decide, operation by operation, or None: each
    operation's plan is the table's for the phase that the one before it was in at that instant (a
    create on no VM, or on a deleted one, from none)."""
    from azvm.domain.history import phase_at, plan
    from azvm.domain.table import Op

    prev = None
    for o in history:
        current = phase_at(prev, o.at_us) if prev is not None else None
        if prev is not None and o.at_us < prev.at_us:
            return f"{o.op_id} at {o.at_us} before {prev.op_id} at {prev.at_us}"
        try:
            phases, _err, preempts = plan(Op(o.name), current, o.at_us, vm_name=name, ongoing=prev)
        except Exception as e:  # a refusal: the rules would not have accepted it
            return f"{o.name} {o.op_id} on {current}: {e!r}"
        if (phases, preempts) != (o.phases, o.preempts):
            return f"{o.name} {o.op_id} planned {o.phases}, the rules say {phases}"
        prev = o
    return None


def check_store(store: Any, acked: Sequence[Acked], *, exact: bool) -> list[str]:
    """What is wrong with the stored world: an acknowledged operation missing (or, with `exact`, an
    operation stored that nobody acknowledged besides the setup's creates), an operation twice, a
    history that the lifecycle rules would not have made, a head or a billing projection that is not
    the fold of its history."""
    from azvm.domain.usage import disk_rows, usage_rows

    problems: list[str] = []
    histories = dict(store.iter_histories())
    stored: Counter[str] = Counter(o.op_id for h in histories.values() for o in h)
    twice = [op for op, n in stored.items() if n > 1]
    if twice:
        problems.append(f"operations stored twice: {twice[:5]}")
    missing = [a for a in acked if a.op_id not in stored]
    if missing:
        problems.append(f"{len(missing)} acknowledged operations not stored, e.g. {missing[:5]}")
    if exact:
        acked_ids = {a.op_id for a in acked}
        extra = [(k, o.name, o.op_id) for k, h in histories.items() for o in h[1:] if o.op_id not in acked_ids]
        extra += [(k, h[0].name, h[0].op_id) for k, h in histories.items()
                  if h[0].name != "create" and h[0].op_id not in acked_ids]
        if extra:
            problems.append(f"{len(extra)} operations stored that no client saw acknowledged, e.g. {extra[:5]}")
    for key, history in histories.items():
        why = replay(history, key.rsplit("/", 1)[1])
        if why:
            problems.append(f"{key}: {why}")
        head = store.get_vm(key)
        if head is None or head.version != len(history) or head.last != history[-1]:
            problems.append(f"{key}: head {getattr(head, 'version', None)} is not the last of {len(history)}")
    if sorted(store.usage_rows()) != sorted(r for h in histories.values() for r in usage_rows(h)):
        problems.append("the usage projection differs from the fold of the histories")
    if sorted(store.disk_rows()) != sorted(d for h in histories.values() for d in disk_rows(h)):
        problems.append("the disk projection differs from the fold of the histories")
    return problems


def describe(res: LoadResult) -> str:
    by_status: Counter[int] = Counter()
    for (_k, s), n in res.counts.items():
        by_status[s] += n
    lat = sorted(res.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

    return (f"{res.requests} requests in {res.seconds:.1f} s ({res.throughput:,.0f}/s), statuses "
            f"{dict(sorted(by_status.items()))}, retryable {dict(res.retryable)}, {len(res.acked)} acknowledged, "
            f"latency p50 {pct(0.5):.1f} ms p99 {pct(0.99):.1f} ms, {len(res.unexpected)} unexpected")


def schedule(*steps: tuple[float, Callable[[], Any]]) -> Callable[[LoadResult], Awaitable[None]]:
    """A `during` for run_load: each (seconds after the start, action) in turn, the action in a thread
    of its own (the clients go on meanwhile); the answers that follow the first are marked."""

    async def run(res: LoadResult) -> None:
        t0 = time.monotonic()
        for k, (at, action) in enumerate(steps):
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))  # a schedule in wall time, by design
            await asyncio.to_thread(action)
            res.steps_done.append(time.monotonic())
            if k == 0:
                res.mark()

    return run


def kill_9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def verify_world(bases: Sequence[str], stable: Sequence[str], churn: Sequence[str], res: LoadResult,
                 open_store: Callable[[], Any], *, exact: bool, stop: Callable[[], None],
                 bill_from: Sequence[str] = ()) -> list[str]:
    """What is wrong after a load, through `bases` (live servers), then, once `stop` has stopped them,
    through the store (`open_store`) and, given where the store is (`bill_from`: `--data-dir DIR` or
    `--database URL`), `azvm bill` over it:

    - an unexpected answer during the load; a kind of request that was never accepted;
    - an acknowledged operation that does not end (Succeeded, or Canceled by a later one) once the
      clock has moved two hours on, or a VM that has not settled (a churn VM may be gone: 404);
    - bills served by the processes that differ, or differ from the bill recomputed from the
      histories, or from `azvm bill`;
    - check_store's findings."""
    problems = [f"unexpected: {u}" for u in res.unexpected]
    kinds = {k for (k, s) in res.counts if 200 <= s < 300}
    missing = KINDS - kinds
    if missing:
        problems.append(f"never accepted: {sorted(missing)}")
    if not res.acked:
        problems.append("nothing acknowledged")
    now = settle(bases[-1])
    statuses = operation_statuses(bases[0], [a.op_id for a in res.acked])
    problems += [f"operation {op}: {st}" for op, st in statuses.items() if st not in ("Succeeded", "Canceled")]
    views = final_views(bases[-1], [*stable, *churn])
    for name, (status, codes) in views.items():
        if status == 404 and name in set(churn):
            continue
        if status != 200 or codes[0] != "ProvisioningState/succeeded" or codes[1] not in SETTLED:
            problems.append(f"{name} not settled: {status} {codes}")
    served = [served_bill(b, now) for b in bases]
    if any(bill != served[0] for bill in served[1:]):
        problems.append("the processes serve different bills")
    if total(served[0]) <= 0:
        problems.append("nothing billed")
    stop()
    store = open_store()
    try:
        problems += check_store(store, res.acked, exact=exact)
        if recomputed_bill(store, now) != served[0]:
            problems.append("the bill recomputed from the histories differs from the bill served")
    finally:
        store.close()
    if bill_from:  # the command-line bill over the same store
        out = subprocess.run([sys.executable, "-m", "azvm", "bill", *bill_from, "--to", now,
                              "--format", "json"], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            problems.append(f"azvm bill: {out.stderr[-500:]}")
        else:
            cli = json.loads(out.stdout)
            if cli["lines"] != served[0]["lines"] or cli["total"] != served[0]["total"]:
                problems.append("azvm bill differs from the bill served")
    return problems
