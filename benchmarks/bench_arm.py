"""HTTP benchmarks of the ARM surface, driven by wrk, against azvm and two peers.

    .venv/bin/python benchmarks/bench_arm.py [--duration 5] [--connections 16]

Needs `wrk` (Debian/Ubuntu: `apt-get update && apt-get install -y wrk`) and, for the peers,
`pip install "moto[server]" starlette` into the venv. Everything is plain HTTP on 127.0.0.1.

azvm in memory, one process (`azvm serve --no-tls --in-memory --manual-clock`), populated over HTTP;
azvm over its default SQLite store (`--data-dir D`), one process and two (`--workers 2`), populated
in-process into D first (either way each VM on a network interface of its own, in one virtual network):
  a. GET instanceView of one VM
  b. list all VMs with statusOnly=true, every page of the listing in turn: over 10,000 VMs in memory,
     over 100,000 on SQLite (--sqlite-vms; goal 200,000 VMs/s)
  c. POST start / powerOff alternating over a pool of VMs, with the clock at 1000x so that each
     operation has finished before its VM comes round again (a 409 counts as a failure)
Peers: moto's server (DescribeInstances; StartInstances/StopInstances alternating) and a bare
Starlette endpoint returning azvm's own instance-view JSON, under uvicorn with azvm's settings.
Also: start-up time (spawn to first 200 from the health endpoint), median of 5.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_lifecycle import nic_id, vm_body  # the same VM body (this folder is on sys.path for a script)
from bench_startup import HTTP_MEMORY, MOTO, free_port, stop
from bench_startup import startup_times as measured_startup

PY = sys.executable
HOST = "127.0.0.1"
SUB = "00000000-0000-0000-0000-000000000000"
API = "api-version=2026-04-01"
RG_PATH = f"/subscriptions/{SUB}/resourcegroups/rg?api-version=2024-11-01"
VMS_PATH = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"
NET_API = "api-version=2024-05-01"
VNET_PATH = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
# as a real deployment would: /24 subnets of up to 250 NICs each (a NIC's address is chosen among its
# subnet's, so a NIC's creation costs what its subnet holds, not the whole world)
PER_SUBNET = 250
SUBNETS = 64
VNET_BODY = {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8"]}, "subnets": [
    {"name": f"s{k}", "properties": {"addressPrefix": f"10.{k // 256}.{k % 256}.0/24"}} for k in range(SUBNETS)]}}


def nic_body(i: int) -> dict[str, Any]:
    return {"location": "eastus", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": f"{VNET_PATH}/subnets/s{i // PER_SUBNET}"}}}]}}


NIC_BODY = nic_body(0)
LIST_PATH = f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines?{API}&statusOnly=true"
N_LIST_VMS = 10_000  # the memory world's VMs (PUT over HTTP)
N_SQLITE_VMS = 100_000  # the SQLite worlds' (made in-process once, copied for each server)
AUTH = "Bearer azvm"  # azvm's default --auth open takes any bearer token
POWER_POOL = 512
MOTO_INSTANCES = 8
START_TIME = "2026-01-01T00:00:00Z"
# moto's single server routes a request to a service by the credential scope of its Authorization
# header (unsigned form posts go to S3); it does not check the signature.
MOTO_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/ec2/aws4_request,"
    " SignedHeaders=host, Signature=0"
)
GOAL_BARE = 0.60
GOAL_LIST_VMS_S = 200_000  # list-all statusOnly over 100,000 VMs, over HTTP
GOAL_MOTO = 20.0


# -- HTTP helpers (setup only) ----------------------------------------------------------------
def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = 30,
) -> tuple[int, bytes]:
    own = conn is None
    c = conn or http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        h = {"content-type": "application/json"} if data is not None else {}
        h["authorization"] = AUTH
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if own:
            c.close()


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Poll `path` until a 200; returns seconds waited. Raises if the process dies or time runs out."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            status, _ = request(port, "GET", path, timeout=2)
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.005)  # noqa: TID251 - polling a real process, not simulated time
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    ready_s: float


@contextmanager
def serve(
    name: str,
    argv: list[str],
    port: int,
    health: str,
    log: Path,
    env: dict[str, str] | None = None,
    settle: float = 0.0,
) -> Iterator[Server]:
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            wait_ready(port, health, proc)
            ready = time.perf_counter() - t0
            if settle:
                time.sleep(settle)  # noqa: TID251 - --workers: let every worker come up, not only the first
            yield Server(name, port, proc, ready)
        finally:
            stop(proc)


def azvm_argv(port: int, *extra: str) -> list[str]:
    return [PY, "-m", "azvm", "serve", "--no-tls", "--host", HOST, "--port", str(port), *extra]


# -- wrk --------------------------------------------------------------------------------------
@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    duration_s: float
    statuses: dict[int, int] = field(default_factory=dict)

    def per_s(self, status: int) -> float:
        return self.statuses.get(status, 0) / self.duration_s if self.duration_s else 0.0


STATUS_LUA = """
statuses = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  io.write(string.format("DURATION_US %d\\n", summary.duration))
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("STATUS %d %d\\n", k, v)) end
end
"""

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    lua: Path | None = None,
    threads: int = 1,
    warmup: float = 1.0,
) -> WrkResult:
    # every request carries a bearer token, as Azure clients send (ARM answers 401 without one)
    base = ["wrk", "-t", str(threads), "-c", str(connections), "--latency", "--timeout", "10s",
            "-H", f"Authorization: {AUTH}"]
    if lua is not None:
        base += ["-s", str(lua)]
    if warmup > 0:
        subprocess.run(
            [*base, "-d", f"{max(1, round(warmup))}s", url], capture_output=True, timeout=60, check=False
        )
    res = subprocess.run(
        [*base, "-d", f"{max(1, round(duration))}s", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    out = res.stdout
    if res.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({res.returncode}): {out}\n{res.stderr}")

    def lat(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * _UNIT_MS[m.group(2)] if m else float("nan")

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    total = int(m.group(1)) if m else 0
    dur = float(m.group(2)) * _UNIT_MS[m.group(3)] / 1000 if m else duration
    non2 = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    statuses = {int(a): int(b) for a, b in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M)}
    d_us = re.search(r"^DURATION_US (\d+)$", out, re.M)
    if d_us:
        dur = int(d_us.group(1)) / 1e6
    return WrkResult(
        rps,
        lat("50"),
        lat("99"),
        total,
        int(non2.group(1)) if non2 else 0,
        sum(int(x) for x in sock.groups()) if sock else 0,
        dur,
        statuses,
    )


def lua_paths(tmp: Path, name: str, paths: list[str]) -> Path:
    """A wrk script that GETs `paths` in turn."""
    body = (
        "paths = {\n"
        + ",\n".join(json.dumps(p) for p in paths)
        + "\n}\n"
        + textwrap.dedent("""
        local i = 0
        function request()
          i = i + 1
          return wrk.format("GET", paths[(i % #paths) + 1])
        end
        """)
    )
    p = tmp / name
    p.write_text(body)
    return p


def lua_azvm_power(tmp: Path, pool: int, first: int = 0) -> Path:
    """powerOff every VM of the pool (vm{first}...) in turn, then start each, and so on (VMs start Running)."""
    body = STATUS_LUA + textwrap.dedent(f"""
        local n = {pool}
        local i = 0
        function request()
          local k = {first} + i % n
          local round = math.floor(i / n)
          i = i + 1
          local action = (round % 2 == 0) and "powerOff" or "start"
          return wrk.format("POST", "{VMS_PATH}/vm" .. k .. "/" .. action .. "?{API}",
                            {{["Content-Length"] = "0", ["Authorization"] = "{AUTH}"}}, nil)
        end
        """)
    p = tmp / f"azvm_power_{first}.lua"
    p.write_text(body)
    return p


def lua_moto(tmp: Path, name: str, action_bodies: str) -> Path:
    body = STATUS_LUA + textwrap.dedent(f"""
        local headers = {{["Content-Type"] = "application/x-www-form-urlencoded",
                          ["Authorization"] = "{MOTO_AUTH}"}}
        {action_bodies}
        local i = 0
        function request()
          i = i + 1
          return wrk.format("POST", "/", headers, bodies[(i % #bodies) + 1])
        end
        """)
    p = tmp / name
    p.write_text(body)
    return p


# -- setup --------------------------------------------------------------------------------------
def populate_http(port: int, n: int, threads: int = 8) -> float:
    """PUT the resource group, the virtual network and n NICs and VMs over HTTP; returns seconds. Raises on
    any unexpected status."""
    t0 = time.perf_counter()
    for path, body_in in ((RG_PATH, {"location": "eastus"}), (f"{VNET_PATH}?{NET_API}", VNET_BODY)):
        status, body = request(port, "PUT", path, body_in)
        if status not in (200, 201):
            raise RuntimeError(f"PUT {path} -> {status} {body[:500]!r}")
    local = threading.local()
    bad: list[str] = []

    def put(i: int) -> None:
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        st, b = request(port, "PUT", f"{nic_id(f'vm{i}')}?{NET_API}", nic_body(i), conn=c)
        if st in (200, 201):
            st, b = request(port, "PUT", f"{VMS_PATH}/vm{i}?{API}", vm_body(f"vm{i}"), conn=c)
        if st not in (200, 201) and len(bad) < 5:
            bad.append(f"PUT vm{i} (or its NIC) -> {st} {b[:500]!r}")

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(put, range(n)))
    if bad:
        raise RuntimeError("populating azvm failed:\n" + "\n".join(bad))
    status, body = request(port, "POST", "/azvm/clock", {"advanceSeconds": 3600})
    if status != 200:
        raise RuntimeError(f"POST /azvm/clock -> {status} {body[:500]!r}")
    return time.perf_counter() - t0


def copy_world(world: Path, data: Path) -> None:
    """A copy of a world made before, for a server of its own, on disk before the server starts. A
    fresh copy is a gigabyte in the OS's cache waiting to be written: left to the kernel, the writing
    would fall in the first measurements, taking a core of this 2-core machine (and the server's first
    fsync would wait for all of it); a user's data directory has long been written."""
    shutil.copytree(world, data, ignore=shutil.ignore_patterns("*.lock"))
    os.sync()


def populate_dir(data_dir: Path | str, n: int) -> float:
    """Drive the service in-process into data_dir (the store a --data-dir server opens; or a postgresql://
    URL, the database a --database server opens), with the network types registered as a server
    registers them. vm0's NIC is PUT through the resources engine;
    the others are written as renamed copies of it with the next private addresses (a bulk path that
    lives only here: azvm's NIC PUT looks at every NIC of the subscription for the addresses in use)."""
    import ipaddress

    from azvm.clock import Clock, parse_iso
    from azvm.domain.resource_id import ResourceId
    from azvm.ids import IdSource
    from azvm.providers import compute, network
    from azvm.service.compute import ComputeService
    from azvm.store import open_store

    t0 = time.perf_counter()
    store = open_store(data_dir)
    svc = ComputeService(store, Clock.manual(parse_iso(START_TIME)), IdSource(None))
    for spec in (*compute.PLAIN_TYPES, *network.PLAIN_TYPES):
        svc.resources.register(spec)
    svc.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    svc.resources.put(ResourceId.parse(VNET_PATH), VNET_BODY)
    template = json.dumps(svc.resources.put(ResourceId.parse(nic_id("vm0")), NIC_BODY)[0].body)
    for i in range(n):
        if i:  # a copy of the template, in its own subnet, at the address the engine would give it
            k = i // PER_SUBNET
            nic = json.loads(template.replace("vm0-nic", f"vm{i}-nic").replace("/subnets/s0", f"/subnets/s{k}"))
            nic["properties"]["resourceGuid"] = svc.ids.uuid()
            ipc = nic["properties"]["ipConfigurations"][0]["properties"]
            ipc["privateIPAddress"] = str(ipaddress.ip_address(f"10.{k // 256}.{k % 256}.4") + i % PER_SUBNET)
            svc.resources.write(ResourceId.parse(nic_id(f"vm{i}")), nic, None)
        svc.create_or_update(SUB, "rg", f"vm{i}", vm_body(f"vm{i}"))
    svc.clock.advance(3600)
    svc.time.persist()
    store.close()
    return time.perf_counter() - t0


def list_pages(port: int) -> tuple[list[str], int]:
    """Walk the statusOnly listing by its nextLinks: (path of every page, VMs seen)."""
    paths, vms, path = [], 0, LIST_PATH
    c = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        for _ in range(10 * max(N_LIST_VMS, N_SQLITE_VMS)):  # bounded
            paths.append(path)
            status, body = request(port, "GET", path, conn=c)
            if status != 200:
                raise RuntimeError(f"GET {path} -> {status} {body[:500]!r}")
            page = json.loads(body)
            vms += len(page["value"])
            nxt = page.get("nextLink")
            if not nxt:
                break
            u = urlsplit(nxt)
            path = f"{u.path}?{u.query}"
    finally:
        c.close()
    return paths, vms


def check_running(port: int, names: list[str]) -> None:
    for name in names:
        status, body = request(port, "GET", f"{VMS_PATH}/{name}/instanceView?{API}")
        codes = [s["code"] for s in json.loads(body).get("statuses", [])] if status == 200 else []
        if "PowerState/running" not in codes:
            raise RuntimeError(f"{name} is not running: {status} {body[:400]!r}")


# -- the runs -----------------------------------------------------------------------------------
@dataclass
class Row:
    workload: str
    server: str
    r: WrkResult
    extra: str = ""
    ratio: str = ""


def azvm_workloads(tag: str, port: int, tmp: Path, args: argparse.Namespace, rows: list[Row]) -> bytes:
    url = f"http://{HOST}:{port}"
    iv_path = f"{VMS_PATH}/vm0/instanceView?{API}"
    status, iv_body = request(port, "GET", iv_path)
    if status != 200:
        raise RuntimeError(f"GET instanceView -> {status} {iv_body[:500]!r}")
    r = run_wrk(url + iv_path, duration=args.duration, connections=args.connections)
    rows.append(Row("a. GET instanceView", tag, r, errors(r)))

    pages, vms = list_pages(port)
    lua = lua_paths(tmp, f"list_{port}.lua", pages)
    r = run_wrk(url + LIST_PATH, duration=args.duration, connections=args.connections, lua=lua)
    per_page = vms / len(pages)
    vms_s = r.rps * per_page
    goal = "" if vms < 100_000 else \
        f"{vms_s:,.0f} VMs/s (goal >= {GOAL_LIST_VMS_S:,}: {'MET' if vms_s >= GOAL_LIST_VMS_S else 'MISSED'})"
    rows.append(
        Row(
            "b. list statusOnly (pages)",
            tag,
            r,
            f"{vms_s:,.0f} VMs/s; {len(pages)} pages x {per_page:.0f} = {vms:,} VMs; "
            f"{r.rps / len(pages):.2f} full listings/s; {errors(r)}",
            goal,
        )
    )
    return iv_body


def power_workload(tag: str, port: int, tmp: Path, args: argparse.Namespace, rows: list[Row]) -> float:
    check_running(port, ["vm0", f"vm{POWER_POOL - 1}"])
    lua = lua_azvm_power(tmp, POWER_POOL)
    r = run_wrk(
        f"http://{HOST}:{port}{VMS_PATH}",
        duration=args.duration,
        connections=args.connections,
        lua=lua,
        warmup=0,
    )
    accepted = r.per_s(202)
    fails = {k: v for k, v in r.statuses.items() if k != 202}
    rows.append(
        Row(
            "c. start/powerOff (POST)",
            tag,
            r,
            f"{accepted:,.0f} accepted 202/s; failures {fails or 0}"
            f"{'; socket errors ' + str(r.socket_errors) if r.socket_errors else ''}",
        )
    )
    return accepted


def speed_up(port: int) -> None:
    """1000 simulated seconds per second: each operation has ended before its VM comes round again."""
    status, body = request(port, "POST", "/azvm/clock", {"speed": 1000})
    if status != 200:
        raise RuntimeError(f"POST /azvm/clock speed -> {status} {body[:400]!r}")
    time.sleep(0.2)  # noqa: TID251 - wall time for the 1000x clock


def errors(r: WrkResult) -> str:
    parts = []
    if r.non_2xx:
        parts.append(f"{r.non_2xx} non-2xx")
    if r.socket_errors:
        parts.append(f"{r.socket_errors} socket errors")
    return ", ".join(parts) or "no errors"


BARE_APP = """
import os, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

BODY = open(os.environ["BARE_BODY"], "rb").read()

async def instance_view(request):
    return Response(BODY, media_type="application/json; charset=utf-8")

app = Starlette(routes=[Route("/{path:path}", instance_view, methods=["GET"])])

if __name__ == "__main__":
    # the settings azvm's server uses: httptools + uvloop, warnings only, no access log
    uvicorn.run("bare_app:app", host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]),
                http="httptools", loop="uvloop", log_level="warning", access_log=False, lifespan="off")
"""


def moto_setup(port: int) -> list[str]:
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=f"http://{HOST}:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    r = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=MOTO_INSTANCES, MaxCount=MOTO_INSTANCES, InstanceType="t2.micro"
    )
    return [i["InstanceId"] for i in r["Instances"]]


AZVM_STARTUP_LABEL = "azvm serve --in-memory --no-tls"


def startup_times(tmp: Path, n: int, moto: str | None) -> dict[str, list[float]]:
    """Measured as bench_startup.py measures (one definition of spawn to first 200, and its bytecode cache)."""
    got = measured_startup(tmp, n, moto, kinds=(HTTP_MEMORY, MOTO))
    return {AZVM_STARTUP_LABEL: [r.wall for r in got[HTTP_MEMORY]],
            **({"moto_server": [r.wall for r in got[MOTO]]} if MOTO in got else {})}


def show(rows: list[Row], startup: dict[str, list[float]], setup: list[str]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None  # type: ignore[assignment,misc]
    header = ["workload", "server", "req/s", "p50 ms", "p99 ms", "notes", "ratio"]
    cells = [
        [r.workload, r.server, f"{r.r.rps:,.0f}", f"{r.r.p50_ms:.2f}", f"{r.r.p99_ms:.2f}", r.extra, r.ratio]
        for r in rows
    ]
    su = [
        [k, f"{statistics.median(v) * 1000:.0f}", ", ".join(f"{x * 1000:.0f}" for x in v)]
        for k, v in startup.items()
    ]
    if Console is not None:
        c = Console(width=200)
        t = Table(title="HTTP throughput (wrk, plain HTTP on 127.0.0.1)")
        for h in header:
            t.add_column(
                h, justify="right" if h in ("req/s", "p50 ms", "p99 ms") else "left", overflow="fold"
            )
        for row in cells:
            t.add_row(*row)
        c.print(t)
        t2 = Table(title="Start-up: spawn to first 200 from the health endpoint")
        for h in ("server", "median ms", "runs ms"):
            t2.add_column(h)
        for row in su:
            t2.add_row(*row)
        c.print(t2)
    else:
        for row in [header, *cells]:
            print(" | ".join(row))
        for row in su:
            print(" | ".join(row))
    for line in setup:
        print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk measurement")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--sqlite-vms", type=int, default=N_SQLITE_VMS,
                    help="VMs of the SQLite worlds (default %(default)s; the memory world has 10,000)")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "bench_arm needs wrk: apt-get update && apt-get install -y wrk  (macOS: brew install wrk)",
            file=sys.stderr,
        )
        return 2
    moto = shutil.which("moto_server", path=f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        import boto3  # noqa: F401
    except ImportError:
        moto = None
    if moto is None:
        print(f'moto peer skipped: {PY} -m pip install "moto[server]"', file=sys.stderr)

    rows: list[Row] = []
    setup: list[str] = [
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency (after a 1 s warm-up"
        " except for POST workloads); python " + sys.version.split()[0] + f", {os.cpu_count()} CPUs"
    ]
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="azvm-bench-arm-") as d:
        tmp = Path(d)
        log = tmp / "servers.log"

        # -- azvm, one process, in memory (populated over HTTP) ------------------------------
        port = free_port()
        with serve(
            "azvm x1 memory",
            azvm_argv(port, "--in-memory", "--manual-clock", "--start-time", START_TIME),
            port,
            "/azvm/health",
            log,
        ) as s:
            secs = populate_http(port, N_LIST_VMS)
            setup.append(
                f"azvm x1 memory: ready in {s.ready_s * 1000:.0f} ms; {N_LIST_VMS:,} NICs and VMs PUT over HTTP"
                f" (8 threads) in {secs:.1f} s = {2 * N_LIST_VMS / secs:,.0f} PUT/s"
            )
            iv_body = azvm_workloads("azvm x1 memory", port, tmp, args, rows)
            speed_up(port)
            power_workload("azvm x1 memory", port, tmp, args, rows)

        # -- azvm over SQLite (the default store): one process, then two -------------------------
        world = tmp / "world"
        secs = populate_dir(world, args.sqlite_vms)
        setup.append(f"azvm sqlite: {args.sqlite_vms:,} NICs and VMs created in-process into {world.name}/ in"
                     f" {secs:.1f} s, copied for each server")
        for workers in (1, 2):
            tag = f"azvm x{workers} sqlite"
            data = tmp / f"data{workers}"  # a fresh world each: the power workload leaves VMs stopped
            copy_world(world, data)
            port = free_port()
            with serve(
                tag,
                azvm_argv(port, "--data-dir", str(data), "--workers", str(workers), "--manual-clock"),
                port,
                "/azvm/health",
                log,
                settle=1.5 if workers > 1 else 0,
            ):
                azvm_workloads(tag, port, tmp, args, rows)
                speed_up(port)  # every worker adopts the clock stored in the shared store
                power_workload(tag, port, tmp, args, rows)

        # -- bare Starlette + uvicorn, serving azvm's own instance-view body ----------------
        (tmp / "bare_app.py").write_text(BARE_APP)
        (tmp / "iv.json").write_bytes(iv_body)
        try:
            import starlette  # noqa: F401
        except ImportError:
            print(f"bare Starlette peer skipped: {PY} -m pip install starlette", file=sys.stderr)
        for workers in (1, 2) if "starlette" in sys.modules else ():
            port = free_port()
            with serve(
                f"bare x{workers}",
                [PY, str(tmp / "bare_app.py"), str(port), str(workers)],
                port,
                "/azvm/health",
                log,
                env={"BARE_BODY": str(tmp / "iv.json"), "PYTHONPATH": str(tmp)},
                settle=1.5 if workers > 1 else 0,
            ):
                r = run_wrk(
                    f"http://{HOST}:{port}/instanceView", duration=args.duration, connections=args.connections
                )
                rows.append(
                    Row(
                        "a. GET instanceView",
                        f"bare Starlette x{workers}",
                        r,
                        f"constant {len(iv_body)} B body; {errors(r)}",
                    )
                )

        # -- moto ---------------------------------------------------------------------------
        if moto:
            port = free_port()
            with serve("moto", [moto, "-H", HOST, "-p", str(port)], port, "/moto-api/", log):
                ids = moto_setup(port)
                lua = lua_moto(
                    tmp, "moto_describe.lua", 'bodies = {"Action=DescribeInstances&Version=2016-11-15"}'
                )
                r = run_wrk(
                    f"http://{HOST}:{port}/", duration=args.duration, connections=args.connections, lua=lua
                )
                rows.append(
                    Row(
                        f"DescribeInstances ({len(ids)} instances)",
                        "moto_server",
                        r,
                        f"{r.per_s(200):,.0f} 200/s; {errors(r)}",
                    )
                )
                pairs = []
                for iid in ids:
                    pairs.append(f'"Action=StopInstances&Version=2016-11-15&InstanceId.1={iid}"')
                for iid in ids:
                    pairs.append(f'"Action=StartInstances&Version=2016-11-15&InstanceId.1={iid}"')
                lua = lua_moto(tmp, "moto_power.lua", "bodies = {" + ", ".join(pairs) + "}")
                r = run_wrk(
                    f"http://{HOST}:{port}/",
                    duration=args.duration,
                    connections=args.connections,
                    lua=lua,
                    warmup=0,
                )
                rows.append(
                    Row(
                        "StartInstances/StopInstances",
                        "moto_server",
                        r,
                        f"{r.per_s(200):,.0f} 200/s; other statuses "
                        f"{ {k: v for k, v in r.statuses.items() if k != 200} or 0 }",
                    )
                )

        # -- ratios -------------------------------------------------------------------------
        def find(workload: str, server: str) -> Row | None:
            return next((r for r in rows if r.workload.startswith(workload) and r.server == server), None)

        for tag, w in (("azvm x1 memory", 1), ("azvm x1 sqlite", 1), ("azvm x2 sqlite", 2)):
            az, bare = find("a.", tag), find("a.", f"bare Starlette x{w}")
            if az and bare:
                q = az.r.rps / bare.r.rps
                az.ratio = (
                    f"azvm/bare = {q:.3f} (goal >= {GOAL_BARE:.2f}: {'MET' if q >= GOAL_BARE else 'MISSED'})"
                )
            pw, mp = find("c.", tag), find("StartInstances", "moto_server")
            if pw and mp and mp.r.per_s(200):
                q = pw.r.per_s(202) / mp.r.per_s(200)
                met = "MET" if q >= GOAL_MOTO else "MISSED"
                pw.ratio = f"azvm/moto = {q:.1f}x (goal >= {GOAL_MOTO:.0f}x: {met})"

        startup = startup_times(tmp, args.startup_runs, moto)
        setup.append(f"total run time {time.perf_counter() - t_all:.0f} s")
        show(rows, startup, setup)
        errs = [
            ln for ln in log.read_text(errors="replace").splitlines() if "Traceback" in ln or "ERROR" in ln
        ]
        if errs:
            print(f"server log: {len(errs)} error lines, first: {errs[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
