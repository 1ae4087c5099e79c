"""Aggregating usage records: invocations, errors, tokens, latency and cost per group.

:func:`summarize` is the one aggregation behind the ``tenantctl usage`` table,
CSV and JSON, :func:`summarize_daily` (the same summaries split by day) behind
its ``--chart``, and ``tenantctl cost --estimate``, so a figure never depends on
where the records came from. Which records count (fallback records, copies of
one line, superseded provisional records) is decided by
:mod:`tenantctl.usage_reader`; :func:`summarize` applies the same rule again, so
records read any other way are counted the same. Aggregating here rather than
with Insights ``stats`` also keeps the percentiles exact (Insights' ``pct`` is
approximate) and identical on both backends.

Cost: a record carries the cost it was priced at (``cost_usd``, with
``price_table_version``), and that figure wins; a record without one (written
before the function priced calls, or of a model the table lacked then) is
quoted now by :class:`contracts.pricing.Pricing`, the function's own pricing,
and counted as estimated, so a figure says which it is. Each figure also
lists the ``price_source`` values behind it: a region's list price, a
registry override, or the US list price applied as an estimate where the
table has no price for the region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC
from enum import StrEnum
from typing import Any

from contracts.pricing import Pricing
from contracts.usage_metrics import THROTTLING_ERROR_TYPES
from contracts.usage_record import UsageRecord
from tenantctl.usage_reader import records_to_count

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
    cost and was priced now; ``version`` is the price table's version either way,
    ``source`` the price's (``contracts.pricing.Quote.source``).
    """

    usd: float | None
    estimated: bool
    version: str | None
    source: str | None = None


def _no_tokens(record: UsageRecord) -> bool:
    # A call that used no tokens (most errors) cost nothing, priced or not.
    return not (
        record.input_tokens
        or record.output_tokens
        or record.cache_read_input_tokens
        or record.cache_write_input_tokens
    )


def record_cost(record: UsageRecord, pricing: Pricing | None = None) -> RecordCost:
    """The record's own ``cost_usd`` when present, else its tokens quoted now by ``pricing``.

    ``pricing`` is the tenant's (its Bedrock region and registry overrides,
    as the function applies them); without one, only recorded costs count.
    """
    if record.cost_usd is not None:
        return RecordCost(record.cost_usd, False, record.price_table_version, record.price_source)
    if _no_tokens(record):
        return RecordCost(0.0, False, None)
    if pricing is None:
        return RecordCost(None, False, None)
    quote = pricing.quote(
        record.model_id,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cache_read_input_tokens=record.cache_read_input_tokens,
        cache_write_input_tokens=record.cache_write_input_tokens,
    )
    if quote.usd is None:
        return RecordCost(None, False, None)
    return RecordCost(quote.usd, True, quote.version, quote.source)


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
    ``unpriced_records`` (models missing from the price table) are not in it;
    ``price_sources`` says whose prices and which regions' it rests on.
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
    price_sources: tuple[str, ...] = ()
    # Errors Bedrock refused for quota (the Throttles metric's error codes).
    throttles: int = 0
    # The n behind the percentiles: successful calls that carry a latency.
    latency_calls: int = 0

    @property
    def cost_estimated(self) -> bool:
        """Whether any part of ``cost_usd`` was priced now instead of recorded."""
        return self.estimated_cost_records > 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and CSV output, cost and latency as the table shows them.

        The sums themselves stay exact; only what is written is rounded, so a
        reader never sees float noise such as ``14.500000000000004``.
        """
        data = asdict(self)
        data["price_table_versions"] = list(self.price_table_versions)
        data["price_sources"] = list(self.price_sources)
        data["cost_usd"] = round_usd(self.cost_usd)
        for field in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms"):
            data[field] = round_ms(data[field])
        return data


def _summary(
    key: str | None, records: Sequence[UsageRecord], pricing: Pricing | None
) -> UsageSummary:
    # Latency only of successful calls: a throttled call fails in a few ms and
    # would make a struggling model look fast.
    latencies = [
        r.latency_ms for r in records if r.status == "success" and r.latency_ms is not None
    ]
    costs = [record_cost(r, pricing) for r in records]
    priced = [c for c in costs if c.usd is not None]
    return UsageSummary(
        key=key,
        invocations=len(records),
        errors=sum(1 for r in records if r.is_error),
        throttles=sum(1 for r in records if r.is_error and r.error_type in THROTTLING_ERROR_TYPES),
        latency_calls=len(latencies),
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
        price_sources=tuple(sorted({c.source for c in priced if c.source})),
    )


def _grouped(
    records: Sequence[UsageRecord], key_of: Callable[[UsageRecord], str], pricing: Pricing | None
) -> list[UsageSummary]:
    groups: dict[str, list[UsageRecord]] = {}
    for record in records:
        groups.setdefault(key_of(record), []).append(record)
    return [_summary(key, groups[key], pricing) for key in sorted(groups)]


def summarize(
    records: Iterable[UsageRecord],
    by: GroupBy | None = None,
    pricing: Pricing | None = None,
) -> list[UsageSummary]:
    """Aggregate records: one summary per group sorted by key, or one for all when ``by`` is None.

    Invocations count successes and errors; token sums include both (an error
    usually carries zero tokens); p50/p90/p99 latency are over successful calls.
    Each record counts once (:func:`tenantctl.usage_reader.records_to_count`).
    Cost is each record's recorded ``cost_usd``; with ``pricing``, records
    without one are priced now and counted as estimated.
    """
    records = records_to_count(records)
    if by is None:
        return [_summary(None, records, pricing)]
    return _grouped(records, by.key, pricing)


# The key the keys past ``summarize_daily``'s ``keep`` are folded into.
OTHER_KEY = "(other)"


@dataclass(frozen=True)
class DailyUsage:
    """Records summarized per UTC day and ``by`` key: what ``tenantctl usage --chart`` draws.

    ``groups`` and ``total`` are exactly what ``summarize`` gives the table for
    the same records; ``cells[(day, key)]`` splits them by day. When there were
    more keys than asked to keep, ``folded_keys`` lists the ones summarized
    together as :data:`OTHER_KEY`, the last of ``keys``.
    """

    by: GroupBy
    days: tuple[str, ...]
    keys: tuple[str, ...]
    cells: Mapping[tuple[str, str], UsageSummary]
    groups: tuple[UsageSummary, ...]
    total: UsageSummary
    folded_keys: tuple[str, ...] = ()


def summarize_daily(
    records: Iterable[UsageRecord],
    by: GroupBy = GroupBy.APPLICATION,
    pricing: Pricing | None = None,
    *,
    keep: int | None = None,
) -> DailyUsage:
    """The records per day and ``by`` key, plus the per-key and overall summaries.

    With ``keep``, only that many keys stay, the largest by tokens, then cost
    (in that order); the records of the rest are summarized as one
    :data:`OTHER_KEY` group, so its percentiles are those of its calls.
    """
    if by is GroupBy.DAY:
        raise ValueError("summarize_daily splits by day already; group by another dimension")
    records = records_to_count(records)
    groups = _grouped(records, by.key, pricing)
    key_of = by.key
    folded: tuple[str, ...] = ()
    if keep is not None and len(groups) > keep:
        ranked = sorted(groups, key=lambda g: (-g.total_tokens, -g.cost_usd, g.key or ""))
        kept = [g.key or "" for g in ranked[:keep]]
        folded = tuple(sorted(g.key or "" for g in ranked[keep:]))
        kept_set = set(kept)

        def key_of(record: UsageRecord) -> str:
            key = by.key(record)
            return key if key in kept_set else OTHER_KEY

        order = {key: i for i, key in enumerate([*kept, OTHER_KEY])}
        groups = sorted(_grouped(records, key_of, pricing), key=lambda g: order[g.key or ""])
    by_day: dict[str, list[UsageRecord]] = {}
    for record in records:
        by_day.setdefault(day_of(record), []).append(record)
    cells = {
        (day, group.key or ""): group
        for day, day_records in by_day.items()
        for group in _grouped(day_records, key_of, pricing)
    }
    return DailyUsage(
        by=by,
        days=tuple(sorted(by_day)),
        keys=tuple(g.key or "" for g in groups),
        cells=cells,
        groups=tuple(groups),
        total=summarize(records, None, pricing)[0],
        folded_keys=folded,
    )


# --- output --------------------------------------------------------------------------------


def usd_decimals(value: float) -> int:
    """How many decimals a dollar figure is shown with: cents from a cent up, else 3 digits."""
    if value == 0 or abs(value) >= 0.01:
        return 2
    return min(10, 2 - math.floor(math.log10(abs(value))))


def round_usd(value: float) -> float:
    """A dollar figure to the precision the table shows it (:func:`usd_decimals`)."""
    return round(value, usd_decimals(value))


def round_ms(value: float | None) -> int | None:
    """A latency to the millisecond, as the function measures it."""
    return None if value is None else round(value)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 record``, ``2 records``: a count with its noun in the right number."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
