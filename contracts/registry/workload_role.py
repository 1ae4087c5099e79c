"""The registry's rules about a tenant's ``workload_role``, and its client settings' value.

The workload role's client library reads the tenant's settings from one SSM
parameter in the tenant's account (``naming.client_settings_parameter_name``):
the function's own environment contract as a JSON object, so the library and
the function are told the same things by the same code. A standard parameter
holds 4 KB; the function's environment is held to 4 KB too, but JSON's quotes
and escapes make the parameter's value longer, so it is checked here, at the
tenant, rather than failing the deploy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from contracts.function_environment import CONSTANT_VARIABLES, FunctionEnvironment, for_tenant
from contracts.registry.issues import RegistryIssue

if TYPE_CHECKING:
    from contracts.registry.model import TenantRegistry

# SSM Parameter Store: a standard parameter's value is at most 4 KB.
STANDARD_PARAMETER_MAX_BYTES = 4096


def client_settings_value(environment: FunctionEnvironment) -> str:
    """The client settings parameter's value: the function's environment as a JSON
    object, without the variables every function gets whoever it serves."""
    variables = {k: v for k, v in environment.to_env().items() if k not in CONSTANT_VARIABLES}
    return json.dumps(variables, sort_keys=True, separators=(",", ":"))


def workload_role_issues(registry: TenantRegistry) -> Iterator[RegistryIssue]:
    """Every tenant whose client settings would not fit a standard SSM parameter."""
    for index, spec in enumerate(registry.tenants):
        try:
            tenant = registry.resolve(spec)
        except KeyError:
            continue  # an unknown operations account, reported elsewhere
        if tenant.workload_role is None:
            continue
        used = len(client_settings_value(for_tenant(tenant)).encode())
        if used > STANDARD_PARAMETER_MAX_BYTES:
            yield RegistryIssue(
                path=f"tenants[{index}]",
                message=(
                    f"tenant '{tenant.id}': its client settings are {used} bytes of JSON, over "
                    f"a standard SSM parameter's {STANDARD_PARAMETER_MAX_BYTES}; list fewer "
                    "models or price overrides, or use a shorter ExternalId"
                ),
            )
