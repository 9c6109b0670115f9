"""The one clock of azvm, and the only module that reads wall time.

Simulated time is an integer count of microseconds since the Unix epoch (UTC). A clock maps wall
time to simulated time through an *anchor*: ``sim = sim_anchor + (wall - wall_anchor) * speed``.
A manual clock has speed 0 and moves only when told to (advance, set). Simulated time never goes
backwards: every change of speed or position re-anchors at the current simulated instant, and
never goes past :data:`MAX_US` (9999-12-31T23:59:59Z): setting or advancing beyond it is a
:class:`ClockError`, time skipping and a running clock stop there.

The anchor is plain data (:class:`ClockState`) so that the store can persist it: after a restart
the simulated time continues where it was, which keeps every VM's history meaning the same thing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

US = 1_000_000


def now_wall_us() -> int:
    return time.time_ns() // 1000


def to_datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, UTC)


def from_datetime(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("a time must carry a time zone")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


_iso_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text (one tuple: threads
# see both or neither)


def iso(us: int) -> str:
    """ARM's time format: 7 fractional digits and an explicit +00:00 offset."""
    global _iso_second
    secs, frac = divmod(us, US)
    last = _iso_second
    if last[0] != secs:  # one strftime per second of simulated time, not per call
        last = _iso_second = (secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)))
    return f"{last[1]}.{frac:06d}0+00:00"


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 time with a zone (``Z`` accepted); raise ValueError otherwise."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # Python accepts at most 6 fractional digits before 3.11 quirks; trim ARM's 7th digit
    if "." in t:
        head, _, rest = t.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        t = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return from_datetime(dt)


@dataclass(frozen=True)
class ClockState:
    """Where simulated time stands: an anchor pair and a speed (0 = manual)."""

    sim_anchor_us: int
    wall_anchor_us: int
    speed: float
    skip: bool  # time skipping: waiting on an unfinished operation jumps to its next phase

    @property
    def manual(self) -> bool:
        return self.speed == 0


class ClockError(ValueError):
    pass


#: The last instant the clock may show: 9999-12-31T23:59:59Z (ISO 8601 and every Azure SDK stop at year 9999)
MAX_US = 253_402_300_799 * US
MAX_ISO = "9999-12-31T23:59:59Z"


def check_time(us: int, what: str = "the clock") -> int:
    """`us` if the clock may show it; ClockError otherwise."""
    if us > MAX_US:
        raise ClockError(f"{what} cannot go past {MAX_ISO}")
    return us


class _Replay(threading.local):
    """The instant that scheduled work in this thread runs at (None: the clock's own time). A class
    default rather than getattr(..., None): a missing attribute raises inside getattr, and the clock
    is read several times per request."""

    us: int | None = None


class Clock:
    """Simulated time; thread-compatible (callers serialise writes)."""

    def __init__(self, state: ClockState, wall: Callable[[], int] = now_wall_us,
                 on_change: Callable[[ClockState], None] | None = None) -> None:
        self._state = state
        self._wall = wall
        self._on_change = on_change
        self._replay = _Replay()

    @classmethod
    def real(cls, speed: float = 1.0, *, start_us: int | None = None, skip: bool = False,
             wall: Callable[[], int] = now_wall_us) -> Clock:
        w = wall()
        return cls(ClockState(w if start_us is None else start_us, w, speed, skip), wall)

    @classmethod
    def manual(cls, start_us: int, *, skip: bool = True,
               wall: Callable[[], int] = now_wall_us) -> Clock:
        return cls(ClockState(start_us, wall(), 0.0, skip), wall)

    @property
    def state(self) -> ClockState:
        return self._state

    def now_us(self) -> int:
        pinned = self._replay.us
        if pinned is not None:
            return pinned
        s = self._state
        if s.speed == 0:
            return s.sim_anchor_us
        now = s.sim_anchor_us + int((self._wall() - s.wall_anchor_us) * s.speed)
        return now if now <= MAX_US else max(MAX_US, s.sim_anchor_us)  # a running clock stops at the end

    def wall_us(self) -> int:
        return self._wall()

    @property
    def replaying(self) -> bool:
        return self._replay.us is not None

    @contextmanager
    def replay_at(self, us: int) -> Iterator[None]:
        """Scheduled work that fell due at `us` (now or in the past: a deployment's next resource)
        runs as of `us` in this thread, so that what it writes is dated when it was due, not when it
        was noticed; other threads, and the clock itself, are unaffected. Time skipping does not
        move the clock meanwhile (`jump_to` is a no-op)."""
        if us > self.now_us():
            raise ClockError(f"scheduled work cannot run ahead of the clock: {iso(us)} is after {iso(self.now_us())}")
        before = self._replay.us
        self._replay.us = us
        try:
            yield
        finally:
            self._replay.us = before

    def load(self, state: ClockState) -> None:
        """Adopt a persisted state (never moving backwards)."""
        self._state = state

    def _reanchor(self, sim_us: int, *, speed: float | None = None, skip: bool | None = None) -> ClockState:
        s = self._state
        new = ClockState(sim_us, self._wall(), s.speed if speed is None else speed, s.skip if skip is None else skip)
        self._state = new
        if self._on_change is not None:
            self._on_change(new)
        return new

    def advance(self, seconds: float) -> int:
        if not seconds >= 0:
            raise ClockError("the clock never goes backwards: advanceSeconds must be >= 0")
        now = self.now_us()
        if seconds > (MAX_US - now) / US:  # also infinity, before it reaches round()
            raise ClockError(f"the clock cannot go past {MAX_ISO}")
        return self._reanchor(check_time(now + round(seconds * US))).sim_anchor_us

    def set(self, us: int) -> int:
        now = self.now_us()
        if us < now:
            raise ClockError(f"the clock never goes backwards: it reads {iso(now)}")
        return self._reanchor(check_time(us)).sim_anchor_us

    def jump_to(self, us: int) -> None:
        """Time skipping: move forward to `us` if it is still ahead (never past MAX_US: a phase
        planned after the end of time is never reached)."""
        us = min(us, MAX_US)
        if us > self.now_us() and not self.replaying:
            self._reanchor(us)

    def set_speed(self, speed: float) -> None:
        if not speed >= 0 or speed > 1e6:
            raise ClockError("speed must be between 0 (manual) and 1000000")
        self._reanchor(self.now_us(), speed=float(speed))

    def set_skip(self, skip: bool) -> None:
        self._reanchor(self.now_us(), skip=skip)
