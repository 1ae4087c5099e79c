"""Commands that call AWS: invoke, logs and usage in a tenant's account; cost in operations."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
from rich.table import Table
from rich.text import Text

from contracts.naming import INVOKER_ALIAS
from contracts.registry import Operations, Tenant
from contracts.usage_record import UsageRecord, parse_record
from tenantctl.cli.app import app, out, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.registry_commands import find_tenant
from tenantctl.cli.targets import AwsTarget, no_credentials, target_for
from tenantctl.cost import (
    DEFAULT_METRIC,
    METRICS,
    CostDimension,
    CostReport,
    TagSource,
    bedrock_cost,
    cost_explorer_region,
    cost_tag_key,
)
from tenantctl.usage import (
    GroupBy,
    InsightsQueryError,
    LogEvent,
    Pricing,
    UsageSummary,
    filter_events,
    insights_messages,
    merge_fallback,
    parse_records,
    settle_provisional,
    summarize,
    summarize_daily,
    user_filter_pattern,
)

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str, option: str = "--since") -> timedelta:
    """``15m``, ``1h``, ``7d``, ``2w``, ``30s`` as a timedelta; BadInput otherwise."""
    match = _DURATION_RE.match(value)
    if not match or int(match.group(1)) == 0:
        raise BadInput(
            f"{option}: '{value}' is not a duration; use a positive number and a unit "
            "(s, m, h, d, w), e.g. 15m, 1h, 7d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


LocalOption = Annotated[
    bool, typer.Option("--local", help="Use the embedded cloud (`tenantctl local up`).")
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="AWS profile for the tenant's account.")
]
TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant id from the registry.")]


def _connect(tenant: Tenant, profile: str | None, local: bool) -> AwsTarget:
    target = target_for(tenant.account_id, tenant.region, profile=profile, local=local)
    with aws_errors(target, tenant):
        target.check_account()
    return target


@contextmanager
def aws_errors(target: AwsTarget, tenant: Tenant) -> Iterator[None]:
    """Turn the botocore errors users meet into one-line messages naming what to do."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise no_credentials(target.account_id) from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code in {"AccessDenied", "AccessDeniedException"}:
            raise CliError(
                f"access denied in account {target.account_id} ({exc.operation_name}): {message}"
            ) from None
        if code in {"ThrottlingException", "TooManyRequestsException"}:
            raise CliError(
                f"throttled by AWS ({exc.operation_name}: {code}): {message}; retry in a moment"
            ) from None
        raise


class LogGroupMissing(CliError):
    """A log group the command reads does not exist."""


def _log_group_missing(tenant: Tenant, target: AwsTarget, log_group: str) -> LogGroupMissing:
    return LogGroupMissing(
        f"log group {log_group} does not exist in {target.where}: "
        f"run npx cdk deploy {tenant.stack_name}"
    )


# --- invoke --------------------------------------------------------------------------------


def _function_arn(tenant: Tenant, target: AwsTarget) -> str:
    # An ARN, not a bare name: the call then fails instead of reaching a
    # same-named function in whatever account the credentials belong to.
    return (
        f"arn:{target.partition()}:lambda:{tenant.region}:{tenant.account_id}:"
        f"function:{tenant.function_name}"
    )


def _throttled_message(tenant: Tenant, error: dict[str, Any]) -> str:
    return (
        f"Bedrock throttled the request for tenant {tenant.id} "
        f"({error.get('type')}: {error.get('message')}): the operations account's quota for "
        "this model is exhausted for now; retry with backoff or raise the quota there"
    )


@app.command()
def invoke(
    ctx: typer.Context,
    tenant_id: TenantOption,
    prompt: Annotated[str, typer.Option("--prompt", help="The user's message.")],
    user_id: Annotated[str, typer.Option("--user-id", help="End user (becomes the log stream).")],
    application_id: Annotated[str, typer.Option("--application-id", help="Calling application.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Model id; default: tenant's first model.")
    ] = None,
    profile: ProfileOption = None,
    local: LocalOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw function result.")] = False,
) -> None:
    """Invoke the tenant's Bedrock function (lambda.invoke in the tenant's account)."""
    _, tenant = find_tenant(state(ctx), tenant_id)
    if model is not None and model not in tenant.models:
        raise BadInput(
            f"--model: '{model}' is not allowed for tenant {tenant.id} "
            f"(allowed: {', '.join(tenant.models)})"
        )
    target = _connect(tenant, profile, local)
    event: dict[str, Any] = {
        "prompt": prompt,
        "user_id": user_id,
        "application_id": application_id,
    }
    if model is not None:
        event["model_id"] = model
    with aws_errors(target, tenant):
        try:
            response = target.client("lambda").invoke(
                FunctionName=_function_arn(tenant, target),
                # The alias: the published version (SnapStart's, when on).
                Qualifier=INVOKER_ALIAS,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                raise CliError(
                    f"function {tenant.function_name} is not deployed in {target.where}: "
                    f"run npx cdk deploy {tenant.stack_name}"
                ) from None
            if code == "TooManyRequestsException":
                raise CliError(
                    f"function {tenant.function_name} is throttled (its concurrency limit is "
                    "reached); retry in a moment"
                ) from None
            raise
    raw = response["Payload"].read().decode("utf-8", errors="replace")
    try:
        result = json.loads(raw)
    except ValueError:
        raise CliError(f"function {tenant.function_name} returned non-JSON: {raw[:200]}") from None

    if response.get("FunctionError"):
        # An unhandled exception in the function (Lambda's own error shape).
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        detail = result if not isinstance(result, dict) else result.get("errorMessage", result)
        kind = result.get("errorType", "error") if isinstance(result, dict) else "error"
        raise CliError(f"function {tenant.function_name} failed: {kind}: {detail}")
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        error = result["error"]
        if error.get("type") == "ThrottlingException":
            raise CliError(_throttled_message(tenant, error))
        raise CliError(f"{error.get('type', 'error')}: {error.get('message', '')}")
    if not as_json:
        _print_answer(result)


def _print_answer(result: Any) -> None:
    console = out()
    if not isinstance(result, dict):
        console.print(json.dumps(result))
        return
    console.print(str(result.get("output", "")))
    usage = result.get("usage") or {}
    console.print(
        Text(
            f"{result.get('model_id', '?')} · {usage.get('input_tokens', '?')} in / "
            f"{usage.get('output_tokens', '?')} out / {usage.get('total_tokens', '?')} total "
            f"tokens · {result.get('latency_ms', '?')} ms · "
            f"request {result.get('request_id', '?')}",
            style="dim",
        )
    )


# --- logs ----------------------------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _events(
    target: AwsTarget,
    tenant: Tenant,
    log_group: str,
    *,
    start_ms: int,
    user: str | None,
) -> list[LogEvent]:
    # A user is selected by the record's user_id field, not by stream: with the
    # stdout sink Lambda names the streams and each holds many users' records
    # and the function's own lines. The pattern narrows what FilterLogEvents
    # returns; _matching still compares user_id exactly.
    pattern = user_filter_pattern(user) if user is not None else None
    client = target.client("logs")
    with aws_errors(target, tenant):
        try:
            events = list(
                filter_events(client, log_group, start_ms=start_ms, filter_pattern=pattern)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            raise _log_group_missing(tenant, target, log_group) from None
    return sorted(events, key=lambda e: (e.timestamp_ms, e.event_id))


def _matching(
    events: Iterable[LogEvent], user: str | None
) -> Iterator[tuple[LogEvent, UsageRecord]]:
    for event in events:
        record = parse_record(event.message)
        if record is not None and (user is None or record.user_id == user):
            yield event, record


_LOG_COLUMNS = ("time (UTC)", "user", "application", "model", "status", "in", "out", "ms")


def _status_cell(record: UsageRecord) -> str:
    # Both records of a timed-out-then-completed invocation are shown as stored;
    # the marks say which one `usage` counts.
    status = record.status if not record.is_error else f"error: {record.error_type or '?'}"
    if record.provisional:
        status += " (provisional)"
    if record.supersedes:
        status += f" (supersedes {record.supersedes})"
    if record.is_fallback:
        status += " (fallback)"
    return status


def _log_cells(record: UsageRecord, event: LogEvent) -> list[str]:
    moment = record.timestamp or datetime.fromtimestamp(event.timestamp_ms / 1000, UTC)
    return [
        moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        record.user_id,
        record.application_id,
        record.model_id,
        _status_cell(record),
        str(record.input_tokens),
        str(record.output_tokens),
        "" if record.latency_ms is None else f"{record.latency_ms:g}",
    ]


@app.command()
def logs(
    ctx: typer.Context,
    tenant_id: TenantOption,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's records.")] = None,
    since: Annotated[str, typer.Option("--since", help="How far back: 15m, 1h, 7d.")] = "1h",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
    profile: ProfileOption = None,
    local: LocalOption = False,
) -> None:
    """Show the tenant's usage records from its own log group."""
    window = parse_duration(since)
    options = state(ctx)
    _, tenant = find_tenant(options, tenant_id)
    target = _connect(tenant, profile, local)
    start_ms = _ms(datetime.now(UTC) - window)
    events = _events(target, tenant, tenant.usage_log_group, start_ms=start_ms, user=user)
    rows = list(_matching(events, user))

    if as_json:
        for event, _ in rows:
            typer.echo(event.message)
    elif not follow:
        table = Table(*_LOG_COLUMNS)
        for column in table.columns:
            column.overflow = "fold"  # wrap ids rather than cut them off
        for event, record in rows:
            table.add_row(*_log_cells(record, event))
        out().print(table)
        say(f"{len(rows)} records in {tenant.usage_log_group} ({target.where}) since {since} ago")
        records = [record for _, record in rows]
        superseded = len(records) - len(settle_provisional(records))
        if superseded:
            say(
                f"{superseded} of them provisional and superseded by a later record of the "
                "same invocation: `tenantctl usage` counts that invocation once"
            )
    else:
        for event, record in rows:
            say("  ".join(_log_cells(record, event)))
    if not follow:
        return

    # Poll from the newest timestamp seen; events sharing it are skipped by id.
    seen = {e.event_id for e in events}
    last_ms = max((e.timestamp_ms for e in events), default=start_ms)
    try:
        while True:
            options.sleep(options.follow_poll_seconds)
            fresh = [
                e
                for e in _events(
                    target, tenant, tenant.usage_log_group, start_ms=last_ms, user=user
                )
                if e.event_id not in seen
            ]
            for event, record in _matching(fresh, user):
                typer.echo(event.message if as_json else "  ".join(_log_cells(record, event)))
            seen.update(e.event_id for e in fresh)
            last_ms = max((e.timestamp_ms for e in fresh), default=last_ms)
    except KeyboardInterrupt:
        return


# --- usage ---------------------------------------------------------------------------------


def _function_log_group(target: AwsTarget, tenant: Tenant) -> str:
    """The function's own log group, where fallback records are printed.

    The function's logging configuration names it; when that cannot be read
    (the function was deleted but its log group is retained, or the caller may
    read logs but not Lambda), the name the customer stack gives it.
    """
    conventional = f"/aws/lambda/{tenant.function_name}"
    try:
        config = target.client("lambda").get_function_configuration(
            FunctionName=_function_arn(tenant, target)
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"ResourceNotFoundException", "AccessDenied", "AccessDeniedException"}:
            return conventional
        raise
    group = (config.get("LoggingConfig") or {}).get("LogGroup")
    return str(group or conventional)


def _fallback_records(
    target: AwsTarget, tenant: Tenant, start: datetime, end: datetime
) -> tuple[str, list[UsageRecord]]:
    """The function's log group and the records in it (none if it does not exist yet)."""
    with aws_errors(target, tenant):
        group = _function_log_group(target, tenant)
    if group == tenant.usage_log_group:
        # The stdout sink routes the function's output to the usage log group:
        # its fallback records, if any, were read with the usage records.
        return group, []
    try:
        return group, _read_records(target, tenant, group, start, end)
    except LogGroupMissing:
        return group, []  # the function never logged anything: nothing fell back
    except CliError as exc:
        # Counting without them would undercount exactly when CloudWatch Logs
        # had trouble, so say so instead of printing smaller totals.
        raise CliError(
            f"cannot read fallback records from {group}: {exc.message} "
            "(pass --no-fallback to count only the usage log group)"
        ) from None


def _read_records(
    target: AwsTarget, tenant: Tenant, log_group: str, start: datetime, end: datetime
) -> list[UsageRecord]:
    if target.local:
        # moto's Insights engine ignores filters and most commands; page instead.
        events = _events(target, tenant, log_group, start_ms=_ms(start), user=None)
        return parse_records(e.message for e in events)
    with aws_errors(target, tenant):
        try:
            messages = insights_messages(
                target.client("logs"),
                [log_group],
                start_s=int(start.timestamp()),
                end_s=int(end.timestamp()) + 1,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise _log_group_missing(tenant, target, log_group) from None
            raise
        except InsightsQueryError as exc:
            raise CliError(str(exc)) from None
    return parse_records(messages)


def _say_to_stderr(message: str) -> None:
    typer.echo(message, err=True)


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


@dataclass(frozen=True)
class _SummaryColumn:
    field: str
    title: str
    # Lower drops first when the terminal is too narrow for every column.
    keep: int


# Table order. At 80 columns a table keeps its key column plus calls, errors,
# input, output, cost and p50; the rest are dropped (and named) rather than
# squeezing the key column to nothing, as rich does when nothing else can give.
_SUMMARY_COLUMNS: tuple[_SummaryColumn, ...] = (
    _SummaryColumn("invocations", "calls", 11),
    _SummaryColumn("errors", "errors", 10),
    _SummaryColumn("input_tokens", "input", 9),
    _SummaryColumn("output_tokens", "output", 8),
    _SummaryColumn("cache_read_input_tokens", "cache read", 2),
    _SummaryColumn("cache_write_input_tokens", "cache write", 1),
    _SummaryColumn("total_tokens", "total", 3),
    _SummaryColumn("cost_usd", "cost", 7),
    _SummaryColumn("latency_p50_ms", "p50 ms", 6),
    _SummaryColumn("latency_p90_ms", "p90 ms", 5),
    _SummaryColumn("latency_p99_ms", "p99 ms", 4),
)
# The key column keeps at least this many characters (long ids fold onto more lines).
KEY_COLUMN_MIN_WIDTH = 16
# rich's default table: one space of padding each side plus one rule per column,
# and the closing rule.
_CELL_OVERHEAD = 3
_TABLE_EDGE = 1


def _cell(summary: UsageSummary, column: _SummaryColumn) -> str:
    if column.field == "cost_usd":
        return _cost_cell(summary)
    return _fmt_number(getattr(summary, column.field))


def fit_summary_columns(
    width: int, key_title: str | None, keys: list[str], rows: list[list[str]]
) -> tuple[int, list[int]]:
    """The key column's minimum width and the indexes of the columns that fit in ``width``.

    ``rows`` holds the metric cells of every row in ``_SUMMARY_COLUMNS`` order.
    Columns are dropped lowest ``keep`` first until the table fits, so the key
    column always keeps ``KEY_COLUMN_MIN_WIDTH`` characters (or its longest key).
    """
    key_width = 0
    if key_title is not None:
        natural = max([len(key_title), *(len(k) for k in keys)])
        key_width = min(natural, KEY_COLUMN_MIN_WIDTH)
    widths = [
        max([len(c.title), *(len(row[i]) for row in rows)]) for i, c in enumerate(_SUMMARY_COLUMNS)
    ]
    shown = list(range(len(_SUMMARY_COLUMNS)))

    def needed() -> int:
        key = key_width + _CELL_OVERHEAD if key_title is not None else 0
        return _TABLE_EDGE + key + sum(widths[i] + _CELL_OVERHEAD for i in shown)

    for i in sorted(shown, key=lambda i: _SUMMARY_COLUMNS[i].keep):
        if needed() <= width or len(shown) == 1:
            break
        shown.remove(i)
    return key_width, shown


@app.command()
def usage(
    ctx: typer.Context,
    tenant_id: TenantOption,
    since: Annotated[str, typer.Option("--since", help="How far back: 15m, 1h, 7d.")] = "7d",
    by: Annotated[
        str | None, typer.Option("--by", help="Group by application | user | model | day.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
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
    profile: ProfileOption = None,
    local: LocalOption = False,
) -> None:
    """Aggregate the tenant's usage: invocations, errors, tokens, cost, p50/p90/p99 latency.

    Cost is what each record says it cost (priced by the function at the price
    table's version); a record without a cost is priced now from the price table
    with the registry's overrides and marked ~ (estimated). See docs/COST.md.
    """
    window = parse_duration(since)
    group_by: GroupBy | None = None
    if by is not None:
        try:
            group_by = GroupBy(by.lower())
        except ValueError:
            raise BadInput(f"--by: '{by}' is not one of application, user, model, day") from None
    fmt = output_format.lower()
    if fmt not in {"table", "json", "csv"}:
        raise BadInput(f"--format: '{output_format}' is not one of table, json, csv")
    if chart is not None and chart.suffix.lower() != ".png":
        raise BadInput(f"--chart: '{chart}' must end in .png (the chart is a PNG)")
    _, tenant = find_tenant(state(ctx), tenant_id)
    target = _connect(tenant, profile, local)

    end = datetime.now(UTC)
    start = end - window
    records = _read_records(target, tenant, tenant.usage_log_group, start, end)
    fallback_group: str | None = None
    if include_fallback:
        fallback_group, fallback = _fallback_records(target, tenant, start, end)
        records = merge_fallback(records, fallback)
    counted = settle_provisional(records)

    pricing = Pricing(region=tenant.bedrock_region, overrides=tenant.price_overrides)
    groups = summarize(counted, group_by, pricing)
    total = summarize(counted, None, pricing)[0]
    fallback_count = sum(1 for r in counted if r.is_fallback) if include_fallback else None
    chart_path = None
    if chart is not None:
        chart_path = _draw_chart(tenant, since, counted, group_by, pricing, chart)
    _print_usage(tenant, since, group_by, groups, total, fmt, fallback_count, chart_path)
    if fmt == "json":
        return
    # The footer goes to stderr with CSV so the output stays one table.
    footer = _say_to_stderr if fmt == "csv" else say
    for line in _cost_notes(total, pricing, counted):
        footer(line)
    if fallback_count is None:
        footer("fallback records not counted (--no-fallback)")
    else:
        footer(
            f"{fallback_count} fallback record{'' if fallback_count == 1 else 's'} included "
            f"(from {fallback_group}; printed there when the usage log group could not be "
            "written)"
        )
    if chart_path is not None:
        footer(f"chart written to {chart_path}")


def _draw_chart(
    tenant: Tenant,
    since: str,
    records: list[UsageRecord],
    by: GroupBy | None,
    pricing: Pricing,
    path: Path,
) -> Path:
    # Per day already: --by day still splits each day by application.
    chart_by = by if by in {GroupBy.USER, GroupBy.MODEL} else GroupBy.APPLICATION
    daily = summarize_daily(records, chart_by, pricing)
    versions = ", ".join(daily.total.price_table_versions) or "none"
    note = (
        f"{daily.total.invocations} invocations; cost at price table {versions}"
        + (
            f"; ~ {daily.total.estimated_cost_records} records priced now (hatched)"
            if daily.total.cost_estimated
            else ""
        )
        + f"; Bedrock region {tenant.bedrock_region}"
    )
    try:
        from tenantctl.chart import render_usage_chart

        return render_usage_chart(
            daily, path, title=f"Usage of tenant {tenant.id}, last {since}", note=note
        )
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
            f"~ estimated: {total.estimated_cost_records} record"
            f"{'' if total.estimated_cost_records == 1 else 's'} carried no cost and "
            f"{'was' if total.estimated_cost_records == 1 else 'were'} priced now with price "
            f"table {pricing.table.version} (region {pricing.region}; registry overrides: "
            f"{overrides})"
        )
    if total.unpriced_records:
        unpriced = sorted(
            {r.model_id for r in records if r.cost_usd is None and pricing.cost(r).usd is None}
        )
        notes.append(
            f"{total.unpriced_records} record{'' if total.unpriced_records == 1 else 's'} of "
            f"models missing from the price table are not in the cost: {', '.join(unpriced)} "
            "(add a price_overrides entry to the registry)"
        )
    return notes


def _print_usage(
    tenant: Tenant,
    since: str,
    by: GroupBy | None,
    groups: list[UsageSummary],
    total: UsageSummary,
    fmt: str,
    fallback_records: int | None,
    chart: Path | None,
) -> None:
    key_name = by.value if by else None
    if fmt == "json":
        doc: dict[str, Any] = {"tenant": tenant.id, "since": since, "by": key_name}
        if by is not None:
            doc["groups"] = [{key_name: g.key, **_metrics(g)} for g in groups]
        doc["total"] = _metrics(total)
        # How many of the counted records are fallback records; null: not read.
        doc["fallback_records"] = fallback_records
        doc["chart"] = None if chart is None else str(chart)
        typer.echo(json.dumps(doc, indent=2))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        fields = [c.field for c in _SUMMARY_COLUMNS] + [
            "estimated_cost_records",
            "unpriced_records",
            "price_table_versions",
        ]
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(([key_name] if key_name else []) + fields)
        for g in groups if by is not None else [total]:
            metrics = _metrics(g)
            metrics["price_table_versions"] = " ".join(metrics["price_table_versions"])
            writer.writerow(([g.key] if by is not None else []) + [metrics[f] for f in fields])
        typer.echo(buffer.getvalue(), nl=False)
        return
    shown_rows = [*groups, total] if by is not None else [total]
    keys = ["TOTAL" if by is not None and i == len(groups) else (g.key or "(none)")
            for i, g in enumerate(shown_rows)]  # fmt: skip
    cells = [[_cell(g, c) for c in _SUMMARY_COLUMNS] for g in shown_rows]
    console = out()
    key_width, shown = fit_summary_columns(console.width, key_name, keys, cells)
    table = Table(title=f"Usage of tenant {tenant.id}, last {since}")
    if key_name:
        table.add_column(key_name, overflow="fold", min_width=key_width, ratio=1)
    for i in shown:
        title = _SUMMARY_COLUMNS[i].title
        # Headers stay whole; a narrow terminal folds the key column instead.
        table.add_column(title, justify="right", min_width=len(title), no_wrap=True)
    for i, (key, row) in enumerate(zip(keys, cells, strict=True)):
        shown_cells = [row[j] for j in shown]
        if by is not None:
            shown_cells.insert(0, key)
        table.add_row(*shown_cells, end_section=by is not None and i == len(groups) - 1)
    console.print(table)
    hidden = [_SUMMARY_COLUMNS[i].title for i in range(len(_SUMMARY_COLUMNS)) if i not in shown]
    if hidden:
        say(
            f"not shown at {console.width} columns: {', '.join(hidden)} "
            "(widen the terminal, or use --format csv or json)"
        )


def _metrics(summary: UsageSummary) -> dict[str, Any]:
    data = summary.as_dict()
    data.pop("key")
    return data


# --- cost ----------------------------------------------------------------------------------


def _parse_day(value: str | None, option: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{option}: '{value}' is not a date; use YYYY-MM-DD") from None


def _operations_target(ops: Operations, profile: str | None, local: bool) -> AwsTarget:
    probe = target_for(ops.account_id, ops.region, profile=profile, local=local)
    region = cost_explorer_region(probe.partition())
    target = target_for(ops.account_id, region, profile=profile, local=local)
    try:
        target.check_account()
    except (NoCredentialsError, PartialCredentialsError):
        raise no_credentials(ops.account_id) from None
    except CliError as exc:
        raise CliError(exc.message.replace("--profile", "--ops-profile")) from None
    return target


def _recorded_cost(
    tenant: Tenant, profile: str | None, local: bool, start: datetime, end: datetime
) -> UsageSummary:
    """What the tenant's own usage records say its calls cost in [start, end)."""
    target = _connect(tenant, profile, local)
    records = _read_records(target, tenant, tenant.usage_log_group, start, end)
    _, fallback = _fallback_records(target, tenant, start, end)
    inside = [
        r
        for r in merge_fallback(records, fallback)
        if r.timestamp is None or start <= r.timestamp.astimezone(UTC) < end
    ]
    pricing = Pricing(region=tenant.bedrock_region, overrides=tenant.price_overrides)
    return summarize(inside, None, pricing)[0]


@app.command()
def cost(
    ctx: typer.Context,
    start_day: Annotated[
        str | None,
        typer.Option("--from", help="First day, YYYY-MM-DD (default: the 1st of this month)."),
    ] = None,
    end_day: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Day after the last, YYYY-MM-DD, exclusive like Cost Explorer "
            "(default: tomorrow, so today counts).",
        ),
    ] = None,
    operations: Annotated[
        str | None,
        typer.Option(
            "--operations", help="Operations account by registry name (default: the first)."
        ),
    ] = None,
    ops_profile: Annotated[
        str | None,
        typer.Option("--ops-profile", help="AWS profile for the operations (or paying) account."),
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="Split by tenant (tag tenant-id) or cost-centre.")
    ] = "tenant",
    tag_source: Annotated[
        str,
        typer.Option(
            "--tag-source",
            help="principal: the invoker role's tag (every call; iamPrincipal/<key> in Cost "
            "Explorer); resource: the application inference profile's tag.",
        ),
    ] = "principal",
    tag_key_option: Annotated[
        str | None,
        typer.Option(
            "--tag-key",
            help="Group by this Cost Explorer tag key exactly, instead of the one --by and "
            "--tag-source name (as Billing > Cost allocation tags lists it).",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help=f"Cost Explorer metric: {', '.join(METRICS)}.")
    ] = DEFAULT_METRIC,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="Also add up each tenant's own usage records (cost_usd) for the same days, "
            "read in the tenant's account: pass --tenant and its --profile, or --local.",
        ),
    ] = False,
    tenant_ids: Annotated[
        list[str] | None,
        typer.Option("--tenant", help="Only this tenant (repeatable); needed for --estimate."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="AWS profile for the tenant's account (--estimate)."),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    local: LocalOption = False,
) -> None:
    """Bedrock cost per tenant, from Cost Explorer in the operations account.

    Bedrock bills each call to the IAM principal that made it: the tenant's
    invoker role, tagged tenant-id (and cost-centre). This asks Cost Explorer
    (GetCostAndUsage, $0.01 a request) for the operations account's Bedrock
    spend grouped by that tag. No usage record, prompt or user id is read.

    Reading the split in the console: activate tenant-id (and cost-centre) as
    cost-allocation tags in Billing and Cost Management > Cost allocation tags
    (a key is listed there about 24 hours after a tagged call; principal tags
    show as iamPrincipal/tenant-id); figures then follow with a lag of about a
    day. In Cost Explorer, filter Service to the Bedrock services ("Amazon
    Bedrock" and the "... (Amazon Bedrock Edition)" ones) and group by Tag
    iamPrincipal/tenant-id. In a CUR 2.0 export with caller identity (IAM
    principal) data, line_item_iam_principal names each tenant's role. With
    application inference profiles, their resource tag tenant-id splits the
    same spend per profile, i.e. per tenant and model (--tag-source resource).
    Details: docs/COST.md.
    """
    try:
        dimension = CostDimension(by.lower())
    except ValueError:
        raise BadInput(f"--by: '{by}' is not one of tenant, cost-centre") from None
    try:
        source = TagSource(tag_source.lower())
    except ValueError:
        raise BadInput(f"--tag-source: '{tag_source}' is not one of principal, resource") from None
    if metric not in METRICS:
        raise BadInput(f"--metric: '{metric}' is not one of {', '.join(METRICS)}")
    fmt = output_format.lower()
    if fmt not in {"table", "json"}:
        raise BadInput(f"--format: '{output_format}' is not one of table, json")
    today = datetime.now(UTC).date()
    start = _parse_day(start_day, "--from", today.replace(day=1))
    end = _parse_day(end_day, "--to", today + timedelta(days=1))
    if end <= start:
        raise BadInput(f"--to: {end} must be after --from {start} (--to is exclusive)")
    if local and (ops_profile or profile):
        raise BadInput("--profile: not used with --local (the embedded cloud has its own keys)")
    options = state(ctx)
    registry = options.load_registry()
    try:
        ops = registry.operations_account(operations or registry.operations.name)
    except KeyError as exc:
        raise BadInput(f"--operations: {exc.args[0]}") from None
    tenants = [t for t in registry.resolved_tenants() if t.operations_account == ops.name]
    if tenant_ids:
        wanted = {find_tenant(options, t)[1].id for t in tenant_ids}
        tenants = [t for t in tenants if t.id in wanted]
        missing = wanted - {t.id for t in tenants}
        if missing:
            raise BadInput(
                f"--tenant: {', '.join(sorted(missing))} not served by operations account "
                f"{ops.name} ({ops.account_id}); pass --operations"
            )
    if estimate and dimension is not CostDimension.TENANT:
        raise BadInput("--estimate: only with --by tenant (records carry no cost centre)")
    if estimate and not local and len(tenants) != 1:
        raise BadInput(
            "--estimate: reads each tenant's records in the tenant's own account; pass one "
            "--tenant with its --profile (or use --local)"
        )

    target = _operations_target(ops, ops_profile, local)
    tag_key = tag_key_option or cost_tag_key(dimension.tag, source)
    try:
        report = bedrock_cost(
            target.client("ce"), start=start, end=end, tag_key=tag_key, metric=metric
        )
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code in {"AccessDenied", "AccessDeniedException"}:
            raise CliError(
                f"access denied in account {ops.account_id} (GetCostAndUsage): {message}; "
                "the caller needs ce:GetCostAndUsage (in the paying account with consolidated "
                "billing)"
            ) from None
        if code in {"DataUnavailableException", "BillExpirationException"}:
            raise CliError(
                f"Cost Explorer has no data for {start}..{end} ({code}): {message}"
            ) from None
        raise CliError(f"GetCostAndUsage: {code}: {message}") from None

    recorded: dict[str, UsageSummary] = {}
    if estimate:
        window = (datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC))
        for tenant in tenants:
            recorded[tenant.id] = _recorded_cost(tenant, profile, local, *window)
    _print_cost(report, dimension, ops, tenants, recorded, fmt)


def _cost_rows(
    report: CostReport, dimension: CostDimension, tenants: list[Tenant]
) -> list[tuple[str, str, float]]:
    """(tag value, who it is, cost) for every tenant or cost centre, then unknown values."""
    rows: list[tuple[str, str, float]] = []
    if dimension is CostDimension.TENANT:
        known = {
            t.id: ", ".join(
                [t.display_name or f"account {t.account_id}"]
                + ([f"cost centre {t.cost_centre}"] if t.cost_centre else [])
            )
            for t in tenants
        }
    else:
        centres: dict[str, list[str]] = {}
        for t in tenants:
            if t.cost_centre:
                centres.setdefault(t.cost_centre, []).append(t.id)
        known = {centre: ", ".join(ids) for centre, ids in centres.items()}
    for value in sorted(known):
        rows.append((value, known[value], report.usd(value)))
    for c in report.costs:
        if c.value and c.value not in known:
            rows.append((c.value, "(not in the registry)", c.usd))
    untagged = report.usd("")
    if untagged:
        rows.append(("(untagged)", "Bedrock spend of other principals", untagged))
    return rows


def _print_cost(
    report: CostReport,
    dimension: CostDimension,
    ops: Operations,
    tenants: list[Tenant],
    recorded: dict[str, UsageSummary],
    fmt: str,
) -> None:
    from tenantctl.chart import format_usd

    rows = _cost_rows(report, dimension, tenants)
    if fmt == "json":
        by_value = {c.value: c for c in report.costs}
        doc = {
            "operations_account": ops.account_id,
            "from": report.start.isoformat(),
            "to": report.end.isoformat(),
            "metric": report.metric,
            "unit": report.unit,
            "tag_key": report.tag_key,
            "estimated": report.estimated,
            "groups": [
                {
                    dimension.value: value,
                    "cost": usd,
                    "by_service": dict(by_value[value].by_service) if value in by_value else {},
                    **({"records_cost_usd": recorded[value].cost_usd} if value in recorded else {}),
                }
                for value, _, usd in rows
                if value != "(untagged)"
            ],
            "untagged": report.usd(""),
            "total": report.total_usd,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    table = Table(
        title=f"Bedrock cost by {report.tag_key}, {report.start} to {report.end} (exclusive), "
        f"operations account {ops.account_id}"
    )
    table.add_column(dimension.value, overflow="fold", min_width=KEY_COLUMN_MIN_WIDTH)
    table.add_column("who", overflow="fold")
    table.add_column(f"Cost Explorer ({report.unit})", justify="right", no_wrap=True)
    if recorded:
        table.add_column("usage records", justify="right", no_wrap=True)
    for value, who, usd in rows:
        cells = [value, who, format_usd(usd)]
        if recorded:
            summary = recorded.get(value)
            cells.append(
                "" if summary is None
                else ("~" if summary.cost_estimated else "") + format_usd(summary.cost_usd)
            )  # fmt: skip
        table.add_row(*cells)
    table.add_row("TOTAL", "", format_usd(report.total_usd), *([""] if recorded else []),
                  end_section=True)  # fmt: skip
    out().print(table)
    say(
        f"{report.metric} of services named '*Bedrock*' (Anthropic and other third-party "
        "models are billed as '... (Amazon Bedrock Edition)'); "
        + ("not final yet (Cost Explorer: Estimated)" if report.estimated else "final")
    )
    if not any(c.value for c in report.costs):
        say(
            f"no Bedrock spend carries the tag {report.tag_key}: activate "
            f"{dimension.tag} as a cost-allocation tag in Billing and Cost Management "
            "(it is listed about 24 hours after the first tagged call) and allow a day for "
            "figures; see docs/COST.md"
        )
    if recorded:
        say(
            "usage records: what the function priced each call at (price table, registry "
            "overrides); ~ includes records priced now. Cost Explorer lags about a day and "
            "rounds; it is the bill."
        )
