"""Benchmark the dashboard over a large fleet: the server's fleet read, and the first render in a real
headless chromium.

Run: .venv/bin/python benchmarks/bench_dashboard.py [--vms 10000] [--runs 3]

Prints, for an in-memory server holding N VMs (a third deallocated, a fifth stopped):
- the server side: reading the fleet from the store (on the event loop) and computing the rows with
  their costs (in a worker thread), and the size of the snapshot the event stream sends;
- the browser side (when chromium and chromedriver are found, as tests/web finds them): the time from
  the snapshot's arrival to the first rows drawn, from navigation to the first rows drawn, and how
  many rows are in the DOM (virtualized: the rows in view, not N).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from azvm.testing import azvm_server
from azvm.web import fleet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fleet generator and the browser the tests use (tests/web)

from tests.web.conftest import Browser, find_browser  # noqa: E402
from tests.web.fleetgen import populate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with azvm_server() as server:
        t0 = time.perf_counter()
        populate(server.emulator.service, args.vms)
        print(f"fleet of {args.vms:,} VMs made in {time.perf_counter() - t0:.1f} s")
        service, billing = server.emulator.service, server.emulator.app.billing
        reads, computes = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            data = fleet.read(service, billing)
            t1 = time.perf_counter()
            rows = data.compute()
            reads.append(t1 - t0)
            computes.append(time.perf_counter() - t1)
        size = len(orjson.dumps(list(rows.values())))
        print(f"server: read {statistics.median(reads) * 1000:.0f} ms (event loop), compute"
              f" {statistics.median(computes) * 1000:.0f} ms (worker thread), snapshot {size / 1e6:.1f} MB"
              f" (median of {args.runs})")
        chromium, driver, why = find_browser()
        if chromium is None:
            print(f"browser: skipped ({why})")
            return 0
        firsts, navs = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                b = Browser(server, Path(tmp))
                try:
                    b.open("#/fleet")
                    b.wait(lambda d, b=b: b.js("return document.documentElement.dataset.fleetRendered")
                           == str(args.vms), "the fleet rendered", timeout=120)
                    m = b.js("return window.azvmDashboard.metrics()")
                finally:
                    b.close()
            firsts.append(m["firstRenderMs"])
            navs.append(m["sinceNavigationMs"])
        print(f"browser: first render {statistics.median(firsts):.0f} ms after the snapshot arrived,"
              f" {statistics.median(navs):.0f} ms after navigation; {m['rowsInDom']} rows in the DOM"
              f" (median of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
