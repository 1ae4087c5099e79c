"""The registry's rules about limits: a limit is refused unless it can be metered and enforced.

* The operations account must run the enforcer (``enforcer.enabled``): a limit
  nobody enforces is a promise the product would not keep.
* The tenant must call through ``application_inference_profiles``: the meter is
  Bedrock's metrics per profile, the only per-tenant figure the operations account
  has without logging content (``contracts.limits``).
* ``downgrade_models`` must be some, not all, of the tenant's models.
* A ``usd`` limit needs every model priced: ``pricing_rules.COST_SETTINGS``.
* One account's enforcer holds at most ``MAX_LIMITED_TENANTS_PER_OPERATIONS_ACCOUNT``
  (its environment lists them and its role names each one's role).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from contracts.limits import check_downgrade_models
from contracts.registry import placement
from contracts.registry.issues import RegistryIssue

if TYPE_CHECKING:
    from contracts.registry.model import TenantRegistry

# Lambda's 4 KB environment holds this many 40-character tenant ids, and the
# enforcer's role this many tenants' statements (10 managed policies of 15).
MAX_LIMITED_TENANTS_PER_OPERATIONS_ACCOUNT = 80


def limit_issues(registry: TenantRegistry) -> Iterator[RegistryIssue]:
    """Every limit that cannot be metered or enforced, at the field that sets it."""
    paths = {ops.name: path for path, ops in placement.operations_paths(registry)}
    limited: dict[str, int] = {}
    for index, spec in enumerate(registry.tenants):
        try:
            tenant = registry.resolve(spec)
        except KeyError:
            continue  # an unknown operations account, reported elsewhere
        if tenant.limits is None:
            continue
        where = f"tenants[{index}].limits" if spec.limits is not None else "defaults.limits"
        ops = registry.operations_account(tenant.operations_account)
        if not ops.enforcer.enabled:
            yield RegistryIssue(
                path=where,
                message=(
                    f"cannot be enforced: operations account '{ops.name}' runs no limit "
                    f"enforcer (set {paths[ops.name]}.enforcer.enabled: true)"
                ),
            )
        if not tenant.application_inference_profiles:
            yield RegistryIssue(
                path=where,
                message=(
                    "cannot be metered: the meter is Bedrock's metrics per application "
                    f"inference profile, and tenant '{tenant.id}' has none (set "
                    "application_inference_profiles: true)"
                ),
            )
        problem = check_downgrade_models(tenant.limits, tenant.models)
        if problem is not None:
            yield RegistryIssue(path=f"{where}.downgrade_models", message=problem)
        limited[ops.name] = limited.get(ops.name, 0) + 1
    for name, count in limited.items():
        if count > MAX_LIMITED_TENANTS_PER_OPERATIONS_ACCOUNT:
            yield RegistryIssue(
                path=f"{paths[name]}.enforcer",
                message=(
                    f"{count} tenants with limits; one enforcer holds at most "
                    f"{MAX_LIMITED_TENANTS_PER_OPERATIONS_ACCOUNT}"
                ),
            )
