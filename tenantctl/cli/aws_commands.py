"""Commands that call a tenant's account: invoke, logs, usage."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
from rich.table import Table
from rich.text import Text

from contracts.registry import Tenant
from contracts.usage_record import UsageRecord, parse_record, stream_name_for
from tenantctl.cli.app import app, out, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.registry_commands import find_tenant
from tenantctl.cli.targets import AwsTarget, no_credentials, target_for
from tenantctl.usage import (
    GroupBy,
    InsightsQueryError,
    LogEvent,
    UsageSummary,
    filter_events,
    insights_messages,
    merge_fallback,
    parse_records,
    settle_provisional,
    summarize,
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
    # A user's records are in the stream named after them, so --user reads one
    # stream; the user_id check in _matching still runs, because sanitizing
    # can map two user ids to the same stream name.
    streams = [stream_name_for(user)] if user is not None else None
    client = target.client("logs")
    with aws_errors(target, tenant):
        try:
            events = list(filter_events(client, log_group, start_ms=start_ms, stream_names=streams))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            if streams and _log_group_exists(client, log_group):
                return []  # the user has no stream yet: no records
            raise _log_group_missing(tenant, target, log_group) from None
    return sorted(events, key=lambda e: (e.timestamp_ms, e.event_id))


def _log_group_exists(client: Any, log_group: str) -> bool:
    groups = client.describe_log_groups(logGroupNamePrefix=log_group).get("logGroups", [])
    return any(g.get("logGroupName") == log_group for g in groups)


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


_SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("invocations", "invocations"),
    ("errors", "errors"),
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_input_tokens", "cache read"),
    ("cache_write_input_tokens", "cache write"),
    ("total_tokens", "total"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p90_ms", "p90 ms"),
)


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


@app.command()
def usage(
    ctx: typer.Context,
    tenant_id: TenantOption,
    since: Annotated[str, typer.Option("--since", help="How far back: 15m, 1h, 7d.")] = "7d",
    by: Annotated[
        str | None, typer.Option("--by", help="Group by application | user | model.")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
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
    """Aggregate the tenant's usage: invocations, errors, tokens, p50/p90 latency."""
    window = parse_duration(since)
    group_by: GroupBy | None = None
    if by is not None:
        try:
            group_by = GroupBy(by.lower())
        except ValueError:
            raise BadInput(f"--by: '{by}' is not one of application, user, model") from None
    fmt = output_format.lower()
    if fmt not in {"table", "json", "csv"}:
        raise BadInput(f"--format: '{output_format}' is not one of table, json, csv")
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

    groups = summarize(counted, group_by)
    total = summarize(counted)[0]
    fallback_count = sum(1 for r in counted if r.is_fallback) if include_fallback else None
    _print_usage(tenant, since, group_by, groups, total, fmt, fallback_count)
    if fmt == "json":
        return
    # The footer goes to stderr with CSV so the output stays one table.
    footer = _say_to_stderr if fmt == "csv" else say
    if fallback_count is None:
        footer("fallback records not counted (--no-fallback)")
    else:
        footer(
            f"{fallback_count} fallback record{'' if fallback_count == 1 else 's'} included "
            f"(from {fallback_group}; printed there when the usage log group could not be "
            "written)"
        )


def _print_usage(
    tenant: Tenant,
    since: str,
    by: GroupBy | None,
    groups: list[UsageSummary],
    total: UsageSummary,
    fmt: str,
    fallback_records: int | None,
) -> None:
    key_name = by.value if by else None
    if fmt == "json":
        doc: dict[str, Any] = {"tenant": tenant.id, "since": since, "by": key_name}
        if by is not None:
            doc["groups"] = [{key_name: g.key, **_metrics(g)} for g in groups]
        doc["total"] = _metrics(total)
        # How many of the counted records are fallback records; null: not read.
        doc["fallback_records"] = fallback_records
        typer.echo(json.dumps(doc, indent=2))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        header = ([key_name] if key_name else []) + [name for name, _ in _SUMMARY_COLUMNS]
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for g in groups if by is not None else [total]:
            metrics = _metrics(g)
            writer.writerow(([g.key] if by is not None else []) + [metrics[n] for n in header[-9:]])
        typer.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=f"Usage of tenant {tenant.id}, last {since}")
    if key_name:
        table.add_column(key_name, overflow="fold")
    for _, title in _SUMMARY_COLUMNS:
        # Headers stay whole; a narrow terminal wraps the key column instead.
        table.add_column(title, justify="right", min_width=len(title), no_wrap=True)
    for i, g in enumerate([*groups, total] if by is not None else [total]):
        is_total = by is not None and i == len(groups)
        metrics = _metrics(g)
        cells = [_fmt_number(metrics[name]) for name, _ in _SUMMARY_COLUMNS]
        if by is not None:
            cells.insert(0, "TOTAL" if is_total else (g.key or "(none)"))
        table.add_row(*cells, end_section=i == len(groups) - 1 and by is not None)
    out().print(table)


def _metrics(summary: UsageSummary) -> dict[str, Any]:
    data = summary.as_dict()
    data.pop("key")
    return data
