"""The registry's ``workload_role`` block and the names it derives: accepted, refused by path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts import naming
from contracts.function_environment import CONSTANT_VARIABLES, FunctionEnvironment, for_tenant
from contracts.registry import RegistryError, parse_registry, parse_registry_yaml
from contracts.registry.workload_role import STANDARD_PARAMETER_MAX_BYTES, client_settings_value
from contracts.tenant_settings import WorkloadService
from tests.conftest import EXAMPLE_REGISTRY

ECS_TASK_ROLE = "arn:aws:iam::444444444444:role/ecs/inference-task"


def _registry(workload_role: Any, **more: Any) -> dict[str, Any]:
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["tenants"][1]["workload_role"] = workload_role
    data.update(more)
    return data


def _issues(data: dict[str, Any]) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(data)
    return [str(issue) for issue in caught.value.issues]


def test_names_derive_from_the_tenant_id() -> None:
    assert naming.workload_role_name("acme") == "bedrock-workload-acme"
    assert (
        naming.workload_role_arn("222222222222", "acme", region="us-gov-west-1")
        == "arn:aws-us-gov:iam::222222222222:role/bedrock-workload-acme"
    )
    assert naming.client_settings_parameter_name("acme") == "/bedrock-invoker/acme/client-settings"
    assert naming.client_settings_parameter_arn("222222222222", "acme", region="eu-west-1") == (
        "arn:aws:ssm:eu-west-1:222222222222:parameter/bedrock-invoker/acme/client-settings"
    )


def test_the_longest_tenant_id_fits_the_workload_role_name() -> None:
    longest = "a" * naming.TENANT_ID_MAX
    length, limit = naming.longest_derived_name_lengths(longest)["workload role name"]
    assert length <= limit
    assert naming.tenant_id_problem(longest) is None


def test_principals_and_services_are_accepted_and_resolved() -> None:
    registry = parse_registry(
        _registry(
            {
                "principals": [ECS_TASK_ROLE, "arn:aws:iam::333333333333:user/batch"],
                "services": ["ecs-tasks", "sagemaker"],
            }
        )
    )
    globex = registry.tenant("globex")
    assert globex.workload_role is not None
    assert globex.workload_role.principals == (
        ECS_TASK_ROLE,
        "arn:aws:iam::333333333333:user/batch",
    )
    assert globex.workload_role.services == (WorkloadService.ECS_TASKS, WorkloadService.SAGEMAKER)
    assert globex.workload_role_arn == "arn:aws:iam::333333333333:role/bedrock-workload-globex"
    assert registry.tenant("acme").workload_role_arn is None


def test_an_account_root_may_be_listed() -> None:
    registry = parse_registry(_registry({"principals": ["arn:aws:iam::333333333333:root"]}))
    assert registry.tenant("globex").workload_role is not None


def test_a_default_block_gives_every_tenant_a_workload_role() -> None:
    data = _registry(None)
    del data["tenants"][1]["workload_role"]
    data["defaults"]["workload_role"] = {"services": ["sagemaker"]}
    registry = parse_registry(data)
    assert all(t.workload_role is not None for t in registry.resolved_tenants())


@pytest.mark.parametrize(
    ("block", "issue"),
    [
        (
            {"principals": ["arn:aws:iam::444444444444:role/ok", "not-an-arn"]},
            "tenants[1].workload_role.principals[1]: 'not-an-arn' is not an IAM principal ARN",
        ),
        (
            {"principals": ["arn:aws:sts::444444444444:assumed-role/task/session"]},
            "tenants[1].workload_role.principals[0]: 'arn:aws:sts::444444444444:assumed-role",
        ),
        (
            {"principals": ["arn:aws:iam::44444444444:role/short-account"]},
            "tenants[1].workload_role.principals[0]:",
        ),
        (
            {"services": ["lambda"]},
            "tenants[1].workload_role.services[0]: Input should be 'ecs-tasks' or 'sagemaker'",
        ),
        ({}, "tenants[1].workload_role: a workload role needs principals or services"),
        (
            {"principals": [], "services": []},
            "tenants[1].workload_role: a workload role needs principals or services",
        ),
        (
            {"principals": [ECS_TASK_ROLE, ECS_TASK_ROLE]},
            f"tenants[1].workload_role.principals: '{ECS_TASK_ROLE}' is listed twice",
        ),
        (
            {"principals": ["arn:aws:iam::444444444444:root", ECS_TASK_ROLE]},
            f"tenants[1].workload_role.principals: '{ECS_TASK_ROLE}' is already admitted by the "
            "root of account 444444444444",
        ),
        (
            {"services": ["sagemaker", "sagemaker"]},
            "tenants[1].workload_role.services: lists a service twice",
        ),
        (
            {"principals": [ECS_TASK_ROLE], "roles": []},
            "tenants[1].workload_role.roles: unknown key",
        ),
    ],
)
def test_a_bad_block_is_refused_at_its_field(block: dict[str, Any], issue: str) -> None:
    issues = _issues(_registry(block))
    assert any(i.startswith(issue) for i in issues), issues


def test_it_is_not_a_function_setting() -> None:
    registry = parse_registry(_registry({"services": ["ecs-tasks"]}))
    env = for_tenant(registry.tenant("globex")).to_env()
    assert not any("WORKLOAD" in name for name in env)
    assert "workload_role" not in FunctionEnvironment.model_fields


def test_the_client_settings_are_the_function_environment_without_the_constants() -> None:
    tenant = parse_registry(_registry({"services": ["ecs-tasks"]})).tenant("globex")
    environment = for_tenant(tenant)
    value = json.loads(client_settings_value(environment))
    assert value == {k: v for k, v in environment.to_env().items() if k not in CONSTANT_VARIABLES}
    assert FunctionEnvironment.from_env(value) == FunctionEnvironment.from_env(environment.to_env())


def test_client_settings_over_a_standard_parameter_are_refused_at_the_tenant() -> None:
    # Price overrides are JSON inside a variable: their quotes are escaped once more in
    # the parameter's JSON, so the function's 4 KB environment fits and the parameter
    # does not.
    overrides = {
        f"anthropic.claude-3-haiku-20240307-v{i}:0": {"input": 0.00025, "output": 0.00125}
        for i in range(1, 44)
    }
    data = _registry({"services": ["ecs-tasks"]})
    data["tenants"][1]["price_overrides"] = overrides
    issues = _issues(data)
    assert any(
        i.startswith("tenants[1]: tenant 'globex': its client settings are")
        and f"over a standard SSM parameter's {STANDARD_PARAMETER_MAX_BYTES}" in i
        for i in issues
    ), issues
    # The same tenant without a workload role is a valid one: its function's
    # environment fits Lambda's 4 KB.
    del data["tenants"][1]["workload_role"]
    parse_registry(data)


def test_a_stack_set_registry_refuses_a_workload_role_at_its_field() -> None:
    stack_set = {"code_bucket": "org-code", "organizational_unit_ids": ["ou-ab12-tenants01"]}
    issues = _issues(_registry({"services": ["ecs-tasks"]}, customer_stack_set=stack_set))
    assert [i for i in issues if "customer_stack_set" in i] == [
        "tenants[1].workload_role: is not supported with customer_stack_set (the StackSet "
        "template creates no workload role); remove customer_stack_set to deploy the customer "
        "stacks with CDK"
    ]
    data = _registry({"services": ["ecs-tasks"]}, customer_stack_set=stack_set)
    del data["tenants"][1]["workload_role"]
    data["defaults"]["workload_role"] = {"services": ["ecs-tasks"]}
    assert any(i.startswith("defaults.workload_role: is not supported") for i in _issues(data))
