"""``tenantctl doctor``: on-demand checks of the operations account's privacy settings.

The check uses the deploy-time guard's own decision, ``contracts.invocation_logging``
(the bundler copies the contracts package into the guard's asset), so the CLI
and the deployed guard can never disagree about what counts as "prompts are
being copied".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError

from contracts.invocation_logging import evaluate


@dataclass(frozen=True)
class Result:
    """One check's outcome, as ``doctor`` prints it."""

    check: str
    ok: bool
    message: str
    details: dict[str, str] = field(default_factory=dict)


def check_ops_invocation_logging(bedrock: Any, allow: bool) -> Result:
    """Is Bedrock's model-invocation logging copying prompts into the operations account?

    ``bedrock`` is a boto3 Bedrock (control-plane) client for the operations
    account and region, or a boto3 Session to build one from. ``allow`` is the
    registry's ``operations.allow_ops_invocation_logging``.
    """
    name = "ops-invocation-logging"
    client = (
        bedrock
        if hasattr(bedrock, "get_model_invocation_logging_configuration")
        else bedrock.client("bedrock")
    )
    try:
        response = client.get_model_invocation_logging_configuration()
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return Result(
            name,
            False,
            f"cannot read the invocation-logging setting: {exc.operation_name}: "
            f"{err.get('Code')}: {err.get('Message')}",
        )
    except BotoCoreError as exc:
        return Result(name, False, f"cannot read the invocation-logging setting: {exc}")
    verdict = evaluate(response, allow=allow)
    return Result(
        name,
        bool(verdict.ok),
        str(verdict.message),
        {
            "logging_enabled": str(verdict.logging_enabled).lower(),
            "content_delivered": ",".join(verdict.content_kinds) or "none",
        },
    )


def doctor_command(
    ctx: typer.Context,
    profile: Annotated[
        str | None, typer.Option("--profile", help="AWS profile for the operations account.")
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Use the embedded cloud (`tenantctl local up`).")
    ] = False,
    operations_account: Annotated[
        str | None,
        typer.Option(
            "--operations-account", help="Which operations account (its name); default: the first."
        ),
    ] = None,
) -> None:
    """Check an operations account: Bedrock invocation logging must not copy prompts there."""
    from tenantctl.cli.app import state
    from tenantctl.cli.errors import BadInput
    from tenantctl.cli.targets import target_for

    registry = state(ctx).load_registry()
    try:
        ops = registry.operations_account(operations_account or registry.operations.name)
    except KeyError as exc:
        raise BadInput(f"--operations-account: {exc.args[0]}") from None
    target = target_for(ops.account_id, ops.region, profile=profile, local=local)
    target.check_account()
    result = check_ops_invocation_logging(
        target.client("bedrock"), allow=ops.allow_ops_invocation_logging
    )
    mark = "ok" if result.ok else "FAIL"
    typer.echo(f"{mark}: {result.check} ({target.where}): {result.message}")
    if not result.ok:
        raise typer.Exit(1)
