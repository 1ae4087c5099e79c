"""The registry's model: operations accounts, tenants as written and as resolved, the whole file.

A tenant's settings are declared in ``contracts.tenant_settings``: the entry as
written (``TenantSpec``) sets any of them, the resolved ``Tenant`` has every one
with the defaults applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    StrictStr,
    ValidationInfo,
    create_model,
    model_validator,
)

from contracts import naming
from contracts.fields import AccountId, Email, ExternalId, FrozenModel, Region, TenantId
from contracts.function_environment import check_size
from contracts.limits import EnforcerSettings
from contracts.model_access import GLOBAL_PROFILE_PREFIX, default_profile_regions, parse_model_id
from contracts.registry import (
    api_key_rules,
    limit_rules,
    placement,
    pricing_rules,
    stack_set,
    workload_role,
)
from contracts.registry.issues import RegistryError, RegistryIssue
from contracts.registry.placement import (
    DEFAULT_IAM_ROLE_QUOTA,
    DEFAULT_SHARD_CAPACITY,
    DEFAULT_TRUST_POLICY_MAX_CHARS,
    MAX_IAM_ROLE_QUOTA,
    MAX_SHARD_CAPACITY,
    MAX_TRUST_POLICY_MAX_CHARS,
    OperationsShard,
)
from contracts.tenant_settings import Defaults, EnforcedGuardrail, TenantSettings, resolve_settings

OPERATIONS_NAME_RE = re.compile(r"[a-z][a-z0-9]{0,19}", re.ASCII)
PRIMARY_OPERATIONS_NAME = "primary"
# Validation context: the registry is read to be given placements, so shards and
# accounts over capacity are not reported (everything else is).
UNPLACED = "unplaced"


def _operations_name(value: str) -> str:
    if not OPERATIONS_NAME_RE.fullmatch(value):
        raise ValueError("must be 1-20 lowercase letters and digits, starting with a letter")
    return value


OperationsName = Annotated[StrictStr, AfterValidator(_operations_name)]


class Operations(FrozenModel):
    """An operations account that owns Bedrock access and quota for its tenants.

    ``name`` tells several apart (``additional_operations``); the stacks of the
    first account (``operations``) keep the names they had before there could be
    several.
    """

    name: OperationsName = PRIMARY_OPERATIONS_NAME
    account_id: AccountId
    region: Region
    # Bedrock's own invocation logging here would copy every tenant's prompts
    # into this account; the deploy-time guard refuses it unless this is set.
    # Strict: "yes", 1 or "true" would switch on what keeps tenant content out of here.
    allow_ops_invocation_logging: Annotated[bool, Field(strict=True)] = False
    alert_email: Email | None = None
    inference_profile_regions: dict[str, tuple[Region, ...]] | None = None
    # How many tenants' invoker roles one operations stack (shard) holds.
    shard_capacity: Annotated[int, Field(strict=True, ge=1, le=MAX_SHARD_CAPACITY)] = (
        DEFAULT_SHARD_CAPACITY
    )
    # The account's IAM role quota, to warn before it is reached (80%) and refuse past it.
    iam_role_quota: Annotated[int, Field(strict=True, ge=1, le=MAX_IAM_ROLE_QUOTA)] = (
        DEFAULT_IAM_ROLE_QUOTA
    )
    # The account's trust-policy size quota (characters), checked at synth.
    trust_policy_max_chars: Annotated[
        int,
        Field(strict=True, ge=DEFAULT_TRUST_POLICY_MAX_CHARS, le=MAX_TRUST_POLICY_MAX_CHARS),
    ] = DEFAULT_TRUST_POLICY_MAX_CHARS
    # The limit enforcer (tenants' ``limits``): off unless the registry turns it on.
    enforcer: EnforcerSettings = EnforcerSettings()
    # An account-wide guardrail floor, applied by Bedrock to every call here.
    enforced_guardrail: EnforcedGuardrail | None = None

    def profile_regions(self, prefix: str) -> Sequence[str]:
        """Destination regions of a geographic inference profile prefix."""
        return default_profile_regions(self.inference_profile_regions)(prefix)


class TenantIdentity(FrozenModel):
    """Who a tenant is and where its role lives: set once, at onboarding."""

    id: TenantId
    account_id: AccountId
    region: Region
    external_id: ExternalId
    display_name: StrictStr | None = None
    # The operations stack (shard) holding this tenant's invoker role. Recorded at
    # onboarding and never changed: moving a role to another stack deletes and
    # recreates it, an outage for the tenant. Unset means shard 0, where every
    # tenant of a registry from before sharding is.
    shard: Annotated[int, Field(strict=True, ge=0)] | None = None
    # The operations account (its ``name``) whose roles and quota serve this
    # tenant; unset means the first one, ``operations``. Recorded at onboarding.
    operations_account: OperationsName | None = None


def _unset_settings() -> dict[str, Any]:
    """Every tenant setting as optional with no value: unset means the default."""
    return {
        name: (Annotated[field.annotation, *field.metadata] | None, None)
        for name, field in TenantSettings.model_fields.items()
    }


if TYPE_CHECKING:
    # Type checkers see the identity fields; the settings are generated below.
    class TenantSpec(TenantIdentity):
        """A tenant as written in the registry; unset settings inherit the defaults."""

        def __getattr__(self, name: str) -> Any: ...

else:
    TenantSpec = create_model(
        "TenantSpec",
        __base__=TenantIdentity,
        __doc__="A tenant as written in the registry; unset settings inherit the defaults.",
        __module__=__name__,
        **_unset_settings(),
    )


class Tenant(TenantSettings):
    """A tenant with the defaults applied: what the stacks and the CLI consume."""

    id: str
    account_id: str
    region: str
    external_id: str
    usage_log_group: str
    display_name: str | None = None
    shard: int = 0
    operations_account: str = PRIMARY_OPERATIONS_NAME
    # The operations account's id and region, where its invoker role lives and
    # Bedrock is called.
    operations_account_id: str = ""
    bedrock_region: str = ""
    # The operations stack (account and shard) that holds this tenant's invoker role.
    operations_stack_name: str = ""

    @property
    def default_model(self) -> str:
        """The model used when an event names none: the first allowed one."""
        return self.models[0]

    @property
    def stack_name(self) -> str:
        return naming.customer_stack_name(self.id)

    @property
    def invoker_role_arn(self) -> str:
        """The tenant's Bedrock-invoker role in its operations account."""
        return naming.invoker_role_arn(
            self.operations_account_id, self.id, region=self.bedrock_region
        )

    @property
    def function_name(self) -> str:
        return naming.function_name(self.id)

    @property
    def caller_role_arn(self) -> str:
        return naming.caller_role_arn(self.account_id, self.id, region=self.region)

    @property
    def workload_role_arn(self) -> str | None:
        """The role the tenant's own workloads assume (``workload_role``), or None."""
        if self.workload_role is None:
            return None
        return naming.workload_role_arn(self.account_id, self.id, region=self.region)


class TenantRegistry(FrozenModel):
    """The whole registry file."""

    version: Annotated[int, Field(strict=True, ge=1, le=1)] = 1
    operations: Operations
    # More operations accounts, each with a name: one account holds at most its
    # IAM role quota of tenants (1,000 by default, 5,000 raised) and all of them
    # share its Bedrock quota.
    additional_operations: tuple[Operations, ...] = ()
    defaults: Defaults = Defaults()
    # Set: every tenant's customer side is rolled out by one StackSet, not by CDK.
    customer_stack_set: stack_set.CustomerStackSet | None = None
    tenants: tuple[TenantSpec, ...] = ()

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> TenantRegistry:
        # UNPLACED: validated to be given a placement (``validate --fix-placement``),
        # so full shards are not yet problems; everything else is checked.
        placed = not (info.context or {}).get(UNPLACED)
        issues = list(dict.fromkeys(_cross_tenant_issues(self, placed=placed)))
        if issues:
            # Not a ValueError: pydantic would flatten the field paths away.
            raise RegistryError(issues)
        return self

    def resolved_tenants(self) -> tuple[Tenant, ...]:
        """Every tenant with defaults applied, in registry order."""
        return tuple(self.resolve(spec) for spec in self.tenants)

    def operations_accounts(self) -> tuple[Operations, ...]:
        """Every operations account, the first (``operations``) first."""
        return (self.operations, *self.additional_operations)

    def operations_account(self, name: str) -> Operations:
        """An operations account by name; KeyError names the known ones."""
        for ops in self.operations_accounts():
            if ops.name == name:
                return ops
        known = ", ".join(o.name for o in self.operations_accounts())
        raise KeyError(f"unknown operations account '{name}' (known: {known})")

    def resolve(self, spec: TenantSpec) -> Tenant:
        """``spec`` with the defaults applied, placed in its operations account and shard."""
        ops = self.operations_account(spec.operations_account or self.operations.name)
        own = {name: getattr(spec, name) for name in TenantSettings.model_fields}
        shard = spec.shard or 0
        # model_construct: every value was validated with the registry already.
        return Tenant.model_construct(
            **resolve_settings(self.defaults, own),
            id=spec.id,
            account_id=spec.account_id,
            region=spec.region,
            external_id=spec.external_id,
            display_name=spec.display_name,
            usage_log_group=self.defaults.usage_log_group,
            shard=shard,
            operations_account=ops.name,
            operations_account_id=ops.account_id,
            bedrock_region=ops.region,
            operations_stack_name=placement.operations_stack_name(self, ops, shard),
        )

    def tenant(self, tenant_id: str) -> Tenant:
        """One tenant by id; KeyError names the known ids."""
        for spec in self.tenants:
            if spec.id == tenant_id:
                return self.resolve(spec)
        known = ", ".join(t.id for t in self.tenants) or "none"
        raise KeyError(f"unknown tenant '{tenant_id}' (known: {known})")

    def shards(self, account: str | None = None) -> dict[int, tuple[Tenant, ...]]:
        """One operations account's shards and their tenants (default: the first account)."""
        return placement.shards(self, account)

    def operations_stacks(self) -> list[OperationsShard]:
        """Every operations stack to deploy: per account, per shard."""
        return placement.operations_stacks(self)

    def operations_stack_name(self, ops: Operations, shard: int) -> str:
        """The stack of one shard of one operations account."""
        return placement.operations_stack_name(self, ops, shard)

    def roles_in(self, account: str) -> int:
        """IAM roles the product creates in an operations account (invokers + guards)."""
        return placement.roles_in(self, account)

    def operations_for_new_tenant(self, spec: TenantSpec | None = None) -> Operations:
        """Where onboarding puts ``spec``: the first account with a role to spare."""
        return placement.operations_for_new_tenant(self, spec)

    def shard_for_new_tenant(
        self, account: str | None = None, *, spec: TenantSpec | None = None
    ) -> int:
        """Where onboarding puts ``spec`` in an account: the lowest shard with room."""
        return placement.shard_for_new_tenant(self, account, spec=spec)

    def invoker_role_arn(self, tenant_id: str) -> str:
        """A tenant's invoker role, in its own operations account."""
        return self.tenant(tenant_id).invoker_role_arn


def _operations_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    names: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for path, ops in placement.operations_paths(registry):
        if ops.name in names:
            yield RegistryIssue(
                path=f"{path}.name",
                message=f"'{ops.name}' is already the name of {names[ops.name]}",
            )
        names.setdefault(ops.name, path)
        if ops.account_id in accounts:
            yield RegistryIssue(
                path=f"{path}.account_id",
                message=f"account {ops.account_id} is already {accounts[ops.account_id]}",
            )
        accounts.setdefault(ops.account_id, path)


def _cross_tenant_issues(registry: TenantRegistry, *, placed: bool) -> Iterable[RegistryIssue]:
    ids: dict[str, int] = {}
    accounts: dict[str, int] = {}
    external_ids: dict[str, int] = {}
    ops_accounts = {ops.account_id for ops in registry.operations_accounts()}
    yield from _operations_issues(registry)
    yield from placement.unknown_account_issues(registry)
    if placed:
        yield from placement.capacity_issues(registry)
    for i, t in enumerate(registry.tenants):
        if t.id in ids:
            yield RegistryIssue(
                path=f"tenants[{i}].id",
                message=f"duplicate tenant id '{t.id}' (also tenants[{ids[t.id]}])",
            )
        ids.setdefault(t.id, i)
        if t.account_id in ops_accounts:
            yield RegistryIssue(
                path=f"tenants[{i}].account_id",
                message="is an operations account; a tenant needs its own account",
            )
        if t.account_id in accounts:
            yield RegistryIssue(
                path=f"tenants[{i}].account_id",
                message=(
                    f"account {t.account_id} is already used by tenants[{accounts[t.account_id]}]"
                ),
            )
        accounts.setdefault(t.account_id, i)
        if t.external_id in external_ids:
            yield RegistryIssue(
                path=f"tenants[{i}].external_id",
                message=(
                    f"is the same as tenants[{external_ids[t.external_id]}]; "
                    "each tenant needs its own"
                ),
            )
        external_ids.setdefault(t.external_id, i)
        try:
            ops = registry.operations_account(t.operations_account or registry.operations.name)
        except KeyError:
            continue  # reported by unknown_account_issues
        for j, model in enumerate(t.models or registry.defaults.models):
            path = f"tenants[{i}].models[{j}]" if t.models else f"defaults.models[{j}]"
            yield from _profile_issues(ops, model, path, registry)
    for i, t in enumerate(registry.tenants):
        try:
            too_big = check_size(registry.resolve(t))
        except KeyError:
            continue  # an unknown operations account, reported above
        if too_big:
            yield RegistryIssue(path=f"tenants[{i}]", message=too_big)
    for j, model in enumerate(registry.defaults.models):
        yield from _profile_issues(registry.operations, model, f"defaults.models[{j}]", registry)
    yield from pricing_rules.unpriced_model_issues(registry)
    yield from limit_rules.limit_issues(registry)
    yield from stack_set.stack_set_issues(registry)
    yield from workload_role.workload_role_issues(registry)
    yield from api_key_rules.short_term_api_key_issues(registry)


def _profile_issues(
    ops: Operations, model: str, path: str, registry: TenantRegistry
) -> Iterable[RegistryIssue]:
    profile, _ = parse_model_id(model)
    if profile and profile != GLOBAL_PROFILE_PREFIX:
        regions = ops.profile_regions(profile)
        if ops.region not in regions:
            where = "" if ops.name == registry.operations.name else f" of '{ops.name}'"
            yield RegistryIssue(
                path=path,
                message=(
                    f"inference profile '{profile}.' is not offered in the operations region "
                    f"{ops.region}{where} (its regions: {', '.join(regions)})"
                ),
            )
