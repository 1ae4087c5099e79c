"""The timeout watchdog: an armed action runs once at its deadline, a disarmed one never."""

from __future__ import annotations

import threading
import time

from invoker.timeout_watchdog import TimeoutWatchdog

# Generous bounds: the machine may be busy; what matters is before vs after.
PROMPTLY_S = 5.0


def test_an_armed_action_runs_once_at_its_deadline_not_before() -> None:
    watchdog = TimeoutWatchdog()
    ran: list[float] = []
    done = threading.Event()
    armed_at = time.monotonic()
    watchdog.arm(0.2, lambda: (ran.append(time.monotonic()), done.set()))
    assert done.wait(PROMPTLY_S)
    assert ran[0] - armed_at >= 0.2
    time.sleep(0.1)
    assert len(ran) == 1


def test_a_disarmed_action_never_runs() -> None:
    watchdog = TimeoutWatchdog()
    ran = threading.Event()
    watchdog.disarm(watchdog.arm(0.05, ran.set))
    # A later alarm runs, so the thread has looked past the disarmed one's deadline.
    later = threading.Event()
    watchdog.arm(0.15, later.set)
    assert later.wait(PROMPTLY_S)
    assert not ran.is_set()


def test_an_earlier_deadline_wakes_the_thread_sleeping_on_a_later_one() -> None:
    watchdog = TimeoutWatchdog()
    watchdog.arm(3600, lambda: None)
    time.sleep(0.05)  # the thread now sleeps until the hour is up
    soon = threading.Event()
    watchdog.arm(0.05, soon.set)
    assert soon.wait(PROMPTLY_S)


def test_a_failing_action_leaves_the_watchdog_working() -> None:
    watchdog = TimeoutWatchdog()

    def fail() -> None:
        raise RuntimeError("the record could not be written")

    watchdog.arm(0, fail)
    after = threading.Event()
    watchdog.arm(0.05, after.set)
    assert after.wait(PROMPTLY_S)


def test_one_thread_serves_every_alarm() -> None:
    watchdog = TimeoutWatchdog()
    before = {t.ident for t in threading.enumerate()}
    for _ in range(50):
        watchdog.disarm(watchdog.arm(60, lambda: None))
    started = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in started] == ["timeout-watchdog"]
