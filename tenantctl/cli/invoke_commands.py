"""``tenantctl invoke``: call the tenant's Bedrock function in the tenant's own account,
or, with ``--stream``, stream the answer through the tenant client library as the
tenant's workload role (``tenantctl.client_stream``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from botocore.exceptions import (
    ClientError,
    EventStreamError,
    NoCredentialsError,
    PartialCredentialsError,
)
from rich.text import Text

from contracts.naming import INVOKER_ALIAS
from contracts.registry import Tenant, TenantRegistry
from contracts.usage_record import UsageRecord
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

if TYPE_CHECKING:
    from bedrock_tenant_client import TenantBedrock

    from tenantctl.client_stream import StreamedCall


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
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Print the answer as it arrives, through the client library as the tenant's "
            "workload role (the registry's workload_role must admit the tenant profile).",
        ),
    ] = False,
    profile: ProfileAlias = None,
) -> None:
    """Invoke the tenant's Bedrock function (lambda.invoke in the tenant's account), or
    with --stream call Bedrock through the client library and print tokens as they arrive."""
    tenant_profile = deprecated_alias(tenant_profile, profile, new=TENANT_PROFILE, old="--profile")
    st = state(ctx)
    registry, tenant = find_tenant(st, tenant_id)
    if model is not None and model not in tenant.models:
        raise BadInput(
            f"--model: '{model}' is not allowed for tenant {tenant.id} "
            f"(allowed: {', '.join(tenant.models)})"
        )
    if stream:
        if as_json:
            raise BadInput("--json: prints the function's result, which --stream does not call")
        entry = _registry_field(registry, tenant)
        _require_workload_role(entry, tenant)
        _stream(
            st.registry_path,
            entry,
            tenant_target(tenant, tenant_profile),
            tenant,
            prompt=prompt,
            model=model,
            application_id=application_id,
            user_id=user_id,
            sleep=st.sleep,
        )
        return
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


# --- --stream: the client library, as the tenant's workload role ---------------------------


def _require_workload_role(entry: str, tenant: Tenant) -> None:
    """Refuse --stream for a tenant whose registry ``entry`` has no workload_role (exit 2)."""
    if tenant.workload_role is not None:
        return
    raise BadInput(
        f"{entry}.workload_role: tenant {tenant.id} has none, and "
        "--stream calls Bedrock as the tenant's workload role; add one whose principals "
        "include the tenant profile's (e.g. workload_role: {principals: "
        f'["arn:aws:iam::{tenant.account_id}:root"]}}) and {deploy_hint(tenant)}'
    )


def _registry_field(registry: TenantRegistry, tenant: Tenant) -> str:
    """``tenants[i]``: where the tenant is in the registry file, as errors name it."""
    index = next(i for i, spec in enumerate(registry.tenants) if spec.id == tenant.id)
    return f"tenants[{index}]"


def _stream(
    registry_path: Path,
    entry: str,
    target: AwsTarget,
    tenant: Tenant,
    *,
    prompt: str,
    model: str | None,
    application_id: str,
    user_id: str,
    sleep: Callable[[float], None],
) -> None:
    """Print the answer as it arrives, then the figures of its usage record (``entry``:
    the tenant's place in the registry, ``tenants[i]``, as errors name it)."""
    # The library brings LangChain (over a second to import): only --stream pays for it.
    from tenantctl import client_stream

    printed: list[str] = []
    streamed = False

    def write(text: str) -> None:
        printed.append(text)
        typer.echo(text, nl=False)  # click flushes stdout after each echo

    def end_line() -> None:
        if printed and not printed[-1].endswith("\n"):
            typer.echo("")

    try:
        with _library_errors(target, tenant, entry):
            bedrock = client_stream.open_tenant_bedrock(registry_path, tenant, target.session)
        with bedrock:  # closing delivers or spools what is still queued
            try:
                with _library_errors(target, tenant, entry):
                    call = client_stream.stream_prompt(
                        bedrock,
                        prompt=prompt,
                        model_id=model,
                        application_id=application_id,
                        user_id=user_id,
                        write=write,
                    )
            finally:
                end_line()
            streamed = True
            bedrock.flush(client_stream.DELIVERY_TIMEOUT_S)
            with target.errors():
                record = client_stream.read_record(
                    target.client("logs"), tenant, call, user_id=user_id, sleep=sleep
                )
            if record is None:
                typer.echo(f"warning: {_unread_record(bedrock, tenant, call)}", err=True)
            else:
                _print_stream_figures(record)
    except KeyboardInterrupt:
        # LangChain reported the interrupt to the library's callback, which recorded
        # the call as cancelled; closing the library above delivered or spooled it.
        recorded = (
            "the answer had ended: its usage record says success"
            if streamed
            else "the call's usage record says cancelled"
        )
        typer.echo(f"error: stopped by Ctrl-C; {recorded}", err=True)
        raise typer.Exit(130) from None


@contextmanager
def _library_errors(target: AwsTarget, tenant: Tenant, entry: str) -> Iterator[None]:
    """The library's and AWS's refusals of a streamed call as one-line CLI errors."""
    from bedrock_tenant_client import CallRefused, SettingsError

    try:
        yield
    except CallRefused as exc:
        raise BadInput(str(exc)) from None
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise target.no_credentials() from None
    except EventStreamError as exc:
        error = exc.response.get("Error", {})
        raise CliError(
            f"the stream failed midway ({error.get('Code')}: {error.get('Message')}); "
            "the usage record says error, with the tokens sent before"
        ) from None
    except ClientError as exc:
        raise CliError(_explain_stream_refusal(exc, tenant, entry)) from None


def _explain_stream_refusal(exc: ClientError, tenant: Tenant, entry: str) -> str:
    """What refused a streamed call, and what to change."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    denied = code in {"AccessDenied", "AccessDeniedException"}
    workload_role = tenant.workload_role_arn or ""
    if denied and exc.operation_name == "AssumeRole" and workload_role in message:
        # AWS names the refused role in the message: the workload role's trust
        # does not list the principal behind the tenant profile.
        return (
            f"the tenant profile's principal may not assume {workload_role} ({message}): "
            f"add it to {entry}.workload_role.principals and {deploy_hint(tenant)}"
        )
    if denied and exc.operation_name == "AssumeRole":
        return (
            f"tenant {tenant.id}'s workload role was refused its invoker role in the operations "
            f"account ({message}): {deploy_hint(tenant)} (both stacks)"
        )
    if denied:
        return f"Bedrock refused the call in the operations account ({code}: {message})"
    if code in {"ThrottlingException", "TooManyRequestsException"}:
        return _throttled_message(tenant, {"type": code, "message": message})
    return f"{exc.operation_name}: {code}: {message}"


def _unread_record(bedrock: TenantBedrock, tenant: Tenant, call: StreamedCall) -> str:
    from tenantctl.client_stream import is_spooled

    if is_spooled(bedrock, call.invocation_id):
        return (
            f"usage record {call.invocation_id} is not delivered: CloudWatch Logs did not take "
            f"it, so it waits in {bedrock.delivery.spool.path} for the next run of the library"
        )
    return (
        f"usage record {call.invocation_id} is not readable in {tenant.usage_log_group} yet; "
        f"tenantctl logs --tenant {tenant.id} shows it once it is"
    )


def _print_stream_figures(record: UsageRecord) -> None:
    """The record's figures, in the line `tenantctl invoke` prints after an answer."""
    out().print(
        Text(
            f"{record.model_id} · {record.input_tokens} in / {record.output_tokens} out / "
            f"{record.total_tokens} total tokens · {_ms(record.latency_ms)} · first token "
            f"{_ms(record.time_to_first_token_ms)} · {record.status} · record "
            f"{record.invocation_id}",
            style="dim",
        )
    )


def _ms(value: float | None) -> str:
    return "? ms" if value is None else f"{value:.0f} ms"
