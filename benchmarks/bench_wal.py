"""What a durable power action writes to SQLite's WAL: frames (pages) and bytes per action.

    .venv/bin/python benchmarks/bench_wal.py [--vms 10000] [--world DIR] [--actions 20000] [--batch 8]

The cost of a commit on the durable store is mostly its WAL frames (a page each, two writes per
frame, then copied into the database by the checkpointing thread), so the number of pages an action
dirties is the store's figure of merit for power actions (docs/architecture.md). Over a world of
--vms VMs made in-process (bench_arm.populate_dir; --world DIR reuses one, copied), this drives
POST powerOff/start through the server's ASGI application in-process, over a pool of 512 VMs in
order as bench_power's wrk script does, --batch requests at a time, so that the requests of a batch
share one group commit as under the server. The checkpointing thread is stopped and the WAL emptied
first, so that the WAL only grows: its growth is what the actions wrote. Prints frames and KiB per action, and the
in-process time per action (a diagnostic; bench_power is the speed benchmark).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_arm import API, POWER_POOL, VMS_PATH, populate_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vms", type=int, default=10_000, help="VMs of the world")
    ap.add_argument("--world", type=Path, help="a world made before (a data directory), copied; else made")
    ap.add_argument("--actions", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=8, help="requests answered by one group commit")
    args = ap.parse_args(argv)
    if args.vms < POWER_POOL:
        print(f"--vms must be {POWER_POOL} at least", file=sys.stderr)
        return 2

    from azvm.server import Options, build

    tmp = Path(tempfile.mkdtemp(prefix="azvm-wal-"))
    try:
        data = tmp / "data"
        if args.world is not None:
            shutil.copytree(args.world, data, ignore=shutil.ignore_patterns("*.lock"))
        else:
            print(f"making a world of {args.vms:,} VMs ...", flush=True)
            populate_dir(data, args.vms)
        emu = build(Options(data_dir=str(data), manual_clock=True, tls=False))
        store: Any = emu.store
        checkpointer = store._checkpointer  # stopped: the WAL then holds everything written from here
        if checkpointer is not None:
            store._checkpointer = None
            checkpointer[0].set()
            checkpointer[1].join()
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL (a migration may have filled it)
        wal = Path(store.path + "-wal")
        page = int(store._db.execute("PRAGMA page_size").fetchone()[0])
        statuses: dict[int, int] = {}

        async def call(method: str, path: str, query: bytes = API.encode(), body: bytes = b"") -> None:
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return messages.pop() if messages else {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            scope = {"type": "http", "method": method, "path": path, "query_string": query, "scheme": "http",
                     "server": ("127.0.0.1", 8443), "client": ("127.0.0.1", 5555),
                     "headers": [(b"host", b"127.0.0.1:8443"), (b"content-length", str(len(body)).encode()),
                                 (b"content-type", b"application/json"), (b"authorization", b"Bearer azvm")]}
            await emu.app(scope, receive, send)

        async def drive() -> tuple[float, int]:
            await call("POST", "/azvm/clock", b"", b'{"advanceSeconds": 3600}')  # every VM created
            size0 = wal.stat().st_size if wal.exists() else 0  # the clock's write: the WAL's header and a frame
            t0 = time.perf_counter()
            i = 0
            while i < args.actions:
                if i % POWER_POOL == 0 and i:  # the pool's operations have ended when it comes round
                    await call("POST", "/azvm/clock", b"", b'{"advanceSeconds": 900}')
                batch = []
                for _ in range(min(args.batch, args.actions - i)):
                    action = "powerOff" if (i // POWER_POOL) % 2 == 0 else "start"
                    batch.append(call("POST", f"{VMS_PATH}/vm{i % POWER_POOL}/{action}"))
                    i += 1
                await asyncio.gather(*batch)
            return time.perf_counter() - t0, wal.stat().st_size - size0

        seconds, grown = asyncio.run(drive())
        emu.close()
        accepted = statuses.get(202, 0)
        frame = page + 24  # a WAL frame: a 24-byte header and the page
        world = f"copied from {args.world}" if args.world is not None else f"of {args.vms:,} VMs, made"
        print(f"{args.actions:,} power actions, {args.batch} per commit; world {world}; page size {page}")
        print(f"answers: {dict(sorted(statuses.items()))}")
        print(f"WAL frames per action: {grown / frame / accepted:.2f}; KiB per action: {grown / 1024 / accepted:.1f}")
        print(f"in-process time per action: {seconds / accepted * 1e6:.1f} us (a diagnostic; see bench_power.py)")
        print(f"python {sys.version.split()[0]}; pid {os.getpid()}")
        return 0 if accepted == args.actions else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
