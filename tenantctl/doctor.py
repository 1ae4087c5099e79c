"""``tenantctl doctor``: on-demand checks of the operations account's privacy settings.

The check reuses the deploy-time guard's decision, loaded from the Lambda's own
folder (``lambda/invocation_logging_guard/invocation_logging_decision.py``) by
path. One file, two callers: the Lambda asset is that folder as is (no
bundling, no dependencies, so it cannot import ``tenantctl``), and loading it
here means the CLI and the deployed guard can never disagree about what counts
as "prompts are being copied". The file imports only the standard library.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError

GUARD_SOURCE = Path(__file__).resolve().parent.parent / "lambda" / "invocation_logging_guard"
DECISION_MODULE = "invocation_logging_decision"
DECISION_FILE = GUARD_SOURCE / f"{DECISION_MODULE}.py"


@dataclass(frozen=True)
class Result:
    """One check's outcome, as ``doctor`` prints it."""

    check: str
    ok: bool
    message: str
    details: dict[str, str] = field(default_factory=dict)


def load_decision() -> ModuleType:
    """The guard's decision module, imported once under its own name.

    Registered in ``sys.modules`` under the name the Lambda's handler imports,
    so a process that loads both (the tests) holds a single copy.
    """
    loaded = sys.modules.get(DECISION_MODULE)
    if loaded is not None and Path(str(loaded.__file__)).resolve() == DECISION_FILE:
        return loaded
    spec = importlib.util.spec_from_file_location(DECISION_MODULE, DECISION_FILE)
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships with the repo
        raise ImportError(f"cannot load {DECISION_FILE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[DECISION_MODULE] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


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
    verdict = load_decision().evaluate(response, allow=allow)
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
) -> None:
    """Check the operations account: Bedrock invocation logging must not copy prompts there."""
    from tenantctl.cli.app import state
    from tenantctl.cli.targets import target_for

    registry = state(ctx).load_registry()
    ops = registry.operations
    target = target_for(ops.account_id, ops.region, profile=profile, local=local)
    target.check_account()
    result = check_ops_invocation_logging(
        target.client("bedrock"), allow=ops.allow_ops_invocation_logging
    )
    mark = "ok" if result.ok else "FAIL"
    typer.echo(f"{mark}: {result.check} ({target.where}): {result.message}")
    if not result.ok:
        raise typer.Exit(1)
