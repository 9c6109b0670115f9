"""The statusOnly listing of 10,000 VMs (every page in turn, wrk), after the same world was made two
ways: in-process through the service, and over HTTP (NICs and VMs PUT by 8 threads). Same server
code, same uvicorn; a gap between the two is a cost of how the world was built (memory layout),
not of the request path.

    .venv/bin/python benchmarks/bench_list_layout.py [--duration 5]

Needs wrk. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import bench_arm as b
from bench_lifecycle import nic_id, vm_body

from azvm.domain.resource_id import ResourceId
from azvm.server import Options, ThreadedServer, build


def listing_rate(port: int, duration: float) -> float:
    b.request(port, "POST", "/azvm/clock", {"advanceSeconds": 3600})
    pages, _vms = b.list_pages(port)
    lua = b.lua_paths(Path(tempfile.mkdtemp()), "pages.lua", pages)
    return b.run_wrk(f"http://127.0.0.1:{port}{b.LIST_PATH}", duration=duration, connections=16, lua=lua).rps


def in_process(n: int, duration: float) -> float:
    emu = build(Options(in_memory=True, tls=False, manual_clock=True, port=0))
    svc = emu.service
    svc.groups.create_or_update(b.SUB, "rg", {"location": "eastus"})
    svc.resources.put(ResourceId.parse(b.VNET_PATH), b.VNET_BODY)
    for i in range(n):  # NICs through the engine (a copy of the first, as bench_arm does), then the VMs
        if i == 0:
            template = json.dumps(svc.resources.put(ResourceId.parse(nic_id("vm0")), b.nic_body(0))[0].body)
        else:
            svc.resources.write(ResourceId.parse(nic_id(f"vm{i}")),
                                json.loads(template.replace("vm0-nic", f"vm{i}-nic")), None)
        svc.create_or_update(b.SUB, "rg", f"vm{i}", vm_body(f"vm{i}"))
    server = ThreadedServer(emu)
    try:
        return listing_rate(server.start(), duration)
    finally:
        server.stop()


def over_http(n: int, duration: float) -> float:
    server = ThreadedServer(build(Options(in_memory=True, tls=False, manual_clock=True, port=0)))
    try:
        port = server.start()
        b.populate_http(port, n)
        return listing_rate(port, duration)
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--vms", type=int, default=10_000)
    args = ap.parse_args()
    a = in_process(args.vms, args.duration)
    h = over_http(args.vms, args.duration)
    print(f"statusOnly pages/s, {args.vms:,} VMs: world made in-process {a:,.0f}; made over HTTP {h:,.0f}"
          f" (ratio {h / a:.2f})")


if __name__ == "__main__":
    main()
