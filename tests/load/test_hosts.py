"""Several hosts, one world: two `azvm serve --database` processes on two hosts (network namespaces on
this machine, tests/load/netns.py), each reaching the PostgreSQL server over the network (TCP to the
bridge's address) and answering on its own address, with a data directory of its own.

- whatever one host does, the other shows: resources, operations and their status, the clock, fault
  rules and where they stand, ids (no two hosts hand out the same one);
- conflicting operations sent to both hosts at the same simulated instant on one VM resolve as the
  lifecycle rules say: each accepted operation is in the VM's history once, each decided on the
  operation before it (a loser of the race on the history is decided again, never lost), and
  nothing else reaches a client (no 500, no `database is locked`);
- the load of tests/load/test_load.py, through both hosts at once, keeps every invariant there.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

import httpx
import pytest

from azvm.store.postgres import PostgresStore
from tests.load import harness as h
from tests.load.netns import Hosts, Unavailable
from tests.load.test_load import CLIENTS, SECONDS, VMS, check_world, no_tracebacks, split
from tests.pg import PgServer, start_server


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    try:
        made = Hosts(["a", "b"]).up()
    except Unavailable as e:
        pytest.skip(f"no network namespaces here: {e}")
    try:
        yield made
    finally:
        made.down()


@pytest.fixture(scope="module")
def db_host(hosts: Hosts) -> Iterator[PgServer]:
    """A PostgreSQL server that listens on the bridge's address: the database host."""
    server = start_server(listen=hosts.gateway)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(hosts: Hosts, db_host: PgServer, tmp_path: Path) -> Iterator[tuple[str, list[h.Server]]]:
    """(database URL, [the server on host a, the one on host b])."""
    url = db_host.fresh_database()
    servers: list[h.Server] = []
    try:
        for name in hosts.names:
            servers.append(h.serve(["--database", url, "--data-dir", str(tmp_path / f"host-{name}")],
                                   tmp_path / f"serve-{name}.log", host=hosts.address[name],
                                   netns=hosts.netns(name)))
        yield url, servers
    finally:
        for s in servers:
            s.stop()
        db_host.drop_database(url)
    no_tracebacks(*(s.log for s in servers))


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers=h.HEADERS, timeout=30)


def power(c: httpx.Client, name: str) -> str:
    r = c.get(f"{h.vm_path(name)}/instanceView", params={"api-version": h.API})
    assert r.status_code == 200, r.text
    code: str = next(s["code"] for s in r.json()["statuses"] if s["code"].startswith("PowerState/"))
    return code


def op_status(c: httpx.Client, op_id: str) -> dict[str, Any]:
    r = c.get(f"/subscriptions/{h.SUB}/providers/Microsoft.Compute/locations/eastus/operations/{op_id}",
              params={"api-version": h.API})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_hosts_are_apart_and_reach_the_database_over_the_network(hosts: Hosts, world: Any) -> None:
    url, (a, b) = world
    assert hosts.gateway in url and "host=/" not in url  # TCP to the database host, not a local socket
    assert a.base != b.base and a.base.split(":")[1] != b.base.split(":")[1]  # two addresses
    for s in (a, b):  # each host serves on its own address only: its loopback is not this machine's
        pid = s.proc.pid
        inner = {Path(f"/proc/{p}/ns/net").resolve() for p in [pid, *h.children(pid)] if Path(f"/proc/{p}").exists()}
        assert Path("/proc/self/ns/net").resolve() not in inner


def test_two_hosts_share_resources_operations_clock_and_ids(world: Any) -> None:
    _url, (a, b) = world
    with client(a.base) as on_a, client(b.base) as on_b:
        h.populate([a.base, b.base], 6)  # half the NICs and VMs through each host
        # resources: both see all six VMs, identically
        lists = [c.get(h.VMS, params={"api-version": h.API}).json()["value"] for c in (on_a, on_b)]
        assert len(lists[0]) == 6 and lists[0] == lists[1]
        vm_ids = {v["properties"]["vmId"] for v in lists[0]}
        assert len(vm_ids) == 6  # ids: none handed out twice, whichever host made them
        # the clock: moved through one host, read through the other
        moved = on_b.post("/azvm/clock", json={"advanceSeconds": 3600}).json()["now"]
        assert on_a.get("/azvm/clock").json()["now"] == moved
        # an operation accepted by one host, polled and read through the other
        r = on_b.post(f"{h.vm_path('vm1')}/deallocate", params={"api-version": h.API})
        assert r.status_code == 202, r.text
        op = r.headers["azure-asyncoperation"].split("/operations/")[1].split("?")[0]
        assert op_status(on_a, op)["status"] == "InProgress" == op_status(on_b, op)["status"]
        assert power(on_a, "vm1") == "PowerState/deallocating"
        on_a.post("/azvm/clock", json={"advanceSeconds": 600})
        assert op_status(on_a, op)["status"] == "Succeeded" == op_status(on_b, op)["status"]
        assert power(on_a, "vm1") == power(on_b, "vm1") == "PowerState/deallocated"
        assert on_a.get("/azvm/history", params={"id": h.vm_path("vm1")}).json() == \
            on_b.get("/azvm/history", params={"id": h.vm_path("vm1")}).json()


def test_a_fault_rule_set_through_one_host_fires_on_the_other(world: Any) -> None:
    _url, (a, b) = world
    with client(a.base) as on_a, client(b.base) as on_b:
        h.populate([a.base], 2)
        rule = on_a.post("/azvm/faults", json={"kind": "operation", "op": "deallocate", "name": "vm1",
                                               "count": 1}).json()
        assert on_b.get(f"/azvm/faults/{rule['id']}").status_code == 200
        r = on_b.post(f"{h.vm_path('vm1')}/deallocate", params={"api-version": h.API})
        assert r.status_code == 202, r.text
        op = r.headers["azure-asyncoperation"].split("/operations/")[1].split("?")[0]
        on_a.post("/azvm/clock", json={"advanceSeconds": 600})
        assert op_status(on_a, op)["status"] == "Failed" == op_status(on_b, op)["status"]
        for c in (on_a, on_b):  # spent, as both show it
            shown = c.get(f"/azvm/faults/{rule['id']}").json()
            assert shown["fired"] == 1 and shown["remaining"] == 0, shown
        assert power(on_a, "vm1") == power(on_b, "vm1") == "PowerState/running"  # a failed deallocate


PAIRS = [("deallocate", "powerOff"), ("start", "start"), ("restart", "powerOff"), ("start", "deallocate"),
         ("powerOff", "powerOff"), ("restart", "start"), ("deallocate", "deallocate"), ("start", "restart")]


def test_conflicting_operations_from_two_hosts_resolve_by_the_lifecycle_rules(world: Any) -> None:
    url, (a, b) = world
    vms = h.names(4)
    h.populate([a.base, b.base], len(vms))
    acked: list[h.Acked] = []
    seen: set[int] = set()
    gate = Barrier(2)

    def act(base: str, name: str, action: str) -> tuple[int, str | None]:
        with client(base) as c:
            gate.wait(30)  # both requests leave together, at the same simulated instant
            if action == "update":
                r = c.put(h.vm_path(name), params={"api-version": h.API},
                          json={**h.vm_body(name), "tags": {"from": base}})
            else:
                r = c.post(f"{h.vm_path(name)}/{action}", params={"api-version": h.API})
        op = r.headers.get("azure-asyncoperation")
        return r.status_code, op.split("/operations/")[1].split("?")[0] if op else None

    with ThreadPoolExecutor(2) as pool, client(a.base) as on_a:
        for i in range(3 * len(PAIRS)):
            first, second = PAIRS[i % len(PAIRS)] if i < 2 * len(PAIRS) else ("update", "update")
            name = vms[i % len(vms)]
            results = list(pool.map(lambda args: act(*args), [(a.base, name, first), (b.base, name, second)]))
            for (status, op), action in zip(results, (first, second), strict=True):
                seen.add(status)
                assert status in (200, 202, 409), (action, status)
                if status in (200, 202):
                    assert op is not None
                    acked.append(h.Acked(name, op, action, status))
            if first == "update":  # no lost update: the model is the one of the operation stored last
                assert [s for s, _ in results] == [200, 200]
            if i % 3 == 2:
                on_a.post("/azvm/clock", json={"advanceSeconds": 30})
    assert 409 in seen and 202 in seen
    store = PostgresStore(url)
    try:
        assert h.check_store(store, acked, exact=True) == []
        for name in vms:  # the last update of each VM is its model now, through both hosts
            history = store.load_history(h.vm_path(name).lower())
            model = [o.model for o in history if o.model is not None][-1]
            with client(a.base) as on_a, client(b.base) as on_b:
                tags = [c.get(h.vm_path(name), params={"api-version": h.API}).json().get("tags") for c in (on_a, on_b)]
            assert tags[0] == tags[1] == model.get("tags"), (tags, model)
    finally:
        store.close()


def test_load_through_two_hosts(world: Any) -> None:
    url, servers = world
    bases = [s.base for s in servers]
    h.populate(bases, VMS)
    stable, churn = split(h.names(VMS))
    res = h.run_load(bases, stable, churn, clients=CLIENTS, seconds=SECONDS)
    assert res.retryable == {}, h.describe(res)

    def stop() -> None:
        for s in servers:
            s.stop()

    check_world(bases, res, lambda: PostgresStore(url), exact=True, stop=stop, bill_from=["--database", url])
