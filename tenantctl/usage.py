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

Cost: a record carries the cost it was priced at (``cost_usd``, with
``price_table_version``); a record without one (written before the function
priced calls, or of a model the table lacked then) is priced now by
:class:`Pricing` and counted as estimated, so a figure says which it is.

Records are attributed to users by their ``user_id`` field, never by stream
name: with the ``stdout`` sink Lambda names the streams
(``YYYY/MM/DD/<function>[<version>]<guid>``) and they mix users and the
function's own log lines.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from enum import StrEnum
from typing import Any

from contracts.pricing import PriceOverrides, PriceTable, price_table
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


NO_DAY = "(no timestamp)"


def day_of(record: UsageRecord) -> str:
    """The record's UTC day, ``YYYY-MM-DD``."""
    if record.timestamp is None:
        return NO_DAY
    moment = record.timestamp
    if moment.tzinfo is None:  # a naive timestamp is taken as UTC, as the function writes it
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date().isoformat()


class GroupBy(StrEnum):
    """The dimension ``tenantctl usage --by`` groups records on."""

    APPLICATION = "application"
    USER = "user"
    MODEL = "model"
    DAY = "day"

    def key(self, record: UsageRecord) -> str:
        """The record's value for this dimension."""
        if self is GroupBy.APPLICATION:
            return record.application_id
        if self is GroupBy.USER:
            return record.user_id
        if self is GroupBy.DAY:
            return day_of(record)
        return record.model_id


# --- cost ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCost:
    """What one record cost and where the figure came from.

    ``usd`` None: nobody priced the model. ``estimated``: the record carried no
    cost and was priced now; ``version`` is the price table's version either way.
    """

    usd: float | None
    estimated: bool
    version: str | None


@dataclass(frozen=True)
class Pricing:
    """How records without a recorded cost are priced now.

    ``region`` is where Bedrock is called (the tenant's ``bedrock_region``),
    which is what prices depend on; ``overrides`` are the registry's
    negotiated prices, exactly as the function applies them.
    """

    region: str
    overrides: PriceOverrides = field(default_factory=dict)
    table: PriceTable = field(default_factory=price_table)

    def cost(self, record: UsageRecord) -> RecordCost:
        """The record's own ``cost_usd`` when present, else its tokens priced now."""
        if record.cost_usd is not None:
            return RecordCost(record.cost_usd, False, record.price_table_version)
        if _no_tokens(record):
            return RecordCost(0.0, False, None)
        price = self.table.price(record.model_id, self.region, self.overrides)
        if price is None:
            return RecordCost(None, False, None)
        usd = price.cost_usd(
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cache_read_input_tokens=record.cache_read_input_tokens,
            cache_write_input_tokens=record.cache_write_input_tokens,
        )
        return RecordCost(usd, True, self.table.version)


def _no_tokens(record: UsageRecord) -> bool:
    # A call that used no tokens (most errors) cost nothing, priced or not.
    return not (
        record.input_tokens
        or record.output_tokens
        or record.cache_read_input_tokens
        or record.cache_write_input_tokens
    )


def _recorded_cost(record: UsageRecord) -> RecordCost:
    # Without a Pricing, only the cost the function recorded counts.
    if record.cost_usd is None:
        return RecordCost(0.0, False, None) if _no_tokens(record) else RecordCost(None, False, None)
    return RecordCost(record.cost_usd, False, record.price_table_version)


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
    """Totals for one group of records (``key`` None: all records).

    ``cost_usd`` adds up every priced record; ``estimated_cost_records`` of them
    were priced now rather than at the time of the call, and
    ``unpriced_records`` (models missing from the price table) are not in it.
    """

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
    latency_p99_ms: float | None = None
    cost_usd: float = 0.0
    estimated_cost_records: int = 0
    unpriced_records: int = 0
    price_table_versions: tuple[str, ...] = ()

    @property
    def cost_estimated(self) -> bool:
        """Whether any part of ``cost_usd`` was priced now instead of recorded."""
        return self.estimated_cost_records > 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and CSV output."""
        data = asdict(self)
        data["price_table_versions"] = list(self.price_table_versions)
        return data


def _summary(
    key: str | None, records: Sequence[UsageRecord], pricing: Pricing | None
) -> UsageSummary:
    # Latency only of successful calls: a throttled call fails in a few ms and
    # would make a struggling model look fast.
    latencies = [r.latency_ms for r in records if not r.is_error and r.latency_ms is not None]
    costs = [pricing.cost(r) if pricing is not None else _recorded_cost(r) for r in records]
    priced = [c for c in costs if c.usd is not None]
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
        latency_p99_ms=percentile(latencies, 99),
        # Summed in micro-dollars' worth of precision, then rounded once.
        cost_usd=round(math.fsum(c.usd for c in priced if c.usd is not None), 10),
        estimated_cost_records=sum(1 for c in priced if c.estimated),
        unpriced_records=len(costs) - len(priced),
        price_table_versions=tuple(sorted({c.version for c in priced if c.version})),
    )


def summarize(
    records: Iterable[UsageRecord],
    by: GroupBy | None = None,
    pricing: Pricing | None = None,
) -> list[UsageSummary]:
    """Aggregate records: one summary per group sorted by key, or one for all when ``by`` is None.

    Invocations count successes and errors; token sums include both (an error
    usually carries zero tokens); p50/p90/p99 latency are over successful calls.
    A superseded provisional record is not counted (:func:`settle_provisional`).
    Cost is each record's recorded ``cost_usd``; with ``pricing``, records
    without one are priced now and counted as estimated.
    """
    records = settle_provisional(records)
    if by is None:
        return [_summary(None, records, pricing)]
    groups: dict[str, list[UsageRecord]] = {}
    for record in records:
        groups.setdefault(by.key(record), []).append(record)
    return [_summary(key, groups[key], pricing) for key in sorted(groups)]


@dataclass(frozen=True)
class DailyUsage:
    """Records summarized per UTC day and ``by`` key: what ``tenantctl usage --chart`` draws.

    ``groups`` and ``total`` are exactly what ``summarize`` gives the table for
    the same records; ``cells[(day, key)]`` splits them by day.
    """

    by: GroupBy
    days: tuple[str, ...]
    keys: tuple[str, ...]
    cells: Mapping[tuple[str, str], UsageSummary]
    groups: tuple[UsageSummary, ...]
    total: UsageSummary


def summarize_daily(
    records: Iterable[UsageRecord],
    by: GroupBy = GroupBy.APPLICATION,
    pricing: Pricing | None = None,
) -> DailyUsage:
    """The records per day and ``by`` key, plus the per-key and overall summaries."""
    if by is GroupBy.DAY:
        raise ValueError("summarize_daily splits by day already; group by another dimension")
    records = settle_provisional(records)
    by_day: dict[str, list[UsageRecord]] = {}
    for record in records:
        by_day.setdefault(day_of(record), []).append(record)
    cells = {
        (day, group.key or ""): group
        for day, day_records in by_day.items()
        for group in summarize(day_records, by, pricing)
    }
    groups = summarize(records, by, pricing)
    return DailyUsage(
        by=by,
        days=tuple(sorted(by_day)),
        keys=tuple(g.key or "" for g in groups),
        cells=cells,
        groups=tuple(groups),
        total=summarize(records, None, pricing)[0],
    )


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
