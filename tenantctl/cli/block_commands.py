"""``tenantctl block``, ``unblock`` and ``status``: stop a tenant's Bedrock calls by hand.

A block is an explicit deny on the tenant's invoker role in its operations
account, with a record of since when, by whom and why (:mod:`tenantctl.blocks`
owns both). ``--all`` is the emergency stop: every tenant of one operations
account. Every command here needs the operations account's credentials
(``--ops-profile``, or ``TENANTCTL_OPS_PROFILE``), and none needs a tenant's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

import typer
from botocore.exceptions import ClientError

from contracts import naming
from contracts.registry import Operations, Tenant, TenantRegistry
from tenantctl import blocks
from tenantctl.cli.app import app, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import (
    OPERATIONS_ACCOUNT,
    TENANT,
    OperationsAccountOption,
    OpsProfileOption,
    OptionalTenantOption,
    ReportFormat,
    TenantOption,
)
from tenantctl.cli.registry_commands import unknown_tenant
from tenantctl.cli.targets import AwsTarget, operations_target

ALL = "--all"
REASON = "--reason"
# Blocks of one operations account run this many at a time: an emergency stop
# of a full account (1,000 roles) should take seconds, not minutes, and stay
# well under IAM's request rate.
PARALLEL_BLOCKS = 8

AllOption = Annotated[
    bool,
    typer.Option(ALL, help="Every tenant of one operations account (--operations-account)."),
]
ReasonOption = Annotated[
    str | None,
    typer.Option(REASON, help="Why, in one line; shown by status and list --blocks."),
]

Outcome = TypeVar("Outcome")


def _selected(
    registry: TenantRegistry,
    tenant_id: str | None,
    all_tenants: bool,
    operations_account: str | None,
) -> tuple[Operations, list[Tenant]]:
    """The operations account and the tenants a command acts on; BadInput names the option."""
    if tenant_id is not None and all_tenants:
        raise BadInput(f"{TENANT} / {ALL}: give one of the two")
    if tenant_id is None and not all_tenants:
        raise BadInput(
            f"{TENANT} / {ALL}: give one (a tenant, or every tenant of an operations account)"
        )
    if tenant_id is not None:
        if operations_account is not None:
            raise BadInput(
                f"{OPERATIONS_ACCOUNT}: only with {ALL}; a tenant's operations account is the "
                "registry's"
            )
        if tenant_id not in {t.id for t in registry.tenants}:
            raise unknown_tenant(registry, tenant_id, field=TENANT)
        tenant = registry.tenant(tenant_id)
        return registry.operations_account(tenant.operations_account), [tenant]
    try:
        ops = registry.operations_account(operations_account or registry.operations.name)
    except KeyError as exc:
        raise BadInput(f"{OPERATIONS_ACCOUNT}: {exc.args[0]}") from None
    return ops, [t for t in registry.resolved_tenants() if t.operations_account == ops.name]


def _checked_target(ops: Operations, ops_profile: str | None) -> AwsTarget:
    """The operations account's credentials, refused unless they are that account's."""
    target = operations_target(ops, ops_profile)
    with target.errors():
        target.check_account()
        # Made once here: the parallel blocks share them (clients are thread-safe).
        for service in ("iam", "ssm", "sts"):
            target.client(service)
    return target


def _each(
    target: AwsTarget, tenants: list[Tenant], action: Callable[[Tenant], Outcome]
) -> list[tuple[Tenant, Outcome | str]]:
    """``action`` for every tenant, a few at a time; a tenant's failure is its message."""

    def attempt(tenant: Tenant) -> tuple[Tenant, Outcome | str]:
        try:
            with target.errors():
                return tenant, action(tenant)
        except (CliError, blocks.BlockError) as exc:
            return tenant, str(exc)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            return tenant, f"{exc.operation_name}: {err.get('Code')}: {err.get('Message')}"

    if len(tenants) == 1:
        return [attempt(tenants[0])]
    with ThreadPoolExecutor(max_workers=PARALLEL_BLOCKS) as pool:
        return list(pool.map(attempt, tenants))


def _where(tenant: Tenant, target: AwsTarget) -> str:
    return f"role {naming.invoker_role_name(tenant.id)} in {target.where}"


@app.command("block")
def block_command(
    ctx: typer.Context,
    tenant_id: OptionalTenantOption = None,
    all_tenants: AllOption = False,
    operations_account: OperationsAccountOption = None,
    reason: ReasonOption = None,
    ops_profile: OpsProfileOption = None,
) -> None:
    """Stop a tenant's Bedrock calls (or, with --all, every tenant's of an operations account).

    An explicit deny on the tenant's invoker role: its calls are refused with
    AccessDeniedException within IAM's propagation time, whatever its function
    does. A deploy keeps it; unblock lifts it.
    """
    registry = state(ctx).load_registry()
    ops, tenants = _selected(registry, tenant_id, all_tenants, operations_account)
    if reason is None:
        raise BadInput(f"{REASON}: missing; say why the tenant is blocked")
    problem = blocks.check_reason(reason)
    if problem is not None:
        raise BadInput(f"{REASON}: {problem}")
    target = _checked_target(ops, ops_profile)
    with target.errors():
        author = blocks.caller_arn(target)

    def block_one(tenant: Tenant) -> tuple[blocks.BlockStatus | None, blocks.BlockStatus]:
        before = blocks.status(target, tenant.id)
        return before, blocks.block(target, tenant.id, reason=reason, by=author)

    failed = 0
    for tenant, outcome in _each(target, tenants, block_one):
        if isinstance(outcome, str):
            failed += 1
            say(f"{tenant.id}: NOT blocked: {outcome}")
            continue
        before, after = outcome
        if before is not None and before.recorded and before == after:
            say(f"{tenant.id}: already {after.describe()} (unchanged)")
        else:
            say(f"{tenant.id}: {after.describe()} ({_where(tenant, target)})")
    _summary("blocked", ops, target, len(tenants), failed, all_tenants)
    if tenants and failed < len(tenants):
        say(
            "Its calls are refused with AccessDeniedException within IAM's propagation time; "
            "lift with tenantctl unblock."
        )
    if failed:
        raise typer.Exit(1)


@app.command("unblock")
def unblock_command(
    ctx: typer.Context,
    tenant_id: OptionalTenantOption = None,
    all_tenants: AllOption = False,
    operations_account: OperationsAccountOption = None,
    ops_profile: OpsProfileOption = None,
) -> None:
    """Lift a tenant's block (or, with --all, every block of an operations account)."""
    registry = state(ctx).load_registry()
    ops, tenants = _selected(registry, tenant_id, all_tenants, operations_account)
    target = _checked_target(ops, ops_profile)
    failed = 0
    for tenant, outcome in _each(target, tenants, lambda t: blocks.unblock(target, t.id)):
        if isinstance(outcome, str):
            failed += 1
            say(f"{tenant.id}: NOT unblocked: {outcome}")
        elif outcome is None:
            say(f"{tenant.id}: was not blocked")
        else:
            say(f"{tenant.id}: unblocked (was {outcome.describe()})")
    _summary("unblocked", ops, target, len(tenants), failed, all_tenants)
    if failed:
        raise typer.Exit(1)


def _summary(
    done: str, ops: Operations, target: AwsTarget, total: int, failed: int, all_tenants: bool
) -> None:
    if all_tenants:
        say(
            f"{done} {total - failed} of {total} tenant(s) of operations account "
            f"{ops.name} ({target.where})"
        )


@app.command("status")
def status_command(
    ctx: typer.Context,
    tenant_id: TenantOption,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", help="table (one line) | json", case_sensitive=False),
    ] = ReportFormat.TABLE,
    ops_profile: OpsProfileOption = None,
) -> None:
    """Is the tenant blocked: since when, by whom or which rule, and why."""
    registry = state(ctx).load_registry()
    ops, (tenant,) = _selected(registry, tenant_id, False, None)
    target = _checked_target(ops, ops_profile)
    with target.errors():
        found = blocks.status(target, tenant.id)
    if output_format is ReportFormat.JSON:
        typer.echo(
            json.dumps(
                {"tenant": tenant.id, "blocked": found.to_json() if found else None}, indent=2
            )
        )
        return
    say(f"{tenant.id}: {found.describe() if found else 'not blocked'} ({_where(tenant, target)})")
