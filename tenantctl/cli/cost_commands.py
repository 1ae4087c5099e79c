"""``tenantctl cost``: Bedrock cost per tenant from Cost Explorer in the operations account."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.table import Table

from contracts.pricing import Pricing
from contracts.registry import Operations, Tenant, TenantRegistry
from tenantctl.cli.app import State, app, out, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import (
    OPERATIONS_ACCOUNT,
    TENANT,
    TENANT_PROFILE,
    LocalOption,
    OperationsAccountOption,
    OperationsAlias,
    OpsProfileOption,
    ProfileAlias,
    ReportFormat,
    TenantProfileOption,
    TenantsOption,
    deprecated_alias,
)
from tenantctl.cli.registry_commands import find_tenant
from tenantctl.cli.targets import AwsTarget, operations_target, tenant_target
from tenantctl.cli.usage_commands import KEY_COLUMN_MIN_WIDTH, read_usage
from tenantctl.cost import (
    DEFAULT_DRIFT_PERCENT,
    DEFAULT_METRIC,
    CostDimension,
    CostMetric,
    CostReport,
    Reconciliation,
    TagCost,
    TagSource,
    bedrock_cost,
    cost_explorer_region,
    cost_tag_key,
    month_window,
    reconcile,
)
from tenantctl.usage import UsageSummary, round_usd, summarize


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
    operations_account: OperationsAccountOption = None,
    ops_profile: OpsProfileOption = None,
    by: Annotated[
        CostDimension,
        typer.Option(
            "--by", help="Split by tenant (tag tenant-id) or cost-centre.", case_sensitive=False
        ),
    ] = CostDimension.TENANT,
    tag_source: Annotated[
        TagSource,
        typer.Option(
            "--tag-source",
            help="principal: the invoker role's tag (every call; iamPrincipal/<key> in Cost "
            "Explorer); resource: the application inference profile's tag.",
            case_sensitive=False,
        ),
    ] = TagSource.PRINCIPAL,
    tag_key_option: Annotated[
        str | None,
        typer.Option(
            "--tag-key",
            help="Group by this Cost Explorer tag key exactly, instead of the one --by and "
            "--tag-source name (as Billing > Cost allocation tags lists it).",
        ),
    ] = None,
    metric: Annotated[
        CostMetric, typer.Option("--metric", help="Cost Explorer metric.")
    ] = DEFAULT_METRIC,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="Also add up each tenant's own usage records (cost_usd) for the same days, "
            "read in each tenant's own account through --tenant-profile (a pattern such as "
            "'tenant-{account_id}' reaches every tenant).",
        ),
    ] = False,
    month: Annotated[
        str | None,
        typer.Option("--month", help="One calendar month, YYYY-MM, instead of --from/--to."),
    ] = None,
    reconciliation: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="For --month, each tenant's bill (Cost Explorer) beside the cost_usd of its "
            "own usage records (read in its account through --tenant-profile), the difference, "
            "and a flag where they drift apart by more than --drift-percent of the bill. "
            "Exit code 1 when any tenant drifts, else 0 (for CI and cron).",
        ),
    ] = False,
    drift_percent: Annotated[
        float | None,
        typer.Option(
            "--drift-percent",
            min=0,
            help=f"With --reconcile: the drift flagged, in % of the bill "
            f"(default {DEFAULT_DRIFT_PERCENT:g}).",
        ),
    ] = None,
    tenant_ids: TenantsOption = None,
    tenant_profile: TenantProfileOption = None,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", help="A table or one JSON document.", case_sensitive=False),
    ] = ReportFormat.TABLE,
    local: LocalOption = False,
    operations: OperationsAlias = None,
    profile: ProfileAlias = None,
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
    operations_account = deprecated_alias(
        operations_account, operations, new=OPERATIONS_ACCOUNT, old="--operations"
    )
    tenant_profile = deprecated_alias(tenant_profile, profile, new=TENANT_PROFILE, old="--profile")
    start, end = _window(start_day, end_day, month, reconciliation)
    if drift_percent is not None and not reconciliation:
        raise BadInput("--drift-percent: only with --reconcile")
    options = state(ctx)
    registry = options.load_registry()
    ops = _operations_account(registry, operations_account)
    tenants = _tenants_of(options, registry, ops, tenant_ids)
    if estimate or reconciliation:
        _check_records_by_tenant("--reconcile" if reconciliation else "--estimate", by)

    target = _operations_target(ops, ops_profile)
    tag_key = tag_key_option or cost_tag_key(by.tag, tag_source)
    report = _cost_report(target, ops, start, end, tag_key, metric)
    recorded: dict[str, UsageSummary] = {}
    if estimate or reconciliation:
        window = (datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC))
        for tenant in tenants:
            recorded[tenant.id] = _recorded_cost(tenant, tenant_profile, *window)
    if reconciliation:
        _report_reconciliation(
            report,
            ops,
            str(month),
            recorded,
            DEFAULT_DRIFT_PERCENT if drift_percent is None else drift_percent,
            output_format,
        )
        return
    if output_format is ReportFormat.JSON:
        typer.echo(json.dumps(_cost_json(report, by, ops, tenants, recorded), indent=2))
    else:
        _print_cost_table(report, by, ops, tenants, recorded)


def _parse_day(value: str | None, option: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{option}: '{value}' is not a date; use YYYY-MM-DD") from None


def _days(start_day: str | None, end_day: str | None) -> tuple[date, date]:
    """[--from, --to): the 1st of this month to tomorrow unless given."""
    today = datetime.now(UTC).date()
    start = _parse_day(start_day, "--from", today.replace(day=1))
    end = _parse_day(end_day, "--to", today + timedelta(days=1))
    if end <= start:
        raise BadInput(f"--to: {end} must be after --from {start} (--to is exclusive)")
    return start, end


def _window(
    start_day: str | None, end_day: str | None, month: str | None, reconciliation: bool
) -> tuple[date, date]:
    """The days asked for: --month, or --from/--to; --reconcile takes a month."""
    if month is None:
        if reconciliation:
            raise BadInput("--month: missing; --reconcile compares one calendar month (YYYY-MM)")
        return _days(start_day, end_day)
    if start_day is not None or end_day is not None:
        raise BadInput("--month: give it or --from/--to, not both")
    try:
        return month_window(month)
    except ValueError as exc:
        raise BadInput(f"--month: {exc}") from None


def _operations_account(registry: TenantRegistry, name: str | None) -> Operations:
    try:
        return registry.operations_account(name or registry.operations.name)
    except KeyError as exc:
        raise BadInput(f"{OPERATIONS_ACCOUNT}: {exc.args[0]}") from None


def _tenants_of(
    options: State, registry: TenantRegistry, ops: Operations, tenant_ids: list[str] | None
) -> list[Tenant]:
    """The tenants the operations account serves, or the --tenant ones among them."""
    tenants = [t for t in registry.resolved_tenants() if t.operations_account == ops.name]
    if not tenant_ids:
        return tenants
    wanted = {find_tenant(options, t)[1].id for t in tenant_ids}
    missing = wanted - {t.id for t in tenants}
    if missing:
        raise BadInput(
            f"{TENANT}: {', '.join(sorted(missing))} not served by operations account "
            f"{ops.name} ({ops.account_id}); pass {OPERATIONS_ACCOUNT}"
        )
    return [t for t in tenants if t.id in wanted]


def _check_records_by_tenant(option: str, by: CostDimension) -> None:
    if by is not CostDimension.TENANT:
        raise BadInput(f"{option}: only with --by tenant (records carry no cost centre)")


def _operations_target(ops: Operations, profile: str | None) -> AwsTarget:
    # Cost Explorer has one endpoint per partition, not one per region.
    probe = operations_target(ops, profile)
    target = operations_target(ops, profile, cost_explorer_region(probe.partition()))
    with target.errors():
        target.check_account()
    return target


def _cost_report(
    target: AwsTarget, ops: Operations, start: date, end: date, tag_key: str, metric: CostMetric
) -> CostReport:
    try:
        return bedrock_cost(
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


def _recorded_cost(
    tenant: Tenant, profile: str | None, start: datetime, end: datetime
) -> UsageSummary:
    """What the tenant's own usage records say its calls cost in [start, end)."""
    target = tenant_target(tenant, profile)
    reading = read_usage(target, tenant, start, end, include_fallback=True)
    inside = [
        r
        for r in reading.records
        if r.timestamp is None or start <= r.timestamp.astimezone(UTC) < end
    ]
    pricing = Pricing(region=tenant.bedrock_region, overrides=tenant.price_overrides)
    return summarize(inside, None, pricing)[0]


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


def _cost_json(
    report: CostReport,
    dimension: CostDimension,
    ops: Operations,
    tenants: list[Tenant],
    recorded: dict[str, UsageSummary],
) -> dict[str, Any]:
    by_value = {c.value: c for c in report.costs}
    return {
        "operations_account": ops.account_id,
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "metric": report.metric,
        "unit": report.unit,
        "tag_key": report.tag_key,
        "estimated": report.estimated,
        # Dollars as the table shows them: Cost Explorer's amounts, summed, carry
        # float noise (0.1 + 0.2 is 0.30000000000000004).
        "groups": [
            {
                dimension.value: value,
                "cost": round_usd(usd),
                "by_service": {
                    service: round_usd(amount)
                    for service, amount in _services(by_value.get(value)).items()
                },
                **(
                    {
                        "records_cost_usd": round_usd(recorded[value].cost_usd),
                        "records_price_sources": list(recorded[value].price_sources),
                    }
                    if value in recorded
                    else {}
                ),
            }
            for value, _, usd in _cost_rows(report, dimension, tenants)
            if value != "(untagged)"
        ],
        "untagged": round_usd(report.usd("")),
        "total": round_usd(report.total_usd),
    }


def _services(cost: TagCost | None) -> dict[str, float]:
    return {} if cost is None else dict(cost.by_service)


def _print_cost_table(
    report: CostReport,
    dimension: CostDimension,
    ops: Operations,
    tenants: list[Tenant],
    recorded: dict[str, UsageSummary],
) -> None:
    from tenantctl.chart import format_usd

    table = Table(
        title=f"Bedrock cost by {report.tag_key}, {report.start} to {report.end} (exclusive), "
        f"operations account {ops.account_id}"
    )
    table.add_column(dimension.value, overflow="fold", min_width=KEY_COLUMN_MIN_WIDTH)
    table.add_column("who", overflow="fold")
    table.add_column(f"Cost Explorer ({report.unit})", justify="right", no_wrap=True)
    if recorded:
        table.add_column("usage records", justify="right", no_wrap=True)
    for value, who, usd in _cost_rows(report, dimension, tenants):
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
    _say_cost_notes(report, dimension, bool(recorded))
    sources = sorted({source for s in recorded.values() for source in s.price_sources})
    if sources:
        say(f"usage records priced at: {', '.join(sources)}")


def _say_cost_notes(report: CostReport, dimension: CostDimension, recorded: bool) -> None:
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


def _report_reconciliation(
    report: CostReport,
    ops: Operations,
    month: str,
    recorded: dict[str, UsageSummary],
    threshold_percent: float,
    output_format: ReportFormat,
) -> None:
    """Print each tenant's bill beside its records; exit 1 when any drifts.

    Only aggregates cross accounts: a dollar figure per tenant from the operations
    account's bill and one from the tenant's own records, read in its account.
    """
    rows = reconcile(
        report,
        {tenant: summary.cost_usd for tenant, summary in recorded.items()},
        threshold_percent=threshold_percent,
    )
    drifting = [r.tenant_id for r in rows if r.drifts]
    if output_format is ReportFormat.JSON:
        typer.echo(
            json.dumps(
                {
                    "operations_account": ops.account_id,
                    "month": month,
                    "from": report.start.isoformat(),
                    "to": report.end.isoformat(),
                    "metric": report.metric,
                    "unit": report.unit,
                    "tag_key": report.tag_key,
                    "estimated": report.estimated,
                    "drift_percent": threshold_percent,
                    "tenants": [_reconciliation_json(r, recorded[r.tenant_id]) for r in rows],
                    "drifting": drifting,
                },
                indent=2,
            )
        )
    else:
        _print_reconciliation_table(report, ops, month, rows, recorded, threshold_percent)
    if drifting:
        raise typer.Exit(1)


def _drift_shown(row: Reconciliation) -> float | None:
    drift = row.drift_percent
    return None if drift is None else round(drift, 1)


def _reconciliation_json(row: Reconciliation, summary: UsageSummary) -> dict[str, Any]:
    return {
        "tenant": row.tenant_id,
        "billed": round_usd(row.billed_usd),
        "metered": round_usd(row.metered_usd),
        "difference": round_usd(row.difference_usd),
        # None: records say there was spend, the bill has none to compare with.
        "drift_percent": _drift_shown(row),
        "drifts": row.drifts,
        "records_priced_now": summary.estimated_cost_records,
        "records_unpriced": summary.unpriced_records,
        "records_price_sources": list(summary.price_sources),
    }


def _print_reconciliation_table(
    report: CostReport,
    ops: Operations,
    month: str,
    rows: tuple[Reconciliation, ...],
    recorded: dict[str, UsageSummary],
    threshold_percent: float,
) -> None:
    from tenantctl.chart import format_usd

    table = Table(
        title=f"Bedrock cost reconciliation, {month}, operations account {ops.account_id} "
        f"(drift over {threshold_percent:g}% of the bill flagged)"
    )
    table.add_column("tenant", overflow="fold", min_width=KEY_COLUMN_MIN_WIDTH)
    table.add_column(f"billed ({report.unit})", justify="right", no_wrap=True)
    table.add_column("metered (records)", justify="right", no_wrap=True)
    table.add_column("difference", justify="right", no_wrap=True)
    table.add_column("drift", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    for row in rows:
        drift = _drift_shown(row)
        sign = "-" if row.difference_usd < 0 else "+" if row.difference_usd > 0 else ""
        table.add_row(
            row.tenant_id,
            format_usd(row.billed_usd),
            format_usd(row.metered_usd),
            sign + format_usd(abs(row.difference_usd)),
            "no bill" if drift is None else f"{drift:+g}%",
            "DRIFT" if row.drifts else "ok",
        )
    out().print(table)
    drifting = [r.tenant_id for r in rows if r.drifts]
    say(
        f"{len(drifting)} of {len(rows)} tenant(s) drift more than {threshold_percent:g}%"
        + (f": {', '.join(drifting)}" if drifting else "")
    )
    if report.estimated:
        say("the bill for this month is not final yet (Cost Explorer: Estimated)")
    unpriced = sum(s.unpriced_records for s in recorded.values())
    if unpriced:
        say(f"{unpriced} record(s) of models without a price are not in metered")
    say(
        "billed: Cost Explorer by the invoker roles' tag, a day behind; metered: the sum of "
        "cost_usd in each tenant's own records. See docs/COST.md, Reconciliation."
    )
