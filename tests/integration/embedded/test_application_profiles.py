"""Application inference profiles on the embedded cloud: CloudFormation makes them,
Converse accepts their ARNs and checks exactly what ``contracts.model_access`` grants."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from langchain_aws import ChatBedrockConverse

from contracts import naming
from contracts.model_access import (
    application_profile_source_arn,
    default_profile_regions,
    model_grants,
)
from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import (
    ACME,
    HAIKU,
    OPS,
    REGION,
    US_HAIKU_35,
    create_role,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-profiles")

PROFILE_ARN_RE = re.compile(
    rf"arn:aws:bedrock:{REGION}:{OPS}:application-inference-profile/[a-z0-9]{{12}}"
)


def _template(tags: dict[str, str]) -> str:
    return json.dumps(
        {
            "Resources": {
                model.replace(".", "").replace("-", "").replace(":", ""): {
                    "Type": "AWS::Bedrock::ApplicationInferenceProfile",
                    "Properties": {
                        "InferenceProfileName": naming.application_inference_profile_name(
                            "acme", model
                        ),
                        "ModelSource": {
                            "CopyFrom": application_profile_source_arn(
                                model, partition="aws", region=REGION, account=OPS
                            )
                        },
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    },
                }
                for model in (HAIKU, US_HAIKU_35)
            },
            "Outputs": {
                f"Arn{i}": {"Value": {"Fn::GetAtt": [logical, "InferenceProfileArn"]}}
                for i, logical in enumerate(
                    m.replace(".", "").replace("-", "").replace(":", "")
                    for m in (HAIKU, US_HAIKU_35)
                )
            },
        }
    )


def _outputs(cloud: EmbeddedCloud, stack: str) -> dict[str, str]:
    described = cloud.client("cloudformation", OPS).describe_stacks(StackName=stack)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME]) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def profiles(cloud: EmbeddedCloud) -> dict[str, str]:
    """acme's two profiles, made by a CloudFormation stack; model id -> ARN."""
    cfn = cloud.client("cloudformation", OPS)
    cfn.create_stack(StackName="Profiles", TemplateBody=_template({"tenant-id": "acme"}))
    outputs = _outputs(cloud, "Profiles")
    return {HAIKU: outputs["Arn0"], US_HAIKU_35: outputs["Arn1"]}


def _invoker(cloud: EmbeddedCloud, name: str, profiles: dict[str, str] | None) -> boto3.Session:
    """A role with exactly the grants the operations stack gives, as a session."""
    grants = model_grants(
        [HAIKU, US_HAIKU_35],
        partition="aws",
        region=REGION,
        account=OPS,
        profile_regions=default_profile_regions(),
        application_profiles=profiles,
    )
    statements = [
        {
            "Sid": g.sid,
            "Effect": "Allow",
            "Action": list(g.actions),
            "Resource": list(g.resources),
            **({"Condition": g.conditions} if g.conditions else {}),
        }
        for g in grants
    ]
    arn = create_role(
        cloud, OPS, name, trust({"AWS": f"arn:aws:iam::{OPS}:root"}), policy(*statements)
    )
    return session_for(cloud, OPS, arn, name)


def _converse(cloud: EmbeddedCloud, session: boto3.Session, model_id: str) -> Any:
    return session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url).converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": "Hello there"}]}]
    )


def test_cloudformation_creates_profiles_with_generated_arns_and_tags(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    assert all(PROFILE_ARN_RE.fullmatch(arn) for arn in profiles.values()), profiles
    assert len(set(profiles.values())) == 2
    made = {p.arn: p for p in cloud.bedrock.application_profiles()}
    assert made[profiles[HAIKU]].model_id == HAIKU
    assert made[profiles[US_HAIKU_35]].copy_from == (
        f"arn:aws:bedrock:{REGION}:{OPS}:inference-profile/{US_HAIKU_35}"
    )
    assert dict(made[profiles[HAIKU]].tags) == {"tenant-id": "acme"}


def test_a_tag_update_keeps_the_profile_and_deleting_the_stack_deletes_it(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    cfn = cloud.client("cloudformation", OPS)
    # Another account's stack: names are unique per account, so acme's may repeat there.
    cfn_acme = cloud.client("cloudformation", ACME)
    cfn_acme.create_stack(StackName="Tagged", TemplateBody=_template({"tenant-id": "acme"}))
    before = _outputs_of(cfn_acme, "Tagged")
    cfn_acme.update_stack(
        StackName="Tagged",
        TemplateBody=_template({"tenant-id": "acme", "cost-centre": "CC-1"}),
    )
    after = _outputs_of(cfn_acme, "Tagged")
    assert after == before  # tags update in place: no new ARN
    tags = {p.arn: dict(p.tags) for p in cloud.bedrock.application_profiles()}
    assert tags[after["Arn0"]] == {"tenant-id": "acme", "cost-centre": "CC-1"}
    cfn_acme.delete_stack(StackName="Tagged")
    remaining = {p.arn for p in cloud.bedrock.application_profiles()}
    assert not remaining & set(after.values())
    assert cfn.describe_stacks(StackName="Profiles")["Stacks"]  # the other stack is untouched


def _outputs_of(cfn: Any, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def test_a_profile_name_is_unique_per_account(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    # Through a change set, as the CDK CLI deploys: the stack rolls back.
    cfn = cloud.client("cloudformation", OPS)
    cfn.create_change_set(
        StackName="Again",
        ChangeSetName="create",
        ChangeSetType="CREATE",
        TemplateBody=_template({"tenant-id": "acme"}),
    )
    cfn.execute_change_set(StackName="Again", ChangeSetName="create")
    stack = cfn.describe_stacks(StackName="Again")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="Again")["StackEvents"]
    assert any("already exists" in (e.get("ResourceStatusReason") or "") for e in events)
    assert len(cloud.bedrock.application_profiles()) >= 2  # acme's own are still there


def test_converse_through_a_profile_resolves_its_base_model_through_langchain(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    session = _invoker(cloud, "profiles-only", profiles)
    cloud.bedrock.clear_calls()
    for model in (HAIKU, US_HAIKU_35):
        chat = ChatBedrockConverse(
            model=profiles[model],
            base_model_id=model.removeprefix("us."),
            provider="anthropic",
            region_name=REGION,
            client=session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url),
            bedrock_client=session.client("bedrock", endpoint_url=cloud.endpoint_url),
        )
        answer = chat.invoke("How are you?")
        assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 0
    calls = cloud.bedrock.calls()
    assert [(c.model_id, c.base_model_id, c.outcome) for c in calls] == [
        (profiles[HAIKU], HAIKU, "success"),
        (profiles[US_HAIKU_35], US_HAIKU_35, "success"),
    ]
    assert all(c.session_name == "profiles-only" for c in calls)


def test_a_role_limited_to_its_profiles_cannot_call_the_model_or_system_profile_directly(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    session = _invoker(cloud, "profiles-only-2", profiles)
    for direct, resource in (
        (HAIKU, f"foundation-model/{HAIKU}"),
        (US_HAIKU_35, f"inference-profile/{US_HAIKU_35}"),
    ):
        with pytest.raises(ClientError) as denied:
            _converse(cloud, session, direct)
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        assert resource in denied.value.response["Error"]["Message"]


def test_a_role_without_the_profile_grant_is_denied_on_the_profile_arn(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    # The ordinary grants (model ids): the profile's own ARN is not among them.
    session = _invoker(cloud, "direct-only", None)
    assert _converse(cloud, session, HAIKU)["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as denied:
        _converse(cloud, session, profiles[HAIKU])
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert profiles[HAIKU] in denied.value.response["Error"]["Message"]


def test_the_foundation_model_grant_holds_only_through_the_tenants_own_profile(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    # Grants naming another profile of the same model: the profile ARN in the
    # condition does not match the one the call goes through.
    other = cloud.bedrock.create_application_profile(
        account_id=OPS,
        region=REGION,
        name="other-tenant-haiku",
        copy_from=application_profile_source_arn(
            HAIKU, partition="aws", region=REGION, account=OPS
        ),
    )
    grants = model_grants(
        [HAIKU],
        partition="aws",
        region=REGION,
        account=OPS,
        profile_regions=default_profile_regions(),
        application_profiles={HAIKU: other.arn},
    )
    routed = next(g for g in grants if g.sid == "ModelsRoutedByInferenceProfiles")
    statements = [
        {
            "Effect": "Allow",
            "Action": list(routed.actions),
            "Resource": list(routed.resources),
            "Condition": routed.conditions,
        },
        {"Effect": "Allow", "Action": list(routed.actions), "Resource": [profiles[HAIKU]]},
    ]
    arn = create_role(
        cloud,
        OPS,
        "wrong-condition",
        trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
        policy(*statements),
    )
    session = session_for(cloud, OPS, arn, "wrong-condition")
    with pytest.raises(ClientError) as denied:
        _converse(cloud, session, profiles[HAIKU])
    assert f"foundation-model/{HAIKU}" in denied.value.response["Error"]["Message"]


def test_an_unknown_profile_arn_is_an_invalid_model_identifier(
    cloud: EmbeddedCloud, profiles: dict[str, str]
) -> None:
    # Allowed on every profile of the account: IAM is evaluated first, so only a
    # caller allowed on the ARN learns that it names no profile.
    every_profile = f"arn:aws:bedrock:{REGION}:{OPS}:application-inference-profile/*"
    allowed = [{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": every_profile}]
    arn = create_role(
        cloud, OPS, "any-profile", trust({"AWS": f"arn:aws:iam::{OPS}:root"}), policy(*allowed)
    )
    session = session_for(cloud, OPS, arn, "any-profile")
    missing = f"arn:aws:bedrock:{REGION}:{OPS}:application-inference-profile/zzzzzzzzzzzz"
    with pytest.raises(ClientError) as invalid:
        _converse(cloud, session, missing)
    assert invalid.value.response["Error"]["Code"] == "ValidationException"
