"""Identifiers: operation ids, VM ids. Seeded for deterministic tests.

With a seed, the n-th id is a pure function of (seed, n); the store persists n, so a restarted
server never hands out an id twice. Without a seed, ids come from the OS's entropy.
"""

from __future__ import annotations

import hashlib
import os
import random  # noqa: TID251 - this is the id source; unseeded ids only, drawn from OS entropy
import threading
import uuid

_rng: tuple[int, random.Random] | None = None  # (pid, generator): a forked child draws afresh


def _random_uuid() -> str:
    """A version-4 UUID (RFC 9562 section 5.4) from a generator seeded with 256 bits of the OS's
    entropy: as unique as uuid.uuid4(), without a system call per id."""
    global _rng
    rng = _rng
    if rng is None or rng[0] != os.getpid():
        rng = _rng = (os.getpid(), random.Random(os.urandom(32)))
    n = rng[1].getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48) | (0x4000 << 64 | 0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class IdSource:
    def __init__(self, seed: int | None = None, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter
        self._lock = threading.Lock()

    def uuid(self) -> str:
        with self._lock:
            self.counter += 1
            if self.seed is None:
                return _random_uuid()
            digest = hashlib.sha256(f"azvm:{self.seed}:{self.counter}".encode()).digest()
            return str(uuid.UUID(bytes=digest[:16], version=4))
