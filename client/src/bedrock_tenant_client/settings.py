"""The tenant's settings for the library: the function's environment contract, read from
one of three places.

The customer stack writes the same values the invoker function gets as its
environment (``contracts.function_environment``) to one SSM parameter in the
tenant's own account, ``/bedrock-invoker/<tenant>/client-settings``, when the
tenant has a ``workload_role``; the workload role may read it. So a workload needs
only its tenant id. Operators (and tests) may read the registry instead, and a
workload configured like the function may pass those variables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bedrock_tenant_client.errors import ExplainedError
from contracts import naming
from contracts.function_environment import (
    CONSTANT_VARIABLES,
    FunctionEnvironment,
    FunctionEnvironmentError,
    for_tenant,
)

TenantSettings = FunctionEnvironment


class SettingsError(ExplainedError):
    """The tenant's settings cannot be read or are not valid; says where and which."""


def from_parameter(tenant_id: str, *, ssm_client: Any) -> TenantSettings:
    """The settings the customer stack wrote for ``tenant_id`` (read with ``ssm_client``,
    a client of the tenant's account and region, on the workload's own credentials)."""
    problem = naming.tenant_id_problem(tenant_id)
    if problem is not None:
        raise SettingsError(f"tenant_id: {problem}")
    name = naming.client_settings_parameter_name(tenant_id)
    try:
        value = ssm_client.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        if code == "ParameterNotFound":
            raise SettingsError(
                f"{name}: no such parameter in this account and region; the tenant's "
                "customer stack writes it when its registry entry has a workload_role"
            ) from None
        raise SettingsError(f"{name}: {code}: {error}") from None
    except BotoCoreError as error:
        raise SettingsError(f"{name}: {error}") from None
    try:
        variables = json.loads(value)
    except ValueError as error:
        raise SettingsError(f"{name}: not valid JSON: {error}") from None
    if not isinstance(variables, dict):
        raise SettingsError(f"{name}: not a JSON object of the function's variables")
    return from_environment(variables, source=name)


def from_registry(path: str | Path, tenant_id: str) -> TenantSettings:
    """The settings of ``tenant_id`` in the registry at ``path`` (needs the ``registry``
    extra: ``pip install 'bedrock-tenant-client[registry]'``)."""
    from contracts.registry import load_registry  # ruamel.yaml: only this path needs it

    registry = load_registry(path)
    try:
        tenant = registry.tenant(tenant_id)
    except KeyError as error:
        raise SettingsError(f"{path}: {error.args[0]}") from None
    environment = for_tenant(tenant).to_env()
    return from_environment(environment, source=f"{path}: tenant '{tenant_id}'")


def from_environment(
    environ: Mapping[str, str] | None = None, *, source: str = "environment"
) -> TenantSettings:
    """The settings as the function's environment variables (default: this process's)."""
    variables = {
        str(key): str(value)
        for key, value in (os.environ if environ is None else environ).items()
        if key not in CONSTANT_VARIABLES
    }
    try:
        return FunctionEnvironment.from_env(variables)
    except FunctionEnvironmentError as error:
        raise SettingsError(f"{source}: {error}") from None
