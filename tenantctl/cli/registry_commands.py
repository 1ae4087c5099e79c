"""Registry commands: onboard, update, offboard, list, validate.

The tenant settings they take are generated from the settings contract
(``tenantctl.cli.setting_options``); what ``update`` redeploys comes from where
each setting is held. With ``--deploy`` they deploy through the fleet deploy,
the one path ``tenantctl deploy`` takes; without it they print that command.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from contracts import naming
from contracts.registry import (
    RegistryError,
    RegistryIssue,
    Tenant,
    TenantRegistry,
    TenantSpec,
    parse_registry,
    placement,
    unused_override_warnings,
)
from contracts.registry.placement import SLOT_SETTINGS, shard_overflow_of_change
from contracts.tenant_settings import HeldBy, TenantSettings, held_by
from tenantctl import blocks
from tenantctl.cli.app import DEFAULT_REGISTRY, State, app, out, say, state
from tenantctl.cli.deploy_commands import deploy_fleet, destroy_customer_stack
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import (
    OPERATIONS_ACCOUNT,
    TENANT,
    TENANT_PROFILE,
    CdkContextOption,
    LocalOption,
    OperationsAccountOption,
    OpsProfileOption,
    OptionalTenantOption,
    ProfileAlias,
    ReportFormat,
    TenantArgumentAlias,
    TenantProfileOption,
    cdk_context,
    deprecated_alias,
    required,
)
from tenantctl.cli.setting_options import (
    SETTING_OPTIONS,
    UnsetSetting,
    registry_value,
    with_setting_options,
)
from tenantctl.cli.stackset_commands import sync_stack_set
from tenantctl.cli.targets import operations_target, ops_profiles, tenant_profiles
from tenantctl.registry_file import RegistryFile, new_external_id, registry_lock, write_atomic


def unknown_tenant(registry: TenantRegistry, tenant_id: str, *, field: str = "") -> BadInput:
    """The error for a tenant id the registry does not list (``field``: the argument's name)."""
    known = ", ".join(t.id for t in registry.tenants) or "none"
    prefix = f"{field}: " if field else ""
    return BadInput(f"{prefix}unknown tenant '{tenant_id}' (known: {known})")


def find_tenant(st: State, tenant_id: str) -> tuple[TenantRegistry, Tenant]:
    """Load the registry and one tenant from it; BadInput for an unknown id."""
    registry = st.load_registry()
    for spec in registry.tenants:
        if spec.id == tenant_id:
            return registry, registry.resolve(spec)
    raise unknown_tenant(registry, tenant_id)


def _warn(issues: list[RegistryIssue]) -> None:
    """Print registry warnings (valid, but probably not meant) as ``warning:`` lines."""
    for issue in issues:
        typer.echo(f"warning: {issue}", err=True)


def _new_warnings(before: TenantRegistry, after: TenantRegistry) -> list[RegistryIssue]:
    """The warnings a change to the registry brought: the ones it had before are not news."""
    had = set(unused_override_warnings(before))
    return [w for w in unused_override_warnings(after) if w not in had]


def _tenant_id(option: str | None, argument: str | None) -> str:
    """``--tenant``, or the tenant as an argument (its spelling before --tenant)."""
    value = deprecated_alias(option, argument, new=TENANT, old="the tenant id as an argument")
    return required(value, TENANT)


def _tenant_profile(new: str | None, old: str | None) -> str | None:
    return deprecated_alias(new, old, new=TENANT_PROFILE, old="--profile")


def _deploy_hint(st: State, selection: list[str], *, ops: str | None, tenant: str | None) -> str:
    """The command that deploys what a registry change needs, as the user would type it.

    ``selection``: the deploy options that pick the stacks (``--tenant <id>``, ``--all`` ...).
    """
    words = ["tenantctl"]
    if st.registry_path != DEFAULT_REGISTRY:
        words += ["--registry", str(st.registry_path)]
    words += ["deploy", *selection]
    if ops:
        words += ["--ops-profile", ops]
    if tenant:
        words += [TENANT_PROFILE, tenant]
    return shlex.join(words)


def _check_profiles(
    registry: TenantRegistry, tenant: Tenant, ops_profile: str | None, tenant_profile: str | None
) -> None:
    """Refuse, before the registry changes, a profile ``--deploy`` would need and cannot find."""
    ops = registry.operations_account(tenant.operations_account)
    ops_profiles(ops_profile).check_exists(ops.account_id, ops.name)
    tenant_profiles(tenant_profile).check_exists(tenant.account_id, tenant.id)


# --- onboard -------------------------------------------------------------------------------


def _shown_in_registry(tenant: Tenant, name: str) -> Any:
    if name in TenantSettings.model_fields:
        return registry_value(getattr(tenant, name))
    return getattr(tenant, name)


def _conflicts(existing: Tenant, asked: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """What an onboarding of an existing tenant asks for that differs from what it has."""
    return [
        (key, have, want)
        for key, want in asked.items()
        if (have := _shown_in_registry(existing, key)) != want
    ]


# The onboard argument or option each field of the new tenant's entry comes from.
_OPTION_FOR_FIELD = {
    "id": TENANT,
    "account_id": "--account",
    "region": "--region",
    "operations_account": OPERATIONS_ACCOUNT,
    **SETTING_OPTIONS,
}
_FIELD_PATH_RE = re.compile(r"^(?P<field>\w+)(?:\[(?P<item>\d+)\])?")
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


def _new_entry(
    registry: TenantRegistry,
    tenant_id: str,
    asked: Mapping[str, Any],
    operations_account: str | None,
) -> dict[str, Any]:
    """The registry entry of a new tenant: its place is chosen and recorded once.

    The place fits the tenant's own settings (its models, profiles, guardrail),
    not the defaults'; an entry that does not validate gets the defaults' place,
    and validation then names what is wrong with it.
    """
    settings = {k: v for k, v in asked.items() if k in SETTING_OPTIONS}
    entry: dict[str, Any] = {
        "id": tenant_id,
        "account_id": asked["account_id"],
        "region": asked["region"],
        "external_id": new_external_id(tenant_id, {t.external_id for t in registry.tenants}),
    }
    try:
        spec: TenantSpec | None = TenantSpec.model_validate({**entry, **settings})
    except ValidationError:
        spec = None
    try:
        ops = (
            registry.operations_account(operations_account)
            if operations_account is not None
            else registry.operations_for_new_tenant(spec)
        )
    except KeyError as exc:
        raise BadInput(f"{OPERATIONS_ACCOUNT}: {exc.args[0]}") from None
    if registry.additional_operations:
        entry["operations_account"] = ops.name
    # Recorded once: the tenant's invoker role stays in this stack for good.
    entry["shard"] = registry.shard_for_new_tenant(ops.name, spec=spec)
    entry.update(settings)
    return entry


@with_setting_options
def onboard(
    ctx: typer.Context,
    tenant_argument: TenantArgumentAlias = None,
    tenant_option: OptionalTenantOption = None,
    account: Annotated[
        str | None, typer.Option("--account", help="The tenant's 12-digit account id.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region of the tenant's function.")
    ] = None,
    operations_account: OperationsAccountOption = None,
    deploy: Annotated[bool, typer.Option("--deploy", help="Deploy its stacks too.")] = False,
    ops_profile: OpsProfileOption = None,
    tenant_profile: TenantProfileOption = None,
    context: CdkContextOption = None,
    local: LocalOption = False,
    profile: ProfileAlias = None,
    *,
    settings: dict[str, Any],
) -> None:
    """Add a tenant to the registry (validated first, written atomically) and deploy it.

    Settings not given are inherited from the registry's defaults.
    """
    st = state(ctx)
    tenant_id = _tenant_id(tenant_option, tenant_argument)
    tenant_profile = _tenant_profile(tenant_profile, profile)
    asked: dict[str, Any] = {
        "account_id": required(account, "--account"),
        "region": required(region, "--region"),
        **settings,
    }
    if operations_account is not None:
        asked["operations_account"] = operations_account

    # Read, validate and write as one step: two onboardings never lose a tenant.
    with registry_lock(st.registry_path):
        doc = RegistryFile.read(st.registry_path)
        registry = doc.validated()
        index = doc.index_of(tenant_id)
        if index is not None:
            tenant = registry.tenant(tenant_id)
            conflicts = _conflicts(tenant, asked)
            if conflicts:
                raise BadInput(
                    "\n".join(
                        f"tenants[{index}].{key}: tenant '{tenant_id}' is already onboarded with "
                        f"{key} {have} (asked for {want}); offboard it first or change it "
                        "with tenantctl update"
                        for key, have, want in conflicts
                    )
                )
            say(
                f"tenant '{tenant_id}' is already onboarded with these settings: nothing changed "
                f"(ExternalId {tenant.external_id} kept)"
            )
        else:
            entry = _new_entry(registry, tenant_id, asked, operations_account)
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
            tenant = new_registry.tenant(tenant_id)
            if deploy:  # a missing profile is refused before the registry changes
                _check_profiles(new_registry, tenant, ops_profile, tenant_profile)
            write_atomic(st.registry_path, edit.text, expected_current=doc.text)
            _warn(_new_warnings(registry, new_registry))
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
    if deploy:
        by_stack_set = registry.customer_stack_set is not None
        deploy_fleet(
            st,
            [tenant.id],
            ops_profile=ops_profile,
            tenant_profile=tenant_profile,
            context=cdk_context(context),
            # With customer_stack_set, the customer side is the StackSet's instance.
            only={tenant.operations_stack_name} if by_stack_set else None,
        )
        if by_stack_set:
            sync_stack_set(
                st, st.load_registry(), ops_profile=ops_profile, accounts=[tenant.account_id]
            )
        say(
            f"deployed: try `tenantctl invoke --tenant {tenant.id} --prompt hello "
            "--user-id u1 --application-id demo`"
        )
        return
    say("Next, deploy its operations stack and its own stack (in that order, by itself):")
    hint = _deploy_hint(st, [TENANT, tenant.id], ops=ops_profile, tenant=tenant_profile)
    say(f"  {hint}")


app.command()(onboard)


# --- update --------------------------------------------------------------------------------


def _stacks_holding(changed: list[str], tenant: Tenant) -> list[str]:
    """The stacks that hold what changed, operations first (a customer stack may need it)."""
    where = held_by(changed)
    return [
        stack
        for place, stack in (
            (HeldBy.OPERATIONS, tenant.operations_stack_name),
            (HeldBy.CUSTOMER, tenant.stack_name),
        )
        if place in where
    ]


@with_setting_options
def update(
    ctx: typer.Context,
    tenant_argument: TenantArgumentAlias = None,
    tenant_option: OptionalTenantOption = None,
    unset: Annotated[
        list[UnsetSetting] | None,
        typer.Option(
            "--unset",
            help="Drop the tenant's own value of a setting (repeat): it inherits the default.",
            case_sensitive=False,
        ),
    ] = None,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Deploy the stacks that hold what changed.")
    ] = False,
    ops_profile: OpsProfileOption = None,
    tenant_profile: TenantProfileOption = None,
    context: CdkContextOption = None,
    local: LocalOption = False,
    profile: ProfileAlias = None,
    *,
    settings: dict[str, Any],
) -> None:
    """Change a tenant's settings; name (or, with --deploy, deploy) the stacks that hold them.

    Validated like onboard and written atomically, touching only the changed lines.
    The tenant's shard, operations account and ExternalId never change here:
    moving a role is an outage.
    """
    st = state(ctx)
    tenant_id = _tenant_id(tenant_option, tenant_argument)
    tenant_profile = _tenant_profile(tenant_profile, profile)
    changes: dict[str, Any] = dict(settings)
    for setting in unset or []:
        name = setting.value.replace("-", "_")
        if name in changes:
            raise BadInput(f"--unset {setting.value}: also given a value; give one of the two")
        changes[name] = None
    if not changes:
        options = " / ".join([*SETTING_OPTIONS.values(), "--unset"])
        raise BadInput(f"{options}: give at least one")
    with registry_lock(st.registry_path):
        doc = RegistryFile.read(st.registry_path)
        registry = doc.validated()
        index = doc.index_of(tenant_id)
        if index is None:
            raise unknown_tenant(registry, tenant_id, field=TENANT)
        before = registry.tenant(tenant_id)
        edit = doc.update_tenant(index, changes)
        _refuse_shard_overflow(registry, index, edit.data["tenants"][index], changes)
        try:
            new_registry = parse_registry(edit.data, str(st.registry_path))
        except RegistryError as exc:
            raise BadInput(
                "\n".join(_onboard_issue(i, index, changes, registry) for i in exc.issues)
            ) from None
        after = new_registry.tenant(tenant_id)
        changed = [
            name
            for name in TenantSettings.model_fields
            if getattr(before, name) != getattr(after, name)
        ]
        # Setting a value equal to the inherited one changes nothing; dropping a
        # tenant's own value (--unset) is written even when it equals the default.
        if edit.text == doc.text or (not changed and not unset):
            say(f"tenant '{tenant_id}' already has these settings: nothing changed")
            return
        if deploy and _stacks_holding(changed, after):
            _check_profiles(new_registry, after, ops_profile, tenant_profile)
        write_atomic(st.registry_path, edit.text, expected_current=doc.text)
    _warn(_new_warnings(registry, new_registry))
    for name in changed:
        say(f"  {name}: {_shown(getattr(before, name))} -> {_shown(getattr(after, name))}")
    stacks = _stacks_holding(changed, after)
    if not stacks:
        say(f"updated tenant '{tenant_id}' in {st.registry_path}; its settings are the same")
        return
    if deploy:
        deploy_fleet(
            st,
            [tenant_id],
            ops_profile=ops_profile,
            tenant_profile=tenant_profile,
            context=cdk_context(context),
            only=set(stacks),
        )
        return
    say(
        f"updated tenant '{tenant_id}' in {st.registry_path}; redeploy {' and '.join(stacks)} "
        "(unchanged stacks are skipped with --changed):"
    )
    hint = _deploy_hint(
        st, [TENANT, tenant_id, "--changed"], ops=ops_profile, tenant=tenant_profile
    )
    say(f"  {hint}")


app.command()(update)


def _refuse_shard_overflow(
    registry: TenantRegistry, index: int, entry: Mapping[str, Any], changes: Mapping[str, Any]
) -> None:
    """BadInput naming the tenant and the options it changed, if its shard cannot take it.

    Checked before the whole registry, which would name whichever tenant comes
    after the overflow and advise moving it. A changed entry that does not
    validate is left to that validation.
    """
    try:
        changed = TenantSpec.model_validate(entry)
    except ValidationError:
        return
    overflow = shard_overflow_of_change(registry, index, changed)
    if overflow is None:
        return
    options = [
        SETTING_OPTIONS.get(name, name)
        if changes[name] is not None
        else f"--unset {name.replace('_', '-')}"
        for name in SLOT_SETTINGS
        if name in changes
    ]
    raise BadInput(f"{' / '.join(options)}: {overflow}")


def _shown(value: Any) -> str:
    value = registry_value(value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, dict):
        return json.dumps({k: _plain(v) for k, v in value.items()})
    return str(value)


def _plain(value: Any) -> Any:
    return (
        value.model_dump(mode="json", exclude_none=True) if hasattr(value, "model_dump") else value
    )


# --- offboard ------------------------------------------------------------------------------


@app.command()
def offboard(
    ctx: typer.Context,
    tenant_argument: TenantArgumentAlias = None,
    tenant_option: OptionalTenantOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Destroy the customer stack and redeploy ops.")
    ] = False,
    ops_profile: OpsProfileOption = None,
    tenant_profile: TenantProfileOption = None,
    context: CdkContextOption = None,
    local: LocalOption = False,
    profile: ProfileAlias = None,
) -> None:
    """Remove a tenant from the registry; its usage logs stay in its account."""
    st = state(ctx)
    tenant_id = _tenant_id(tenant_option, tenant_argument)
    tenant_profile = _tenant_profile(tenant_profile, profile)
    doc = RegistryFile.read(st.registry_path)
    registry = doc.validated()
    if doc.index_of(tenant_id) is None:
        raise unknown_tenant(registry, tenant_id, field=TENANT)
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

    if deploy:
        # `cdk destroy` finds the stack only while the app still synthesizes it,
        # so the customer stack goes first, then the registry entry.
        if registry.customer_stack_set is not None:
            # Its StackSet instance instead (the stack goes, its log group stays).
            sync_stack_set(
                st,
                registry,
                ops_profile=ops_profile,
                accounts=[tenant.account_id],
                departing=[tenant.id],
            )
        else:
            destroy_customer_stack(
                st,
                tenant,
                ops_profile=ops_profile,
                tenant_profile=tenant_profile,
                context=cdk_context(context),
            )
        # CloudFormation cannot delete a role with an inline policy it does not
        # manage: the block and the downgrade go now that no function can assume the role.
        _lift_all(registry, tenant, ops_profile)

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

    role = naming.invoker_role_name(tenant.id)
    if deploy:
        # The shard without the tenant: its role and profiles go.
        deploy_fleet(
            st,
            None,
            ops_profile=ops_profile,
            tenant_profile=tenant_profile,
            context=cdk_context(context),
            only={tenant.operations_stack_name},
        )
    else:
        redeploy = _deploy_hint(st, ["--all", "--changed"], ops=ops_profile, tenant=None)
        say(f"Next, in the operations account (deletes the role {role}; calls stop at once):")
        say(
            "  First delete what a block or the limit enforcer left beside the role, or it "
            "cannot be deleted (DeleteConflict); NoSuchEntity or ParameterNotFound means "
            "there was none:"
        )
        ops = registry.operations_account(tenant.operations_account)
        ops_named = ops_profiles(ops_profile).profile(ops.account_id, ops.name)
        where = f" --region {ops.region} --profile {ops_named or f'<{ops.name}-profile>'}"
        for command in _lift_all_commands(tenant.id):
            say(f"    {command}{where}")
        say(f"  {redeploy}")
        say(
            f"Then delete the customer stack {tenant.stack_name} in account "
            f"{tenant.account_id} ({tenant.region}); the app no longer knows it:"
        )
        named = tenant_profiles(tenant_profile).profile(tenant.account_id, tenant.id)
        say(
            f"  aws cloudformation delete-stack --stack-name {tenant.stack_name} "
            f"--region {tenant.region} --profile {named or f'<{tenant.id}-profile>'}"
        )
        say(f"  (`tenantctl offboard {TENANT} {tenant.id} --deploy` does both, in the right order)")
    say(
        f"Retained in account {tenant.account_id}: the usage log group "
        f"{tenant.usage_log_group} and its KMS key. The tenant's data stays with the tenant; "
        "delete them there only if the tenant asks."
    )


def _lift_all(registry: TenantRegistry, tenant: Tenant, ops_profile: str | None) -> None:
    """Lift the tenant's block and downgrade, with their records, if it has them."""
    target = operations_target(registry.operations_account(tenant.operations_account), ops_profile)
    with target.errors():
        lifted = blocks.lift_all(target, tenant.id)
    if lifted.block is not None:
        say(f"lifted the block of {tenant.id} so its role can go (was {lifted.block.describe()})")
    if lifted.downgrade is not None:
        say(
            f"lifted the limit enforcer's downgrade of {tenant.id} so its role can go "
            f"(was {lifted.downgrade.describe()})"
        )


def _lift_all_commands(tenant_id: str) -> list[str]:
    """The AWS CLI commands that do what ``blocks.lift_all`` does, in its order."""
    leftovers = blocks.offboarding_leftovers(tenant_id)
    commands: list[str] = []
    for record_name, policy_name in leftovers.restrictions:
        commands.append(f"aws ssm delete-parameter --name {record_name}")
        commands.append(
            f"aws iam delete-role-policy --role-name {leftovers.role_name} "
            f"--policy-name {policy_name}"
        )
    commands.extend(f"aws ssm delete-parameter --name {note}" for note in leftovers.notes)
    return commands


# --- list / validate -----------------------------------------------------------------------


def _tenant_row(t: Tenant) -> dict[str, Any]:
    """A tenant as ``list --format json`` prints it: who, where, and every setting."""
    return {
        "id": t.id,
        "account_id": t.account_id,
        "region": t.region,
        "operations_account": t.operations_account,
        "operations_account_id": t.operations_account_id,
        "shard": t.shard,
        **TenantSettings.model_validate(t, from_attributes=True).model_dump(mode="json"),
        "function_name": t.function_name,
        "stack_name": t.stack_name,
        "operations_stack_name": t.operations_stack_name,
    }


def _on(flag: bool) -> str:
    return "on" if flag else "off"


# (heading, cell) of the table, one line per tenant; the key columns never wrap.
_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("id", lambda t: t.id),
    ("account", lambda t: t.account_id),
    ("region", lambda t: t.region),
    ("operations", lambda t: f"{t.operations_account}/{t.shard}"),
    ("models", lambda t: ", ".join(t.models)),
    ("content", lambda t: t.log_content.value),
    ("days", lambda t: str(t.log_retention_days)),
    ("sink", lambda t: t.usage_sink.value),
    ("snap start", lambda t: _on(t.snap_start)),
    ("profiles", lambda t: _on(t.application_inference_profiles)),
    ("cost centre", lambda t: t.cost_centre or "-"),
)


def _table(tenants: tuple[Tenant, ...], columns: tuple[tuple[str, Any], ...] = _COLUMNS) -> Table:
    table = Table()
    for heading, _ in columns:
        table.add_column(heading, no_wrap=True)
    for t in tenants:
        table.add_row(*(cell(t) for _, cell in columns))
    return table


def _natural_width(
    tenants: tuple[Tenant, ...], columns: tuple[tuple[str, Any], ...] = _COLUMNS
) -> int:
    """The table's width with no cell wrapped: each column's widest cell, padding, borders."""
    widths = [max([len(heading), *(len(cell(t)) for t in tenants)]) for heading, cell in columns]
    return sum(widths) + 3 * len(widths) + 1


def _read_blocks(
    registry: TenantRegistry, tenants: tuple[Tenant, ...], ops_profile: str | None
) -> dict[str, blocks.BlockStatus | None]:
    """Each tenant's block, read from its operations account with --ops-profile."""
    found: dict[str, blocks.BlockStatus | None] = {}
    for ops in registry.operations_accounts():
        members = [t for t in tenants if t.operations_account == ops.name]
        if not members:
            continue
        target = operations_target(ops, ops_profile)
        with target.errors():
            target.check_account()
            found.update({t.id: blocks.status(target, t.id) for t in members})
    return found


def _blocked_cell(block: blocks.BlockStatus | None) -> str:
    if block is None:
        return "-"
    return f"since {block.since:%Y-%m-%d}" if block.since else "yes"


def _blocks(console: Console, tenants: tuple[Tenant, ...]) -> None:
    """Three lines per tenant, for a terminal too narrow for one: who and where, the
    settings, the models. Ids and account numbers are never cut; a long line folds."""
    for t in tenants:
        console.print(
            f"{t.id}  account {t.account_id}  {t.region}  operations "
            f"{t.operations_account}/{t.shard}",
            overflow="fold",
        )
        console.print(
            f"  {t.log_content.value}, {t.log_retention_days} days, sink {t.usage_sink.value}, "
            f"snap start {_on(t.snap_start)}, profiles {_on(t.application_inference_profiles)}, "
            f"cost centre {t.cost_centre or '-'}",
            overflow="fold",
        )
        console.print(f"  models: {', '.join(t.models)}", overflow="fold")


@app.command("list")
def list_tenants(
    ctx: typer.Context,
    output_format: Annotated[
        ReportFormat,
        typer.Option("--format", help="table (one line per tenant) | json", case_sensitive=False),
    ] = ReportFormat.TABLE,
    show_blocks: Annotated[
        bool,
        typer.Option(
            "--blocks",
            help="Also show who is blocked, read from each operations account "
            "(needs its credentials: --ops-profile).",
        ),
    ] = False,
    ops_profile: OpsProfileOption = None,
) -> None:
    """List the tenants with their effective settings (defaults applied).

    A terminal too narrow for a line per tenant gets one block per tenant instead,
    so no account id or model id is ever cut. Only ``--blocks`` reaches AWS.
    """
    registry = state(ctx).load_registry()
    tenants = registry.resolved_tenants()
    found = _read_blocks(registry, tenants, ops_profile) if show_blocks else {}
    if output_format is ReportFormat.JSON:
        rows = [_tenant_row(t) for t in tenants]
        if show_blocks:
            for row in rows:
                block = found.get(row["id"])
                row["blocked"] = block.to_json() if block else None
        typer.echo(json.dumps(rows, indent=2))
        return
    console = out()
    columns = _COLUMNS
    if show_blocks:
        columns += (("blocked", lambda t: _blocked_cell(found.get(t.id))),)
    if _natural_width(tenants, columns) <= console.width:
        console.print(_table(tenants, columns))
    else:
        _blocks(console, tenants)
    for t in tenants:
        if (block := found.get(t.id)) is not None:
            console.print(f"{t.id}: {block.describe()}", overflow="fold")


@app.command()
def validate(
    ctx: typer.Context,
    fix_placement: Annotated[
        bool,
        typer.Option(
            "--fix-placement",
            help="Record a shard (and operations account, where the first is full) for "
            "every tenant without one, in one locked write: the ones that fit keep their "
            "implicit place (shard 0); a recorded placement never moves.",
        ),
    ] = False,
) -> None:
    """Check the registry (no synth); print every issue; exit 2 if there are any.

    Warnings (price overrides that price none of a tenant's models) are printed
    and do not fail it.
    """
    st = state(ctx)
    registry = _fix_placement(st) if fix_placement else st.load_registry()
    _warn(unused_override_warnings(registry))
    say(f"{st.registry_path}: valid ({len(registry.tenants)} tenants)")


def _fix_placement(st: State) -> TenantRegistry:
    """Record a placement for every tenant without one; nothing is written unless all is valid.

    Returns the registry as written, validated.
    """
    with registry_lock(st.registry_path):
        doc = RegistryFile.read(st.registry_path)
        unplaced = parse_registry(doc.data, str(doc.path), placed=False)
        changes = placement.fix_placement(unplaced)
        if not changes:
            say(f"{st.registry_path}: every tenant has a recorded placement: nothing changed")
            return doc.validated()
        edit = doc.update_tenants(changes)
        registry = parse_registry(edit.data, str(doc.path))  # valid, or nothing is written
        write_atomic(st.registry_path, edit.text, expected_current=doc.text)
    moved = {i: change for i, change in changes.items() if change != {"shard": 0}}
    kept = len(changes) - len(moved)
    say(
        f"recorded the placement of {len(changes)} tenants in {st.registry_path}: {kept} keep "
        f"shard 0 where they are, {len(moved)} placed where there is room"
    )
    for i, change in moved.items():
        tenant = unplaced.tenants[i]
        account = change.get("operations_account") or unplaced.operations.name
        say(f"  {tenant.id}: {account}/{change['shard']}")
    hint = _deploy_hint(st, ["--all", "--changed"], ops=None, tenant=None)
    say(f"Next, deploy the new shards and the moved tenants' stacks: {hint}")
    return registry
