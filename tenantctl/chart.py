"""``tenantctl usage --chart``: the usage aggregation as a PNG.

Four panels from one :class:`tenantctl.usage.DailyUsage`, the aggregation the
table prints: tokens per day and cost per day, each stacked by the grouping key
(application by default); calls per day split into successes, errors and
throttles; and p50/p90/p99 latency per key over the whole window (the table's
latency columns). Cost that was priced now rather than recorded with the call
is hatched.

What keeps the chart honest:

- the day axis spans the whole requested window, so a quiet day shows as an
  empty slot rather than vanishing;
- every key's legend entry and latency label carries its n (calls), and a
  percentile is drawn only from enough successful calls to have one
  (:data:`PERCENTILE_MIN_CALLS`); the chart says when one was left out;
- beyond :data:`TOP_KEYS` keys the rest are folded into one "other" group
  (``summarize_daily(..., keep=TOP_KEYS)``): colours stay distinct, the legend
  fits, and 300 keys draw in about a second instead of many.

matplotlib is imported inside :func:`render_usage_chart`, so the other commands
never pay for loading it, and only its object API is used (``Figure`` on the
Agg canvas): no pyplot state, no display, nothing that depends on the
machine's default backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tenantctl.usage import (
    NO_DAY,
    OTHER_KEY,
    DailyUsage,
    UsageSummary,
    counted,
    usd_decimals,
)

# 12 x 10 inches at 100 dpi: a 1200 x 1000 pixel PNG.
CHART_SIZE_INCHES = (12.0, 10.0)
CHART_DPI = 100
# Keys drawn one by one; the rest are folded into "other". Ten keeps every
# colour distinct (tab10, "other" in grey) and the legend beside one panel.
TOP_KEYS = 10
_KEY_LABEL_CHARS = 24
# The day axes leave room for at least this many days' bars.
_MIN_SLOTS = 5
# At most this many day labels on an axis; the others are left blank.
_MAX_DAY_LABELS = 15
# Up to this many days, their labels fit upright side by side.
_UPRIGHT_DAY_LABELS = 10
_ESTIMATED_HATCH = "///"
_OTHER_COLOUR = "#9e9e9e"
_OUTCOME_COLOURS = {"successful": "#4c9a2a", "errors": "#d62728", "throttled": "#ff7f0e"}
# Legends beside the axes, never over the bars (constrained layout makes room).
_LEGEND_OUTSIDE: dict[str, Any] = {
    "fontsize": "small",
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
}
_PERCENTILES: tuple[tuple[str, str, float], ...] = (
    ("latency_p50_ms", "p50", 50),
    ("latency_p90_ms", "p90", 90),
    ("latency_p99_ms", "p99", 99),
)
# A pX says something about the slowest (100 - X)% of calls only when at least
# one call lies above it: 100 / (100 - X) calls (2 for p50, 10 for p90, 100 for p99).
PERCENTILE_MIN_CALLS: dict[str, int] = {
    name: math.ceil(100 / (100 - q)) for _, name, q in _PERCENTILES
}


def chart_size_pixels() -> tuple[int, int]:
    """(width, height) of the PNG that :func:`render_usage_chart` writes."""
    width, height = CHART_SIZE_INCHES
    return round(width * CHART_DPI), round(height * CHART_DPI)


def format_usd(value: float) -> str:
    """Dollars: cents from a cent up, three significant digits below (``$0.0000735``)."""
    if value == 0:
        return "$0"
    return f"${value:,.{usd_decimals(value)}f}"


def _axis_decimals(top: float) -> int:
    # One number of decimals for every tick, enough for a fifth of the top value.
    if top <= 0:
        return 2
    return min(10, max(2, 1 - math.floor(math.log10(top / 5))))


def _label(key: str) -> str:
    key = key or "(none)"
    return key if len(key) <= _KEY_LABEL_CHARS else key[: _KEY_LABEL_CHARS - 1] + "…"


def _key_label(daily: DailyUsage, key: str, summary: UsageSummary) -> str:
    calls = counted(summary.invocations, "call")
    if key == OTHER_KEY and daily.folded_keys:
        return f"other {len(daily.folded_keys)} {daily.by.value}s (n={calls})"
    return f"{_label(key)} (n={calls})"


def window_days(start: datetime, end: datetime) -> list[str]:
    """Every UTC day from ``start`` to ``end``, both included, as ``YYYY-MM-DD``."""
    first, last = start.date(), end.date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _days_drawn(daily: DailyUsage, window: tuple[datetime, datetime] | None) -> list[str]:
    days = set(daily.days)
    if window is not None:
        days.update(window_days(*window))
    # Records without a timestamp sit after the dated days.
    return sorted(days, key=lambda day: (day == NO_DAY, day))


def render_usage_chart(
    daily: DailyUsage,
    path: Path,
    *,
    title: str,
    note: str = "",
    window: tuple[datetime, datetime] | None = None,
) -> Path:
    """Draw ``daily`` into a PNG at ``path`` (parent folders are created); return the path.

    ``window`` (UTC start and end) is the period asked for: the day axes span
    all of it. Without one they span the days with records.
    """
    figure = usage_figure(daily, title=title, note=note, window=window)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=CHART_DPI, format="png")
    return path


def usage_figure(
    daily: DailyUsage,
    *,
    title: str,
    note: str = "",
    window: tuple[datetime, datetime] | None = None,
) -> Any:
    """The chart as a matplotlib ``Figure`` (tokens, cost, calls, latency axes, in that order)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=14, fontweight="bold")
    tokens_ax, cost_ax, calls_ax, latency_ax = figure.subplots(4, 1)
    colours = _colours(daily.keys)
    by = daily.by.value
    days = _days_drawn(daily, window)

    if not daily.days:
        for ax in (tokens_ax, cost_ax, calls_ax, latency_ax):
            ax.text(0.5, 0.5, "no usage records in this window", ha="center", va="center")
            ax.set_axis_off()
    else:
        series = _key_series(daily, colours)
        _stacked_by_day(tokens_ax, daily, days, series, value=lambda s: float(s.total_tokens))
        tokens_ax.set_title(f"Tokens per day by {by} (input + output, all calls)")
        tokens_ax.set_ylabel("tokens")
        tokens_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        tokens_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        handles = [Patch(facecolor=colour) for _, colour, _ in series]
        labels = [label for _, _, label in series]
        tokens_ax.legend(handles, labels, title=by, **_LEGEND_OUTSIDE)

        _stacked_by_day(cost_ax, daily, days, series, value=lambda s: s.cost_usd, money=True)
        cost_ax.set_title(f"Cost per day by {by} (US dollars)")
        cost_ax.set_ylabel("cost (USD)")
        top = max((sum(cell.cost_usd for (d, _), cell in daily.cells.items() if d == day)
                   for day in daily.days), default=0.0)  # fmt: skip
        decimals = _axis_decimals(top)
        cost_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.{decimals}f}"))
        if any(cell.cost_estimated for cell in daily.cells.values()):
            cost_ax.legend(
                [Patch(facecolor="white", edgecolor="grey", hatch=_ESTIMATED_HATCH)],
                ["estimated\n(priced now)"],
                **_LEGEND_OUTSIDE,
            )

        _outcomes_by_day(calls_ax, days, daily)
        _latency_by_key(latency_ax, daily, colours)

    if note:
        figure.text(0.01, 0.002, note, fontsize=8, color="dimgrey", ha="left", va="bottom")
    return figure


def _colours(keys: Sequence[str]) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10" if len(keys) <= 10 else "tab20"]
    return [
        _OTHER_COLOUR if key == OTHER_KEY else palette(i % palette.N) for i, key in enumerate(keys)
    ]


def _key_series(daily: DailyUsage, colours: Sequence[Any]) -> list[tuple[str, Any, str]]:
    """(key, colour, legend label with its n) for each key, in stacking order."""
    return [
        (key, colours[i], _key_label(daily, key, group))
        for i, (key, group) in enumerate(zip(daily.keys, daily.groups, strict=True))
    ]


def _day_axis(ax: Any, days: Sequence[str]) -> list[int]:
    positions = list(range(len(days)))
    # A long window keeps every day's slot but labels only some of them.
    step = max(1, math.ceil(len(days) / _MAX_DAY_LABELS))
    labels = [day if i % step == 0 else "" for i, day in enumerate(days)]
    slanted = len(positions) > _UPRIGHT_DAY_LABELS
    ax.set_xticks(positions, labels, rotation=30 if slanted else 0,
                  ha="right" if slanted else "center", fontsize="small")  # fmt: skip
    # A day or two would otherwise stretch into one bar as wide as the chart.
    pad = max(0.0, (_MIN_SLOTS - len(positions)) / 2)
    ax.set_xlim(-0.5 - pad, len(positions) - 0.5 + pad)
    ax.set_xlabel("day (UTC)")
    ax.margins(y=0.2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return positions


def _annotate_totals(ax: Any, positions: Sequence[int], tops: Sequence[float], money: bool) -> None:
    highest = max(tops, default=0.0)
    if highest > 0:
        ax.set_ylim(0, highest * 1.2)  # room for the labels above the tallest bar
    if len(positions) > _MAX_DAY_LABELS:
        return  # one figure per bar would run into the next; the y axis reads them
    for x, top in zip(positions, tops, strict=True):
        if top:  # an empty day stays blank rather than saying 0 over nothing
            text = format_usd(top) if money else f"{top:,.0f}"
            ax.annotate(text, (x, top), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                        textcoords="offset points")  # fmt: skip


def _stacked_by_day(
    ax: Any,
    daily: DailyUsage,
    days: Sequence[str],
    series: Sequence[tuple[str, Any, str]],
    *,
    value: Any,
    money: bool = False,
) -> None:
    """One bar per day of the window, stacked by key; cost priced now is hatched."""
    positions = _day_axis(ax, days)
    bottoms = [0.0] * len(days)
    for key, colour, label in series:
        cells: list[UsageSummary | None] = [daily.cells.get((day, key)) for day in days]
        heights = [value(cell) if cell is not None else 0.0 for cell in cells]
        bars = ax.bar(positions, heights, bottom=bottoms, color=colour, label=label,
                      edgecolor="white", linewidth=0.5)  # fmt: skip
        if money:
            for bar, cell in zip(bars, cells, strict=True):
                if cell is not None and cell.cost_estimated:
                    bar.set_hatch(_ESTIMATED_HATCH)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    _annotate_totals(ax, positions, bottoms, money=money)


def _outcomes_by_day(ax: Any, days: Sequence[str], daily: DailyUsage) -> None:
    """Calls per day: successful, errors (not throttles) and throttled, stacked."""
    from matplotlib.ticker import MaxNLocator

    positions = _day_axis(ax, days)
    totals = [_day_total(daily, day) for day in days]
    throttled = [t.throttles for t in totals]
    errors = [t.errors - t.throttles for t in totals]
    successful = [t.invocations - t.errors for t in totals]
    bottoms = [0.0] * len(days)
    for name, heights in (("successful", successful), ("errors", errors), ("throttled", throttled)):
        ax.bar(positions, heights, bottom=bottoms, color=_OUTCOME_COLOURS[name],
               label=name, edgecolor="white", linewidth=0.5)  # fmt: skip
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    _annotate_totals(ax, positions, bottoms, money=False)
    total = daily.total
    ax.set_title(
        f"Calls per day: {counted(total.invocations, 'call')}, "
        f"{counted(total.errors, 'error')} ({total.throttles} throttled)"
    )
    ax.set_ylabel("calls")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="outcome", **_LEGEND_OUTSIDE)


def _day_total(daily: DailyUsage, day: str) -> UsageSummary:
    cells = [cell for (d, _), cell in daily.cells.items() if d == day]
    return UsageSummary(
        key=day,
        invocations=sum(c.invocations for c in cells),
        errors=sum(c.errors for c in cells),
        throttles=sum(c.throttles for c in cells),
        input_tokens=0,
        output_tokens=0,
        total_tokens=0,
        cache_read_input_tokens=0,
        cache_write_input_tokens=0,
        latency_p50_ms=None,
        latency_p90_ms=None,
    )


def _latency_by_key(ax: Any, daily: DailyUsage, colours: Sequence[Any]) -> None:
    groups = daily.groups
    positions = list(range(len(groups)))
    width = 0.8 / len(_PERCENTILES)
    left_out = False
    for j, (field, name, _) in enumerate(_PERCENTILES):
        enough = [g.latency_calls >= PERCENTILE_MIN_CALLS[name] for g in groups]
        values = [getattr(g, field) if ok else None for g, ok in zip(groups, enough, strict=True)]
        left_out |= not all(enough)
        heights = [math.nan if v is None else float(v) for v in values]
        offsets = [p + (j - (len(_PERCENTILES) - 1) / 2) * width for p in positions]
        bars = ax.bar(offsets, heights, width=width, label=name, alpha=0.55 + 0.15 * j,
                      color="#1f77b4")  # fmt: skip
        ax.bar_label(
            bars,
            labels=["" if v is None else f"{v:,.0f}" for v in values],
            fontsize=7,
            padding=2,
        )
    for x, group in zip(positions, groups, strict=True):
        if group.latency_calls < PERCENTILE_MIN_CALLS["p50"]:
            ax.annotate(
                "too few calls\nfor percentiles",
                (x, 0),
                ha="center",
                va="bottom",
                fontsize=7,
                color="dimgrey",
                xytext=(0, 3),
                textcoords="offset points",
            )
    ticks = [
        f"{_label(g.key or '') if g.key != OTHER_KEY or not daily.folded_keys else 'other'}"
        f"\nn={g.latency_calls:,}"
        for g in groups
    ]
    ax.set_xticks(positions, ticks, fontsize="small",
                  rotation=30 if len(groups) > 6 else 0)  # fmt: skip
    for tick, colour in zip(ax.get_xticklabels(), colours, strict=True):
        tick.set_color("black" if colour == _OTHER_COLOUR else colour)
    ax.set_xlim(-0.5 - max(0.0, (_MIN_SLOTS - len(groups)) / 2),
                len(groups) - 0.5 + max(0.0, (_MIN_SLOTS - len(groups)) / 2))  # fmt: skip
    ax.margins(y=0.2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(
        f"Latency percentiles by {daily.by.value}, whole window (n = successful calls, end to end)"
    )
    minimums = ", ".join(f"{name} from {n}" for name, n in PERCENTILE_MIN_CALLS.items())
    ax.text(
        0.005,
        0.98,
        f"drawn {minimums} calls" + (" (fewer: not drawn)" if left_out else ""),
        transform=ax.transAxes,
        fontsize=7,
        color="dimgrey",
        ha="left",
        va="top",
    )
    ax.set_ylabel("latency (ms)")
    ax.legend(title="percentile", **_LEGEND_OUTSIDE)
