"""Reading a tenant's usage records: which log groups, which API, and which records count.

:class:`UsageReader` is the one place that decides what ``tenantctl usage`` and
``tenantctl cost --estimate`` count, so the two cannot disagree:

* **Where.** The usage log group, plus the function's own log group
  (``/aws/lambda/<function>``, :func:`contracts.naming.function_log_group_name`)
  for the records the function printed there with ``"delivery": "fallback"``
  when it could not put them into the usage log group. The function's own group
  is always read, whatever the function's logging configuration says now: a
  tenant switched from the ``api`` sink to ``stdout`` keeps the fallback
  records it printed before the switch.
* **How.** A Logs Insights query (:func:`insights_messages`) returns the raw
  records and scans far faster than paging through FilterLogEvents
  (:func:`filter_events`, which ``tenantctl logs`` uses to follow a stream).
  The embedded cloud runs the same query (its own Insights engine), so there
  is one reading path.
* **What counts** (:func:`records_to_count`). A fallback record that also
  reached the usage log group counts once (:func:`merge_fallback`); a line
  delivered twice counts once (the ``stdout`` sink is delivered at least once;
  :func:`drop_copies`); a provisional timeout record is dropped when another
  record of its invocation is present (:func:`settle_provisional`).

Records are attributed to users by their ``user_id`` field, never by stream
name: with the ``stdout`` sink Lambda names the streams
(``YYYY/MM/DD/<function>[<version>]<guid>``) and they mix users and the
function's own log lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from contracts.naming import function_log_group_name
from contracts.registry import Tenant
from contracts.usage_record import USAGE_EVENT, UsageRecord, parse_record

# Insights returns at most this many rows per query; bigger windows are split.
INSIGHTS_MAX_ROWS = 10_000
INSIGHTS_QUERY = (
    f'fields @timestamp, @message | filter event = "{USAGE_EVENT}" '
    f"| sort @timestamp asc | limit {INSIGHTS_MAX_ROWS}"
)


def parse_records(messages: Iterable[str]) -> list[UsageRecord]:
    """Every usage record among ``messages``, in order."""
    return [r for r in map(parse_record, messages) if r is not None]


# --- which records count -------------------------------------------------------------------


def _identity(record: UsageRecord) -> tuple[Any, ...] | None:
    """What makes a fallback record the same record as one in the usage log group.

    A fallback record is the very record the logger failed to put, plus
    ``delivery``. Bedrock's request id names one model call; without one (most
    errors), the invocation id, whether the record is provisional and the
    record's own timestamp do. A record with neither id cannot be matched.
    """
    if record.request_id:
        return ("request", record.request_id, record.provisional)
    if record.invocation_id:
        return ("invocation", record.invocation_id, record.provisional, record.timestamp)
    return None


def merge_fallback(
    primary: Sequence[UsageRecord], fallback: Iterable[UsageRecord]
) -> list[UsageRecord]:
    """Primary records plus fallback records that did not also reach the usage log group.

    The logger prints a fallback record when PutLogEvents fails, but a failed
    call may still have been stored (a timeout after the write), so a record
    seen in the usage log group wins (see :func:`_identity`). Lines of
    ``fallback`` that are not fallback records (the function's other logs)
    are ignored.
    """
    seen = {key for key in map(_identity, primary) if key is not None}
    merged = list(primary)
    for record in fallback:
        if not record.is_fallback:
            continue
        key = _identity(record)
        if key is None or key not in seen:
            merged.append(record)
            if key is not None:
                seen.add(key)
    return merged


def _copy_key(record: UsageRecord) -> tuple[Any, ...] | None:
    # One line of the function: its invocation, its model call (request id;
    # an async retry of the invocation makes another call under the same
    # invocation id), provisional or not, and when it was written.
    if not record.invocation_id:
        return None
    return (record.invocation_id, record.request_id, record.provisional, record.timestamp)


def drop_copies(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """The records without second copies of one line; the first copy is kept.

    With the ``stdout`` sink Lambda delivers each printed line at least once,
    so the same record (same ``invocation_id``, request id and timestamp) can
    be stored twice; a fallback copy is the same line too. Records without an
    ``invocation_id`` (written before the field existed) cannot be told apart
    from two real calls and are all kept. Order is preserved.
    """
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for record in records:
        key = _copy_key(record)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(record)
    return kept


def settle_provisional(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """The records to count: one per invocation where a provisional record was superseded.

    A provisional record (a timeout about to happen) is dropped when another
    record of the same ``invocation_id`` is present: the record that completed
    the invocation if there is one, else the last provisional copy. The
    completing record is written after the provisional one, but readers do not
    return records in writing order (Insights, fallback records appended after
    the usage log group's), so presence decides, not position. Non-provisional
    records are all kept, as are records without an ``invocation_id`` (written
    before the field existed). Order is preserved.
    """
    records = list(records)
    last: dict[str, int] = {}
    completed: set[str] = set()
    for i, record in enumerate(records):
        if record.invocation_id:
            last[record.invocation_id] = i
            if not record.provisional:
                completed.add(record.invocation_id)
    return [
        record
        for i, record in enumerate(records)
        if not (
            record.provisional
            and record.invocation_id
            and (record.invocation_id in completed or last[record.invocation_id] != i)
        )
    ]


def records_to_count(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """Each line once, and each superseded provisional record dropped (idempotent)."""
    return settle_provisional(drop_copies(records))


# --- reading a user's records --------------------------------------------------------------

# Ids made only of these need no quoting rules: CloudWatch's JSON filter
# patterns treat ``*`` as a wildcard and document no escape for ``"`` or ``\``.
_PATTERN_SAFE_ID = re.compile(r"[A-Za-z0-9._@+=,/-]+")


def user_filter_pattern(user_id: str) -> str | None:
    """A FilterLogEvents pattern selecting ``user_id``'s records, or None to read everything.

    The pattern matches the record's ``user_id`` field, so it works whatever the
    streams are called (one per user with the ``api`` sink, Lambda's own with
    ``stdout``). It only narrows what is sent back: callers still compare
    ``user_id`` exactly, so an id the pattern cannot express safely (None)
    just reads the whole window.
    """
    if not _PATTERN_SAFE_ID.fullmatch(user_id):
        return None
    return f'{{ $.user_id = "{user_id}" }}'


# --- the two APIs --------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEvent:
    """One CloudWatch Logs event."""

    event_id: str
    timestamp_ms: int
    stream: str
    message: str


def filter_events(
    client: Any,
    log_group: str,
    *,
    start_ms: int,
    end_ms: int | None = None,
    stream_names: Sequence[str] | None = None,
    filter_pattern: str | None = None,
) -> Iterator[LogEvent]:
    """Every event of ``log_group`` in [start_ms, end_ms] via paginated FilterLogEvents."""
    kwargs: dict[str, Any] = {"logGroupName": log_group, "startTime": start_ms}
    if end_ms is not None:
        kwargs["endTime"] = end_ms
    if stream_names:
        kwargs["logStreamNames"] = list(stream_names)
    if filter_pattern:
        kwargs["filterPattern"] = filter_pattern
    for page in client.get_paginator("filter_log_events").paginate(**kwargs):
        for event in page.get("events", []):
            yield LogEvent(
                event_id=event.get("eventId", ""),
                timestamp_ms=int(event.get("timestamp", 0)),
                stream=event.get("logStreamName", ""),
                message=event.get("message", ""),
            )


class InsightsQueryError(Exception):
    """A Logs Insights query that failed, was cancelled or timed out."""


def insights_messages(
    client: Any,
    log_groups: Sequence[str],
    *,
    start_s: int,
    end_s: int,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """The raw message of every usage record in [start_s, end_s] via Logs Insights.

    A window that hits Insights' row limit is split in two and queried again,
    so no record is silently dropped; rows are de-duplicated on ``@ptr``
    because the halves share their boundary second.
    """
    rows: dict[str, str] = {}
    pending = [(start_s, end_s)]
    while pending:
        lo, hi = pending.pop()
        result = _run_query(client, log_groups, lo, hi, poll_seconds, timeout_seconds, sleep)
        if len(result) >= INSIGHTS_MAX_ROWS:
            if hi <= lo:
                raise InsightsQueryError(
                    f"more than {INSIGHTS_MAX_ROWS} usage records within one second"
                )
            mid = (lo + hi) // 2
            pending += [(lo, mid), (mid, hi)] if mid > lo else [(lo, lo), (hi, hi)]
            continue
        for ptr, message in result:
            rows[ptr] = message
    return list(rows.values())


def _run_query(
    client: Any,
    log_groups: Sequence[str],
    start_s: int,
    end_s: int,
    poll_seconds: float,
    timeout_seconds: float,
    sleep: Callable[[float], None],
) -> list[tuple[str, str]]:
    query_id = client.start_query(
        logGroupNames=list(log_groups),
        startTime=start_s,
        endTime=end_s,
        queryString=INSIGHTS_QUERY,
        limit=INSIGHTS_MAX_ROWS,
    )["queryId"]
    waited = 0.0
    while True:
        response = client.get_query_results(queryId=query_id)
        status = response.get("status")
        if status == "Complete":
            break
        if status in {"Failed", "Cancelled", "Timeout", "Unknown"}:
            raise InsightsQueryError(f"Logs Insights query {query_id} ended with status {status}")
        if waited >= timeout_seconds:
            client.stop_query(queryId=query_id)
            raise InsightsQueryError(f"Logs Insights query {query_id} did not finish in time")
        sleep(poll_seconds)
        waited += poll_seconds
    out: list[tuple[str, str]] = []
    for i, row in enumerate(response.get("results", [])):
        fields = {f.get("field"): f.get("value", "") for f in row}
        if "@message" in fields:
            out.append((fields.get("@ptr") or f"{query_id}/{i}", fields["@message"]))
    return out


# --- the service ---------------------------------------------------------------------------


class LogGroupMissing(Exception):
    """A log group the reader needs does not exist."""

    def __init__(self, log_group: str) -> None:
        super().__init__(f"log group {log_group} does not exist")
        self.log_group = log_group


class FallbackUnreadable(Exception):
    """The function's own log group exists but could not be read.

    Counting without its records would undercount exactly when CloudWatch Logs
    had trouble, so the reader refuses instead of returning smaller totals.
    ``cause`` is the ClientError or InsightsQueryError.
    """

    def __init__(self, log_group: str, cause: Exception) -> None:
        super().__init__(f"cannot read fallback records from {log_group}: {cause}")
        self.log_group = log_group
        self.cause = cause


@dataclass(frozen=True)
class UsageReading:
    """What one read found: the records to count and where the fallback ones came from.

    ``fallback_group`` is the log group read for fallback records and
    ``fallback_records`` how many of ``records`` came from it; both None when
    fallback records were not asked for.
    """

    records: list[UsageRecord]
    fallback_group: str | None
    fallback_records: int | None


@dataclass(frozen=True)
class UsageReader:
    """Reads one tenant account's usage records with a CloudWatch Logs client there."""

    logs: Any
    sleep: Callable[[float], None] = time.sleep

    def read(
        self, tenant: Tenant, start: datetime, end: datetime, *, include_fallback: bool = True
    ) -> UsageReading:
        """The tenant's records in [start, end] to count, fallback records included or not.

        Raises LogGroupMissing when the usage log group does not exist,
        FallbackUnreadable when the function's own group exists but cannot be
        read, InsightsQueryError when the usage log group's query fails, and
        ClientError for anything else.
        """
        records = self.records(tenant.usage_log_group, start, end)
        if not include_fallback:
            return UsageReading(records_to_count(records), None, None)
        group = function_log_group_name(tenant.function_name)
        counted = records_to_count(merge_fallback(records, self._fallback(group, start, end)))
        return UsageReading(counted, group, sum(1 for r in counted if r.is_fallback))

    def records(self, log_group: str, start: datetime, end: datetime) -> list[UsageRecord]:
        """Every usage record stored in ``log_group`` in [start, end], as stored."""
        try:
            return parse_records(
                insights_messages(
                    self.logs,
                    [log_group],
                    start_s=int(start.timestamp()),
                    end_s=int(end.timestamp()) + 1,
                    sleep=self.sleep,
                )
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise LogGroupMissing(log_group) from None
            raise

    def events(self, log_group: str, *, start_ms: int, user: str | None = None) -> list[LogEvent]:
        """The events of ``log_group`` from ``start_ms`` on, oldest first; ``user``'s only.

        A user is selected by the record's ``user_id`` field, not by stream:
        the filter pattern narrows what FilterLogEvents returns, and callers
        still compare ``user_id`` exactly (:func:`user_filter_pattern`).
        """
        pattern = user_filter_pattern(user) if user is not None else None
        try:
            events = list(
                filter_events(self.logs, log_group, start_ms=start_ms, filter_pattern=pattern)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise LogGroupMissing(log_group) from None
            raise
        return sorted(events, key=lambda e: (e.timestamp_ms, e.event_id))

    def _fallback(self, group: str, start: datetime, end: datetime) -> list[UsageRecord]:
        try:
            return self.records(group, start, end)
        except LogGroupMissing:
            return []  # the function never logged anything: nothing fell back
        except (ClientError, InsightsQueryError) as exc:
            raise FallbackUnreadable(group, exc) from None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
