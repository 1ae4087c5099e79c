"""``stackset sync``'s failures on the embedded cloud: each failed account with its reason, then a
rerun that retries exactly those.

``tenantctl.stackset`` drives a SERVICE_MANAGED StackSet in the operations
account (the organization's management account) with boto3 clients of the
embedded cloud, as the CLI does through profiles. One tenant's account holds a
log group by the usage log group's name already, so CloudFormation cannot
create its stack; another tenant's account is outside the OU, so no instance
is created there. Both are reported with why; the others are deployed. Once
the log groups are gone (the one made by hand, and the function's, which the
failed create kept: Retain holds on a rollback too), the next sync updates
exactly the failed instance.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app import build_app
from contracts.registry import TenantRegistry, parse_registry, parse_registry_yaml
from contracts.registry.stack_set import TEMPLATE_STACK_NAME
from embedded_aws import EmbeddedCloud
from embedded_aws.organization import build_organization
from tenantctl.stackset import StackSetAdministrator, apply_plan, plan_sync, wanted_instances
from tests.conftest import EXAMPLE_REGISTRY

pytestmark = [
    pytest.mark.xdist_group("embedded-stackset-sync"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

OPS = "111111111111"
ACME, GLOBEX, INITECH = "222222222222", "333333333333", "444444444444"  # initech: outside
CODE_BUCKET = "org-bedrock-invoker-code"


@dataclass(frozen=True)
class Organization:
    cloud: EmbeddedCloud
    registry: TenantRegistry
    admin: StackSetAdministrator


def _registry(organizational_unit: str) -> TenantRegistry:
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["tenants"].append(
        {
            "id": "initech",
            "account_id": INITECH,
            "region": "us-east-1",
            "external_id": "initech-3c4d5e6f7a8b9c0d",
        }
    )
    data["customer_stack_set"] = {
        "code_bucket": CODE_BUCKET,
        "organizational_unit_ids": [organizational_unit],
        "operation_preferences": {"max_concurrent_percentage": 100},
    }
    return parse_registry(data)


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def organization() -> Iterator[Organization]:
    with EmbeddedCloud(accounts=[OPS, ACME, GLOBEX, INITECH], warm_lambdas=False) as cloud:
        org = build_organization(
            cloud,
            management_account=OPS,
            organizational_units={"tenants": [ACME, GLOBEX]},
            outside_accounts=[INITECH],
        )
        registry = _registry(org.organizational_units["tenants"])
        assert registry.customer_stack_set is not None
        app = build_app(registry, context={"aws:cdk:bundling-stacks": []})
        template = dict(app.synth().get_stack_by_name(TEMPLATE_STACK_NAME).template)
        s3 = cloud.client("s3", OPS)
        s3.create_bucket(Bucket=CODE_BUCKET)
        key = template["Parameters"]["CodeKey"]["Default"]
        s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=_code_zip())
        admin = StackSetAdministrator(
            registry.customer_stack_set,
            cloudformation=cloud.client("cloudformation", OPS),
            s3=s3,
            code_bucket_region="us-east-1",
            sleep=lambda _: None,
        )
        assert admin.deploy_template(template, key) == "created"
        yield Organization(cloud, registry, admin)


def _sync(org: Organization) -> Any:
    wanted = wanted_instances(org.registry)
    plan = plan_sync(wanted, org.admin.deployed_instances())
    return plan, apply_plan(org.admin, plan, wanted)


def test_each_failed_account_is_named_with_its_reason_and_a_rerun_retries_only_it(
    organization: Organization,
) -> None:
    acme = organization.registry.tenant("acme")
    squatter = organization.cloud.client("logs", ACME, acme.region)
    squatter.create_log_group(logGroupName=acme.usage_log_group)  # made by hand, say

    plan, report = _sync(organization)

    assert [(c.action, c.tenant_id) for c in plan.changes] == [
        ("create", "acme"),
        ("create", "globex"),
        ("create", "initech"),
    ]
    failed = {f.tenant_id: f for f in report.failures}
    assert set(failed) == {"acme", "initech"}
    assert failed["acme"].account_id == ACME and "already exists" in failed["acme"].reason
    assert "not in the organizational units" in failed["initech"].reason
    deployed = {d.account_id: d for d in organization.admin.deployed_instances()}
    assert deployed[GLOBEX].failed_why is None
    assert deployed[ACME].failed_why is not None

    # The operator's fix: the group made by hand goes, and so does the function's log
    # group the failed create made and kept (Retain holds on a rollback too, as on AWS).
    squatter.delete_log_group(logGroupName=acme.usage_log_group)
    squatter.delete_log_group(logGroupName=f"/aws/lambda/{acme.function_name}")
    plan, report = _sync(organization)

    assert [(c.action, c.tenant_id) for c in plan.changes] == [
        ("update", "acme"),
        ("create", "initech"),  # still outside the OU: still reported
    ]
    assert plan.of("update")[0].why.startswith("retry: instance")
    assert plan.unchanged == 1
    assert [f.tenant_id for f in report.failures] == ["initech"], report.failures
    function = organization.cloud.client("lambda", ACME, acme.region).get_function(
        FunctionName=acme.function_name
    )
    assert function["Configuration"]["Environment"]["Variables"]["TENANT_ID"] == "acme"
