"""One declaration per tenant setting: the registry's three shapes derive from it."""

from __future__ import annotations

from contracts.registry import Defaults, Tenant, TenantSpec, parse_registry
from contracts.tenant_settings import HeldBy, TenantSettings, held_by, settings
from tests.unit.contracts.test_registry import VALID


def test_defaults_entry_and_resolved_tenant_all_carry_every_setting() -> None:
    names = set(TenantSettings.model_fields)
    assert names <= set(Defaults.model_fields)
    assert names <= set(TenantSpec.model_fields)
    assert names <= set(Tenant.model_fields)
    # As written, a tenant sets none of them unless it says so.
    assert all(TenantSpec.model_fields[name].default is None for name in names)


def test_every_setting_says_where_it_is_held_and_how_it_is_set() -> None:
    for name, _, how in settings():
        assert how.held_by, name
        assert how.help.endswith("."), name
        assert how.option is None or how.option.startswith("--"), name


def test_what_update_redeploys_follows_where_settings_are_held() -> None:
    assert held_by(["cost_centre"]) == {HeldBy.OPERATIONS}
    assert held_by(["log_content"]) == {HeldBy.CUSTOMER}
    assert held_by(["models"]) == {HeldBy.OPERATIONS, HeldBy.CUSTOMER}


def test_a_tenant_inherits_what_it_does_not_set_and_merges_blocks_and_maps() -> None:
    data = {
        **VALID,
        "defaults": {
            **VALID["defaults"],
            "alarms": {"error_rate_percent": 2.0, "throttles_per_5_minutes": 3},
            "price_overrides": {
                "anthropic.claude-3-haiku-20240307-v1:0": {"input": 1, "output": 2}
            },
        },
        "tenants": [
            {
                **VALID["tenants"][0],
                "alarms": {"throttles_per_5_minutes": 7},
                "price_overrides": {
                    "us.anthropic.claude-3-5-haiku-20241022-v1:0": {"input": 3, "output": 4}
                },
            }
        ],
    }
    tenant = parse_registry(data).resolved_tenants()[0]
    assert (tenant.alarms.error_rate_percent, tenant.alarms.throttles_per_5_minutes) == (2.0, 7)
    assert set(tenant.price_overrides) == {
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    }
    assert tenant.models == tuple(VALID["defaults"]["models"])
