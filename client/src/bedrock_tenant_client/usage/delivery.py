"""The library's usage sink: one background thread puts records, the spool keeps the rest.

A model call made through the library hands its record to ``BackgroundDelivery``
and returns at once: the record is put with PutLogEvents (``UsageLogWriter``, on
the workload's own credentials) by one thread that every call of the process
shares, so no call waits for CloudWatch Logs. A record CloudWatch Logs will not
take goes to the ``Spool``; the spool is replayed when the thread starts, and
again after each record that is delivered.

``flush`` waits until every record handed over so far is delivered or spooled;
``close`` (also run at interpreter exit) flushes, then spools whatever is still
queued. A process killed outright (SIGKILL, a lost machine) loses the records
still queued in memory: at most the calls of its last moments.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Final

from bedrock_tenant_client.usage.spool import Spool
from bedrock_tenant_client.usage.writer import RemainingTime, UsageLogWriter
from contracts.usage_record import Delivery, Record

logger = logging.getLogger(__name__)

_REPLAY: Final = object()  # a queue item: replay the spool
_STOP: Final = object()  # a queue item: the thread ends


class BackgroundDelivery:
    """A ``RecordSink`` for workloads: queue, one delivery thread, a spool file."""

    def __init__(self, writer: UsageLogWriter, spool: Spool) -> None:
        """``writer`` must have been built with ``undelivered=spool.append``."""
        self._writer = writer
        self._spool = spool
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        # The spool of an earlier run is replayed as soon as this process starts.
        self._queue.put(_REPLAY)
        self._start()
        _open_deliveries.add(self)

    @property
    def spool(self) -> Spool:
        """Where undelivered records wait."""
        return self._spool

    def write(
        self,
        record: Record,
        *,
        urgent: bool = False,
        remaining_ms: RemainingTime | None = None,
    ) -> Delivery:
        """Hand ``record`` to the delivery thread; it is put, or spooled, soon after.

        On the delivery thread itself (a record built there by a submitted task), it
        is put at once, also while ``close`` drains the queue. After ``close``, a
        record from any other thread is spooled at once.
        """
        if threading.current_thread() is self._thread:
            return self._deliver(record)
        if self._closed:
            return self.fallback(record)
        self._queue.put(record)
        return "cloudwatch"

    def submit(self, task: Callable[[], object]) -> None:
        """Run ``task`` on the delivery thread: building a record (its price, its
        metrics) need not hold up the caller either. After ``close``, it runs here."""
        if self._closed:
            task()
            return
        self._queue.put(task)

    def fallback(self, record: Record) -> Delivery:
        """Spool ``record`` without trying CloudWatch Logs."""
        self._spool.append(record)
        return "fallback"

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record handed over so far is delivered or spooled; False if
        ``timeout`` (seconds) passed first."""
        # Queue.join's own condition, waited on with a timeout join does not take.
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout`` seconds), then spool the rest."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        # Whatever the thread did not reach: kept for the next start.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            try:
                if isinstance(item, dict):
                    self._spool.append(item)
                elif callable(item):
                    item()  # builds a record, which write() now spools
            finally:
                self._queue.task_done()
        _open_deliveries.discard(self)

    # Internals --------------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="usage-delivery")
        self._thread.start()

    def _deliver(self, record: Record) -> Delivery:
        delivery = self._writer.write(record)
        if delivery == "cloudwatch" and self._spool.path.exists():
            # CloudWatch Logs takes records again: bring back the spooled ones.
            self._spool.replay(self._writer.deliver)
        return delivery

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if item is _REPLAY:
                    self._spool.replay(self._writer.deliver)
                elif callable(item):
                    item()
                elif isinstance(item, dict):
                    self._deliver(item)
            except Exception:  # the thread must live on: it serves every later call
                logger.exception("usage delivery failed")
            finally:
                self._queue.task_done()


# Every delivery still open is closed at interpreter exit, so queued records are
# delivered or spooled rather than dropped with the daemon thread.
_open_deliveries: weakref.WeakSet[BackgroundDelivery] = weakref.WeakSet()


@atexit.register
def _close_open_deliveries() -> None:
    for delivery in list(_open_deliveries):
        delivery.close()
