"""The timeout watchdog: one thread per environment that acts at a call's deadline.

Lambda gives no chance to log after its timeout, so each invocation arms an
alarm that writes a provisional timeout record shortly before it, and disarms
it when the call ends. A ``threading.Timer`` per call would start (and end) a
thread on every invocation; here one daemon thread lives as long as the
environment and arming or disarming an alarm only takes a lock, with no thread
woken on the warm path.

The thread starts with the first alarm, not at import: a SnapStart snapshot
then holds no thread, and each restored environment starts its own.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)


class Alarm:
    """One armed action and the monotonic time it is due at."""

    __slots__ = ("action", "deadline")

    def __init__(self, deadline: float, action: Callable[[], None]) -> None:
        self.deadline = deadline
        self.action = action


class TimeoutWatchdog:
    """Runs each armed action once at its deadline, unless it is disarmed first.

    Actions run one after another on the watchdog's thread: an alarm due while
    another's action still runs (the provisional record's urgent write, a few
    seconds at most) runs right after it. Disarming an alarm whose action has
    started does not stop it, as with ``threading.Timer.cancel``.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: set[Alarm] = set()
        # When the thread next wakes by itself: -inf while it runs actions (it
        # looks at the alarms again afterwards), inf while it has none.
        self._wakes_at = math.inf
        self._thread: threading.Thread | None = None

    def arm(self, delay_s: float, action: Callable[[], None]) -> Alarm:
        """Run ``action`` on the watchdog's thread in ``delay_s`` seconds."""
        alarm = Alarm(time.monotonic() + max(0.0, delay_s), action)
        with self._condition:
            self._pending.add(alarm)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="timeout-watchdog", daemon=True
                )
                self._thread.start()
            elif alarm.deadline < self._wakes_at:
                # Usually the thread sleeps until an earlier call's deadline, later
                # than this one's only if this call has less time: then wake it.
                self._condition.notify()
        return alarm

    def disarm(self, alarm: Alarm) -> None:
        """Forget ``alarm``; its action never runs unless it already started."""
        with self._condition:
            # No wake-up: the thread finds nothing due at its next deadline and sleeps on.
            self._pending.discard(alarm)

    def _watch(self) -> None:
        while True:
            with self._condition:
                due = self._due_alarms()
                self._wakes_at = -math.inf
            for alarm in due:
                try:
                    alarm.action()
                except Exception:  # the thread must outlive any one action
                    logger.exception("the timeout watchdog's action failed")

    def _due_alarms(self) -> list[Alarm]:
        """Wait (holding the condition) until some alarms are due; take them."""
        while True:
            now = time.monotonic()
            due = sorted((a for a in self._pending if a.deadline <= now), key=lambda a: a.deadline)
            if due:
                self._pending.difference_update(due)
                return due
            self._wakes_at = min((a.deadline for a in self._pending), default=math.inf)
            self._condition.wait(None if self._wakes_at == math.inf else self._wakes_at - now)
