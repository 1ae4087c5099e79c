"""``tenantctl logs``: the tenant's usage records as stored in its own usage log group."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from contracts.registry import Tenant
from contracts.usage_record import UsageRecord, parse_record
from tenantctl.cli.app import State, app, out, say, state
from tenantctl.cli.errors import CliError
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
from tenantctl.usage import counted
from tenantctl.usage_reader import (
    LogEvent,
    LogGroupMissing,
    UsageReader,
    drop_copies,
    settle_provisional,
)

_LOG_COLUMNS = ("time (UTC)", "user", "application", "model", "status", "in", "out", "ms")


@app.command()
def logs(
    ctx: typer.Context,
    tenant_id: TenantOption,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's records.")] = None,
    since: Annotated[str, typer.Option("--since", help="How far back: 15m, 1h, 7d.")] = "1h",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
    tenant_profile: TenantProfileOption = None,
    local: LocalOption = False,
    profile: ProfileAlias = None,
) -> None:
    """Show the tenant's usage records from its own log group."""
    tenant_profile = deprecated_alias(tenant_profile, profile, new=TENANT_PROFILE, old="--profile")
    window = parse_duration(since)
    options = state(ctx)
    _, tenant = find_tenant(options, tenant_id)
    target = tenant_target(tenant, tenant_profile)
    reader = UsageReader(target.client("logs"))
    start_ms = _ms(datetime.now(UTC) - window)
    events = _events(reader, target, tenant, start_ms, user)
    rows = list(_matching(events, user))

    if as_json:
        for event, _ in rows:
            typer.echo(event.message)
    elif not follow:
        _print_table(rows, tenant, target, since)
    else:
        for event, record in rows:
            say("  ".join(_log_cells(record, event)))
    if follow:
        _follow(options, reader, target, tenant, events, start_ms, user, as_json)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _events(
    reader: UsageReader, target: AwsTarget, tenant: Tenant, start_ms: int, user: str | None
) -> list[LogEvent]:
    with target.errors():
        try:
            return reader.events(tenant.usage_log_group, start_ms=start_ms, user=user)
        except LogGroupMissing as exc:
            raise CliError(
                f"log group {exc.log_group} does not exist in {target.where}: {deploy_hint(tenant)}"
            ) from None


def _matching(
    events: Iterable[LogEvent], user: str | None
) -> Iterator[tuple[LogEvent, UsageRecord]]:
    for event in events:
        record = parse_record(event.message)
        if record is not None and (user is None or record.user_id == user):
            yield event, record


def _status_cell(record: UsageRecord) -> str:
    # Every record is shown as stored; the marks say which one `usage` counts.
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


def _print_table(
    rows: list[tuple[LogEvent, UsageRecord]], tenant: Tenant, target: AwsTarget, since: str
) -> None:
    table = Table(*_LOG_COLUMNS)
    for column in table.columns:
        column.overflow = "fold"  # wrap ids rather than cut them off
    for event, record in rows:
        table.add_row(*_log_cells(record, event))
    out().print(table)
    say(
        f"{counted(len(rows), 'record')} in {tenant.usage_log_group} ({target.where}) "
        f"since {since} ago"
    )
    records = [record for _, record in rows]
    unique = drop_copies(records)
    copies = len(records) - len(unique)
    if copies:
        say(
            f"{copies} of them {'is a copy' if copies == 1 else 'are copies'} of a record "
            "delivered twice: `tenantctl usage` counts each record once"
        )
    superseded = len(unique) - len(settle_provisional(unique))
    if superseded:
        say(
            f"{superseded} of them provisional and superseded by a later record of the "
            "same invocation: `tenantctl usage` counts that invocation once"
        )


def _follow(
    options: State,
    reader: UsageReader,
    target: AwsTarget,
    tenant: Tenant,
    events: list[LogEvent],
    start_ms: int,
    user: str | None,
    as_json: bool,
) -> None:
    # Poll from the newest timestamp seen; events sharing it are skipped by id.
    seen = {e.event_id for e in events}
    last_ms = max((e.timestamp_ms for e in events), default=start_ms)
    try:
        while True:
            options.sleep(options.follow_poll_seconds)
            fresh = [
                e for e in _events(reader, target, tenant, last_ms, user) if e.event_id not in seen
            ]
            for event, record in _matching(fresh, user):
                typer.echo(event.message if as_json else "  ".join(_log_cells(record, event)))
            seen.update(e.event_id for e in fresh)
            last_ms = max((e.timestamp_ms for e in fresh), default=last_ms)
    except KeyboardInterrupt:
        return
