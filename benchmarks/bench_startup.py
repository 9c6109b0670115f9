"""Start-up of `azvm serve` beside moto's server: spawn to the first 200 from the health endpoint.

    .venv/bin/python benchmarks/bench_startup.py [--runs 7]

Needs moto's server in the venv for the peer (`pip install "moto[server]"`). In turn, in each run:
  a. azvm serve over HTTPS (its default) on its SQLite store in a fresh data directory: the store,
     the certificate authority and the server's certificate are all made by this start;
  b. the same again on the data directory that (a) left: the store opened, the certificates reused;
  c. azvm serve --in-memory over HTTPS (the certificate kept in the per-user data directory, here a
     directory of this run's own through XDG_DATA_HOME: made by the first run, reused by the next);
  d. azvm serve --in-memory --no-tls (plain HTTP);
  e. moto_server on plain HTTP (its default).
The HTTPS servers are polled over TLS (without verification: this is a readiness probe, not a test of
the certificate). Beside wall time, the CPU time the server process had used when it answered (from
/proc on Linux): on a machine busy with other work, wall times swing; CPU times much less.

Bytecode: an installed azvm starts from its compiled modules, as moto does from the ones pip compiled
into site-packages. So by default every server runs with a bytecode cache of this run's own
(PYTHONPYCACHEPREFIX, PYTHONDONTWRITEBYTECODE dropped), filled by one unmeasured start of each kind.
`--as-is` runs them in this environment unchanged instead (with PYTHONDONTWRITEBYTECODE=1 and azvm
from a source checkout, azvm compiles every module it imports at every start; moto's are compiled).

Prints the medians, every run's wall time in milliseconds, and azvm over HTTPS against
moto_server (goal: at most 0.75x of its wall time). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

PY = sys.executable
HOST = "127.0.0.1"
GOAL = 0.75  # azvm over HTTPS at most this fraction of moto_server's start-up
AZVM_HEALTH, MOTO_HEALTH = "/azvm/health", "/moto-api/"
HTTPS_FRESH = "a. azvm serve (HTTPS, SQLite, fresh data dir)"
HTTPS_AGAIN = "b. azvm serve (HTTPS, SQLite, second start)"
HTTPS_MEMORY = "c. azvm serve --in-memory (HTTPS)"
HTTP_MEMORY = "d. azvm serve --in-memory --no-tls"
MOTO = "e. moto_server (HTTP)"
_UNVERIFIED = ssl._create_unverified_context()  # a readiness probe: any certificate will do


class Ready(NamedTuple):
    wall: float  # seconds from spawn to the first 200
    cpu: float | None  # CPU seconds the server process had used by then (None: no /proc to read it from)


def cpu_seconds(pid: int) -> float | None:
    """CPU time of a process's threads so far, from Linux's /proc/PID/task/*/schedstat (nanoseconds: finer
    than the 10 ms ticks of /proc/PID/stat); less disturbed than wall time by other work on the machine."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    total = 0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e9


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def moto_server() -> str | None:
    """moto's server script beside this interpreter, or on PATH; None when moto is not installed."""
    here = Path(PY).with_name("moto_server")
    return str(here) if here.exists() else shutil.which("moto_server")


def _get(port: int, path: str, tls: bool) -> int:
    conn: http.client.HTTPConnection = (
        http.client.HTTPSConnection(HOST, port, timeout=2, context=_UNVERIFIED)
        if tls
        else http.client.HTTPConnection(HOST, port, timeout=2)
    )
    try:
        conn.request("GET", path)
        status = conn.getresponse().status
        return status
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, tls: bool, timeout: float = 60.0) -> None:
    """Poll `path` every 5 ms until a 200; raises if the process ends or time runs out."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")
        try:
            if _get(port, path, tls) == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.005)  # noqa: TID251 - polling a real process, not simulated time
    raise RuntimeError(f"the server on port {port} was not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, with anything it started: its own process group (start_new_session)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def child_env(tmp: Path, as_is: bool) -> dict[str, str]:
    """The servers' environment: with a bytecode cache of this run's own (see the module's docstring),
    unless `as_is`."""
    env = dict(os.environ)
    if not as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


@contextmanager
def started(argv: list[str], port: int, path: str, *, tls: bool, log: Path, env: dict[str, str]) -> Iterator[Ready]:
    """Spawn a server; yield the time from spawn to its first 200 from `path`; stop it on exit."""
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        try:
            wait_ready(proc, port, path, tls)
            wall = time.perf_counter() - t0
            yield Ready(wall, cpu_seconds(proc.pid))
        finally:
            stop(proc)


def azvm_argv(port: int, *extra: str) -> list[str]:
    return [PY, "-m", "azvm", "serve", "--host", HOST, "--port", str(port), *extra]


def azvm_startup(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Ready:
    """Seconds from spawn to the first 200 of one `azvm serve` with `extra` options (HTTPS unless --no-tls);
    `env`: the process's whole environment (default: this one's)."""
    port = free_port()
    with started(azvm_argv(port, *extra), port, AZVM_HEALTH, tls="--no-tls" not in extra, log=tmp / "startup.log",
                 env=dict(os.environ) if env is None else env) as ready:
        return ready


def moto_startup(tmp: Path, moto: str, env: dict[str, str] | None = None) -> Ready:
    port = free_port()
    with started([moto, "-H", HOST, "-p", str(port)], port, MOTO_HEALTH, tls=False, log=tmp / "startup.log",
                 env=dict(os.environ) if env is None else env) as ready:
        return ready


KINDS = (HTTPS_FRESH, HTTPS_AGAIN, HTTPS_MEMORY, HTTP_MEMORY, MOTO)


def startup_times(tmp: Path, n: int, moto: str | None, *, as_is: bool = False,
                  kinds: tuple[str, ...] = KINDS) -> dict[str, list[Ready]]:
    """Seconds to ready of each of `kinds` (MOTO left out when `moto` is None), `n` runs each,
    interleaved (so that a busy moment of the machine falls on every kind alike)."""
    out: dict[str, list[Ready]] = {k: [] for k in kinds if k != MOTO or moto}
    env = child_env(tmp, as_is)
    # the per-user data directory of --in-memory (its certificate), kept apart from the user's own
    user_env = {**env, "XDG_DATA_HOME": str(tmp / "user-data"), "AZVM_DATA_DIR": ""}
    azvm_startup(tmp, "--data-dir", str(tmp / "warm"), env=env)  # fills the bytecode cache: not measured
    if moto and MOTO in out:
        moto_startup(tmp, moto, env)
    for i in range(n):
        data = tmp / f"data{i}"
        for kind, runs in out.items():
            if kind in (HTTPS_FRESH, HTTPS_AGAIN):  # (b) starts on the directory that (a) made
                runs.append(azvm_startup(tmp, "--data-dir", str(data), env=env))
            elif kind == HTTPS_MEMORY:
                runs.append(azvm_startup(tmp, "--in-memory", env=user_env))
            elif kind == HTTP_MEMORY:
                runs.append(azvm_startup(tmp, "--in-memory", "--no-tls", env=user_env))
            elif moto:
                runs.append(moto_startup(tmp, moto, env))
    return out


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:6.0f} ms"


def show(times: dict[str, list[Ready]]) -> None:
    print(f"{'spawn to first 200 (median of runs)':48} {'wall':>9}  {'CPU':>9}   wall of each run, ms")
    for name, runs in times.items():
        cpus = [r.cpu for r in runs if r.cpu is not None]
        cpu = _median_ms(cpus) if len(cpus) == len(runs) else "       -"
        print(f"{name:48} {_median_ms([r.wall for r in runs])}  {cpu}   "
              + ", ".join(f"{r.wall * 1000:.0f}" for r in runs))
    if MOTO not in times:
        print("moto_server: not installed (pip install 'moto[server]'): no ratio")
        return
    moto = statistics.median(r.wall for r in times[MOTO])
    moto_cpus = [r.cpu for r in times[MOTO] if r.cpu is not None]
    for name in (k for k in times if k != MOTO):
        ratio = statistics.median(r.wall for r in times[name]) / moto
        goal = f"   goal <= {GOAL}x: {'met' if ratio <= GOAL else 'not met'}" if name != HTTP_MEMORY else ""
        cpus = [r.cpu for r in times[name] if r.cpu is not None]
        cpu = (f"   (CPU {statistics.median(cpus) / statistics.median(moto_cpus):.2f}x)"
               if cpus and moto_cpus else "")
        print(f"{name[3:]} / moto_server: {ratio:.2f}x{goal}{cpu}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--as-is", action="store_true",
                    help="run the servers in this environment unchanged (no bytecode cache of the run's own)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="azvm-bench-startup-") as tmp:
        bytecode = ("as this environment has it" + (" (PYTHONDONTWRITEBYTECODE=1)"
                                                    if os.environ.get("PYTHONDONTWRITEBYTECODE") else "")
                    if args.as_is else "cached, as an installed package has it")
        print(f"bytecode: {bytecode}")
        show(startup_times(Path(tmp), args.runs, moto_server(), as_is=args.as_is))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
