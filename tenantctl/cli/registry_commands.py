"""Registry commands: onboard, offboard, list, validate."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from contracts import naming
from contracts.registry import (
    RegistryError,
    RegistryIssue,
    Tenant,
    TenantRegistry,
    parse_registry,
)
from tenantctl.cli.app import DEFAULT_REGISTRY, State, app, out, say, state
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.registry_file import RegistryFile, registry_lock, write_atomic

# Shared by the commands that can run the CDK deploys themselves.
OpsProfileOption = Annotated[
    str | None, typer.Option("--ops-profile", help="AWS profile of the operations account.")
]
TenantProfileOption = Annotated[
    str | None, typer.Option("--profile", help="AWS profile of the tenant account.")
]


def unknown_tenant(registry: TenantRegistry, tenant_id: str, *, field: str = "") -> BadInput:
    """The error for a tenant id the registry does not list (``field``: the argument's name)."""
    known = ", ".join(t.id for t in registry.tenants) or "none"
    prefix = f"{field}: " if field else ""
    return BadInput(f"{prefix}unknown tenant '{tenant_id}' (known: {known})")


def _settings_asked(
    models: list[str] | None, log_content: str | None, retention_days: int | None
) -> dict[str, Any]:
    """The tenant settings an onboard or update names, as registry fields."""
    asked: dict[str, Any] = {}
    if models:
        asked["models"] = list(models)
    if log_content is not None:
        asked["log_content"] = log_content
    if retention_days is not None:
        asked["log_retention_days"] = retention_days
    return asked


def find_tenant(st: State, tenant_id: str) -> tuple[TenantRegistry, Tenant]:
    """Load the registry and one tenant from it; BadInput for an unknown id."""
    registry = st.load_registry()
    for spec in registry.tenants:
        if spec.id == tenant_id:
            return registry, registry.resolve(spec)
    raise unknown_tenant(registry, tenant_id)


def new_external_id(tenant_id: str, taken: set[str]) -> str:
    """A fresh ExternalId: the tenant id plus 64 random bits, unique in the registry."""
    while True:
        candidate = f"{tenant_id}-{secrets.token_hex(8)}"
        if candidate not in taken:
            return candidate


# --- deploy commands -----------------------------------------------------------------------


def _cdk(verb: str, stack: str, profile: str | None, placeholder: str, st: State) -> list[str]:
    argv = ["npx", "cdk", verb, stack]
    if verb == "destroy":
        argv.append("--force")  # tenantctl already asked for confirmation
    argv += ["--profile", profile or placeholder]
    if st.registry_path != DEFAULT_REGISTRY:
        # The CDK app reads the registry path from context (app.py).
        argv += ["-c", f"registry={st.registry_path}"]
    return argv


def _show(argv: Sequence[str]) -> str:
    # Placeholders like <ops-profile> must stay visible, not be shell-quoted away.
    return " ".join(a if a.startswith("<") else shlex.quote(a) for a in argv)


def _run_steps(steps: Sequence[Sequence[str]], failure_hint: str) -> None:
    """Run CDK commands one after the other, each with a numbered header.

    The CDK CLI keeps the terminal: it draws its own progress and asks before
    broadening IAM permissions, which tenantctl must not answer for the user.
    """
    npx = shutil.which("npx") or str(Path(sys.prefix) / "bin" / "npx")
    if not Path(npx).exists():
        raise CliError("npx not found: run `make setup` (it installs Node into .venv)")
    console = out()
    for n, argv in enumerate(steps, 1):
        console.rule(f"[{n}/{len(steps)}] {_show(argv)}")
        code = subprocess.run([npx, *argv[1:]], check=False, env=os.environ.copy()).returncode
        if code != 0:
            raise CliError(f"`{_show(argv)}` failed (exit {code}); {failure_hint}")
    console.rule("done")


# --- onboard -------------------------------------------------------------------------------


def _conflicts(existing: Tenant, asked: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    have: dict[str, Any] = {
        "account_id": existing.account_id,
        "region": existing.region,
        "models": list(existing.models),
        "log_content": existing.log_content.value,
        "log_retention_days": existing.log_retention_days,
        "operations_account": existing.operations_account,
    }
    return [(k, have[k], v) for k, v in asked.items() if k in have and have[k] != v]


# The onboard argument or option each field of the new tenant's entry comes from.
_OPTION_FOR_FIELD = {
    "id": "tenant-id",
    "account_id": "--account",
    "region": "--region",
    "models": "--models",
    "log_content": "--log-content",
    "log_retention_days": "--retention-days",
    "operations_account": "--operations-account",
    "usage_sink": "--usage-sink",
    "snap_start": "--snap-start",
    "cost_centre": "--cost-centre",
    "application_inference_profiles": "--inference-profiles",
}
# Which stacks hold each setting `update` can change: the invoker role's policy,
# tags and profiles are in the operations shard; the rest in the customer stack.
_OPERATIONS_FIELDS = frozenset({"models", "cost_centre", "application_inference_profiles"})
_CUSTOMER_FIELDS = frozenset(
    {
        "models",
        "log_content",
        "log_retention_days",
        "usage_sink",
        "snap_start",
        "application_inference_profiles",
    }
)
_UPDATE_FIELDS = (
    "models",
    "log_content",
    "log_retention_days",
    "usage_sink",
    "snap_start",
    "cost_centre",
    "application_inference_profiles",
)
_FIELD_PATH_RE = re.compile(r"^(?P<field>\w+)(?:\[(?P<item>\d+)\])?$")
_TENANT_REF_RE = re.compile(r"tenants\[(\d+)\]")


def _onboard_issue(
    issue: RegistryIssue, index: int, entry: Mapping[str, Any], registry: TenantRegistry
) -> str:
    """An issue of the registry with the new entry at ``tenants[index]``, as the user typed it.

    An issue on the new entry names the option it came from (``--account: must
    be 12 digits``) and the other tenant a clash is with; an issue elsewhere
    keeps its registry path.
    """
    prefix = f"tenants[{index}]."
    match = _FIELD_PATH_RE.match(issue.path.removeprefix(prefix))
    if not issue.path.startswith(prefix) or not match or match["field"] not in _OPTION_FOR_FIELD:
        return str(issue)
    field = match["field"]
    option = _OPTION_FOR_FIELD[field]
    if match["item"] is not None:
        # One of several --models: name it unless the message quotes it.
        values = entry.get(field) or []
        item = int(match["item"])
        value = str(values[item]) if item < len(values) else ""
        if value and value not in issue.message:
            option = f"{option} {value}"

    def name_tenant(ref: re.Match[str]) -> str:
        i = int(ref[1])
        if i < len(registry.tenants):
            return f"tenant '{registry.tenants[i].id}' ({ref[0]})"
        return ref[0]

    return f"{option}: {_TENANT_REF_RE.sub(name_tenant, issue.message)}"


@app.command()
def onboard(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(help="Tenant id: lowercase letters, digits, -.")],
    account: Annotated[str, typer.Option("--account", help="The tenant's 12-digit account id.")],
    region: Annotated[str, typer.Option("--region", help="Region of the tenant's function.")],
    models: Annotated[
        list[str] | None,
        typer.Option("--models", help="Allowed model id (repeat); default: registry defaults."),
    ] = None,
    log_content: Annotated[
        str | None,
        typer.Option(
            "--log-content", help="metadata | redacted | full; default: registry defaults."
        ),
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option("--retention-days", help="Usage log retention; default: registry defaults."),
    ] = None,
    operations_account: Annotated[
        str | None,
        typer.Option(
            "--operations-account",
            help="Operations account (its name) to serve the tenant; default: the first "
            "with a role to spare.",
        ),
    ] = None,
    deploy: Annotated[bool, typer.Option("--deploy", help="Run the CDK deploys too.")] = False,
    ops_profile: OpsProfileOption = None,
    profile: TenantProfileOption = None,
) -> None:
    """Add a tenant to the registry (validated first, written atomically) and deploy it."""
    st = state(ctx)
    asked: dict[str, Any] = {
        "account_id": account,
        "region": region,
        **_settings_asked(models, log_content, retention_days),
    }
    if operations_account is not None:
        asked["operations_account"] = operations_account

    # Read, validate and write as one step: two onboardings never lose a tenant.
    with registry_lock(st.registry_path):
        doc = RegistryFile.read(st.registry_path)
        registry = doc.validated()

        index = doc.index_of(tenant_id)
        if index is not None:
            existing = registry.tenant(tenant_id)
            conflicts = _conflicts(existing, asked)
            if conflicts:
                raise BadInput(
                    "\n".join(
                        f"tenants[{index}].{key}: tenant '{tenant_id}' is already onboarded with "
                        f"{key} {have} (asked for {want}); offboard it first or edit "
                        f"{st.registry_path} by hand"
                        for key, have, want in conflicts
                    )
                )
            say(
                f"tenant '{tenant_id}' is already onboarded with these settings: nothing changed "
                f"(ExternalId {existing.external_id} kept)"
            )
            tenant = existing
        else:
            taken = {t.external_id for t in registry.tenants}
            try:
                ops = (
                    registry.operations_account(operations_account)
                    if operations_account is not None
                    else registry.operations_for_new_tenant()
                )
            except KeyError as exc:
                raise BadInput(f"--operations-account: {exc.args[0]}") from None
            entry: dict[str, Any] = {
                "id": tenant_id,
                "account_id": account,
                "region": region,
                "external_id": new_external_id(tenant_id, taken),
            }
            if registry.additional_operations:
                entry["operations_account"] = ops.name
            # Recorded once: the tenant's invoker role stays in this stack for good.
            entry["shard"] = registry.shard_for_new_tenant(ops.name)
            for key in ("models", "log_content", "log_retention_days"):
                if key in asked:
                    entry[key] = asked[key]
            edit = doc.add_tenant(entry)
            # Validate the whole new registry before touching the file, so a bad
            # argument is refused with the registry's own message, naming the option.
            try:
                new_registry = parse_registry(edit.data, str(st.registry_path))
            except RegistryError as exc:
                index = len(registry.tenants)  # the entry was appended
                issues = exc.issues
                if any(i.path == f"tenants[{index}].id" for i in issues):
                    # The generated ExternalId starts with the tenant id, so a bad id
                    # makes it bad too: report the id, not a value nobody typed.
                    issues = [i for i in issues if i.path != f"tenants[{index}].external_id"]
                raise BadInput(
                    "\n".join(_onboard_issue(i, index, entry, registry) for i in issues)
                ) from None
            write_atomic(st.registry_path, edit.text, expected_current=doc.text)
            tenant = new_registry.tenant(tenant_id)
            say(
                f"onboarded tenant '{tenant.id}' (account {tenant.account_id}, {tenant.region}) "
                f"into {st.registry_path}"
            )
            say(f"  ExternalId: {tenant.external_id}")
            say(f"  models: {', '.join(tenant.models)}")
            say(
                f"  usage logs: {tenant.usage_log_group} ({tenant.log_content.value}, "
                f"{tenant.log_retention_days} days)"
            )

    steps = [
        _cdk("deploy", tenant.operations_stack_name, ops_profile, "<ops-profile>", st),
        _cdk("deploy", tenant.stack_name, profile, f"<{tenant.id}-profile>", st),
    ]
    if deploy:
        _run_steps(
            steps, "the registry already lists the tenant; fix the cause and re-run the command"
        )
        say(
            f"deployed: try `tenantctl invoke --tenant {tenant.id} --prompt hello "
            "--user-id u1 --application-id demo`"
        )
        return
    say("Next, deploy (operations account first, then the tenant's account):")
    for argv in steps:
        say(f"  {_show(argv)}")


# --- update --------------------------------------------------------------------------------


@app.command()
def update(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(help="The tenant to change.")],
    models: Annotated[
        list[str] | None,
        typer.Option("--models", help="Allowed model id (repeat): replaces the list."),
    ] = None,
    log_content: Annotated[
        str | None, typer.Option("--log-content", help="metadata | redacted | full.")
    ] = None,
    retention_days: Annotated[
        int | None, typer.Option("--retention-days", help="Usage log retention in days.")
    ] = None,
    usage_sink: Annotated[
        str | None,
        typer.Option("--usage-sink", help="api (PutLogEvents) | stdout (Lambda log delivery)."),
    ] = None,
    snap_start: Annotated[
        bool | None,
        typer.Option("--snap-start/--no-snap-start", help="Lambda SnapStart (charged)."),
    ] = None,
    cost_centre: Annotated[
        str | None,
        typer.Option("--cost-centre", help="Cost-allocation tag on the tenant's invoker role."),
    ] = None,
    inference_profiles: Annotated[
        bool | None,
        typer.Option(
            "--inference-profiles/--no-inference-profiles",
            help="One tagged application inference profile per model.",
        ),
    ] = None,
    ops_profile: OpsProfileOption = None,
    profile: TenantProfileOption = None,
) -> None:
    """Change a tenant's models, log content, retention, usage sink, SnapStart, cost
    centre or inference profiles; print exactly which stacks to redeploy.

    Validated like onboard and written atomically. The tenant's shard, operations
    account and ExternalId never change here: moving a role is an outage.
    """
    st = state(ctx)
    with registry_lock(st.registry_path):
        doc = RegistryFile.read(st.registry_path)
        registry = doc.validated()
        index = doc.index_of(tenant_id)
        if index is None:
            raise unknown_tenant(registry, tenant_id, field="tenant-id")
        before = registry.tenant(tenant_id)
        changes = _settings_asked(models, log_content, retention_days)
        more = {
            "usage_sink": usage_sink,
            "snap_start": snap_start,
            "cost_centre": cost_centre,
            "application_inference_profiles": inference_profiles,
        }
        changes.update({field: value for field, value in more.items() if value is not None})
        if not changes:
            raise BadInput(
                "--models / --log-content / --retention-days / --usage-sink / --snap-start / "
                "--cost-centre / --inference-profiles: give at least one"
            )
        edit = doc.update_tenant(index, changes)
        try:
            new_registry = parse_registry(edit.data, str(st.registry_path))
        except RegistryError as exc:
            raise BadInput(
                "\n".join(_onboard_issue(i, index, changes, registry) for i in exc.issues)
            ) from None
        after = new_registry.tenant(tenant_id)
        changed = [
            field for field in _UPDATE_FIELDS if getattr(before, field) != getattr(after, field)
        ]
        if not changed:
            say(f"tenant '{tenant_id}' already has these settings: nothing changed")
            return
        write_atomic(st.registry_path, edit.text, expected_current=doc.text)
    for field in changed:
        say(f"  {field}: {_shown(getattr(before, field))} -> {_shown(getattr(after, field))}")
    # Operations first: a customer stack may need what its shard outputs (profile ARNs).
    steps = []
    if _OPERATIONS_FIELDS.intersection(changed):
        steps.append(_cdk("deploy", after.operations_stack_name, ops_profile, "<ops-profile>", st))
    if _CUSTOMER_FIELDS.intersection(changed):
        steps.append(_cdk("deploy", after.stack_name, profile, f"<{after.id}-profile>", st))
    stacks = " and ".join(step[3] for step in steps)
    say(f"updated tenant '{tenant_id}' in {st.registry_path}; redeploy {stacks}, in this order:")
    for argv in steps:
        say(f"  {_show(argv)}")


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(getattr(value, "value", value))


# --- offboard ------------------------------------------------------------------------------


@app.command()
def offboard(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(help="Tenant to remove.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Destroy the customer stack and redeploy ops.")
    ] = False,
    ops_profile: OpsProfileOption = None,
    profile: TenantProfileOption = None,
) -> None:
    """Remove a tenant from the registry; its usage logs stay in its account."""
    st = state(ctx)
    doc = RegistryFile.read(st.registry_path)
    registry = doc.validated()
    index = doc.index_of(tenant_id)
    if index is None:
        raise unknown_tenant(registry, tenant_id)
    tenant = registry.tenant(tenant_id)

    if not yes:
        question = (
            f"Remove tenant '{tenant.id}' (account {tenant.account_id}, {tenant.region}) from "
            f"{st.registry_path}?"
        )
        try:
            confirmed = typer.confirm(question, default=False)
        except typer.Abort:  # no answer (stdin closed): the safe default
            confirmed = False
        if not confirmed:
            raise CliError("aborted: nothing changed (pass --yes to skip this question)")

    destroy = _cdk("destroy", tenant.stack_name, profile, f"<{tenant.id}-profile>", st)
    if deploy:
        # `cdk destroy` finds the stack only while the app still synthesizes it,
        # so the customer stack goes first, then the registry entry.
        _run_steps([destroy], "the tenant is still in the registry")

    with registry_lock(st.registry_path):
        # Read again under the lock: another tenantctl may have edited it meanwhile.
        doc = RegistryFile.read(st.registry_path)
        index = doc.index_of(tenant_id)
        if index is None:
            raise CliError(f"tenant '{tenant_id}' was removed meanwhile: nothing changed")
        edit = doc.remove_tenant(index)
        parse_registry(edit.data, str(st.registry_path))
        write_atomic(st.registry_path, edit.text, expected_current=doc.text)
    say(f"removed tenant '{tenant.id}' from {st.registry_path}")

    ops_deploy = _cdk("deploy", tenant.operations_stack_name, ops_profile, "<ops-profile>", st)
    role = naming.invoker_role_name(tenant.id)
    if deploy:
        _run_steps([ops_deploy], "re-run it to delete the operations role")
    else:
        say(f"Next, in the operations account (deletes the role {role}; calls stop at once):")
        say(f"  {_show(ops_deploy)}")
        delete_stack = [
            "aws", "cloudformation", "delete-stack", "--stack-name", tenant.stack_name,
            "--region", tenant.region, "--profile", profile or f"<{tenant.id}-profile>",
        ]  # fmt: skip
        say(
            f"Then destroy the customer stack {tenant.stack_name} in account "
            f"{tenant.account_id} ({tenant.region}). The CDK app no longer knows it, so use:"
        )
        say(f"  {_show(delete_stack)}")
        say(
            f"  (or, before offboarding, `{_show(destroy)}`; "
            f"`tenantctl offboard {tenant.id} --deploy` does it in that order)"
        )
    say(
        f"Retained in account {tenant.account_id}: the usage log group "
        f"{tenant.usage_log_group} and its KMS key. The tenant's data stays with the tenant; "
        "delete them there only if the tenant asks."
    )


# --- list / validate -----------------------------------------------------------------------


def _tenant_row(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "account_id": t.account_id,
        "region": t.region,
        "models": list(t.models),
        "log_content": t.log_content.value,
        "log_retention_days": t.log_retention_days,
        "function_name": t.function_name,
        "stack_name": t.stack_name,
    }


@app.command("list")
def list_tenants(
    ctx: typer.Context,
    output_format: Annotated[
        str, typer.Option("--format", help="table | json", case_sensitive=False)
    ] = "table",
) -> None:
    """List the tenants with their effective settings (defaults applied)."""
    fmt = output_format.lower()
    if fmt not in {"table", "json"}:
        raise BadInput(f"--format: '{output_format}' is not one of table, json")
    tenants = state(ctx).load_registry().resolved_tenants()
    if fmt == "json":
        typer.echo(json.dumps([_tenant_row(t) for t in tenants], indent=2))
        return
    table = Table("id", "account", "region", "log content", "retention (days)")
    # Model ids are long; wrap them rather than cut them off with an ellipsis.
    table.add_column("models", overflow="fold")
    for t in tenants:
        table.add_row(
            t.id,
            t.account_id,
            t.region,
            t.log_content.value,
            str(t.log_retention_days),
            "\n".join(t.models),
        )
    out().print(table)


@app.command()
def validate(ctx: typer.Context) -> None:
    """Check the registry (no synth); print every issue; exit 2 if there are any."""
    st = state(ctx)
    registry = st.load_registry()
    say(f"{st.registry_path}: valid ({len(registry.tenants)} tenants)")
