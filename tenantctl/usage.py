"""Usage records: reading them from a tenant's log group and aggregating them.

Two readers produce the same thing, the raw JSON of each usage record:

* :func:`filter_events` pages through FilterLogEvents. It works everywhere,
  including the embedded cloud (moto), and is what ``tenantctl logs`` uses.
* :func:`insights_messages` runs a CloudWatch Logs Insights query that returns
  the raw ``@message`` of every record. On real AWS it scans far faster than
  paging; moto's Insights engine ignores most of the query language, so the
  embedded cloud uses the first reader.

Both feed :func:`parse_record` and then the one aggregation,
:func:`summarize`, so a figure never depends on where the records came from.
Records the function printed to its own log group (``"delivery": "fallback"``)
join through :func:`merge_fallback`, and :func:`settle_provisional` makes a
provisional timeout record and the record that completed the same invocation
count once.
Aggregating here rather than with Insights ``stats`` also keeps the
percentiles exact (Insights' ``pct`` is approximate) and identical on both
backends.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

USAGE_EVENT = "bedrock.invocation"
FALLBACK_DELIVERY = "fallback"

# Insights returns at most this many rows per query; bigger windows are split.
INSIGHTS_MAX_ROWS = 10_000
INSIGHTS_QUERY = (
    f'fields @timestamp, @message | filter event = "{USAGE_EVENT}" '
    f"| sort @timestamp asc | limit {INSIGHTS_MAX_ROWS}"
)


def _none_as_zero(value: Any) -> Any:
    # An error record may carry null token counts; they cost nothing.
    return 0 if value is None else value


TokenCount = Annotated[int, BeforeValidator(_none_as_zero)]


def _none_as_false(value: Any) -> Any:
    return False if value is None else value


# A null flag means "not set": the record must still parse, not be skipped.
Flag = Annotated[bool, BeforeValidator(_none_as_false)]


class UsageRecord(BaseModel):
    """One Bedrock invocation as the usage logger wrote it (unknown keys are kept)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    event: str
    status: str
    tenant_id: str = ""
    application_id: str = ""
    user_id: str = ""
    model_id: str = ""
    input_tokens: TokenCount = 0
    output_tokens: TokenCount = 0
    total_tokens: TokenCount = 0
    cache_read_input_tokens: TokenCount = 0
    cache_write_input_tokens: TokenCount = 0
    latency_ms: float | None = None
    bedrock_latency_ms: float | None = None
    stop_reason: str | None = None
    request_id: str | None = None
    timestamp: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    # Content fields, only when the tenant's log_content allows: a string or a
    # list of conversation turns; never aggregated, so kept as written.
    prompt: Any = None
    response: Any = None
    delivery: str | None = None
    # The Lambda request id: every record of one invocation carries the same one
    # (records written before the field existed have none).
    invocation_id: str | None = None
    # Written shortly before the function's timeout, while the model call is
    # still running; if the call then completes, a second record with the same
    # invocation_id and ``supersedes`` (the provisional error_type) follows.
    provisional: Flag = False
    supersedes: str | None = None

    @property
    def is_error(self) -> bool:
        """Whether the invocation failed."""
        return self.status != "success"

    @property
    def is_fallback(self) -> bool:
        """Whether the record was printed to the function's own log group instead."""
        return self.delivery == FALLBACK_DELIVERY


# Mirrors invoker.usage_logger.stream_name_for in the Lambda package (a test
# checks they agree): the CLI cannot import Lambda code at runtime.
_STREAM_NAME_FORBIDDEN = re.compile(r"[:*\x00-\x1f\x7f]")
MAX_STREAM_NAME_CHARS = 512
UNKNOWN_STREAM = "unknown"


def stream_name_for(user_id: str) -> str:
    """The log stream the usage logger writes ``user_id``'s records to."""
    name = _STREAM_NAME_FORBIDDEN.sub("_", user_id)[:MAX_STREAM_NAME_CHARS]
    return name if name.strip() else UNKNOWN_STREAM


def parse_record(message: str) -> UsageRecord | None:
    """A usage record from one log event's message, or None for any other event.

    Log groups also hold other lines (Lambda's START/END/REPORT in the
    function's group, hand-written test events); those are skipped, not errors.
    """
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") != USAGE_EVENT:
        return None
    try:
        return UsageRecord.model_validate(data)
    except ValidationError:
        return None


def parse_records(messages: Iterable[str]) -> list[UsageRecord]:
    """Every usage record among ``messages``, in order."""
    return [r for r in map(parse_record, messages) if r is not None]


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


# --- aggregation ---------------------------------------------------------------------------


class GroupBy(StrEnum):
    """The dimension ``tenantctl usage --by`` groups records on."""

    APPLICATION = "application"
    USER = "user"
    MODEL = "model"

    def key(self, record: UsageRecord) -> str:
        """The record's value for this dimension."""
        if self is GroupBy.APPLICATION:
            return record.application_id
        if self is GroupBy.USER:
            return record.user_id
        return record.model_id


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks.

    The same definition as numpy's default and Excel's PERCENTILE.INC: with n
    sorted values the percentile sits at rank (n-1)*q/100. None for no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class UsageSummary:
    """Totals for one group of records (``key`` None: all records)."""

    key: str | None
    invocations: int
    errors: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    latency_p50_ms: float | None
    latency_p90_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and CSV output."""
        return asdict(self)


def _summary(key: str | None, records: Sequence[UsageRecord]) -> UsageSummary:
    # Latency only of successful calls: a throttled call fails in a few ms and
    # would make a struggling model look fast.
    latencies = [r.latency_ms for r in records if not r.is_error and r.latency_ms is not None]
    return UsageSummary(
        key=key,
        invocations=len(records),
        errors=sum(1 for r in records if r.is_error),
        input_tokens=sum(r.input_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        total_tokens=sum(r.total_tokens for r in records),
        cache_read_input_tokens=sum(r.cache_read_input_tokens for r in records),
        cache_write_input_tokens=sum(r.cache_write_input_tokens for r in records),
        latency_p50_ms=percentile(latencies, 50),
        latency_p90_ms=percentile(latencies, 90),
    )


def summarize(records: Iterable[UsageRecord], by: GroupBy | None = None) -> list[UsageSummary]:
    """Aggregate records: one summary per group sorted by key, or one for all when ``by`` is None.

    Invocations count successes and errors; token sums include both (an error
    usually carries zero tokens); p50/p90 latency are over successful calls.
    A superseded provisional record is not counted (:func:`settle_provisional`).
    """
    records = settle_provisional(records)
    if by is None:
        return [_summary(None, records)]
    groups: dict[str, list[UsageRecord]] = {}
    for record in records:
        groups.setdefault(by.key(record), []).append(record)
    return [_summary(key, groups[key]) for key in sorted(groups)]


# --- readers -------------------------------------------------------------------------------


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
