"""``tenantctl usage --chart``: the usage aggregation as a PNG.

Three panels from one :class:`tenantctl.usage.DailyUsage`, the aggregation the
table prints: tokens per day and cost per day, each stacked by the grouping key
(application by default), and p50/p90/p99 latency per key over the whole
window (the table's latency columns). Cost that was priced now rather than
recorded with the call is hatched.

matplotlib is imported inside :func:`render_usage_chart`, so the other commands
never pay for loading it, and only its object API is used (``Figure`` on the
Agg canvas): no pyplot state, no display, nothing that depends on the
machine's default backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tenantctl.usage import DailyUsage, UsageSummary

# 12 x 10 inches at 100 dpi: a 1200 x 1000 pixel PNG.
CHART_SIZE_INCHES = (12.0, 10.0)
CHART_DPI = 100
_KEY_LABEL_CHARS = 28
# The day axes leave room for at least this many days' bars.
_MIN_SLOTS = 5
_ESTIMATED_HATCH = "///"
# Legends beside the axes, never over the bars (constrained layout makes room).
_LEGEND_OUTSIDE: dict[str, Any] = {
    "fontsize": "small",
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
}
_PERCENTILES: tuple[tuple[str, str], ...] = (
    ("latency_p50_ms", "p50"),
    ("latency_p90_ms", "p90"),
    ("latency_p99_ms", "p99"),
)


def chart_size_pixels() -> tuple[int, int]:
    """(width, height) of the PNG that :func:`render_usage_chart` writes."""
    width, height = CHART_SIZE_INCHES
    return round(width * CHART_DPI), round(height * CHART_DPI)


def format_usd(value: float) -> str:
    """Dollars: cents from a cent up, three significant digits below (``$0.0000735``)."""
    if value == 0:
        return "$0"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    decimals = min(10, 2 - math.floor(math.log10(abs(value))))
    return f"${value:.{decimals}f}"


def _axis_decimals(top: float) -> int:
    # One number of decimals for every tick, enough for a fifth of the top value.
    if top <= 0:
        return 2
    return min(10, max(2, 1 - math.floor(math.log10(top / 5))))


def _label(key: str) -> str:
    key = key or "(none)"
    return key if len(key) <= _KEY_LABEL_CHARS else key[: _KEY_LABEL_CHARS - 1] + "…"


def render_usage_chart(
    daily: DailyUsage,
    path: Path,
    *,
    title: str,
    note: str = "",
) -> Path:
    """Draw ``daily`` into a PNG at ``path`` (parent folders are created); return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=14, fontweight="bold")
    tokens_ax, cost_ax, latency_ax = figure.subplots(3, 1)
    colours = _colours(len(daily.keys))
    by = daily.by.value

    if not daily.days:
        for ax in (tokens_ax, cost_ax, latency_ax):
            ax.text(0.5, 0.5, "no usage records in this window", ha="center", va="center")
            ax.set_axis_off()
    else:
        _stacked_by_day(
            tokens_ax,
            daily,
            colours,
            value=lambda s: float(s.total_tokens),
            hatch_estimated=False,
        )
        tokens_ax.set_title(f"Tokens per day by {by} (input + output, all calls)")
        tokens_ax.set_ylabel("tokens")
        tokens_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        tokens_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))

        _stacked_by_day(cost_ax, daily, colours, value=lambda s: s.cost_usd, hatch_estimated=True)
        cost_ax.set_title(f"Cost per day by {by} (US dollars)")
        cost_ax.set_ylabel("cost (USD)")
        top = max((sum(daily.cells[(d, k)].cost_usd for k in daily.keys if (d, k) in daily.cells)
                   for d in daily.days), default=0.0)  # fmt: skip
        decimals = _axis_decimals(top)
        cost_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.{decimals}f}"))
        if any(cell.cost_estimated for cell in daily.cells.values()):
            handles, labels = _key_legend(daily, colours)
            handles.append(Patch(facecolor="white", edgecolor="grey", hatch=_ESTIMATED_HATCH))
            labels.append("estimated\n(priced now)")
            cost_ax.legend(handles, labels, title=by, **_LEGEND_OUTSIDE)

        _latency_by_key(latency_ax, daily.groups)
        latency_ax.set_title(
            f"Latency percentiles by {by}, whole window (successful calls, end to end)"
        )
        latency_ax.set_ylabel("latency (ms)")
        latency_ax.set_xlabel(by)

    if note:
        figure.text(0.01, 0.002, note, fontsize=8, color="dimgrey", ha="left", va="bottom")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=CHART_DPI, format="png")
    return path


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10" if count <= 10 else "tab20"]
    return [palette(i % palette.N) for i in range(max(count, 1))]


def _stacked_by_day(
    ax: Any,
    daily: DailyUsage,
    colours: Sequence[Any],
    *,
    value: Any,
    hatch_estimated: bool,
) -> None:
    positions = list(range(len(daily.days)))
    bottoms = [0.0] * len(daily.days)
    for i, key in enumerate(daily.keys):
        cells: list[UsageSummary | None] = [daily.cells.get((day, key)) for day in daily.days]
        heights = [value(cell) if cell is not None else 0.0 for cell in cells]
        bars = ax.bar(
            positions,
            heights,
            bottom=bottoms,
            color=colours[i],
            label=_label(key),
            edgecolor="white",
            linewidth=0.5,
        )
        if hatch_estimated:
            for bar, cell in zip(bars, cells, strict=True):
                if cell is not None and cell.cost_estimated:
                    bar.set_hatch(_ESTIMATED_HATCH)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    for x, top in zip(positions, bottoms, strict=True):
        text = format_usd(top) if hatch_estimated else f"{top:,.0f}"
        ax.annotate(text, (x, top), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")  # fmt: skip
    ax.set_xticks(positions, list(daily.days), rotation=45 if len(positions) > 7 else 0)
    # A day or two would otherwise stretch into one bar as wide as the chart.
    pad = max(0.0, (_MIN_SLOTS - len(positions)) / 2)
    ax.set_xlim(-0.5 - pad, len(positions) - 0.5 + pad)
    ax.set_xlabel("day (UTC)")
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles, labels = _key_legend(daily, colours)
    ax.legend(handles, labels, title=daily.by.value, **_LEGEND_OUTSIDE)


def _key_legend(daily: DailyUsage, colours: Sequence[Any]) -> tuple[list[Any], list[str]]:
    # Plain swatches: a legend drawn from the bars would copy a hatched first bar.
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(facecolor=colours[i]) for i in range(len(daily.keys))]
    return handles, [_label(key) for key in daily.keys]


def _latency_by_key(ax: Any, groups: Sequence[UsageSummary]) -> None:
    positions = list(range(len(groups)))
    width = 0.8 / len(_PERCENTILES)
    for j, (field, name) in enumerate(_PERCENTILES):
        values = [getattr(g, field) for g in groups]
        heights = [math.nan if v is None else float(v) for v in values]
        offsets = [p + (j - (len(_PERCENTILES) - 1) / 2) * width for p in positions]
        bars = ax.bar(offsets, heights, width=width, label=name)
        ax.bar_label(
            bars,
            labels=["n/a" if v is None else f"{v:,.0f}" for v in values],
            fontsize=8,
            padding=2,
        )
    ax.set_xticks(positions, [_label(g.key or "") for g in groups])
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(title="percentile", **_LEGEND_OUTSIDE)
