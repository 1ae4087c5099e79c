"""Where each tenant's invoker role lives: which operations account, which shard (stack).

CloudFormation allows 500 resources and 200 outputs per stack, and IAM 1,000 roles
per account by default, so the roles are spread over shards of several operations
accounts. A tenant's place is recorded at onboarding and never changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts import naming
from contracts.registry.issues import RegistryError, RegistryIssue

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


# The settings a tenant's slot count depends on (``tenant_slots``).
SLOT_SETTINGS = ("models", "application_inference_profiles", "guardrail")


def tenant_slots(registry: TenantRegistry, spec: TenantSpec) -> int:
    """How much of its shard a tenant takes, from its entry as written (else the defaults').

    The one count validation, onboarding, import, update and ``--fix-placement``
    share: its models (one profile each if profiles are on) and a guardrail its
    stack creates, its own values first.
    """
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


# What the capacity errors advise for a tenant with no recorded shard: its place
# is implicit (shard 0), so recording one for it replaces no deployed role.
FIX_PLACEMENT_HINT = (
    "run `tenantctl validate --fix-placement` to record a placement for every tenant without one"
)


def unknown_account_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    """Tenants naming an operations account the registry does not have."""
    for i, t in enumerate(registry.tenants):
        if t.operations_account is not None:
            try:
                registry.operations_account(t.operations_account)
            except KeyError as exc:
                yield RegistryIssue(path=f"tenants[{i}].operations_account", message=exc.args[0])


def _placed(
    registry: TenantRegistry, indexed: Iterable[tuple[int, TenantSpec]]
) -> Iterable[tuple[int, TenantSpec, Operations, int]]:
    """Each tenant with its operations account and shard; unknown accounts are skipped."""
    accounts = {ops.name: ops for ops in registry.operations_accounts()}
    for i, t in indexed:
        ops = accounts.get(t.operations_account or registry.operations.name)
        if ops is not None:  # an unknown account is unknown_account_issues' to report
            yield i, t, ops, t.shard or 0


def _shard_overflows(
    registry: TenantRegistry, indexed: Iterable[tuple[int, TenantSpec]]
) -> Iterable[tuple[int, TenantSpec, Operations, int, int, int]]:
    """(index, tenant, account, shard, slots before it, its slots) where a shard overflows.

    Once per shard: at the tenant that first takes it over capacity, in registry order.
    """
    used: dict[tuple[str, int], int] = {}
    for i, t, ops, shard in _placed(registry, indexed):
        slots = tenant_slots(registry, t)
        before = used.get((ops.name, shard), 0)
        used[(ops.name, shard)] = before + slots
        if before <= ops.shard_capacity < before + slots:
            yield i, t, ops, shard, before, slots


def _role_counts(
    registry: TenantRegistry, indexed: Iterable[tuple[int, TenantSpec]]
) -> dict[str, tuple[int, int]]:
    """Per operations account: its invoker roles and its shards (one guard role each)."""
    invokers = {ops.name: 0 for ops in registry.operations_accounts()}
    shard_sets: dict[str, set[int]] = {ops.name: {0} for ops in registry.operations_accounts()}
    for _, _, ops, shard in _placed(registry, indexed):
        invokers[ops.name] += 1
        shard_sets[ops.name].add(shard)
    return {name: (invokers[name], len(shard_sets[name])) for name in invokers}


def _where(registry: TenantRegistry, ops: Operations, shard: int) -> str:
    return f"operations stack {registry.operations_stack_name(ops, shard)} (shard {shard})"


def _ops_path(registry: TenantRegistry, ops: Operations) -> str:
    return next(path for path, o in operations_paths(registry) if o.name == ops.name)


def capacity_issues(registry: TenantRegistry) -> Iterable[RegistryIssue]:
    """Shards over their capacity, accounts over their IAM role quota."""
    indexed = list(enumerate(registry.tenants))
    for i, t, ops, shard, before, slots in _shard_overflows(registry, indexed):
        where = _where(registry, ops, shard)
        over = f"{_ops_path(registry, ops)}.shard_capacity {ops.shard_capacity}"
        advice = (
            FIX_PLACEMENT_HINT
            if t.shard is None
            else "give it a shard with room (tenantctl onboard records one)"
        )
        yield RegistryIssue(
            path=f"tenants[{i}].shard",
            message=(
                f"tenant '{t.id}' is the {ordinal(before + 1)} in {where}, over {over}; {advice}"
                if slots == 1
                else f"tenant '{t.id}' takes {slots} slots (its role, its application "
                "inference profiles and a guardrail its stack creates) and brings "
                f"{where} to {before + slots}, over {over}; {advice}"
            ),
        )
    # Accounts with tenants of no recorded shard: --fix-placement may place them elsewhere.
    unplaced = {
        t.operations_account or registry.operations.name
        for t in registry.tenants
        if t.shard is None
    }
    roles = _role_counts(registry, indexed)
    for path, ops in operations_paths(registry):
        invokers, guards = roles[ops.name]
        if invokers + guards > ops.iam_role_quota:
            hint = (
                f"; {FIX_PLACEMENT_HINT} where another account has room"
                if ops.name in unplaced and registry.additional_operations
                else ""
            )
            yield RegistryIssue(
                path="tenants",
                message=(
                    f"{invokers + guards} IAM roles ({invokers} invoker roles and {guards} guard "
                    f"roles) exceed {path}.iam_role_quota {ops.iam_role_quota} of account "
                    f"{ops.account_id}; raise the quota (up to 5,000) or move tenants to "
                    f"another operations account{hint}"
                ),
            )


class Occupancy:
    """How full each operations account and its shards are, kept current as tenants are placed.

    Built once from the registry's tenants, in O(tenants); placing one more
    costs O(shards of its account) and updates the counts, so placing many
    tenants one after another (``tenantctl import``, ``--fix-placement``) lets
    each see the ones placed before it without validating the registry again.
    """

    def __init__(
        self, registry: TenantRegistry, tenants: Iterable[TenantSpec] | None = None
    ) -> None:
        self.registry = registry
        self._slots: dict[tuple[str, int], int] = {}
        self._invokers = {ops.name: 0 for ops in registry.operations_accounts()}
        # Shard 0 always exists: its guard and alert deploy before the first tenant.
        self._shards: dict[str, set[int]] = {o.name: {0} for o in registry.operations_accounts()}
        chosen = registry.tenants if tenants is None else tenants
        for _, t, ops, shard in _placed(registry, enumerate(chosen)):
            self.add(ops.name, shard, tenant_slots(registry, t))

    def add(self, account: str, shard: int, slots: int) -> None:
        """Count one more tenant of ``slots`` in ``account``'s ``shard``."""
        self._slots[(account, shard)] = self._slots.get((account, shard), 0) + slots
        self._invokers[account] += 1
        self._shards[account].add(shard)

    def used(self, account: str, shard: int) -> int:
        """The slots the shard's tenants take."""
        return self._slots.get((account, shard), 0)

    def roles(self, account: str) -> int:
        """IAM roles in the account: the invokers and one guard per shard."""
        return self._invokers[account] + len(self._shards[account])

    def has_room(self, account: str, shard: int, slots: int) -> bool:
        """Whether the shard takes a tenant of ``slots``; an empty shard always does
        (validation names a tenant bigger than a shard)."""
        used = self.used(account, shard)
        return not used or used + slots <= self.registry.operations_account(account).shard_capacity

    def shard_with_room(self, account: str, slots: int) -> int:
        """The lowest shard of the account with room: gaps left by offboarded tenants first."""
        shard = 0
        while not self.has_room(account, shard, slots):
            shard += 1
        return shard

    def account_with_room(self, slots: int) -> Operations:
        """The first operations account with a role to spare (and a guard's, for a new shard)."""
        accounts = self.registry.operations_accounts()
        for ops in accounts:
            new_shard = self.shard_with_room(ops.name, slots) not in self._shards[ops.name]
            if self.roles(ops.name) + 1 + int(new_shard) <= ops.iam_role_quota:
                return ops
        return accounts[-1]  # validation then names the full account

    def place(self, slots: int, account: str | None = None) -> tuple[Operations, int]:
        """Where onboarding puts a tenant of ``slots`` (in ``account``, if given), counted."""
        ops = (
            self.registry.operations_account(account)
            if account is not None
            else self.account_with_room(slots)
        )
        shard = self.shard_with_room(ops.name, slots)
        self.add(ops.name, shard, slots)
        return ops, shard


def fix_placement(registry: TenantRegistry) -> dict[int, dict[str, Any]]:
    """The placement to record for every tenant without a recorded shard, by registry index.

    Recorded shards stay. A tenant without one keeps its implicit place, shard 0
    of its account, while that has room, in registry order: the first to fill
    it are the ones deployed there, so their roles and templates do not change.
    The rest get the place onboarding would give them (``Occupancy.place``),
    each seeing the ones placed before it. RegistryError where a recorded
    placement would have to move: a shard over capacity, or an account over its
    role quota, by recorded tenants alone.
    """
    recorded = [(i, t) for i, t in enumerate(registry.tenants) if t.shard is not None]
    issues = [
        RegistryIssue(
            path=f"tenants[{i}].shard",
            message=(
                f"tenant '{t.id}' has shard {shard} recorded, and with it the tenants recorded "
                f"in {_where(registry, ops, shard)} take {before + slots} slots, over "
                f"{_ops_path(registry, ops)}.shard_capacity {ops.shard_capacity}; a recorded "
                "placement is not moved (its role would be replaced: an outage): raise "
                f"shard_capacity (up to {MAX_SHARD_CAPACITY}), or offboard and onboard a tenant"
            ),
        )
        for i, t, ops, shard, before, slots in _shard_overflows(registry, recorded)
    ]
    roles = _role_counts(registry, recorded)
    for path, ops in operations_paths(registry):
        invokers, guards = roles[ops.name]
        if invokers + guards > ops.iam_role_quota:
            issues.append(
                RegistryIssue(
                    path="tenants",
                    message=(
                        f"the tenants with a recorded shard alone take {invokers + guards} IAM "
                        f"roles ({invokers} invoker roles and {guards} guard roles) of account "
                        f"{ops.account_id}, over {path}.iam_role_quota {ops.iam_role_quota}; a "
                        "recorded placement is not moved: raise the quota (up to 5,000)"
                    ),
                )
            )
    if issues:
        raise RegistryError(issues)
    occupancy = Occupancy(registry, [t for _, t in recorded])
    changes: dict[int, dict[str, Any]] = {}
    for i, t in enumerate(registry.tenants):
        if t.shard is not None:
            continue
        slots = tenant_slots(registry, t)
        implicit = t.operations_account or registry.operations.name
        quota = registry.operations_account(implicit).iam_role_quota
        if occupancy.has_room(implicit, 0, slots) and occupancy.roles(implicit) < quota:
            occupancy.add(implicit, 0, slots)
            changes[i] = {"shard": 0}
            continue
        ops, shard = occupancy.place(slots, t.operations_account)
        changes[i] = {"shard": shard}
        if t.operations_account is None and registry.additional_operations:
            changes[i]["operations_account"] = ops.name  # as onboarding records it
    return changes


def shard_overflow_of_change(
    registry: TenantRegistry, index: int, changed: TenantSpec
) -> str | None:
    """Why ``tenants[index]``, changed to ``changed``, no longer fits its shard (None: it does).

    Its shard and account stay (moving a role replaces it), so the change is
    what must give.
    """
    tenant = registry.tenants[index]
    [(_, _, ops, shard)] = _placed(registry, [(index, tenant)])
    others = sum(
        tenant_slots(registry, t)
        for i, t, o, s in _placed(registry, enumerate(registry.tenants))
        if i != index and (o.name, s) == (ops.name, shard)
    )
    slots = tenant_slots(registry, changed)
    if others + slots <= ops.shard_capacity:
        return None
    return (
        f"tenant '{tenant.id}' would take {slots} slots in {_where(registry, ops, shard)}, "
        f"which has {max(ops.shard_capacity - others, 0)} free of shard_capacity "
        f"{ops.shard_capacity}; moving its role to another shard would replace it (an outage "
        "for the tenant), so instead give it fewer models (or no application inference "
        f"profiles, or an existing guardrail), raise {_ops_path(registry, ops)}.shard_capacity "
        f"(up to {MAX_SHARD_CAPACITY}), or offboard and onboard it again"
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


def operations_for_new_tenant(
    registry: TenantRegistry, spec: TenantSpec | None = None
) -> Operations:
    """Where onboarding puts the next tenant: the first account with a role to spare.

    ``spec``: the tenant being onboarded, so its own slots count (default: a
    tenant with the defaults' settings).
    """
    return Occupancy(registry).account_with_room(_new_tenant_slots(registry, spec))


def shard_for_new_tenant(
    registry: TenantRegistry, account: str | None = None, *, spec: TenantSpec | None = None
) -> int:
    """Where onboarding puts the next tenant in an account: the lowest shard with room.

    Filling gaps left by offboarded tenants keeps the shard count low; no
    existing tenant moves, because the choice is recorded in the new entry.
    The new tenant takes the slots of ``spec``, its own entry (its models, one
    profile each if its profiles are on, a guardrail's if it creates one; what
    it leaves unset, the defaults'), or a defaults-only tenant's without one.
    """
    name = registry.operations_account(account or registry.operations.name).name
    return Occupancy(registry).shard_with_room(name, _new_tenant_slots(registry, spec))


def _new_tenant_slots(registry: TenantRegistry, spec: TenantSpec | None) -> int:
    d = registry.defaults
    if spec is not None:
        return tenant_slots(registry, spec)
    return operations_stack_slots(
        len(d.models), d.application_inference_profiles, creates_guardrail(d.guardrail)
    )
