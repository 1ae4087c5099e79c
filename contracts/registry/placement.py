"""Where each tenant's invoker role lives: which operations account, which shard (stack).

CloudFormation allows 500 resources and 200 outputs per stack, and IAM 1,000 roles
per account by default, so the roles are spread over shards of several operations
accounts. A tenant's place is recorded at onboarding and never changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts import naming
from contracts.registry.issues import RegistryIssue

if TYPE_CHECKING:
    from contracts.registry.model import (
        Operations,
        Tenant,
        TenantRegistry,
        TenantSpec,
    )

# The operations account's invoker roles are spread over shards, one stack each.
# CloudFormation allows 500 resources and 200 outputs per stack. A shard's capacity
# counts slots: a tenant takes one (its role and policy: two resources, one
# output) plus one per application inference profile (one resource, one output)
# and two for a guardrail its stack creates (three resources, GUARDRAIL_SLOTS),
# so a full shard has at most capacity outputs and 2 x capacity resources, and a
# shard's guard (and shard 0's alert) about ten more resources. 150 leaves room
# on both counts; 190 is the most the outputs allow.
DEFAULT_SHARD_CAPACITY = 150
MAX_SHARD_CAPACITY = 190
# IAM: 1,000 roles per account by default, 5,000 with a quota increase.
DEFAULT_IAM_ROLE_QUOTA = 1000
MAX_IAM_ROLE_QUOTA = 5000
# IAM: trust policies are 2,048 characters by default, 4,096 with a quota increase.
DEFAULT_TRUST_POLICY_MAX_CHARS = 2048
MAX_TRUST_POLICY_MAX_CHARS = 4096


# A guardrail the tenant's operations stack creates (``guardrail.create``): the
# guardrail, its version and its SSM parameter, three resources and no output.
GUARDRAIL_SLOTS = 2


def operations_stack_slots(
    models: int, application_inference_profiles: bool, created_guardrail: bool = False
) -> int:
    """How much of its shard's ``shard_capacity`` a tenant takes (see DEFAULT_SHARD_CAPACITY)."""
    return (
        1
        + (models if application_inference_profiles else 0)
        + (GUARDRAIL_SLOTS if created_guardrail else 0)
    )


def creates_guardrail(guardrail: Any) -> bool:
    """Whether a tenant's ``guardrail`` setting makes its operations stack create one."""
    return guardrail is not None and guardrail.create is not None


def _spec_slots(registry: TenantRegistry, spec: TenantSpec) -> int:
    # The entry as written: its own values, else the defaults'.
    d = registry.defaults
    profiles = (
        d.application_inference_profiles
        if spec.application_inference_profiles is None
        else spec.application_inference_profiles
    )
    guardrail = d.guardrail if spec.guardrail is None else spec.guardrail
    return operations_stack_slots(
        len(spec.models or d.models), profiles, creates_guardrail(guardrail)
    )


@dataclass(frozen=True)
class OperationsShard:
    """One operations stack: an account's shard and the tenants whose roles it holds."""

    operations: Operations
    shard: int
    tenants: tuple[Tenant, ...]
    stack_name: str


def operations_paths(registry: TenantRegistry) -> Iterable[tuple[str, Operations]]:
    """Every operations account with its path in the registry file."""
    yield "operations", registry.operations
    for k, ops in enumerate(registry.additional_operations):
        yield f"additional_operations[{k}]", ops


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def capacity_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    """Shards over their capacity, accounts over their IAM role quota."""
    paths = {ops.name: path for path, ops in operations_paths(registry)}
    per_shard: dict[tuple[str, int], int] = {}
    slots_per_shard: dict[tuple[str, int], int] = {}
    for i, t in enumerate(registry.tenants):
        try:
            ops = registry.operations_account(t.operations_account or registry.operations.name)
        except KeyError as exc:
            yield RegistryIssue(path=f"tenants[{i}].operations_account", message=exc.args[0])
            continue
        key = (ops.name, t.shard or 0)
        per_shard[key] = per_shard.get(key, 0) + 1
        slots = _spec_slots(registry, t)
        before = slots_per_shard.get(key, 0)
        slots_per_shard[key] = before + slots
        # Reported once per shard: at the tenant that first takes it over capacity.
        if before <= ops.shard_capacity < before + slots:
            where = (
                f"operations stack {registry.operations_stack_name(ops, key[1])} (shard {key[1]})"
            )
            over = f"{paths[ops.name]}.shard_capacity {ops.shard_capacity}"
            yield RegistryIssue(
                path=f"tenants[{i}].shard",
                message=(
                    f"tenant '{t.id}' is the {ordinal(before + 1)} in {where}, over {over}; "
                    "give it a shard with room (tenantctl onboard records one)"
                    if slots == 1
                    else f"tenant '{t.id}' takes {slots} slots (its role, its application "
                    "inference profiles and a guardrail its stack creates) and brings "
                    f"{where} to {before + slots}, over {over}; give it a shard with room"
                ),
            )
    for path, ops in operations_paths(registry):
        shards = {0} | {shard for (name, shard) in per_shard if name == ops.name}
        invokers = sum(n for (name, _), n in per_shard.items() if name == ops.name)
        roles = invokers + len(shards)  # + one guard role per shard
        if roles > ops.iam_role_quota:
            yield RegistryIssue(
                path="tenants",
                message=(
                    f"{roles} IAM roles ({invokers} invoker roles and {len(shards)} guard "
                    f"roles) exceed {path}.iam_role_quota {ops.iam_role_quota} of account "
                    f"{ops.account_id}; raise the quota (up to 5,000) or move tenants to "
                    "another operations account"
                ),
            )


def shards(registry: TenantRegistry, account: str | None = None) -> dict[int, tuple[Tenant, ...]]:
    """One operations account's shards and their tenants (default: the first account).

    Shards ascend, tenants keep registry order; shard 0 is always there (its
    guard and alert deploy before the first tenant).
    """
    name = account or registry.operations.name
    by_shard: dict[int, list[Tenant]] = {0: []}
    for tenant in registry.resolved_tenants():
        if tenant.operations_account == name:
            by_shard.setdefault(tenant.shard, []).append(tenant)
    return {shard: tuple(by_shard[shard]) for shard in sorted(by_shard)}


def operations_stacks(registry: TenantRegistry) -> list[OperationsShard]:
    """Every operations stack to deploy: per account, per shard."""
    return [
        OperationsShard(ops, shard, tenants, operations_stack_name(registry, ops, shard))
        for ops in registry.operations_accounts()
        for shard, tenants in shards(registry, ops.name).items()
    ]


def operations_stack_name(registry: TenantRegistry, ops: Operations, shard: int) -> str:
    """The stack of one shard of one operations account.

    The first account's stacks keep their names from before there could be
    several (``BedrockOperations``, ``BedrockOperations-1`` ...); another
    account's carry its name (``BedrockOperations-eu``, ``BedrockOperations-eu-1``).
    """
    if ops.name == registry.operations.name:
        return naming.operations_stack_name(shard)
    base = f"{naming.OPERATIONS_STACK_NAME}-{ops.name}"
    return base if shard == 0 else f"{base}-{shard}"


def roles_in(registry: TenantRegistry, account: str) -> int:
    """IAM roles the product creates in an operations account (invokers + guards)."""
    by_shard = shards(registry, account)
    return sum(len(t) for t in by_shard.values()) + len(by_shard)


def operations_for_new_tenant(registry: TenantRegistry) -> Operations:
    """Where onboarding puts the next tenant: the first account with a role to spare."""
    for ops in registry.operations_accounts():
        new_shard = shard_for_new_tenant(registry, ops.name) not in shards(registry, ops.name)
        if roles_in(registry, ops.name) + 1 + int(new_shard) <= ops.iam_role_quota:
            return ops
    return registry.operations_accounts()[-1]  # validation then names the full account


def shard_for_new_tenant(
    registry: TenantRegistry, account: str | None = None, *, models: Sequence[str] | None = None
) -> int:
    """Where onboarding puts the next tenant in an account: the lowest shard with room.

    Filling gaps left by offboarded tenants keeps the shard count low; no
    existing tenant moves, because the choice is recorded in the new entry.
    The new tenant takes the slots the defaults give it (its ``models``, default
    the defaults', one profile each if the defaults turn profiles on, and a
    guardrail's if the defaults' guardrail is one to create).
    """
    ops = registry.operations_account(account or registry.operations.name)
    need = operations_stack_slots(
        len(models or registry.defaults.models),
        registry.defaults.application_inference_profiles,
        creates_guardrail(registry.defaults.guardrail),
    )
    used = {
        shard: sum(
            operations_stack_slots(
                len(t.models), t.application_inference_profiles, creates_guardrail(t.guardrail)
            )
            for t in tenants
        )
        for shard, tenants in shards(registry, ops.name).items()
    }
    shard = 0
    # An empty shard always takes it (validation names a tenant bigger than a shard).
    while used.get(shard, 0) and used[shard] + need > ops.shard_capacity:
        shard += 1
    return shard
