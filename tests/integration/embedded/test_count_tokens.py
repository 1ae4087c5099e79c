"""CountTokens in the embedded cloud: held to IAM like Converse, counted as Converse counts,
for Converse input and for InvokeModel input (a model's native body)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
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

pytestmark = pytest.mark.xdist_group("embedded-count-tokens")

HAIKU_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}"
CONVERSATION: dict[str, Any] = {
    "system": [{"text": "You answer questions about invoices."}],
    "messages": [
        {"role": "user", "content": [{"text": "How much did acme spend in March?"}]},
        {"role": "assistant", "content": [{"text": "Acme spent 412 dollars in March."}]},
        {"role": "user", "content": [{"text": "And in April, by model?"}]},
    ],
}
ANTHROPIC_BODY: dict[str, Any] = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 200,
    "system": "You answer questions about invoices.",
    "messages": [{"role": "user", "content": "How much did acme spend in March?"}],
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS], warm_lambdas=False) as embedded:
        anyone_in_ops = trust({"AWS": f"arn:aws:iam::{OPS}:root"})
        create_role(
            embedded,
            OPS,
            "counter",
            anyone_in_ops,
            policy(allow(["bedrock:InvokeModel", "bedrock:CountTokens"], HAIKU_ARN)),
        )
        create_role(
            embedded, OPS, "converse-only", anyone_in_ops, policy(allow("bedrock:InvokeModel"))
        )
        create_role(
            embedded, OPS, "count-anything", anyone_in_ops, policy(allow("bedrock:CountTokens"))
        )
        yield embedded


def runtime(cloud: EmbeddedCloud, role: str) -> Any:
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/{role}", role)
    return session.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        config=Config(retries={"max_attempts": 1}),
    )


def test_count_tokens_answers_the_input_tokens_converse_reports(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud, "counter")
    counted = client.count_tokens(modelId=HAIKU, input={"converse": CONVERSATION})
    conversed = client.converse(modelId=HAIKU, **CONVERSATION)
    assert counted["inputTokens"] == conversed["usage"]["inputTokens"] > 0


def test_count_tokens_needs_its_own_action_on_the_model(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud, "converse-only")
    client.converse(modelId=HAIKU, **CONVERSATION)  # allowed: bedrock:InvokeModel
    with pytest.raises(ClientError) as refused:
        client.count_tokens(modelId=HAIKU, input={"converse": CONVERSATION})
    error = refused.value.response
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"bedrock:CountTokens on resource: {HAIKU_ARN}" in error["Error"]["Message"]


def test_unknown_keys_are_refused_as_unrecognized(cloud: EmbeddedCloud) -> None:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id="AKIAMADEUPMADEUP0000",
        aws_secret_access_key="made-up",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as refused:
        client.count_tokens(modelId=HAIKU, input={"converse": CONVERSATION})
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_invoke_model_input_counts_what_invoke_model_reports(cloud: EmbeddedCloud) -> None:
    client = runtime(cloud, "counter")
    body = json.dumps(ANTHROPIC_BODY)
    counted = client.count_tokens(modelId=HAIKU, input={"invokeModel": {"body": body}})
    invoked = json.loads(client.invoke_model(modelId=HAIKU, body=body)["body"].read())
    assert counted["inputTokens"] == invoked["usage"]["input_tokens"] > 0


def test_invoke_model_input_bedrock_would_reject_is_refused_with_its_message(
    cloud: EmbeddedCloud,
) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "messages": []})
    with pytest.raises(ClientError) as refused:
        runtime(cloud, "counter").count_tokens(modelId=HAIKU, input={"invokeModel": {"body": body}})
    error = refused.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"] == (
        'Malformed input request: #: subject must not be valid against schema {"required":'
        '["messages"]}#: required key [max_tokens] not found, please reformat your input '
        "and try again."
    )


def test_a_made_up_model_is_invalid_once_the_caller_may_count(cloud: EmbeddedCloud) -> None:
    made_up = "anthropic.claude-made-up-v9:0"
    with pytest.raises(ClientError) as refused:
        runtime(cloud, "count-anything").count_tokens(
            modelId=made_up, input={"converse": CONVERSATION}
        )
    assert refused.value.response["Error"]["Message"] == "The provided model identifier is invalid."
    with pytest.raises(ClientError) as denied:
        runtime(cloud, "counter").count_tokens(modelId=made_up, input={"converse": CONVERSATION})
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_conversation_bedrock_would_reject_is_a_validation_error(cloud: EmbeddedCloud) -> None:
    backwards = {"messages": [{"role": "assistant", "content": [{"text": "Hello"}]}]}
    with pytest.raises(ClientError) as refused:
        runtime(cloud, "counter").count_tokens(modelId=HAIKU, input={"converse": backwards})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
