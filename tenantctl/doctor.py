"""The checks ``tenantctl doctor`` runs on demand against an operations account.

The command itself is :mod:`tenantctl.cli.doctor_commands`. The check uses the
deploy-time guard's own decision, ``contracts.invocation_logging`` (the bundler
copies the contracts package into the guard's asset), so the CLI and the
deployed guard can never disagree about what counts as "prompts are being
copied".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
