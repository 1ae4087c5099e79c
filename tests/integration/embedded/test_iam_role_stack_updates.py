"""A stack update changes a role's tags, trust policy and session duration, as on AWS.

A tenant's ``cost_centre`` reaches Cost Explorer only as a tag on its invoker
role, put there by an update of the operations stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME, OPS, trust

pytestmark = pytest.mark.xdist_group("embedded-iam-role-stack-updates")


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS]) as embedded:
        yield embedded


def _template(trusted_account: str, tags: dict[str, str], **extra: Any) -> str:
    return json.dumps(
        {
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "RoleName": "tagged",
                        "AssumeRolePolicyDocument": json.loads(
                            trust({"AWS": f"arn:aws:iam::{trusted_account}:root"})
                        ),
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                        **extra,
                    },
                }
            }
        }
    )


def test_a_stack_update_applies_the_roles_tags_trust_and_session_duration(
    cloud: EmbeddedCloud,
) -> None:
    cfn = cloud.client("cloudformation", OPS)
    iam = cloud.client("iam", OPS)
    cfn.create_stack(StackName="tagged", TemplateBody=_template(OPS, {"tenant-id": "acme"}))
    try:
        cfn.update_stack(
            StackName="tagged",
            TemplateBody=_template(
                ACME,
                {"tenant-id": "acme", "cost-centre": "research"},
                MaxSessionDuration=7200,
            ),
        )
        tags = iam.list_role_tags(RoleName="tagged")["Tags"]
        assert sorted((t["Key"], t["Value"]) for t in tags) == [
            ("cost-centre", "research"),
            ("tenant-id", "acme"),
        ]
        role = iam.get_role(RoleName="tagged")["Role"]
        principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        assert principal == {"AWS": f"arn:aws:iam::{ACME}:root"}
        assert role["MaxSessionDuration"] == 7200

        cfn.update_stack(StackName="tagged", TemplateBody=_template(ACME, {"tenant-id": "acme"}))
        assert iam.list_role_tags(RoleName="tagged")["Tags"] == [
            {"Key": "tenant-id", "Value": "acme"}
        ]
        assert iam.get_role(RoleName="tagged")["Role"]["MaxSessionDuration"] == 3600
    finally:
        cfn.delete_stack(StackName="tagged")
