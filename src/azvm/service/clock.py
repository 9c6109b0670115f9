"""The one owner of the simulated clock: it reads it, moves it (by hand, by time skipping, on a
reset), keeps it in the store so that a restarted server continues the same time, and shares it
between the processes of one store. Nothing else writes the clock or its stored form."""

from __future__ import annotations

import threading
from dataclasses import replace

from ..clock import MAX_ISO, MAX_US, Clock, ClockError, ClockState, iso, now_wall_us
from ..domain.errors import Conflict, InvalidParameter
from .ports import Store

META_KEY = "clock"


def encode(s: ClockState) -> str:
    return f"{s.sim_anchor_us},{s.wall_anchor_us},{s.speed},{int(s.skip)}"


def decode(raw: str) -> ClockState:
    a, w, sp, k = raw.split(",")
    return ClockState(int(a), int(w), float(sp), k == "1")


def restore(store: Store, *, manual: bool, speed: float, start_us: int | None, skip: bool) -> Clock:
    """The clock a server starts with: the stored one's time if the store has one (a restart goes on
    where it stopped), else `start_us` (default: now)."""
    saved = store.get_meta(META_KEY)
    start = Clock(decode(saved)).now_us() if saved else (start_us if start_us is not None else now_wall_us())
    return Clock.manual(start, skip=skip) if manual else Clock.real(speed, start_us=start, skip=skip)


class ClockKeeper:
    def __init__(self, clock: Clock, store: Store, *, shared: bool, lock: threading.RLock | None = None) -> None:
        self.clock = clock
        self.store = store
        self.shared = shared  # several processes over one store: adopt the stored clock on each request
        self.lock = lock or threading.RLock()
        self._raw: str | None = None

    @property
    def state(self) -> ClockState:
        return self.clock.state

    def now(self) -> int:
        return self.clock.now_us()

    def persist(self) -> None:
        """Store the clock; with several processes, never over a clock another one moved further
        (compare-and-set on what was read: a lost race re-reads, adopts the newer one, and tries again)."""
        for _attempt in range(100):
            stored = self.store.get_meta(META_KEY)
            if stored is not None and stored != self._raw:
                self._adopt(stored)  # another process (or a restart) moved it: never go back
            raw = encode(self.clock.state)
            if raw == stored or self.store.compare_and_set_meta(META_KEY, stored, raw):
                self._raw = raw
                return
        raise Conflict("The clock is being moved by other processes; retry the request.")

    def _adopt(self, raw: str) -> None:
        self._raw = raw
        stored = decode(raw)
        if Clock(stored, self.clock.wall_us).now_us() >= self.clock.now_us():
            self.clock.load(stored)

    def sync(self) -> None:
        """With several server processes over one store, the clock one of them moved (by hand or by
        time skipping) is the clock of all: adopt the stored one when it has changed, unless it
        would take this process's clock backwards."""
        if not self.shared:
            return
        raw = self.store.get_meta(META_KEY)
        if raw is None or raw == self._raw:
            return
        self._adopt(raw)

    def skip_to(self, us: int) -> None:
        """Time skipping: a client waits on something that happens at `us`."""
        if self.clock.replaying:  # scheduled work at a past instant never moves the clock
            return
        with self.lock:
            if us > self.now():
                self.clock.jump_to(us)
                self.persist()

    def move(self, *, advance_us: int = 0, set_us: int | None = None, speed: float | None = None,
             skip: bool | None = None) -> None:
        """Move the clock by hand: every part checked first, then all applied (or nothing)."""
        with self.lock:
            now = self.now()
            target = now + advance_us
            if set_us is not None:
                if set_us < now:
                    raise InvalidParameter(f"the clock never goes backwards: it reads {iso(now)}.", target="set")
                target = max(target, set_us)
            if target > MAX_US:
                raise InvalidParameter(f"The clock cannot go past {MAX_ISO}: it reads {iso(now)}.",
                                       target="set" if set_us is not None and set_us >= target else "advanceSeconds")
            try:
                if target > now:
                    self.clock.set(target)
                if speed is not None:
                    self.clock.set_speed(speed)
                if skip is not None:
                    self.clock.set_skip(skip)
            except ClockError as e:
                raise InvalidParameter(str(e), target="clock") from None
            self.persist()

    def restart(self, *, start_us: int | None, skip: bool | None) -> None:
        """After a reset: the clock may start afresh at `start_us` (no history is left to contradict)."""
        with self.lock:
            if start_us is not None:
                self.clock.load(replace(self.clock.state, sim_anchor_us=start_us, wall_anchor_us=self.clock.wall_us()))
            if skip is not None:
                self.clock.load(replace(self.clock.state, skip=skip))
            self.persist()


__all__ = ["ClockKeeper", "decode", "encode", "restore"]
