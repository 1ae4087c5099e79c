"""The registry's rule about ``short_term_api_keys``: only for a tenant with a workload role.

A short-term key is minted from a session of the tenant's invoker role, and that
role's trust admits only the function's role and the tenant's workload role. The
function mints no keys, so without a workload role the opt-in would grant the
role a permission (``bedrock:CallWithBearerToken`` on ``*``) that no workload of
the tenant's can use: refused at the field, with what to add.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from contracts.registry.issues import RegistryIssue

if TYPE_CHECKING:
    from contracts.registry.model import TenantRegistry


def short_term_api_key_issues(registry: TenantRegistry) -> Iterator[RegistryIssue]:
    """Every tenant that opts in to short-term API keys (itself or by default) without
    a workload role, at the field that opts it in."""
    for index, spec in enumerate(registry.tenants):
        try:
            tenant = registry.resolve(spec)
        except KeyError:
            continue  # an unknown operations account, reported elsewhere
        if not tenant.short_term_api_keys or tenant.workload_role is not None:
            continue
        inherited = spec.short_term_api_keys is None
        yield RegistryIssue(
            path=f"tenants[{index}].short_term_api_keys",
            message=(
                f"tenant '{tenant.id}'"
                + (" inherits true from defaults.short_term_api_keys" if inherited else "")
                + ": short-term API keys are minted by the client library as the tenant's "
                "workload role, and it has no workload_role; add one, or set "
                "short_term_api_keys: false"
            ),
        )
