"""Delivers usage records to the tenant's usage log group: two sinks, one protocol.

The tenant's registry entry chooses the sink (``usage_sink``):

- ``api``: ``UsageLogWriter`` puts each record with PutLogEvents, one stream per
  (sanitized) user id, before the answer returns. Its logs clients must be built
  from the Lambda's own credentials: a client on the assumed operations-account
  credentials would write the tenant's records into the operations account. A
  record CloudWatch Logs will not take is printed to stdout (the function's own
  log group, still the tenant's account) with ``"delivery": "fallback"``.
- ``stdout``: ``StdoutUsageSink`` prints each record as one JSON line. The
  function's ``LoggingConfig.LogGroup`` is then the usage log group, so Lambda's
  own log delivery puts it there; no network call sits on the answer's path.

Both deliver the record the recorder built, unchanged but for what the sink
itself needs (``delivery`` on an api fallback, ``level`` on a printed line).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from bedrock_tenant_client.usage.truncation import fit_record, fitted_line
from contracts.usage_record import (
    DEFAULT_MAX_RECORD_BYTES,
    FALLBACK_DELIVERY,
    Delivery,
    Record,
    encode,
    stream_name_for,
)

# Plain logging: handler.py hands these loggers the Powertools JSON formatter.
logger = logging.getLogger(__name__)

# An urgent write (the timeout watchdog's) makes at most this many Logs API calls:
# CreateLogStream for a stream this container has not used yet, then PutLogEvents.
URGENT_WRITE_MAX_CALLS = 2
# Time kept back, when a write is bounded by the function's remaining time, for
# what follows the write: printing a fallback and returning the answer.
DEFAULT_RESERVE_MS = 1000

RemainingTime = Callable[[], int]


class _OutOfTime(Exception):
    """Not enough time left for another Logs API call on any client."""


class LogsClient(Protocol):
    """The two CloudWatch Logs calls the writer makes (a boto3 ``logs`` client)."""

    def create_log_stream(self, *, logGroupName: str, logStreamName: str) -> Any:
        """Create a stream in a log group."""

    def put_log_events(
        self, *, logGroupName: str, logStreamName: str, logEvents: Sequence[Mapping[str, Any]]
    ) -> Any:
        """Append events to a stream."""


class RecordSink(Protocol):
    """What the recorder needs from a sink: ``UsageLogWriter`` or ``StdoutUsageSink``."""

    def write(
        self,
        record: Record,
        *,
        urgent: bool = False,
        remaining_ms: RemainingTime | None = None,
    ) -> Delivery:
        """Deliver one record; never raises (the answer matters more than the record)."""

    def fallback(self, record: Record) -> Delivery:
        """Deliver ``record`` at once, without any API call: the deadline is near."""


class UsageLogWriter:
    """The ``api`` sink: PutLogEvents to one log group, one stream per (sanitized) user id.

    Streams are created on first use and remembered for the life of the container;
    another container creating the same stream first is fine.
    """

    def __init__(
        self,
        *,
        logs_client: LogsClient,
        log_group: str,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        print_line: Callable[[str], None] | None = None,
        urgent_logs_client: LogsClient | None = None,
        call_worst_case_ms: int = 0,
        urgent_call_worst_case_ms: int = 0,
        reserve_ms: int = DEFAULT_RESERVE_MS,
        undelivered: Callable[[Record], object] | None = None,
    ) -> None:
        """``urgent_logs_client`` serves ``write(..., urgent=True)``: a client with short
        timeouts and no retries, so a write racing the function timeout ends in time.
        Both clients must be on the Lambda's own credentials.

        ``call_worst_case_ms`` and ``urgent_call_worst_case_ms`` are the longest one
        API call can take on each client (attempts x timeouts); a write bounded by
        the remaining time uses a client only while that much time, plus
        ``reserve_ms``, is left.

        ``undelivered`` takes a record CloudWatch Logs would not take, in place of
        printing it (the client library's spool file)."""
        self._client = logs_client
        self._undelivered = undelivered
        self._urgent_client = urgent_logs_client or logs_client
        self._call_worst_case_ms = call_worst_case_ms
        self._urgent_call_worst_case_ms = urgent_call_worst_case_ms
        self._reserve_ms = reserve_ms
        self._log_group = log_group
        self._max_record_bytes = max_record_bytes
        self._print_line = print_line or _print_line
        self._known_streams: set[str] = set()

    def write(
        self,
        record: Record,
        *,
        urgent: bool = False,
        remaining_ms: RemainingTime | None = None,
    ) -> Delivery:
        """Write one record; print it to stdout if CloudWatch Logs will not take it.

        ``urgent`` takes the fast path: the urgent client, at most
        ``URGENT_WRITE_MAX_CALLS`` calls and no recreate-and-retry, then stdout.
        With ``remaining_ms`` (the function's remaining time), every API call is
        made on a client that ends in time: the normal one while its worst case
        fits, then the urgent one, then none (stdout), so a slow CloudWatch Logs
        can never hold the answer past the function's timeout.
        """
        try:
            record, line = fitted_line(record, self._max_record_bytes)
            stream = stream_name_for(str(record.get("user_id") or ""))
            if urgent:
                self._put_urgent(stream, line)
            else:
                self._put(stream, line, remaining_ms)
            return "cloudwatch"
        except Exception as error:  # the caller's answer matters more than this record
            logger.warning(
                "usage record not delivered to CloudWatch Logs; printed instead",
                extra={"error_type": _error_code(error)},
            )
            self._fallback(record)
            return "fallback"

    def deliver(self, record: Record) -> None:
        """Put one record, raising whatever CloudWatch Logs raised (no fallback): for a
        record taken back from where an earlier ``write`` put it aside."""
        record, line = fitted_line(record, self._max_record_bytes)
        self._put(stream_name_for(str(record.get("user_id") or "")), line, None)

    def fallback(self, record: Record) -> Delivery:
        """Print ``record`` to stdout at once, without any API call (the fallback sink)."""
        self._fallback(fit_record(record, self._max_record_bytes))
        return "fallback"

    def _client_for_next_call(self, remaining_ms: RemainingTime | None) -> LogsClient:
        """The client whose worst case still fits in the time left (or _OutOfTime)."""
        if remaining_ms is None:
            return self._client
        spare = remaining_ms() - self._reserve_ms
        if spare >= self._call_worst_case_ms:
            return self._client
        if spare >= self._urgent_call_worst_case_ms:
            return self._urgent_client
        raise _OutOfTime(f"{spare} ms left for the usage record")

    def _put(self, stream: str, line: str, remaining_ms: RemainingTime | None) -> None:
        event = _log_event(line)
        self._ensure_stream(self._client_for_next_call(remaining_ms), stream)
        try:
            response = self._client_for_next_call(remaining_ms).put_log_events(
                logGroupName=self._log_group, logStreamName=stream, logEvents=[event]
            )
        except ClientError as error:
            if _error_code(error) != "ResourceNotFoundException":
                raise
            # The stream was deleted behind this container's back: recreate it once.
            self._known_streams.discard(stream)
            self._ensure_stream(self._client_for_next_call(remaining_ms), stream)
            response = self._client_for_next_call(remaining_ms).put_log_events(
                logGroupName=self._log_group, logStreamName=stream, logEvents=[event]
            )
        _check_accepted(response)

    def _put_urgent(self, stream: str, line: str) -> None:
        # At most URGENT_WRITE_MAX_CALLS calls: the time budget is counted in calls.
        event = _log_event(line)
        self._ensure_stream(self._urgent_client, stream)
        response = self._urgent_client.put_log_events(
            logGroupName=self._log_group, logStreamName=stream, logEvents=[event]
        )
        _check_accepted(response)

    def _ensure_stream(self, client: LogsClient, stream: str) -> None:
        if stream in self._known_streams:
            return
        try:
            client.create_log_stream(logGroupName=self._log_group, logStreamName=stream)
        except ClientError as error:
            if _error_code(error) != "ResourceAlreadyExistsException":
                raise
        self._known_streams.add(stream)

    def _fallback(self, record: Record) -> None:
        if self._undelivered is not None:
            self._undelivered(record)
            return
        try:
            self._print_line(encode({**record, "delivery": FALLBACK_DELIVERY}))
        except Exception:  # stdout itself failing leaves nothing else to try
            logger.error("usage record could not be printed either")


def _log_event(line: str) -> dict[str, Any]:
    return {"timestamp": int(time.time() * 1000), "message": line}


def _check_accepted(response: Any) -> None:
    rejected = (response or {}).get("rejectedLogEventsInfo")
    if rejected:
        raise RuntimeError(f"PutLogEvents rejected the event: {sorted(rejected)}")


def _print_line(line: str) -> None:
    # print, not logging: under Lambda's JSON log format a printed JSON line stays a
    # top-level object, while a logging record would be wrapped in "message".
    print(line, flush=True)


def _error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


# Lambda's JSON log format filters application logs by their "level" field, and
# an object without a valid one counts as INFO; the record says so explicitly, so
# the function's ApplicationLogLevel (INFO, set by the stack) never drops it.
STDOUT_RECORD_LEVEL = "INFO"
# How many recently printed records the stdout sink remembers, to print each once.
_RECENTLY_PRINTED = 64


class StdoutUsageSink:
    """The ``stdout`` sink: each record printed as one JSON line for Lambda to deliver.

    The function's logging configuration routes its output to the usage log
    group, so a printed record lands there without a call on the answer's path.
    Lambda names the streams (one per execution environment, not per user) and
    delivers at least once.

    ``fallback`` is the same print: there is no second channel, and a record
    printed twice would be counted twice (both copies land in the usage log
    group). So a record this sink already printed is not printed again, and
    neither call marks it ``"delivery": "fallback"``: the record takes the path
    every record of this sink takes, and ``"cloudwatch"`` (the usage log group)
    is what both return. A failing stdout is logged; nothing else is left to try.
    """

    def __init__(
        self,
        *,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        print_line: Callable[[str], None] | None = None,
    ) -> None:
        self._max_record_bytes = max_record_bytes
        self._print_line = print_line or _print_line
        # Held while printing: the watchdog's fallback of a record being written
        # waits for that print and then finds the record printed.
        self._lock = threading.Lock()
        self._printed: collections.deque[tuple[Any, ...]] = collections.deque(
            maxlen=_RECENTLY_PRINTED
        )

    def write(
        self,
        record: Record,
        *,
        urgent: bool = False,
        remaining_ms: RemainingTime | None = None,
    ) -> Delivery:
        """Print ``record`` (once); ``urgent`` and ``remaining_ms`` change nothing here:
        a print is over in microseconds."""
        self._print_once(record)
        return "cloudwatch"

    def fallback(self, record: Record) -> Delivery:
        """The same as ``write``: print ``record`` unless this sink already has."""
        self._print_once(record)
        return "cloudwatch"

    def _print_once(self, record: Record) -> None:
        key = _printed_key(record)
        with self._lock:
            if key is not None and key in self._printed:
                return
            try:
                _, line = fitted_line(
                    {**record, "level": STDOUT_RECORD_LEVEL}, self._max_record_bytes
                )
                self._print_line(line)
            except Exception as error:  # stdout failing leaves nothing else to try
                logger.error(
                    "usage record could not be printed", extra={"error_type": _error_code(error)}
                )
                return
            if key is not None:
                self._printed.append(key)


def _printed_key(record: Record) -> tuple[Any, ...] | None:
    # The identity readers match copies of a record on: one invocation's
    # provisional and final records differ in "provisional" and "timestamp".
    invocation_id = record.get("invocation_id")
    if not invocation_id:
        return None
    return (invocation_id, bool(record.get("provisional")), record.get("timestamp"))
