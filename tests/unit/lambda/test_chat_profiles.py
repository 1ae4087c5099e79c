"""Application inference profiles in the function: the profile ARN as model, no lookup.

The handler runs as in ``test_invoker_handler`` (moto accounts, the embedded
cloud's Bedrock emulator, real LangChain), with the tenant's invoker role limited
to its application profiles exactly as the operations stack grants it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from invoker.chat import CONFIGURATION_ERROR, BedrockChat, InferenceProfileMissing
from invoker.settings import Settings, SettingsError
from invoker_testkit import (
    HAIKU,
    OPS_ACCOUNT,
    REGION,
    TENANT_ID,
    US_HAIKU,
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    event,
)

from contracts import naming
from contracts.model_access import (
    application_profile_source_arn,
    default_profile_regions,
    model_grants,
)

Handler = Callable[[], ModuleType]
PROFILE_ARN = f"arn:aws:bedrock:{REGION}:{OPS_ACCOUNT}:application-inference-profile/abc123def456"


def _limit_role_to_profiles(profiles: dict[str, str]) -> None:
    """Replace the invoker role's policy with the operations stack's profile-only grants."""
    iam = boto3.client("iam", region_name=REGION)

    def in_ops(request: object, **_: object) -> None:
        request.headers["x-moto-account-id"] = OPS_ACCOUNT  # type: ignore[attr-defined]

    iam.meta.events.register("before-sign", in_ops)
    grants = model_grants(
        [HAIKU, US_HAIKU],
        partition="aws",
        region=REGION,
        account=OPS_ACCOUNT,
        profile_regions=default_profile_regions(),
        application_profiles=profiles,
    )
    iam.put_role_policy(
        RoleName=naming.invoker_role_name(TENANT_ID),
        PolicyName="ModelAccess",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": g.sid,
                        "Effect": "Allow",
                        "Action": list(g.actions),
                        "Resource": list(g.resources),
                        **({"Condition": g.conditions} if g.conditions else {}),
                    }
                    for g in grants
                ],
            }
        ),
    )


@pytest.fixture
def profiles(
    accounts: Accounts, converse_stub: ConverseStub, set_function_env: Callable[..., None]
) -> dict[str, str]:
    """Both models' profiles in the emulator and the role; only HAIKU's in the environment."""
    arns = {
        model: converse_stub.emulator.create_application_profile(
            account_id=OPS_ACCOUNT,
            region=REGION,
            name=naming.application_inference_profile_name(TENANT_ID, model),
            copy_from=application_profile_source_arn(
                model, partition="aws", region=REGION, account=OPS_ACCOUNT
            ),
        ).arn
        for model in (HAIKU, US_HAIKU)
    }
    _limit_role_to_profiles(arns)
    set_function_env(
        APPLICATION_INFERENCE_PROFILES="true",
        INFERENCE_PROFILE_ARNS=json.dumps({HAIKU: arns[HAIKU]}),
    )
    return arns


def test_the_call_goes_through_the_profile_and_the_record_names_the_model(
    profiles: dict[str, str],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    result = cold_handler().lambda_handler(event(model_id=HAIKU), lambda_context)

    assert result["output"] == "Bonjour !" and result["model_id"] == HAIKU
    [call] = converse_stub.calls
    assert (call.model_id, call.base_model_id, call.outcome) == (profiles[HAIKU], HAIKU, "success")
    [record] = accounts.usage_records()
    assert record["model_id"] == HAIKU  # pricing resolves the model, not the ARN
    assert record["status"] == "success"
    # No GetInferenceProfile (nor any other control-plane call) at any point.
    assert api_calls.count("bedrock:") == 0
    assert api_calls.count("bedrock-runtime:Converse") == 1


def test_a_model_without_its_profile_arn_answers_a_configuration_error_naming_the_variable(
    profiles: dict[str, str],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    handler = cold_handler()
    result = handler.lambda_handler(event(model_id=US_HAIKU), lambda_context)

    assert result["error"]["type"] == CONFIGURATION_ERROR
    assert "INFERENCE_PROFILE_ARNS" in result["error"]["message"]
    assert US_HAIKU in result["error"]["message"]
    assert converse_stub.calls == []  # not sent to Bedrock directly, where it would be denied
    [record] = accounts.usage_records()
    assert (record["status"], record["error_type"]) == ("error", CONFIGURATION_ERROR)
    # The model that has its ARN still works in the same container.
    assert handler.lambda_handler(event(model_id=HAIKU), lambda_context)["model_id"] == HAIKU


def test_the_role_refuses_the_base_model_called_directly(
    profiles: dict[str, str],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    set_function_env: Callable[..., None],
) -> None:
    # A function that does not know it should use profiles calls the model itself.
    set_function_env(APPLICATION_INFERENCE_PROFILES=None, INFERENCE_PROFILE_ARNS=None)
    result = cold_handler().lambda_handler(event(model_id=HAIKU), lambda_context)

    assert result["error"]["type"] == "AccessDeniedException"
    assert f"foundation-model/{HAIKU}" in result["error"]["message"]


def test_building_a_profile_model_makes_no_control_plane_call() -> None:
    session = botocore.session.get_session()
    control = session.create_client(
        "bedrock", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    with Stubber(control) as stubber:  # no responses queued: any call would raise
        chat = BedrockChat(
            runtime_client=session.create_client(
                "bedrock-runtime",
                region_name=REGION,
                aws_access_key_id="x",
                aws_secret_access_key="y",
            ),
            control_client=control,
            region_name=REGION,
            inference_profiles={US_HAIKU: PROFILE_ARN},
            require_inference_profiles=True,
        )
        model = chat.model(US_HAIKU)
        stubber.assert_no_pending_responses()
    assert model.model_id == PROFILE_ARN
    assert model.base_model_id == US_HAIKU.removeprefix("us.")
    assert model.provider == "anthropic"
    with pytest.raises(InferenceProfileMissing, match="INFERENCE_PROFILE_ARNS"):
        chat.model(HAIKU)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "not valid JSON"),
        ('["a"]', "valid dictionary"),
        (json.dumps({HAIKU: "arn:aws:bedrock:us-east-1::foundation-model/x"}), "not an appl"),
        (json.dumps({"anthropic.claude-3-opus-20240229-v1:0": PROFILE_ARN}), "ALLOWED_MODELS"),
    ],
)
def test_a_malformed_profile_map_fails_the_cold_start_naming_the_variable(
    value: str, problem: str, invoker_env: dict[str, str]
) -> None:
    with pytest.raises(SettingsError, match=f"INFERENCE_PROFILE_ARNS: .*{problem}"):
        Settings.from_env({**invoker_env, "INFERENCE_PROFILE_ARNS": value})


def test_the_profile_map_is_read_into_settings(invoker_env: dict[str, str]) -> None:
    settings = Settings.from_env(
        {
            **invoker_env,
            "APPLICATION_INFERENCE_PROFILES": "true",
            "INFERENCE_PROFILE_ARNS": json.dumps({HAIKU: PROFILE_ARN}),
        }
    )
    assert settings.application_inference_profiles is True
    assert settings.inference_profile_arns == {HAIKU: PROFILE_ARN}
    assert Settings.from_env(invoker_env).application_inference_profiles is False
