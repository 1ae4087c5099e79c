"""The tenant registry: one YAML file describing the operations accounts and every tenant.

The file is validated into frozen pydantic models once (in ``app.py`` or the
CLI) and passed down; nothing else reads it. Every problem is reported with
the path of the field it concerns, e.g. ``tenants[2].account_id``.

- ``model``: the operations accounts, a tenant as written and as resolved, the registry;
- ``placement``: which operations account and shard holds each tenant's role, and
  the capacity rules behind it;
- ``pricing_rules``: a tenant whose cost settings need its models priced, and
  price overrides that price nothing (warnings);
- ``loading``: reading and parsing the YAML file into the model.

The per-tenant settings themselves are declared in ``contracts.tenant_settings``.
"""

from contracts.fields import EXTERNAL_ID_MAX, EXTERNAL_ID_MIN
from contracts.registry.issues import RegistryError, RegistryIssue
from contracts.registry.loading import (
    issues_from_validation_error,
    load_registry,
    parse_registry,
    parse_registry_yaml,
    read_registry_text,
)
from contracts.registry.model import (
    PRIMARY_OPERATIONS_NAME,
    Operations,
    Tenant,
    TenantRegistry,
    TenantSpec,
)
from contracts.registry.placement import (
    DEFAULT_IAM_ROLE_QUOTA,
    DEFAULT_SHARD_CAPACITY,
    DEFAULT_TRUST_POLICY_MAX_CHARS,
    MAX_IAM_ROLE_QUOTA,
    MAX_SHARD_CAPACITY,
    MAX_TRUST_POLICY_MAX_CHARS,
    OperationsShard,
    operations_stack_slots,
)
from contracts.registry.pricing_rules import (
    COST_SETTINGS,
    cost_settings_in_use,
    unused_override_warnings,
)
from contracts.tenant_settings import AlarmSettings, Defaults, PriceOverrides
from contracts.usage_record import LogContent, UsageSink

__all__ = [
    "COST_SETTINGS",
    "DEFAULT_IAM_ROLE_QUOTA",
    "DEFAULT_SHARD_CAPACITY",
    "DEFAULT_TRUST_POLICY_MAX_CHARS",
    "EXTERNAL_ID_MAX",
    "EXTERNAL_ID_MIN",
    "MAX_IAM_ROLE_QUOTA",
    "MAX_SHARD_CAPACITY",
    "MAX_TRUST_POLICY_MAX_CHARS",
    "PRIMARY_OPERATIONS_NAME",
    "AlarmSettings",
    "Defaults",
    "LogContent",
    "Operations",
    "OperationsShard",
    "PriceOverrides",
    "RegistryError",
    "RegistryIssue",
    "Tenant",
    "TenantRegistry",
    "TenantSpec",
    "UsageSink",
    "cost_settings_in_use",
    "issues_from_validation_error",
    "load_registry",
    "operations_stack_slots",
    "parse_registry",
    "parse_registry_yaml",
    "read_registry_text",
    "unused_override_warnings",
]
