"""One data directory, one world: a second `azvm serve` on a directory that another process serves
is refused at start, naming the process that holds it, and writes nothing; the `--workers`
processes of one `azvm serve` share its world."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from azvm.server import DataDirInUse
from azvm.testing import azvm_server
from tests.conftest import SUB, http_client
from tests.test_durability import free_port, start_server, stop

API = "api-version=2026-04-01"


def second_serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "azvm", "serve", "--data-dir", str(data_dir), "--no-tls", "--port",
                           "0", *args], capture_output=True, text=True, timeout=60)


def world(c: httpx.Client, base: str) -> tuple[str, int]:
    clock = c.get(f"{base}/azvm/clock").json()["now"]
    groups = c.get(f"{base}/subscriptions/{SUB}/resourcegroups?{API}").json()["value"]
    return clock, len(groups)


def test_a_second_serve_on_a_served_directory_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    proc, base = start_server(tmp_path)
    try:
        with http_client(timeout=10) as c:
            c.put(f"{base}/subscriptions/{SUB}/resourcegroups/rg?{API}", json={"location": "eastus"})
            c.post(f"{base}/azvm/clock", json={"advanceSeconds": 3600})
            before = world(c, base)
            # another clock (real time) and another start: today it would append out of time order
            refused = second_serve(tmp_path, "--start-time", "2030-01-01T00:00:00Z")
            assert refused.returncode == 2, refused
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
            assert str(proc.pid) in lines[0] and str(tmp_path) in lines[0], lines
            assert "ready" not in refused.stdout
            assert world(c, base) == before == ("2026-01-01T01:00:00.0000000+00:00", 1)
        assert (tmp_path / "azvm.lock").read_text().split() == [str(proc.pid)]
    finally:
        stop(proc)
    proc2, base2 = start_server(tmp_path)  # the holder is gone: the directory is free again
    try:
        with http_client(timeout=10) as c:
            assert world(c, base2) == before
    finally:
        stop(proc2)


def test_an_in_process_server_on_a_served_directory_is_refused(tmp_path: Path) -> None:
    proc, _ = start_server(tmp_path)
    try:
        with pytest.raises(DataDirInUse) as refused, azvm_server(data_dir=str(tmp_path)):
            pass
        assert refused.value.pid == proc.pid and refused.value.directory == tmp_path
        assert str(proc.pid) in str(refused.value)
    finally:
        stop(proc)


def test_an_in_process_server_holds_its_directory_until_it_stops(tmp_path: Path) -> None:
    with azvm_server(data_dir=str(tmp_path), tls=False) as first:
        first.advance(60)
        with pytest.raises(DataDirInUse):
            with azvm_server(data_dir=str(tmp_path), tls=False):
                pass
        assert first.now() == "2026-01-01T00:01:00.0000000+00:00"
    with azvm_server(data_dir=str(tmp_path), tls=False) as second:
        assert second.now() == "2026-01-01T00:01:00.0000000+00:00"


def serve_workers(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """`azvm serve --workers 2`, once one of its workers answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "azvm", "serve", "--data-dir", str(data_dir), "--no-tls", "--port",
                             str(port), "--manual-clock", "--start-time", "2026-01-01T00:00:00Z", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(f"{base}/azvm/health", timeout=1).raise_for_status()
            return proc, base
        except httpx.TransportError:
            threading.Event().wait(0.05)  # real processes starting: wall time is unavoidable here
    stop(proc)
    raise AssertionError("the workers did not start")


def test_workers_share_the_world_and_a_second_serve_is_still_refused(tmp_path: Path) -> None:
    proc, base = serve_workers(tmp_path)
    try:
        with http_client(timeout=10) as c:
            c.post(f"{base}/azvm/clock", json={"advanceSeconds": 3600})
            clocks, dates = set(), set()
            for _ in range(12):  # new connections: both workers answer, from one world
                with http_client(timeout=10) as fresh:
                    r = fresh.get(f"{base}/azvm/clock")
                    clocks.add(r.json()["now"])
                    dates.add(tuple(r.headers.get_list("date")))  # the simulated clock's, and no other
            assert clocks == {"2026-01-01T01:00:00.0000000+00:00"}
            assert dates == {("Thu, 01 Jan 2026 01:00:00 GMT",)}
            refused = second_serve(tmp_path)
            assert refused.returncode == 2 and str(proc.pid) in refused.stderr, refused
            assert c.get(f"{base}/azvm/clock").json()["now"] == "2026-01-01T01:00:00.0000000+00:00"
    finally:
        stop(proc)
