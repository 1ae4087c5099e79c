"""``tenantctl usage``: the tenant's usage aggregated, as a table, CSV, JSON and a chart.

The records come from :class:`tenantctl.usage_reader.UsageReader` (one read,
which also decides what counts), the figures from :func:`tenantctl.usage.summarize`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from contracts.pricing import ESTIMATE_SOURCE, Pricing
from contracts.registry import Tenant
from contracts.usage_record import UsageRecord
from tenantctl.cli.app import app, out, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import (
    TENANT_PROFILE,
    LocalOption,
    ProfileAlias,
    TenantOption,
    TenantProfileOption,
    deprecated_alias,
    parse_duration,
)
from tenantctl.cli.registry_commands import find_tenant
from tenantctl.cli.targets import AwsTarget, deploy_hint, tenant_target
from tenantctl.usage import (
    GroupBy,
    UsageSummary,
    counted,
    record_cost,
    summarize,
    summarize_daily,
)
from tenantctl.usage_reader import (
    FallbackUnreadable,
    InsightsQueryError,
    LogGroupMissing,
    UsageReader,
    UsageReading,
)


class UsageFormat(StrEnum):
    """``tenantctl usage --format``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@app.command()
def usage(
    ctx: typer.Context,
    tenant_id: TenantOption,
    since: Annotated[str, typer.Option("--since", help="How far back: 15m, 1h, 7d.")] = "7d",
    by: Annotated[
        GroupBy | None,
        typer.Option(
            "--by", help="One row per application, user, model or UTC day.", case_sensitive=False
        ),
    ] = None,
    output_format: Annotated[
        UsageFormat,
        typer.Option("--format", help="A table, one JSON document, or CSV.", case_sensitive=False),
    ] = UsageFormat.TABLE,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            help="Also draw a PNG: tokens and cost per day by application (or by --by user "
            "or model) and p50/p90/p99 latency, from the same records as the table.",
            dir_okay=False,
        ),
    ] = None,
    include_fallback: Annotated[
        bool,
        typer.Option(
            "--include-fallback/--no-fallback",
            help="Count the records the function printed to its own log group when the usage "
            "log group could not be written (a record in both places counts once).",
        ),
    ] = True,
    tenant_profile: TenantProfileOption = None,
    local: LocalOption = False,
    profile: ProfileAlias = None,
) -> None:
    """Aggregate the tenant's usage: invocations, errors, tokens, cost, p50/p90/p99 latency.

    Cost is what each record says it cost (priced by the function at the price
    table's version); a record without a cost is priced now from the price table
    with the registry's overrides and marked ~ (estimated). See docs/COST.md.
    """
    tenant_profile = deprecated_alias(tenant_profile, profile, new=TENANT_PROFILE, old="--profile")
    window = parse_duration(since)
    if chart is not None and chart.suffix.lower() != ".png":
        raise BadInput(f"--chart: '{chart}' must end in .png (the chart is a PNG)")
    _, tenant = find_tenant(state(ctx), tenant_id)
    target = tenant_target(tenant, tenant_profile)
    end = datetime.now(UTC)
    reading = read_usage(target, tenant, end - window, end, include_fallback=include_fallback)

    pricing = Pricing(region=tenant.bedrock_region, overrides=tenant.price_overrides)
    report = _UsageReport(tenant, since, by, reading, pricing, (end - window, end))
    chart_path = None if chart is None else _draw_chart(report, chart)
    if output_format is UsageFormat.JSON:
        typer.echo(json.dumps(report.as_json(chart_path), indent=2))
        return
    if output_format is UsageFormat.CSV:
        typer.echo(report.as_csv(), nl=False)
    else:
        _print_table(report)
    # The footer goes to stderr with CSV so the output stays one table.
    footer = _say_to_stderr if output_format is UsageFormat.CSV else say
    for line in report.footer():
        footer(line)
    if chart_path is not None:
        footer(f"chart written to {chart_path}")


def read_usage(
    target: AwsTarget, tenant: Tenant, start: datetime, end: datetime, *, include_fallback: bool
) -> UsageReading:
    """The tenant's records to count in [start, end], read once; failures as one-line errors."""
    reader = UsageReader(target.client("logs"))
    with target.errors():
        try:
            return reader.read(tenant, start, end, include_fallback=include_fallback)
        except LogGroupMissing as exc:
            raise CliError(
                f"log group {exc.log_group} does not exist in {target.where}: {deploy_hint(tenant)}"
            ) from None
        except InsightsQueryError as exc:
            raise CliError(str(exc)) from None
        except FallbackUnreadable as exc:
            cause = exc.cause
            reason = str(cause)
            if isinstance(cause, ClientError):
                err = cause.response.get("Error", {})
                reason = target.explain(cause) or (
                    f"{cause.operation_name}: {err.get('Code')}: {err.get('Message')}"
                )
            raise CliError(
                f"cannot read fallback records from {exc.log_group}: {reason} "
                "(pass --no-fallback to count only the usage log group)"
            ) from None


@dataclass(frozen=True)
class _UsageReport:
    """One reading summarized the way every output format shows it."""

    tenant: Tenant
    since: str
    by: GroupBy | None
    reading: UsageReading
    pricing: Pricing
    # The UTC period asked for (--since up to now): the chart's day axis spans it.
    window: tuple[datetime, datetime]

    @cached_property
    def groups(self) -> list[UsageSummary]:
        return summarize(self.reading.records, self.by, self.pricing) if self.by else []

    @cached_property
    def total(self) -> UsageSummary:
        return summarize(self.reading.records, None, self.pricing)[0]

    def as_json(self, chart: Path | None) -> dict[str, Any]:
        key_name = self.by.value if self.by else None
        doc: dict[str, Any] = {"tenant": self.tenant.id, "since": self.since, "by": key_name}
        if self.by is not None:
            doc["groups"] = [{key_name: g.key, **_metrics(g)} for g in self.groups]
        doc["total"] = _metrics(self.total)
        # How many of the counted records are fallback records; null: not read.
        doc["fallback_records"] = self.reading.fallback_records
        doc["chart"] = None if chart is None else str(chart)
        return doc

    def as_csv(self) -> str:
        buffer = io.StringIO()
        fields = [c.field for c in SUMMARY_COLUMNS] + [
            "estimated_cost_records",
            "unpriced_records",
            "price_table_versions",
            "price_sources",
        ]
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(([self.by.value] if self.by else []) + fields)
        for g in self.groups if self.by is not None else [self.total]:
            metrics = _metrics(g)
            metrics["price_table_versions"] = " ".join(metrics["price_table_versions"])
            metrics["price_sources"] = " ".join(metrics["price_sources"])
            writer.writerow(([g.key] if self.by is not None else []) + [metrics[f] for f in fields])
        return buffer.getvalue()

    def footer(self) -> list[str]:
        """The lines under the table: what the cost rests on, and the fallback records."""
        lines = _cost_notes(self.total, self.pricing, self.reading.records)
        count, group = self.reading.fallback_records, self.reading.fallback_group
        if count is None:
            lines.append("fallback records not counted (--no-fallback)")
        else:
            lines.append(
                f"{counted(count, 'fallback record')} included (from {group}; "
                "printed there when the usage log group could not be written)"
            )
        return lines


def _metrics(summary: UsageSummary) -> dict[str, Any]:
    data = summary.as_dict()
    data.pop("key")
    return data


def _say_to_stderr(message: str) -> None:
    typer.echo(message, err=True)


def _draw_chart(report: _UsageReport, path: Path) -> Path:
    from tenantctl.chart import TOP_KEYS  # chart.py imports matplotlib only when drawing

    # Per day already: --by day still splits each day by application.
    chart_by = report.by if report.by in {GroupBy.USER, GroupBy.MODEL} else GroupBy.APPLICATION
    daily = summarize_daily(report.reading.records, chart_by, report.pricing, keep=TOP_KEYS)
    total = daily.total
    versions = ", ".join(total.price_table_versions) or "none"
    note = (
        f"{counted(total.invocations, 'invocation')}; cost at price table {versions}"
        + (
            f"; ~ {counted(total.estimated_cost_records, 'record')} priced now (hatched)"
            if total.cost_estimated
            else ""
        )
        + (
            f"; the {len(daily.folded_keys)} {chart_by.value}s after the top {TOP_KEYS} "
            "by tokens drawn as other"
            if daily.folded_keys
            else ""
        )
        + f"; Bedrock region {report.tenant.bedrock_region}"
    )
    title = f"Usage of tenant {report.tenant.id}, last {report.since}"
    try:
        from tenantctl.chart import render_usage_chart

        return render_usage_chart(daily, path, title=title, note=note, window=report.window)
    except ImportError as exc:
        raise CliError(
            f"--chart needs matplotlib ({exc}): pip install -r requirements.txt"
        ) from None
    except OSError as exc:
        raise CliError(f"--chart: cannot write {path}: {exc.strerror or exc}") from None


def _cost_notes(total: UsageSummary, pricing: Pricing, records: list[UsageRecord]) -> list[str]:
    """What the cost column rests on: price table versions, estimates, unpriced models."""
    notes = []
    recorded = sorted(
        {r.price_table_version for r in records if r.cost_usd is not None and r.price_table_version}
    )
    if recorded:
        notes.append(f"cost as recorded by the function at price table {', '.join(recorded)}")
    if total.cost_estimated:
        overrides = ", ".join(sorted(pricing.overrides)) or "none"
        notes.append(
            f"~ estimated: {counted(total.estimated_cost_records, 'record')} carried no cost "
            f"and {'was' if total.estimated_cost_records == 1 else 'were'} priced now with price "
            f"table {pricing.table.version} (region {pricing.region}; registry overrides: "
            f"{overrides})"
        )
    if total.unpriced_records:
        unpriced = sorted({r.model_id for r in records if record_cost(r, pricing).usd is None})
        notes.append(
            f"{counted(total.unpriced_records, 'record')} of models missing from the price "
            f"table {'is' if total.unpriced_records == 1 else 'are'} not in the cost: "
            f"{', '.join(unpriced)} "
            "(add a price_overrides entry to the registry)"
        )
    if total.price_sources:
        notes.append(f"prices: {', '.join(total.price_sources)}")
    if ESTIMATE_SOURCE in total.price_sources:
        notes.append(
            f"{ESTIMATE_SOURCE}: the price table has no list price for the Region called, "
            "so US list prices stand in; the bill may differ"
        )
    return notes


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryColumn:
    """A metric column of the usage table."""

    field: str
    title: str
    # Lower drops first when the terminal is too narrow for every column.
    keep: int


# Table order. At 80 columns a table keeps its key column plus calls, errors,
# input, output, cost and p50; the rest are dropped (and named) rather than
# squeezing the key column to nothing, as rich does when nothing else can give.
SUMMARY_COLUMNS: tuple[SummaryColumn, ...] = (
    SummaryColumn("invocations", "calls", 11),
    SummaryColumn("errors", "errors", 10),
    SummaryColumn("input_tokens", "input", 9),
    SummaryColumn("output_tokens", "output", 8),
    SummaryColumn("cache_read_input_tokens", "cache read", 2),
    SummaryColumn("cache_write_input_tokens", "cache write", 1),
    SummaryColumn("total_tokens", "total", 3),
    SummaryColumn("cost_usd", "cost", 7),
    SummaryColumn("latency_p50_ms", "p50 ms", 6),
    SummaryColumn("latency_p90_ms", "p90 ms", 5),
    SummaryColumn("latency_p99_ms", "p99 ms", 4),
)
# The key column keeps at least this many characters (long ids fold onto more lines).
KEY_COLUMN_MIN_WIDTH = 16
# rich's default table: one space of padding each side plus one rule per column,
# and the closing rule.
_CELL_OVERHEAD = 3
_TABLE_EDGE = 1


def _fmt_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def _cost_cell(summary: UsageSummary) -> str:
    from tenantctl.chart import format_usd  # chart.py imports matplotlib only when drawing

    if summary.unpriced_records == summary.invocations and summary.invocations:
        return "n/a"  # no record of this group could be priced
    return ("~" if summary.cost_estimated else "") + format_usd(summary.cost_usd)


def _cell(summary: UsageSummary, column: SummaryColumn) -> str:
    if column.field == "cost_usd":
        return _cost_cell(summary)
    return _fmt_number(getattr(summary, column.field))


def fit_summary_columns(
    width: int, key_title: str | None, keys: list[str], rows: list[list[str]]
) -> tuple[int, list[int]]:
    """The key column's minimum width and the indexes of the columns that fit in ``width``.

    ``rows`` holds the metric cells of every row in ``SUMMARY_COLUMNS`` order.
    Columns are dropped lowest ``keep`` first until the table fits, so the key
    column always keeps ``KEY_COLUMN_MIN_WIDTH`` characters (or its longest key).
    """
    key_width = 0
    if key_title is not None:
        natural = max([len(key_title), *(len(k) for k in keys)])
        key_width = min(natural, KEY_COLUMN_MIN_WIDTH)
    widths = [
        max([len(c.title), *(len(row[i]) for row in rows)]) for i, c in enumerate(SUMMARY_COLUMNS)
    ]
    shown = list(range(len(SUMMARY_COLUMNS)))

    def needed() -> int:
        key = key_width + _CELL_OVERHEAD if key_title is not None else 0
        return _TABLE_EDGE + key + sum(widths[i] + _CELL_OVERHEAD for i in shown)

    for i in sorted(shown, key=lambda i: SUMMARY_COLUMNS[i].keep):
        if needed() <= width or len(shown) == 1:
            break
        shown.remove(i)
    return key_width, shown


def _print_table(report: _UsageReport) -> None:
    by, groups, total = report.by, report.groups, report.total
    key_name = by.value if by else None
    shown_rows = [*groups, total] if by is not None else [total]
    keys = ["TOTAL" if by is not None and i == len(groups) else (g.key or "(none)")
            for i, g in enumerate(shown_rows)]  # fmt: skip
    cells = [[_cell(g, c) for c in SUMMARY_COLUMNS] for g in shown_rows]
    console = out()
    key_width, shown = fit_summary_columns(console.width, key_name, keys, cells)
    table = Table(title=f"Usage of tenant {report.tenant.id}, last {report.since}")
    if key_name:
        table.add_column(key_name, overflow="fold", min_width=key_width, ratio=1)
    for i in shown:
        title = SUMMARY_COLUMNS[i].title
        # Headers stay whole; a narrow terminal folds the key column instead.
        table.add_column(title, justify="right", min_width=len(title), no_wrap=True)
    for i, (key, row) in enumerate(zip(keys, cells, strict=True)):
        shown_cells = [row[j] for j in shown]
        if by is not None:
            shown_cells.insert(0, key)
        table.add_row(*shown_cells, end_section=by is not None and i == len(groups) - 1)
    console.print(table)
    hidden = [SUMMARY_COLUMNS[i].title for i in range(len(SUMMARY_COLUMNS)) if i not in shown]
    if hidden:
        say(
            f"not shown at {console.width} columns: {', '.join(hidden)} "
            "(widen the terminal, or use --format csv or json)"
        )
