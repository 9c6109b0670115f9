"""What the pytest fixture costs a test that uses it (issue: "for people testing their own code").

    .venv/bin/python benchmarks/bench_fixture.py [--runs 30]

One in-process server, as the `azvm` fixture's session holds it; then, per simulated test:
  a. the reset the `azvm` fixture does before each test (an empty world, clock and ids restarted);
  b. a + an SDK client made (ComputeManagementClient, as `azvm.compute_client()` makes it);
  c. b + one VM made with what it needs (`azvm.create_vm`: group, network, NIC, VM, waited for);
  d. c + the VM deallocated through the SDK's poller (time skipping ends it at the first poll).
Also the session's one-off cost: the server's start. Figures are printed (median and p90 of the
runs, in milliseconds), never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from azvm.testing import AzvmServer, azvm_server


def timed(runs: int, step: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        step()
        out.append((time.perf_counter() - t) * 1000)
    return out


def show(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    print(f"{name:58} median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   ({len(ms)} runs)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    with azvm_server() as server:
        started = (time.perf_counter() - t) * 1000
        print(f"{'session: the server started (once per test session)':58} {started:7.1f} ms")

        def reset() -> None:
            server.reset()

        def with_client() -> None:
            server.reset()
            server.compute_client()

        def with_vm() -> AzvmServer:
            server.reset()
            server.compute_client()
            server.create_vm("vm1")
            return server

        def with_action() -> None:
            with_vm().compute_client().virtual_machines.begin_deallocate("rg", "vm1").result()

        with_action()  # warm: the first SDK import and TLS handshake are the session's, not a test's
        show("a. reset", timed(args.runs, reset))
        show("b. reset + an SDK client", timed(args.runs, with_client))
        show("c. reset + client + one VM (create_vm)", timed(args.runs, with_vm))
        show("d. reset + client + one VM + a deallocate through the SDK", timed(args.runs, with_action))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
