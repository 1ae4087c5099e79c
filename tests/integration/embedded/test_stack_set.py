"""The customer StackSet template rolled out to tenant accounts with CloudFormation StackSets.

SELF_MANAGED instances here: each creates the stack in its target account, so the
test checks each tenant's resources and its per-account parameters there.
SERVICE_MANAGED instances, through an organization's OUs, are in
``test_stack_set_organizations.py``. The template itself is the one the app
synthesizes with ``-c customer_stack_set=true``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from app import build_app
from contracts.registry import TenantRegistry, parse_registry, parse_registry_yaml
from embedded_aws import EmbeddedCloud
from stacks.customer.customer_stack_set import (
    STACK_SET_TEMPLATE_NAME,
    StackSetMismatch,
    stack_set_parameters,
)
from tests.conftest import EXAMPLE_REGISTRY

pytestmark = [
    pytest.mark.xdist_group("embedded-stack-set"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
ADMIN = "999999999999"  # the StackSet administrator account
CODE_BUCKET = "org-bedrock-invoker-code"


@pytest.fixture(scope="module")
def registry() -> TenantRegistry:
    """The example registry with every setting the template carries set off its default."""
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["tenants"][1].update(
        usage_sink="stdout",
        snap_start=True,
        reserved_concurrency=5,
        max_tokens=512,
        service_tiers=["flex", "default"],
        retry_mode="standard",
        guardrail={"identifier": "abcdef123456", "version": "2"},
        application_inference_profiles=True,
        log_content="full",
        log_retention_days=30,
        price_overrides={"anthropic.claude-3-haiku-20240307-v1:0": {"input": 0.2, "output": 1}},
    )
    return parse_registry(data)


@pytest.fixture(scope="module")
def template(registry: TenantRegistry) -> dict[str, Any]:
    app = build_app(registry, context={"aws:cdk:bundling-stacks": []}, customer_stack_set=True)
    return dict(app.synth().get_stack_by_name(STACK_SET_TEMPLATE_NAME).template)


@pytest.fixture(scope="module")
def cloud(registry: TenantRegistry) -> Iterator[EmbeddedCloud]:
    accounts = [ADMIN, *(t.account_id for t in registry.resolved_tenants())]
    with EmbeddedCloud(accounts=accounts) as embedded:
        yield embedded


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def self_managed_stack_set(cloud: EmbeddedCloud, template: dict[str, Any], name: str) -> Any:
    """The function's code in the org bucket and a SELF_MANAGED StackSet of ``template``;
    the administrator's CloudFormation client."""
    s3 = cloud.client("s3", ADMIN)
    s3.create_bucket(Bucket=CODE_BUCKET)
    key = template["Parameters"]["CodeKey"]["Default"]
    s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=_code_zip())
    admin = cloud.client("cloudformation", ADMIN)
    admin.create_stack_set(
        StackSetName=name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SELF_MANAGED",
    )
    return admin


def test_the_template_has_no_bootstrap_rule_and_takes_code_from_the_org_bucket(
    template: dict[str, Any],
) -> None:
    assert "Rules" not in template
    assert "BootstrapVersion" not in template.get("Parameters", {})
    [function] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Code"] == {
        "S3Bucket": {"Ref": "CodeBucket"},
        "S3Key": {"Ref": "CodeKey"},
    }
    assert "cdk-hnb659fds" not in json.dumps(template)
    parameters = template["Parameters"]
    assert parameters["LogContent"]["AllowedValues"] == ["metadata", "redacted", "full"]
    assert "90" in parameters["LogRetentionDays"]["AllowedValues"]
    assert parameters["TenantId"]["MaxLength"] == 40


def test_self_managed_instances_create_each_tenants_stack_with_its_own_parameters(
    cloud: EmbeddedCloud, registry: TenantRegistry, template: dict[str, Any]
) -> None:
    admin = self_managed_stack_set(cloud, template, "bedrock-customer")
    for tenant in registry.resolved_tenants():
        admin.create_stack_instances(
            StackSetName="bedrock-customer",
            Accounts=[tenant.account_id],
            Regions=[tenant.region],
            ParameterOverrides=stack_set_parameters(
                tenant, CODE_BUCKET, defaults=registry.defaults
            ),
        )

    for tenant in registry.resolved_tenants():
        function = cloud.client("lambda", tenant.account_id, tenant.region).get_function(
            FunctionName=tenant.function_name
        )["Configuration"]
        env = function["Environment"]["Variables"]
        assert env["TENANT_ID"] == tenant.id
        assert env["OPS_ROLE_ARN"] == tenant.invoker_role_arn
        assert env["OPS_EXTERNAL_ID"] == tenant.external_id
        assert env["ALLOWED_MODELS"] == ",".join(tenant.models)
        assert env["LOG_CONTENT"] == tenant.log_content.value
        groups = cloud.client("logs", tenant.account_id, tenant.region).describe_log_groups()
        assert tenant.usage_log_group in {g["logGroupName"] for g in groups["logGroups"]}
        roles = cloud.client("iam", tenant.account_id).list_roles()["Roles"]
        assert f"bedrock-caller-{tenant.id}" in {r["RoleName"] for r in roles}


def test_the_stack_set_refuses_a_tenant_whose_fixed_settings_differ_from_the_defaults(
    registry: TenantRegistry,
) -> None:
    tenant = registry.tenant("acme").model_copy(update={"xray_tracing": True})
    with pytest.raises(StackSetMismatch, match="tenant 'acme': xray_tracing differ"):
        stack_set_parameters(tenant, CODE_BUCKET, defaults=registry.defaults)
