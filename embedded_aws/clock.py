"""The embedded cloud's clock: real time plus an offset a test can advance.

Temporary credentials expire, and a test that proves an expired credential is
refused cannot wait an hour. The clock lets it move the cloud's time forward
instead. Only the cloud's idea of *credential lifetime* follows it: moto's STS
stamps new sessions' expiration from it (so credentials issued after an
advance live their full duration), and every expiry check reads it.

The SigV4 request-time check does not follow it. Clients sign with the real
time of the machine they run on; moving the cloud's request clock would make
every request look skewed (AWS's ``RequestTimeTooSkewed`` or "Signature
expired") and so hide the very expiry a test wants to see. Advancing the clock
therefore ages credentials, never requests.

One cloud runs per process (moto's backends are global), so the clock of the
running cloud is the process's: ``now()`` reads it, or real time when none runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import moto.sts.models


class EmbeddedClock:
    """Real UTC time plus an offset that only moves forward, until ``reset``."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self._restore_moto: Callable[[], None] | None = None

    @property
    def offset(self) -> timedelta:
        """How far the cloud's time is ahead of real time."""
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        """The cloud's time, timezone-aware UTC."""
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> datetime:
        """Move the cloud's time forward by ``by``; returns the new time."""
        if by < timedelta(0):
            raise ValueError("the embedded clock only moves forward")
        with self._lock:
            self._offset += by
        return self.now()

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = timedelta(0)

    def _moto_utcnow(self) -> datetime:
        # moto compares and stores naive UTC datetimes.
        return self.now().replace(tzinfo=None)

    def install(self) -> None:
        """Make this the running cloud's clock, and moto's STS issue sessions by it."""
        global _running
        # moto.sts.models imports utcnow by name and stamps AssumedRole.expiration with it.
        original = getattr(moto.sts.models, "utcnow")  # noqa: B009  (not re-exported for mypy)
        setattr(moto.sts.models, "utcnow", self._moto_utcnow)  # noqa: B010

        def restore() -> None:
            setattr(moto.sts.models, "utcnow", original)  # noqa: B010

        self._restore_moto = restore
        _running = self

    def uninstall(self) -> None:
        """Undo ``install``; safe to call twice."""
        global _running
        if self._restore_moto is not None:
            self._restore_moto()
            self._restore_moto = None
        if _running is self:
            _running = None
        self.reset()


_running: EmbeddedClock | None = None


def now() -> datetime:
    """The running cloud's time (timezone-aware UTC), or real time when none runs."""
    clock = _running
    return clock.now() if clock is not None else datetime.now(UTC)
