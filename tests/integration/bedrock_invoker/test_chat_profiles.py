"""Application inference profiles in the function: the profile ARN as model, read once
from the operations account's SSM parameter, no GetInferenceProfile.

The handler runs as in ``test_invoker_handler`` (moto accounts, the embedded
cloud's Bedrock emulator, real LangChain), with the tenant's invoker role limited
to its application profiles exactly as the operations stack grants it, and the
operations stack's parameter of profile ARNs written in the operations account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from bedrock_tenant_client.chat import CONFIGURATION_ERROR, BedrockChat, InferenceProfileMissing
from bedrock_tenant_client.inference_profiles import (
    REFRESH_AFTER_SECONDS,
    InferenceProfileDirectory,
    InferenceProfileDirectoryError,
)
from botocore.stub import Stubber

from contracts import naming
from contracts.model_access import (
    application_profile_source_arn,
    default_profile_regions,
    model_grants,
)
from tests.support.invoker_testkit import (
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

Handler = Callable[[], ModuleType]
PROFILE_ARN = f"arn:aws:bedrock:{REGION}:{OPS_ACCOUNT}:application-inference-profile/abc123def456"


def _in_ops(client: object) -> object:
    def add_header(request: object, **_: object) -> None:
        request.headers["x-moto-account-id"] = OPS_ACCOUNT  # type: ignore[attr-defined]

    client.meta.events.register("before-sign", add_header)  # type: ignore[attr-defined]
    return client


def _publish(profiles: dict[str, str]) -> None:
    """What the operations stack writes: the tenant's profile ARNs, by model."""
    ssm: Any = _in_ops(boto3.client("ssm", region_name=REGION))
    ssm.put_parameter(
        Name=naming.inference_profiles_parameter_name(TENANT_ID),
        Value=json.dumps(profiles),
        Type="String",
        Overwrite=True,
    )


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
    """Both models' profiles in the emulator and the role; only HAIKU's published."""
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
    _publish({HAIKU: arns[HAIKU]})
    set_function_env(APPLICATION_INFERENCE_PROFILES="true")
    return arns


def test_the_call_goes_through_the_profile_and_the_record_names_the_model(
    profiles: dict[str, str],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    handler = cold_handler()
    result = handler.lambda_handler(event(model_id=HAIKU), lambda_context)
    handler.lambda_handler(event(model_id=HAIKU), lambda_context)

    assert result["output"] == "Bonjour !" and result["model_id"] == HAIKU
    first, _ = converse_stub.calls
    assert (first.model_id, first.base_model_id, first.outcome) == (
        profiles[HAIKU],
        HAIKU,
        "success",
    )
    first_record, _ = accounts.usage_records()
    assert first_record["model_id"] == HAIKU  # pricing resolves the model, not the ARN
    assert first_record["status"] == "success"
    # No GetInferenceProfile (nor any other control-plane call) at any point, and
    # the ARNs read once for the container.
    assert api_calls.count("bedrock:") == 0
    assert api_calls.count("ssm:GetParameter") == 1
    assert api_calls.count("bedrock-runtime:Converse") == 2


def test_a_model_without_its_profile_arn_answers_a_configuration_error_naming_the_parameter(
    profiles: dict[str, str],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    handler = cold_handler()
    result = handler.lambda_handler(event(model_id=US_HAIKU), lambda_context)

    assert result["error"]["type"] == CONFIGURATION_ERROR
    assert naming.inference_profiles_parameter_name(TENANT_ID) in result["error"]["message"]
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
    set_function_env(APPLICATION_INFERENCE_PROFILES=None)
    result = cold_handler().lambda_handler(event(model_id=HAIKU), lambda_context)

    assert result["error"]["type"] == "AccessDeniedException"
    assert f"foundation-model/{HAIKU}" in result["error"]["message"]


def test_an_unpublished_parameter_answers_a_configuration_error_and_writes_the_record(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    set_function_env: Callable[..., None],
) -> None:
    # The operations stack has not been deployed with the tenant's profiles yet.
    set_function_env(APPLICATION_INFERENCE_PROFILES="true")
    result = cold_handler().lambda_handler(event(model_id=HAIKU), lambda_context)

    assert result["error"]["type"] == CONFIGURATION_ERROR
    assert "deploy the tenant's operations stack" in result["error"]["message"]
    assert converse_stub.calls == []
    [record] = accounts.usage_records()
    assert (record["status"], record["error_type"]) == ("error", CONFIGURATION_ERROR)


def _ssm_answering(*values: str) -> tuple[Any, Stubber]:
    """A real SSM client whose GetParameter answers ``values`` in turn (and nothing else)."""
    client = botocore.session.get_session().create_client(
        "ssm", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    stubber = Stubber(client)
    for value in values:
        stubber.add_response(
            "get_parameter",
            {"Parameter": {"Name": "p", "Value": value, "Type": "String"}},
            {"Name": naming.inference_profiles_parameter_name(TENANT_ID)},
        )
    stubber.activate()
    return client, stubber


def _chat(directory: InferenceProfileDirectory, control: Any) -> BedrockChat:
    session = botocore.session.get_session()
    return BedrockChat(
        runtime_client=session.create_client(
            "bedrock-runtime", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
        ),
        control_client=control,
        region_name=REGION,
        inference_profiles=directory,
    )


def test_building_a_profile_model_makes_no_control_plane_call() -> None:
    session = botocore.session.get_session()
    control = session.create_client(
        "bedrock", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    ssm, _ = _ssm_answering(json.dumps({US_HAIKU: PROFILE_ARN}))
    directory = InferenceProfileDirectory(tenant_id=TENANT_ID, ssm_client=lambda: ssm)
    with Stubber(control) as stubber:  # no responses queued: any call would raise
        model = _chat(directory, control).model(US_HAIKU)
        stubber.assert_no_pending_responses()
    assert model.model_id == PROFILE_ARN
    assert model.base_model_id == US_HAIKU.removeprefix("us.")
    assert model.provider == "anthropic"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "not JSON"),
        ('["a"]', "not a map of model ids"),
        (json.dumps({HAIKU: "arn:aws:bedrock:us-east-1::foundation-model/x"}), "not a map"),
    ],
)
def test_a_malformed_parameter_is_a_configuration_error_naming_it(value: str, problem: str) -> None:
    ssm, _ = _ssm_answering(value, value)
    directory = InferenceProfileDirectory(tenant_id=TENANT_ID, ssm_client=lambda: ssm)
    with pytest.raises(InferenceProfileDirectoryError, match=problem):
        directory.arn_for(HAIKU)
    # The chat turns it into the configuration error the caller and the record see.
    parameter = naming.inference_profiles_parameter_name(TENANT_ID)
    with pytest.raises(InferenceProfileMissing, match=parameter):
        _chat(directory, control=None).model(HAIKU)


def test_a_model_added_later_is_found_by_reading_the_parameter_again_not_on_every_call() -> None:
    now = [0.0]
    ssm, stubber = _ssm_answering(
        json.dumps({HAIKU: PROFILE_ARN}), json.dumps({HAIKU: PROFILE_ARN, US_HAIKU: PROFILE_ARN})
    )
    directory = InferenceProfileDirectory(
        tenant_id=TENANT_ID, ssm_client=lambda: ssm, clock=lambda: now[0]
    )
    assert directory.arn_for(HAIKU) == PROFILE_ARN
    assert directory.arn_for(US_HAIKU) is None  # read moments ago: not read again yet
    now[0] += REFRESH_AFTER_SECONDS
    assert directory.arn_for(US_HAIKU) == PROFILE_ARN
    assert directory.arn_for(HAIKU) == PROFILE_ARN
    stubber.assert_no_pending_responses()  # exactly two reads


def test_a_restored_snapshot_reads_the_parameter_afresh() -> None:
    ssm, stubber = _ssm_answering(json.dumps({HAIKU: PROFILE_ARN}), json.dumps({}))
    directory = InferenceProfileDirectory(tenant_id=TENANT_ID, ssm_client=lambda: ssm)
    assert directory.arn_for(HAIKU) == PROFILE_ARN
    directory.drop()
    assert directory.arn_for(HAIKU) is None
    stubber.assert_no_pending_responses()
