"""Identifiers: operation ids, VM ids. Seeded for deterministic tests.

With a seed, the n-th id is a pure function of (seed, n); the store persists n, so a restarted
server never hands out an id twice. Without a seed, ids come from the OS's entropy.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random  # noqa: TID251 - this is the id source; unseeded ids only, drawn from OS entropy
import threading
import uuid

_rng: random.Random | None = None  # drawn on first use; a forked child draws afresh (_forget_rng)
_seq: itertools.count[int] | None = None  # operation ids' sequence, from a random start (_ordered_uuid)


def _forget_rng() -> None:
    global _rng, _seq
    _rng = _seq = None


os.register_at_fork(after_in_child=_forget_rng)


def _random_uuid() -> str:
    """A version-4 UUID (RFC 9562 section 5.4) from a generator seeded with 256 bits of the OS's
    entropy: as unique as uuid.uuid4(), without a system call per id (not even getpid: a fork
    resets the generator)."""
    global _rng
    rng = _rng
    if rng is None:
        rng = _rng = random.Random(os.urandom(32))
    n = rng.getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48) | (0x4000 << 64 | 0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ordered_uuid() -> str:
    """A version-8 UUID (RFC 9562 section 5.8) whose first 48 bits count up from a random start,
    the other 74 random: unique as a version 4 is, and each drawn after the one before in order."""
    global _rng, _seq
    rng = _rng
    if rng is None:
        rng = _rng = random.Random(os.urandom(32))
    seq = _seq
    if seq is None:
        seq = _seq = itertools.count(rng.getrandbits(46))
    n = next(seq) << 80 | 0x8 << 76 | rng.getrandbits(12) << 64 | 0x2 << 62 | rng.getrandbits(62)
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

    def operation_id(self) -> str:
        """An operation's id. Without a seed, ids drawn in order (_ordered_uuid): the stores index
        operations by id, and an id after the last lands on the index's last page, where a random
        one dirtied a page of its own per durable action. With a seed, as uuid()."""
        if self.seed is not None:
            return self.uuid()
        with self._lock:
            self.counter += 1
            return _ordered_uuid()
