"""``tenantctl invoke``: call the tenant's Bedrock function in the tenant's own account."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.text import Text

from contracts.naming import INVOKER_ALIAS
from contracts.registry import Tenant
from tenantctl.cli.app import app, out, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import (
    TENANT_PROFILE,
    LocalOption,
    ProfileAlias,
    TenantOption,
    TenantProfileOption,
    deprecated_alias,
)
from tenantctl.cli.registry_commands import find_tenant
from tenantctl.cli.targets import AwsTarget, deploy_hint, function_arn, tenant_target


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
    tenant_profile: TenantProfileOption = None,
    local: LocalOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw function result.")] = False,
    profile: ProfileAlias = None,
) -> None:
    """Invoke the tenant's Bedrock function (lambda.invoke in the tenant's account)."""
    tenant_profile = deprecated_alias(tenant_profile, profile, new=TENANT_PROFILE, old="--profile")
    _, tenant = find_tenant(state(ctx), tenant_id)
    if model is not None and model not in tenant.models:
        raise BadInput(
            f"--model: '{model}' is not allowed for tenant {tenant.id} "
            f"(allowed: {', '.join(tenant.models)})"
        )
    target = tenant_target(tenant, tenant_profile)
    event: dict[str, Any] = {"prompt": prompt, "user_id": user_id, "application_id": application_id}
    if model is not None:
        event["model_id"] = model
    function_error, result = _call(target, tenant, event)
    if function_error:
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


def _call(target: AwsTarget, tenant: Tenant, event: dict[str, Any]) -> tuple[bool, Any]:
    """(whether the function raised, its JSON result) of one synchronous invocation."""
    with target.errors():
        try:
            response = target.client("lambda").invoke(
                FunctionName=function_arn(tenant, target),
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
                    f"{deploy_hint(tenant)}"
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
    return bool(response.get("FunctionError")), result


def _throttled_message(tenant: Tenant, error: dict[str, Any]) -> str:
    return (
        f"Bedrock throttled the request for tenant {tenant.id} "
        f"({error.get('type')}: {error.get('message')}): the operations account's quota for "
        "this model is exhausted for now; retry with backoff or raise the quota there"
    )


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
