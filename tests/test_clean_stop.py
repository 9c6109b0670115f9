"""A clean stop: `azvm serve` exits within about 2 s of SIGTERM or Ctrl-C while an Azure SDK client
holds an idle TLS keep-alive connection, and leaving `azvm_server()` takes well under a second."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from azvm.testing import DEFAULT_SUBSCRIPTION, StaticTokenCredential, azvm_server

# a correctness bound (the issue asks for 2 s; this leaves room for a loaded machine), not a benchmark
STOP_BOUND_S = 5.0


def start_tls_server(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "azvm", "serve", "--data-dir", str(data_dir), "--port", "0", "--manual-clock",
         "--start-time", "2026-01-01T00:00:00Z"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    ready, cert = proc.stdout.readline(), proc.stdout.readline()
    m = re.search(r"(https://127\.0\.0\.1:\d+) ready", ready)
    c = re.search(r"certificate: (\S+)", cert)
    assert m and c, f"server did not start: {ready!r} {cert!r}"
    return proc, m.group(1), c.group(1)


def resource_client(endpoint: str, cert: str) -> object:
    from azure.mgmt.resource.resources import ResourceManagementClient

    return ResourceManagementClient(StaticTokenCredential(), DEFAULT_SUBSCRIPTION, base_url=endpoint,
                                    connection_verify=cert)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_serve_stops_promptly_while_an_sdk_client_holds_an_idle_tls_connection(tmp_path: Path, sig: int) -> None:
    proc, endpoint, cert = start_tls_server(tmp_path)
    client = resource_client(endpoint, cert)
    try:
        group = client.resource_groups.create_or_update("rg", {"location": "eastus"})  # type: ignore[attr-defined]
        assert group.name == "rg"  # the answer came over a connection the client now keeps open, idle
        proc.send_signal(sig)
        proc.wait(STOP_BOUND_S)  # raises TimeoutExpired when it hangs on the idle connection
        assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once it has stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        client.close()  # type: ignore[attr-defined]
        assert proc.stdout is not None
        output = proc.stdout.read()
        proc.stdout.close()
    assert "Traceback" not in output
    # what the client wrote before the stop is there after a restart: a stop loses nothing
    proc2, endpoint2, cert2 = start_tls_server(tmp_path)
    try:
        with resource_client(endpoint2, cert2) as again:  # type: ignore[attr-defined]
            assert again.resource_groups.get("rg").location == "eastus"
    finally:
        proc2.terminate()
        proc2.wait(STOP_BOUND_S)
        assert proc2.stdout is not None
        proc2.stdout.close()


def test_leaving_azvm_server_is_quick_when_a_test_left_its_client_open(tmp_path: Path) -> None:
    with azvm_server(data_dir=str(tmp_path)) as server:
        resources = server.resource_client()  # never closed: its keep-alive connection stays open
        resources.resource_groups.create_or_update("rg", {"location": "eastus"})
        compute = server.compute_client()
        assert list(compute.virtual_machines.list("rg")) == []
        left = time.monotonic()
    elapsed = time.monotonic() - left
    assert elapsed < 1.0, f"leaving azvm_server() took {elapsed:.2f} s"
    with azvm_server(data_dir=str(tmp_path)) as again:  # and the stop released the data directory
        assert again.resource_client().resource_groups.get("rg").location == "eastus"
