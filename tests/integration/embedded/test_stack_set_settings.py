"""Every setting of the contract reaches a function rolled out by the StackSet template.

Its own module: the embedded cloud runs once per process, and this test needs a
fresh one with just the tenant it deploys.
"""

from __future__ import annotations

from typing import Any

import pytest

from contracts.function_environment import FunctionEnvironment, encode, for_tenant, variable
from contracts.registry import TenantRegistry
from contracts.tenant_settings import FunctionSettings
from embedded_aws import EmbeddedCloud
from stacks.customer.customer_stack_set import stack_set_parameters
from tests.integration.embedded.test_stack_set import (
    ADMIN,
    CODE_BUCKET,
    registry,
    self_managed_stack_set,
    template,
)

pytestmark = [
    pytest.mark.xdist_group("embedded-stack-set"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
__all__ = ["registry", "template"]  # the fixtures, shared with the StackSet tests


def test_every_setting_the_function_reads_reaches_a_stack_set_deployed_function(
    registry: TenantRegistry, template: dict[str, Any]
) -> None:
    """The function's own parser reads back exactly the registry's values, and the
    structural settings (sink routing, SnapStart, concurrency, retention) hold too."""
    tenant = registry.tenant("globex")  # every setting the template carries, off its default
    with EmbeddedCloud(accounts=[ADMIN, tenant.account_id]) as cloud:
        _deploy_one_instance_and_check_its_settings(cloud, registry, template)


def _deploy_one_instance_and_check_its_settings(
    cloud: EmbeddedCloud, registry: TenantRegistry, template: dict[str, Any]
) -> None:
    admin = self_managed_stack_set(cloud, template, "bedrock-customer-settings")
    tenant = registry.tenant("globex")
    admin.create_stack_instances(
        StackSetName="bedrock-customer-settings",
        Accounts=[tenant.account_id],
        Regions=[tenant.region],
        ParameterOverrides=stack_set_parameters(tenant, CODE_BUCKET, defaults=registry.defaults),
    )
    lambda_ = cloud.client("lambda", tenant.account_id, tenant.region)
    function = lambda_.get_function(FunctionName=tenant.function_name)
    env = function["Configuration"]["Environment"]["Variables"]
    for name in FunctionSettings.model_fields:
        assert env[variable(name)] == encode(getattr(tenant, name)), name
    read_back = FunctionEnvironment.from_env(env)
    assert read_back == FunctionEnvironment.model_validate(for_tenant(tenant).model_dump())
    assert function["Configuration"]["LoggingConfig"]["LogGroup"] == tenant.usage_log_group
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == 5
    assert function["Configuration"]["SnapStart"]["ApplyOn"] == "PublishedVersions"
    logs = cloud.client("logs", tenant.account_id, tenant.region)
    [group] = logs.describe_log_groups(logGroupNamePrefix=tenant.usage_log_group)["logGroups"]
    assert group["retentionInDays"] == 30
