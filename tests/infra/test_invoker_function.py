"""The invoker function's alias, SnapStart and usage-sink wiring, per registry setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from contracts import naming
from contracts.registry import load_registry
from stacks.customer.invoker_function import function_runtime
from stacks.shared.lambda_bundling import LambdaPlatform
from tests.infra.conftest import synth_templates

# One tenant per combination of the two settings.
REGISTRY = """
version: 1
operations:
  account_id: "111111111111"
  region: us-east-1
tenants:
  - {id: plain, account_id: "222222222201", region: us-east-1, external_id: plain-0a1b2c3d4e}
  - id: printed
    account_id: "222222222202"
    region: us-east-1
    external_id: printed-0a1b2c3d4e
    usage_sink: stdout
  - id: snapped
    account_id: "222222222203"
    region: us-east-1
    external_id: snapped-0a1b2c3d4e
    snap_start: true
  - id: both
    account_id: "222222222204"
    region: us-east-1
    external_id: both-0a1b2c3d4e5f
    usage_sink: stdout
    snap_start: true
"""
STDOUT_TENANTS = {"printed", "both"}
SNAP_START_TENANTS = {"snapped", "both"}
TENANTS = ("plain", "printed", "snapped", "both")


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    path: Path = tmp_path_factory.mktemp("registry") / "tenants.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    return synth_templates(load_registry(path))


def _only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = template.find_resources(resource_type).items()
    return logical_id, resource


def _log_group_id(template: Template, name: str) -> str:
    groups = template.find_resources("AWS::Logs::LogGroup", {"Properties": {"LogGroupName": name}})
    ((logical_id, _),) = groups.items()
    return logical_id


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_every_invoker_has_the_live_alias_on_the_version_it_publishes(
    templates: dict[str, Template], tenant_id: str
) -> None:
    t = templates[naming.customer_stack_name(tenant_id)]
    function_id, _ = _only(t, "AWS::Lambda::Function")
    version_id, version = _only(t, "AWS::Lambda::Version")
    assert version["Properties"]["FunctionName"] == {"Ref": function_id}
    # A replaced version is deleted, not retained with a copy of the package.
    assert version.get("DeletionPolicy", "Delete") == "Delete"
    _, alias = _only(t, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == naming.INVOKER_ALIAS == "live"
    assert alias["Properties"]["FunctionName"] == {"Ref": function_id}
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_snap_start_applies_to_published_versions_only_when_the_registry_says_so(
    templates: dict[str, Template], tenant_id: str
) -> None:
    _, function = _only(templates[naming.customer_stack_name(tenant_id)], "AWS::Lambda::Function")
    properties = function["Properties"]
    if tenant_id in SNAP_START_TENANTS:
        assert properties["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        major, minor = properties["Runtime"].removeprefix("python").split(".")
        assert (int(major), int(minor)) >= (3, 12)
    else:
        assert "SnapStart" not in properties


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_function_logs_to_the_usage_log_group_exactly_with_the_stdout_sink(
    templates: dict[str, Template], tenant_id: str
) -> None:
    t = templates[naming.customer_stack_name(tenant_id)]
    usage = _log_group_id(t, naming.DEFAULT_USAGE_LOG_GROUP)
    own = _log_group_id(t, naming.function_log_group_name(naming.function_name(tenant_id)))
    expected = usage if tenant_id in STDOUT_TENANTS else own
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "LoggingConfig": {
                "LogGroup": {"Ref": expected},
                "LogFormat": "JSON",
                # The records say "level": "INFO": a higher level would drop them.
                "ApplicationLogLevel": "INFO",
            },
            "Environment": {
                "Variables": Match.object_like(
                    {"USAGE_SINK": "stdout" if tenant_id in STDOUT_TENANTS else "api"}
                )
            },
        },
    )


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_role_writes_the_usage_log_group_and_its_own_only_with_the_api_sink(
    templates: dict[str, Template], tenant_id: str
) -> None:
    t = templates[naming.customer_stack_name(tenant_id)]
    sids = {
        statement.get("Sid")
        for policy in t.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("logs:") for a in statement["Action"])
    }
    # Lambda delivers the stdout sink's records with the execution role's permissions.
    expected = {"WriteUsageRecords"} | (set() if tenant_id in STDOUT_TENANTS else {"WriteOwnLogs"})
    assert sids == expected


def test_snap_start_is_refused_on_an_aws_runtime_older_than_python_3_12() -> None:
    from aws_cdk import aws_lambda as lambda_

    old = LambdaPlatform(lambda_.Architecture.ARM_64, "aarch64", "3.11")
    if (old.machine, old.python_version) == (
        LambdaPlatform.host().machine,
        LambdaPlatform.host().python_version,
    ):
        old = LambdaPlatform(lambda_.Architecture.X86_64, "x86_64", "3.11")
    with pytest.raises(ValueError, match=r"snap_start: .*Python 3\.12\+, not 3\.11"):
        function_runtime(old, snap_start=True)
    assert function_runtime(old, snap_start=False).name == "python3.11"
    assert function_runtime(LambdaPlatform.aws_lambda(), snap_start=True).supports_snap_start
