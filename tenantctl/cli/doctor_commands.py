"""``tenantctl doctor``: check an operations account's privacy settings on demand."""

from __future__ import annotations

import typer

from tenantctl.cli.app import app, state
from tenantctl.cli.errors import BadInput
from tenantctl.cli.options import (
    OPERATIONS_ACCOUNT,
    OPS_PROFILE,
    LocalOption,
    OperationsAccountOption,
    OpsProfileOption,
    ProfileAlias,
    deprecated_alias,
)
from tenantctl.cli.targets import operations_target
from tenantctl.doctor import check_ops_invocation_logging


@app.command("doctor")
def doctor_command(
    ctx: typer.Context,
    ops_profile: OpsProfileOption = None,
    local: LocalOption = False,
    operations_account: OperationsAccountOption = None,
    profile: ProfileAlias = None,
) -> None:
    """Check an operations account: Bedrock invocation logging must not copy prompts there."""
    # `doctor --profile` always meant the operations account's profile.
    ops_profile = deprecated_alias(ops_profile, profile, new=OPS_PROFILE, old="--profile")
    registry = state(ctx).load_registry()
    try:
        ops = registry.operations_account(operations_account or registry.operations.name)
    except KeyError as exc:
        raise BadInput(f"{OPERATIONS_ACCOUNT}: {exc.args[0]}") from None
    target = operations_target(ops, ops_profile)
    with target.errors():
        target.check_account()
    result = check_ops_invocation_logging(
        target.client("bedrock"), allow=ops.allow_ops_invocation_logging
    )
    mark = "ok" if result.ok else "FAIL"
    typer.echo(f"{mark}: {result.check} ({target.where}): {result.message}")
    if not result.ok:
        raise typer.Exit(1)
