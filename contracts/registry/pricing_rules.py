"""The registry's rules about prices: costs that must be seen, and overrides that price nothing.

A tenant's cost alarm (and any other setting that acts on ``cost_usd``) is blind
to a model nobody priced: its records carry ``cost_usd: null`` and no
``CostUSD`` metric. So a tenant with such a setting and an unpriced model is
refused, naming the model. An override for a model the tenant does not use is
not wrong, only dead weight (or a typo of the id that was meant), so it is a
warning, which ``tenantctl validate``, ``onboard`` and ``update`` print.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from contracts.pricing import base_model_id, price_table
from contracts.registry.issues import RegistryIssue

if TYPE_CHECKING:
    from contracts.registry.model import Tenant, TenantRegistry, TenantSpec

# Every setting that acts on the records' cost (a dotted path of a resolved tenant):
# each needs every model of the tenant priced. A cost-based limit belongs here too.
COST_SETTINGS: tuple[str, ...] = ("alarms.monthly_cost_budget_usd", "limits.usd")


def _value(node: object, path: str) -> object:
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _written_at(spec: TenantSpec, index: int, path: str) -> str:
    """Where a setting's value is written: the tenant's own entry, or the defaults."""
    return f"tenants[{index}].{path}" if _value(spec, path) is not None else f"defaults.{path}"


def cost_settings_in_use(tenant: Tenant) -> list[str]:
    """The tenant's settings that act on cost (paths in ``COST_SETTINGS``)."""
    return [path for path in COST_SETTINGS if _value(tenant, path) is not None]


def unpriced_model_issues(registry: TenantRegistry) -> Iterator[RegistryIssue]:
    """A tenant with a cost setting and a model neither the table nor an override prices."""
    table = price_table()
    for index, spec in enumerate(registry.tenants):
        try:
            tenant = registry.resolve(spec)
        except KeyError:
            continue  # an unknown operations account, reported elsewhere
        in_use = cost_settings_in_use(tenant)
        if not in_use:
            continue
        needs = " and ".join(_written_at(spec, index, path) for path in in_use)
        for position, model in enumerate(tenant.models):
            if table.is_priced(model, tenant.price_overrides):
                continue
            where = f"tenants[{index}].models" if spec.models else "defaults.models"
            yield RegistryIssue(
                path=f"{where}[{position}]",
                message=(
                    f"'{model}' has no price (not in contracts/prices.json, no price_overrides "
                    f"entry), so {needs} would not see its calls; add a price_overrides "
                    "entry for it"
                ),
            )


def unused_override_warnings(registry: TenantRegistry) -> list[RegistryIssue]:
    """``price_overrides`` entries that price none of the models they could apply to."""
    warnings: list[RegistryIssue] = []
    resolved: list[Tenant] = []
    for index, spec in enumerate(registry.tenants):
        try:
            tenant = registry.resolve(spec)
        except KeyError:
            continue
        resolved.append(tenant)
        for key in spec.price_overrides or {}:
            if not _prices_any(tenant.models, key):
                warnings.append(
                    RegistryIssue(
                        path=f"tenants[{index}].price_overrides.{key}",
                        message=(
                            f"prices none of this tenant's models ({', '.join(tenant.models)}); "
                            "it has no effect"
                        ),
                    )
                )
    models = [m for t in resolved for m in t.models] if resolved else registry.defaults.models
    for key in registry.defaults.price_overrides:
        if not _prices_any(models, key):
            warnings.append(
                RegistryIssue(
                    path=f"defaults.price_overrides.{key}",
                    message="prices no tenant's models; it has no effect",
                )
            )
    return warnings


def _prices_any(models: Iterable[str], key: str) -> bool:
    """Whether an override keyed ``key`` prices any of ``models`` (the id or its base model)."""
    return any(key in (model, base_model_id(model)) for model in models)
