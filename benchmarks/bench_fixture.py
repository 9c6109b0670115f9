"""What the pytest fixture costs a test that uses it (issue: "for people testing their own code"),
beside moto's ways of giving a test a fresh world.

    .venv/bin/python benchmarks/bench_fixture.py [--runs 30]

One in-process server, as the `azvm` fixture's session holds it; then, per simulated test:
  a. the reset the `azvm` fixture does before each test (an empty world, clock and ids restarted);
  b. a + an SDK client made (ComputeManagementClient, as `azvm.compute_client()` makes it);
  c. b + one VM made with what it needs (`azvm.create_vm`: group, network, NIC, VM, waited for);
  d. c + the VM deallocated through the SDK's poller (time skipping ends it at the first poll);
  e. a + the three clients the fixture hands out (compute, network, resource) + one ARM read
     through them (the subscription's VMs listed): a test's fixed cost (goal: under 10 ms).
Beside e, moto's equivalents (`pip install "moto[server]" boto3`), each a fresh world, a boto3 EC2
client and one DescribeInstances:
  f. `mock_aws` per test (entered and left around each test, as its decorator does);
  g. a shared server (moto.server.ThreadedMotoServer, in-process as azvm's fixture is): POST
     /moto-api/reset, a boto3 client on its endpoint.
Also the session's one-off cost: the server's start. Figures are printed (median and p90 of the
runs, in milliseconds), never asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import urllib.request
from collections.abc import Callable

from azvm.testing import AzvmServer, azvm_server

GOAL_MS = 10.0  # a test's fixed cost: reset, clients, one call


def timed(runs: int, step: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        step()
        out.append((time.perf_counter() - t) * 1000)
    return out


def show(name: str, ms: list[float]) -> float:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    print(f"{name:58} median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   ({len(ms)} runs)")
    return statistics.median(ms)


def moto_per_test(runs: int) -> dict[str, float]:
    """f and g: moto's fresh world, client and one call per test (medians in ms); empty without moto."""
    try:
        import boto3
        from moto import mock_aws
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("moto: not installed (pip install 'moto[server]' boto3): no peer")
        return {}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")  # moto's advice: never a real credential
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's line per request

    def mocked() -> None:
        with mock_aws():
            boto3.client("ec2", region_name="us-east-1").describe_instances()

    mocked()  # warm: boto3's service model loads once per process
    out = {"mock_aws": show("f. moto: mock_aws + a boto3 client + DescribeInstances", timed(runs, mocked))}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"

        def shared() -> None:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
            boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint).describe_instances()

        shared()
        out["moto_server"] = show("g. moto: server reset + a boto3 client + DescribeInstances", timed(runs, shared))
    finally:
        server.stop()
    return out


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

        def fixed_cost() -> None:
            server.reset()
            compute = server.compute_client()
            server.network_client()
            server.resource_client()
            list(compute.virtual_machines.list_all())

        with_action()  # warm: the first SDK import and TLS handshake are the session's, not a test's
        fixed_cost()
        show("a. reset", timed(args.runs, reset))
        show("b. reset + an SDK client", timed(args.runs, with_client))
        show("c. reset + client + one VM (create_vm)", timed(args.runs, with_vm))
        show("d. reset + client + one VM + a deallocate through the SDK", timed(args.runs, with_action))
        azvm = show("e. reset + 3 clients + one ARM read (VMs listed)", timed(args.runs, fixed_cost))
    moto = moto_per_test(args.runs)
    met = "met" if azvm < GOAL_MS else "not met"
    print(f"e: a test's fixed cost {azvm:.1f} ms, goal under {GOAL_MS:.0f} ms: {met}")
    for name, ms in moto.items():
        print(f"e against {name}: {azvm / ms:.3f}x ({ms / azvm:.0f} times faster)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
