"""Bedrock's runtime surface held to IAM as one rule: every operation botocore knows.

The operations are read from the installed botocore's ``bedrock-runtime`` model,
so an operation a newer botocore adds is tested (and must be refused) without
anyone listing it here. Each request is built and signed the way botocore builds
any call (its rest-json serializer and SigV4 signer), which also reaches
InvokeModelWithBidirectionalStream, an operation boto3 does not expose.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.httpsession import URLLib3Session
from botocore.model import OperationModel
from botocore.serialize import create_serializer

from embedded_aws import EmbeddedCloud, bedrock_operations
from embedded_aws.bedrock_operations import RuntimeOperation, route
from tests.integration.embedded.conftest import (
    HAIKU,
    OPS,
    REGION,
    allow,
    create_role,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-bedrock-surface")

RUNTIME = botocore.session.get_session().get_service_model("bedrock-runtime")
OPERATIONS = RUNTIME.operation_names
# Sample values for the path labels of every runtime operation.
LABELS = {
    "modelId": HAIKU,
    "guardrailIdentifier": "gr0example1",
    "guardrailVersion": "1",
    "invocationArn": f"arn:aws:bedrock:{REGION}:{OPS}:async-invoke/abc123example",
}
# Answered by the emulator; every other operation is refused even when allowed.
EMULATED = {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
EMULATED |= {"CountTokens"}


@dataclass(frozen=True)
class Answer:
    status: int
    error_type: str | None
    message: str | None


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS], warm_lambdas=False) as embedded:
        anyone_in_ops = trust({"AWS": f"arn:aws:iam::{OPS}:root"})
        # Made with real IAM calls: a role that may do plenty, but nothing in Bedrock.
        create_role(
            embedded,
            OPS,
            "no-bedrock",
            anyone_in_ops,
            policy(allow(["logs:*", "s3:*", "sts:GetCallerIdentity"])),
        )
        create_role(embedded, OPS, "bedrock-everything", anyone_in_ops, policy(allow("bedrock:*")))
        yield embedded


def credentials_of(cloud: EmbeddedCloud, role: str) -> Credentials:
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/{role}", role)
    frozen = session.get_credentials().get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


def call(cloud: EmbeddedCloud, name: str, credentials: Credentials) -> Answer:
    """Send ``name`` with its path labels filled and an empty body, as botocore sends it."""
    operation = RUNTIME.operation_model(name)
    params: dict[str, Any] = {
        member: LABELS[member]
        for member, shape in operation.input_shape.members.items()
        if shape.serialization.get("location") == "uri"
    }
    request_dict = create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, operation
    )
    prepare_request_dict(request_dict, endpoint_url=cloud.endpoint_url)
    request: AWSRequest = create_request_object(request_dict)
    if not request.data:
        request.data = b"{}" if request.method == "POST" else b""
    SigV4Auth(credentials, "bedrock", REGION).add_auth(request)
    response = URLLib3Session().send(request.prepare())
    error_type = response.headers.get("x-amzn-ErrorType")
    try:
        message = json.loads(response.content or b"{}").get("message")
    except ValueError:
        message = None
    return Answer(response.status_code, error_type and error_type.split(":")[0], message)


def control_plane_operations() -> Iterator[tuple[str, OperationModel]]:
    """Every operation of the other services that sign as ``bedrock``."""
    session = botocore.session.get_session()
    for service in session.get_available_services():
        model = session.get_service_model(service)
        if model.signing_name == "bedrock" and service != "bedrock-runtime":
            for name in model.operation_names:
                yield f"{service}:{name}", model.operation_model(name)


@pytest.mark.parametrize("name", OPERATIONS)
def test_no_operation_answers_a_caller_without_bedrock_permission(
    cloud: EmbeddedCloud, name: str
) -> None:
    answer = call(cloud, name, credentials_of(cloud, "no-bedrock"))
    assert (answer.status, answer.error_type) == (403, "AccessDeniedException"), answer
    assert f"User: arn:aws:sts::{OPS}:assumed-role/no-bedrock/no-bedrock" in str(answer.message)


@pytest.mark.parametrize("name", OPERATIONS)
def test_no_operation_answers_a_key_the_cloud_never_issued(cloud: EmbeddedCloud, name: str) -> None:
    made_up = Credentials("AKIAMADEUPMADEUP0000", "made-up-secret")
    answer = call(cloud, name, made_up)
    assert (answer.status, answer.error_type) == (403, "UnrecognizedClientException"), answer


@pytest.mark.parametrize("name", sorted(set(OPERATIONS) - EMULATED))
def test_an_allowed_caller_is_told_the_operation_is_not_emulated(
    cloud: EmbeddedCloud, name: str
) -> None:
    answer = call(cloud, name, credentials_of(cloud, "bedrock-everything"))
    if bedrock_operations.IAM_RULES.get(name) is None:
        # No known IAM action: refused for everyone, bedrock:* included.
        assert (answer.status, answer.error_type) == (403, "AccessDeniedException"), answer
        assert "does not know which IAM action authorizes it" in str(answer.message)
    else:
        assert (answer.status, answer.error_type) == (400, "ValidationException"), answer
        assert f"The embedded cloud does not emulate {name}" in str(answer.message)


def test_an_operation_botocore_adds_tomorrow_is_refused_for_everyone(
    cloud: EmbeddedCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    tomorrow = RuntimeOperation(
        "SummonModel",
        "POST",
        "/model/{modelId}/summon",
        bedrock_operations.uri_path_pattern("/model/{modelId}/summon"),
    )
    known = bedrock_operations.runtime_operations()
    monkeypatch.setattr(bedrock_operations, "runtime_operations", lambda: (*known, tomorrow))
    credentials = credentials_of(cloud, "bedrock-everything")
    request = AWSRequest(
        "POST", f"{cloud.endpoint_url}/model/{HAIKU}/summon", data=b"{}", headers={}
    )
    SigV4Auth(credentials, "bedrock", REGION).add_auth(request)
    response = URLLib3Session().send(request.prepare())
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "SummonModel" in json.loads(response.content)["message"]


def test_the_control_plane_is_not_taken_for_the_runtime() -> None:
    taken = []
    for name, operation in control_plane_operations():
        path = operation.http["requestUri"].split("?", 1)[0]
        sample = path.replace("{", "").replace("}", "").replace("+", "")
        if route(operation.http["method"], sample) is not None:
            taken.append(name)
    assert taken == []


def test_the_control_plane_still_answers(cloud: EmbeddedCloud) -> None:
    bedrock = cloud.client("bedrock", OPS)
    configuration = bedrock.get_model_invocation_logging_configuration()
    assert configuration["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_invoke_model_is_no_longer_answered_to_anyone(cloud: EmbeddedCloud) -> None:
    """Issue 18, defect 3: ``invoke-model`` answered HTTP 200 ``{}`` to made-up keys."""
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id="AKIAMADEUPMADEUP0000",
        aws_secret_access_key="made-up",
    )
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.invoke_model(modelId=HAIKU, body=b"{}")
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
