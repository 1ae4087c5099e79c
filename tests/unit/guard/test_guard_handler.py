"""The deploy-time guard answers CloudFormation itself: FAILED while prompts would be logged."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.unit.guard.conftest import TEXT_LOGGING, CloudFormationAnswers, custom_resource_event


def test_logging_with_content_delivery_fails_the_deployment_with_a_clear_reason(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers, bedrock: Any
) -> None:
    bedrock.put_model_invocation_logging_configuration(loggingConfig=TEXT_LOGGING)
    guard_handler.lambda_handler(custom_resource_event("Create", cloudformation.url), None)

    answer = cloudformation.only
    body = answer["body"]
    assert body["Status"] == "FAILED"
    assert "model-invocation logging is enabled in the operations account" in body["Reason"]
    assert "image, text data delivery" in body["Reason"]
    assert "allow_ops_invocation_logging" in body["Reason"]
    assert body["Data"] == {"LoggingEnabled": "true", "ContentDelivered": "image,text"}
    # Echoes what CloudFormation needs to match the answer to the request.
    assert body["StackId"].endswith("stack/BedrockOperations/1")
    assert body["RequestId"] == "req-1"
    assert body["LogicalResourceId"] == "InvocationLoggingGuardCheck2153654F"
    assert body["PhysicalResourceId"] == "bedrock-ops-invocation-logging-guard"
    # The pre-signed URL is used as given, without a Content-Type it was not signed with.
    assert answer["path"] == "/cfn-response?signature=abc"
    assert answer["content_type"] == ""


def test_logging_off_lets_the_deployment_proceed(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers, bedrock: Any
) -> None:
    guard_handler.lambda_handler(custom_resource_event("Create", cloudformation.url), None)
    body = cloudformation.only["body"]
    assert body["Status"] == "SUCCESS"
    assert body["Reason"] == "model-invocation logging is off"
    assert body["Data"] == {"LoggingEnabled": "false", "ContentDelivered": ""}


def test_logging_allowed_by_the_registry_succeeds_on_update(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers, bedrock: Any
) -> None:
    bedrock.put_model_invocation_logging_configuration(loggingConfig=TEXT_LOGGING)
    guard_handler.lambda_handler(
        custom_resource_event("Update", cloudformation.url, allow="true"), None
    )
    body = cloudformation.only["body"]
    assert body["Status"] == "SUCCESS"
    assert "allowed by the registry" in body["Reason"]


def test_metadata_only_logging_is_not_content_and_passes(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers, bedrock: Any
) -> None:
    config = {**TEXT_LOGGING, "textDataDeliveryEnabled": False, "imageDataDeliveryEnabled": False}
    bedrock.put_model_invocation_logging_configuration(loggingConfig=config)
    guard_handler.lambda_handler(custom_resource_event("Create", cloudformation.url), None)
    body = cloudformation.only["body"]
    assert body["Status"] == "SUCCESS"
    assert "metadata only" in body["Reason"]


def test_delete_succeeds_without_calling_bedrock(
    guard_handler: ModuleType,
    cloudformation: CloudFormationAnswers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_client() -> None:
        raise AssertionError("Delete must not call Bedrock")

    monkeypatch.setattr(guard_handler, "bedrock_client", no_client)
    guard_handler.lambda_handler(custom_resource_event("Delete", cloudformation.url), None)
    body = cloudformation.only["body"]
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "bedrock-ops-invocation-logging-guard"


def test_api_error_fails_with_the_error_in_the_reason(
    guard_handler: ModuleType,
    cloudformation: CloudFormationAnswers,
    bedrock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard_handler, "ACCESS_DENIED_RETRY_DELAYS", (0.0,))
    stubber = Stubber(bedrock)
    for _ in range(2):  # the first try and one retry for a role still propagating
        stubber.add_client_error(
            "get_model_invocation_logging_configuration",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform this action",
            http_status_code=403,
        )
    monkeypatch.setattr(guard_handler, "bedrock_client", lambda: bedrock)
    with stubber:
        guard_handler.lambda_handler(custom_resource_event("Create", cloudformation.url), None)
    stubber.assert_no_pending_responses()
    body = cloudformation.only["body"]
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        "cannot check invocation logging: GetModelInvocationLoggingConfiguration: "
        "AccessDeniedException: User is not authorized to perform this action"
    )


def test_a_role_still_propagating_is_retried_before_failing(
    guard_handler: ModuleType,
    cloudformation: CloudFormationAnswers,
    bedrock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    stubber = Stubber(bedrock)
    stubber.add_client_error(
        "get_model_invocation_logging_configuration", service_error_code="AccessDeniedException"
    )
    stubber.add_response("get_model_invocation_logging_configuration", {})
    with stubber:
        verdict = guard_handler.check(False, bedrock, sleep=waits.append)
    assert waits == [2.0]
    assert verdict.ok


def test_other_errors_are_not_retried(
    guard_handler: ModuleType,
    cloudformation: CloudFormationAnswers,
    bedrock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard_handler.time, "sleep", lambda s: pytest.fail("no retry expected"))
    stubber = Stubber(bedrock)
    stubber.add_client_error(
        "get_model_invocation_logging_configuration",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
    )
    monkeypatch.setattr(guard_handler, "bedrock_client", lambda: bedrock)
    with stubber:
        guard_handler.lambda_handler(custom_resource_event("Update", cloudformation.url), None)
    assert "ThrottlingException: Rate exceeded" in cloudformation.only["body"]["Reason"]


@pytest.mark.parametrize("value", ["yes", "", "TRUE!"])
def test_a_malformed_allow_property_fails_naming_the_property(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers, bedrock: Any, value: str
) -> None:
    guard_handler.lambda_handler(
        custom_resource_event("Create", cloudformation.url, allow=value), None
    )
    body = cloudformation.only["body"]
    assert body["Status"] == "FAILED"
    assert "AllowOpsInvocationLogging: expected true or false" in body["Reason"]


def test_a_missing_allow_property_means_not_allowed(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers, bedrock: Any
) -> None:
    bedrock.put_model_invocation_logging_configuration(loggingConfig=TEXT_LOGGING)
    guard_handler.lambda_handler(
        custom_resource_event("Create", cloudformation.url, allow=None), None
    )
    assert cloudformation.only["body"]["Status"] == "FAILED"


def test_a_long_reason_is_cut_to_fit_cloudformations_response_limit(
    guard_handler: ModuleType, cloudformation: CloudFormationAnswers
) -> None:
    guard_handler.send_response(
        custom_resource_event("Create", cloudformation.url),
        status="FAILED",
        reason="x" * 10_000,
        data={},
    )
    assert len(cloudformation.only["body"]["Reason"]) == guard_handler.MAX_REASON_CHARS
