"""The spool: usage records CloudWatch Logs would not take yet, kept on local disk.

A long-running workload outlives a CloudWatch Logs outage, so a record that
cannot be delivered now is appended here (one JSON line) and replayed later: after
the next record that is delivered, and when the next process using the same spool
starts. Each ``invocation_id`` is replayed once: duplicates in the file are
dropped, and a replayed record leaves the file.

Several threads and processes may share one spool: every change is made under a
lock (``fcntl.flock`` on ``<spool>.lock`` and a thread lock), and the file is
rewritten whole, through a temporary file and ``os.replace``, so a crash mid-way
leaves the old file or the new one, never half of one.

When the disk is full (or the spool cannot be written for any reason), the record
is written to the process's standard error as one JSON line, with
``"delivery": "stderr"``, and ``append`` returns False: containers and batch jobs
ship standard error to their own logs, which still belong to the tenant; nothing
else is left to try.

A record whose PutLogEvents succeeded but whose answer never reached the process
(a timeout after the fact) can be spooled and replayed although it arrived: the
copy is the same line (same ``invocation_id`` and ``timestamp``), which the usage
readers count once (``tenantctl.usage_reader.drop_copies``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from contracts.usage_record import Record, encode

logger = logging.getLogger(__name__)

STDERR_DELIVERY = "stderr"


class Spool:
    """Records not delivered yet, one JSON line each, in ``path``."""

    def __init__(self, path: Path, *, stderr: IO[str] | None = None) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._stderr = stderr

    def append(self, record: Record) -> bool:
        """Keep ``record`` for later; False if the disk would not take it (it then went
        to standard error)."""
        try:
            with self._locked(), self.path.open("a", encoding="utf-8") as spool:
                spool.write(encode(record) + "\n")
                spool.flush()
                os.fsync(spool.fileno())
            return True
        except OSError as error:
            logger.error(
                "usage record could not be spooled (%s); written to standard error",
                error.strerror or type(error).__name__,
                extra={"invocation_id": record.get("invocation_id")},
            )
            self._to_stderr(record)
            return False

    def pending(self) -> list[Record]:
        """The records waiting, oldest first, each invocation once."""
        with self._locked():
            return self._read()[0]

    def replay(self, deliver: Callable[[Record], None]) -> int:
        """Deliver the waiting records in order, each ``invocation_id`` once; stop at the
        first that fails (it and the rest stay). Returns how many were delivered."""
        with self._locked():
            waiting, dropped = self._read()
            delivered = 0
            try:
                for record in waiting:
                    deliver(record)
                    delivered += 1
            except Exception as error:
                logger.warning("spooled usage records not replayed yet: %s", type(error).__name__)
            if delivered or dropped:
                self._rewrite(waiting[delivered:])
            return delivered

    # Internals --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def _read(self) -> tuple[list[Record], bool]:
        """The records waiting, each invocation once, and whether a line was dropped
        (a duplicate or a torn one): then the file is worth rewriting."""
        records: list[Record] = []
        seen: set[str] = set()
        lines = self._lines()
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                # A line torn by a crash mid-append: nothing in it can be delivered.
                logger.warning("a torn line in the usage spool was dropped")
                continue
            if not isinstance(record, dict):
                continue
            key = str(record.get("invocation_id") or "")
            if key and key in seen:
                continue
            seen.add(key)
            records.append(record)
        return records, len(records) != len(lines)

    def _rewrite(self, records: list[Record]) -> None:
        if not records:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as spool:
            spool.writelines(encode(record) + "\n" for record in records)
            spool.flush()
            os.fsync(spool.fileno())
        os.replace(temporary, self.path)

    def _to_stderr(self, record: Record) -> None:
        stream = self._stderr or sys.stderr
        try:
            stream.write(encode({**record, "delivery": STDERR_DELIVERY}) + "\n")
            stream.flush()
        except Exception:  # standard error failing leaves nothing else to try
            logger.critical("usage record lost: %s", record.get("invocation_id"))
