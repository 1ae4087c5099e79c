"""The invoker role's guardrail and service-tier conditions, held by the embedded Bedrock.

The role's policy is the one the operations stack writes
(``contracts.model_access.model_grants`` with the tenant's guardrail and tiers);
the caller is boto3 with the role's credentials, so the only thing between a
call and the model is IAM as Bedrock evaluates it: ``bedrock:GuardrailIdentifier``
and ``bedrock:ServiceTier`` from the request itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from contracts.model_access import default_profile_regions, model_grants
from embedded_aws import EmbeddedCloud
from embedded_aws.bedrock_guardrails import EmulatedGuardrail
from tests.integration.embedded.conftest import (
    ACME,
    HAIKU,
    OPS,
    REGION,
    create_role,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-bedrock")

INVOKER = f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme"
ALLOWED_TIERS = ("default", "flex")
BLOCKED_WORD = "unobtainium"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME]) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def guardrail(cloud: EmbeddedCloud) -> EmulatedGuardrail:
    """acme's guardrail, as its registry entry would name it."""
    return cloud.bedrock.create_guardrail(
        account_id=OPS,
        region=REGION,
        name="acme",
        blocked_words=[BLOCKED_WORD],
        content_filters=True,
        blocked_input_messaging="This request is outside acme's policy.",
    )


@pytest.fixture(scope="module")
def other_guardrail(cloud: EmbeddedCloud) -> EmulatedGuardrail:
    """A guardrail of the same account that is not acme's (for example a laxer one)."""
    return cloud.bedrock.create_guardrail(account_id=OPS, region=REGION, name="lax")


@pytest.fixture(scope="module")
def runtime(cloud: EmbeddedCloud, guardrail: EmulatedGuardrail) -> Any:
    grants = model_grants(
        [HAIKU],
        partition="aws",
        region=REGION,
        account=OPS,
        profile_regions=default_profile_regions(),
        guardrail=(guardrail.arn, guardrail.version),
        service_tiers=ALLOWED_TIERS,
    )
    statements = [
        {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Action": list(grant.actions),
            "Resource": list(grant.resources),
            **({"Condition": grant.conditions} if grant.conditions else {}),
        }
        for grant in grants
    ]
    create_role(
        cloud,
        OPS,
        "bedrock-invoker-acme",
        trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
        policy(*statements),
    )
    session: boto3.Session = session_for(cloud, OPS, INVOKER, "acme")
    return session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)


@pytest.fixture(autouse=True)
def clean(cloud: EmbeddedCloud) -> Iterator[None]:
    cloud.bedrock.clear_calls()
    yield


def converse(runtime: Any, prompt: str = "Say hello.", **request: Any) -> dict[str, Any]:
    response: dict[str, Any] = runtime.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": 64},
        **request,
    )
    return response


def guardrail_config(guardrail: EmulatedGuardrail) -> dict[str, str]:
    return {
        "guardrailIdentifier": guardrail.arn,
        "guardrailVersion": guardrail.version,
        "trace": "enabled",
    }


def denied(error: pytest.ExceptionInfo[ClientError]) -> bool:
    return error.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_call_without_the_tenants_guardrail_is_denied(runtime: Any) -> None:
    with pytest.raises(ClientError) as error:
        converse(runtime, serviceTier={"type": "default"})
    assert denied(error)


def test_a_call_with_another_guardrail_is_denied(
    runtime: Any, other_guardrail: EmulatedGuardrail
) -> None:
    with pytest.raises(ClientError) as error:
        converse(
            runtime,
            guardrailConfig=guardrail_config(other_guardrail),
            serviceTier={"type": "default"},
        )
    assert denied(error)
    assert "bedrock:InvokeModel" in error.value.response["Error"]["Message"]


def test_a_call_with_the_tenants_guardrail_and_tier_is_answered(
    cloud: EmbeddedCloud, runtime: Any, guardrail: EmulatedGuardrail
) -> None:
    response = converse(
        runtime, guardrailConfig=guardrail_config(guardrail), serviceTier={"type": "default"}
    )

    assert response["stopReason"] == "end_turn"
    assessment = response["trace"]["guardrail"]["inputAssessment"][guardrail.guardrail_id]
    assert assessment["invocationMetrics"]["usage"]["contentPolicyUnits"] == 1
    [call] = cloud.bedrock.calls()
    assert (call.outcome, call.max_tokens, call.service_tier) == ("success", 64, "default")
    assert call.guardrail == f"{guardrail.arn}:{guardrail.version}"


def test_a_tier_the_tenant_may_not_use_is_denied_and_an_allowed_one_answered(
    runtime: Any, guardrail: EmulatedGuardrail
) -> None:
    with pytest.raises(ClientError) as error:
        converse(
            runtime, guardrailConfig=guardrail_config(guardrail), serviceTier={"type": "priority"}
        )
    assert denied(error)

    flex = converse(
        runtime, guardrailConfig=guardrail_config(guardrail), serviceTier={"type": "flex"}
    )
    assert flex["stopReason"] == "end_turn"


def test_a_call_that_names_no_tier_is_denied(runtime: Any, guardrail: EmulatedGuardrail) -> None:
    with pytest.raises(ClientError) as error:
        converse(runtime, guardrailConfig=guardrail_config(guardrail))
    assert denied(error)


def test_invoke_model_is_held_to_the_same_guardrail_and_tier(
    cloud: EmbeddedCloud, runtime: Any, guardrail: EmulatedGuardrail
) -> None:
    body = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": "Say hello."}],
        }
    )
    with pytest.raises(ClientError) as error:
        runtime.invoke_model(modelId=HAIKU, body=body, serviceTier="default")
    assert denied(error)

    answer = runtime.invoke_model(
        modelId=HAIKU,
        body=body,
        serviceTier="default",
        guardrailIdentifier=guardrail.arn,
        guardrailVersion=guardrail.version,
    )
    assert json.loads(answer["body"].read())["content"][0]["text"]
    assert [(c.outcome, c.max_tokens) for c in cloud.bedrock.calls()] == [
        ("AccessDeniedException", None),
        ("success", 32),
    ]


def test_a_blocked_word_makes_the_guardrail_intervene_without_calling_the_model(
    cloud: EmbeddedCloud, runtime: Any, guardrail: EmulatedGuardrail
) -> None:
    response = converse(
        runtime,
        prompt=f"Where can I buy {BLOCKED_WORD.upper()}?",
        guardrailConfig=guardrail_config(guardrail),
        serviceTier={"type": "default"},
    )

    assert response["stopReason"] == "guardrail_intervened"
    assert response["output"]["message"]["content"] == [
        {"text": "This request is outside acme's policy."}
    ]
    assert response["usage"]["inputTokens"] == response["usage"]["outputTokens"] == 0
    assessment = response["trace"]["guardrail"]["inputAssessment"][guardrail.guardrail_id]
    assert assessment["wordPolicy"]["customWords"][0]["action"] == "BLOCKED"
    [call] = cloud.bedrock.calls()
    assert call.stop_reason == "guardrail_intervened"


def test_a_guardrail_version_that_does_not_exist_is_bedrocks_validation_error(
    cloud: EmbeddedCloud, guardrail: EmulatedGuardrail
) -> None:
    # A role allowed any version of acme's guardrail (the condition pins none).
    create_role(
        cloud,
        OPS,
        "any-version",
        trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
        policy(
            {
                "Effect": "Allow",
                "Action": ["bedrock:InvokeModel", "bedrock:ApplyGuardrail"],
                "Resource": [
                    f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
                    guardrail.arn,
                ],
            }
        ),
    )
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/any-version", "acme")
    client = session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)
    with pytest.raises(ClientError) as error:
        converse(
            client,
            guardrailConfig={"guardrailIdentifier": guardrail.arn, "guardrailVersion": "7"},
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_the_accounts_enforced_guardrail_assesses_every_call_even_one_naming_none(
    cloud: EmbeddedCloud, guardrail: EmulatedGuardrail
) -> None:
    floor = cloud.bedrock.create_guardrail(
        account_id=OPS,
        region=REGION,
        name="floor",
        blocked_words=["forbidden"],
        blocked_input_messaging="Blocked by the operations account.",
    )
    create_role(
        cloud,
        OPS,
        "no-guardrail-condition",
        trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
        policy(
            {
                "Effect": "Allow",
                "Action": "bedrock:InvokeModel",
                "Resource": f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
            }
        ),
    )
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/no-guardrail-condition", "xy")
    client = session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url)
    cloud.bedrock.set_enforced_guardrail(OPS, REGION, floor.guardrail_id)
    try:
        blocked = converse(client, prompt="Say the forbidden word.")
        passed = converse(client, prompt=f"Say {BLOCKED_WORD}.")
    finally:
        cloud.bedrock.clear_enforced_guardrail(OPS, REGION)

    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"] == [
        {"text": "Blocked by the operations account."}
    ]
    # Only the floor applies: acme's own guardrail is not named by this call.
    assert passed["stopReason"] != "guardrail_intervened"
