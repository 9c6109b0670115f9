"""Identifiers: operation ids, VM ids. Seeded for deterministic tests.

With a seed, the n-th id is a pure function of (seed, n); the store persists n, so a restarted
server never hands out an id twice. Without a seed, ids come from the OS's entropy.
"""

from __future__ import annotations

import hashlib
import threading
import uuid


class IdSource:
    def __init__(self, seed: int | None = None, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter
        self._lock = threading.Lock()

    def uuid(self) -> str:
        with self._lock:
            self.counter += 1
            if self.seed is None:
                return str(uuid.uuid4())
            digest = hashlib.sha256(f"azvm:{self.seed}:{self.counter}".encode()).digest()
            return str(uuid.UUID(bytes=digest[:16], version=4))
