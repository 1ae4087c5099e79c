"""The Bedrock emulator, driven by the real langchain-aws ChatBedrockConverse."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from langchain_aws import ChatBedrockConverse

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import (
    ACME,
    HAIKU,
    OPS,
    REGION,
    US_HAIKU_35,
    allow,
    create_role,
    policy,
    session_for,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-bedrock")

INVOKER = f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme"
FOUNDATION_35 = US_HAIKU_35.removeprefix("us.")


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME]) as embedded:
        resources = [
            f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
            f"arn:aws:bedrock:{REGION}:{OPS}:inference-profile/{US_HAIKU_35}",
            *(
                f"arn:aws:bedrock:{r}::foundation-model/{FOUNDATION_35}"
                for r in ("us-east-1", "us-east-2", "us-west-2")
            ),
        ]
        create_role(
            embedded,
            OPS,
            "bedrock-invoker-acme",
            trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
            policy(
                allow(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], resources)
            ),
        )
        # Converse only: streaming is a different action.
        create_role(
            embedded,
            OPS,
            "converse-only",
            trust({"AWS": f"arn:aws:iam::{OPS}:root"}),
            policy(allow("bedrock:InvokeModel", resources[0])),
        )
        yield embedded


@pytest.fixture(autouse=True)
def clean(cloud: EmbeddedCloud) -> Iterator[None]:
    cloud.bedrock.clear_calls()
    cloud.bedrock.clear_faults()
    yield
    cloud.bedrock.clear_faults()


@pytest.fixture(scope="module")
def acme_ops_session(cloud: EmbeddedCloud) -> boto3.Session:
    return session_for(cloud, OPS, INVOKER, "acme")


def runtime(cloud: EmbeddedCloud, session: boto3.Session, **config: Any) -> Any:
    return session.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        config=Config(**config) if config else None,
    )


def chat(
    cloud: EmbeddedCloud, session: boto3.Session, model: str = HAIKU, **config: Any
) -> ChatBedrockConverse:
    return ChatBedrockConverse(
        model=model,
        region_name=REGION,
        client=runtime(cloud, session, **config),
        bedrock_client=session.client("bedrock", endpoint_url=cloud.endpoint_url),
        max_tokens=256,
    )


def test_langchain_gets_usage_and_metrics(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    message = chat(cloud, acme_ops_session).invoke("How many tokens does this prompt use?")
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    meta = message.response_metadata
    assert meta["stopReason"] == "end_turn"
    latency = meta["metrics"]["latencyMs"]
    assert isinstance(latency, list) and len(latency) == 1 and latency[0] >= 1
    assert meta["ResponseMetadata"]["RequestId"] == cloud.bedrock.calls()[-1].request_id
    assert isinstance(message.content, str) and message.content


def test_same_prompt_same_answer_different_prompt_different_answer(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    model = chat(cloud, acme_ops_session)
    first, again = model.invoke("Tell me a fact."), model.invoke("Tell me a fact.")
    other = model.invoke("Tell me another fact.")
    assert first.content == again.content
    assert first.usage_metadata == again.usage_metadata
    assert other.content != first.content


def test_longer_prompt_counts_more_input_tokens(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    model = chat(cloud, acme_ops_session)
    short = model.invoke("Hi")
    long = model.invoke("Hi " * 300)
    assert short.usage_metadata and long.usage_metadata
    assert long.usage_metadata["input_tokens"] > short.usage_metadata["input_tokens"] * 50


def test_max_tokens_truncates_and_says_so(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    response = runtime(cloud, acme_ops_session).converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "Write a long essay."}]}],
        inferenceConfig={"maxTokens": 3},
    )
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] <= 3


def test_call_is_attributed_to_assumed_role_and_account(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    runtime(cloud, acme_ops_session).converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "hello"}]}],
        requestMetadata={"tenant": "acme"},
    )
    (call,) = cloud.bedrock.calls()
    assert call.account_id == OPS
    assert call.role_arn == INVOKER
    assert call.session_name == "acme"
    assert call.principal_arn == f"arn:aws:sts::{OPS}:assumed-role/bedrock-invoker-acme/acme"
    assert call.request_metadata == {"tenant": "acme"}
    assert call.outcome == "success" and call.operation == "Converse"


def test_model_outside_policy_is_access_denied(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    with pytest.raises(ClientError) as exc:
        runtime(cloud, acme_ops_session).converse(
            modelId="amazon.titan-text-express-v1",
            messages=[{"role": "user", "content": [{"text": "hello"}]}],
        )
    error = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "AccessDeniedException"
    assert "bedrock:InvokeModel" in error["Message"]
    assert "foundation-model/amazon.titan-text-express-v1" in error["Message"]
    assert cloud.bedrock.calls()[-1].outcome == "AccessDeniedException"


def test_langchain_sees_access_denied(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    with pytest.raises(ClientError, match="AccessDeniedException"):
        chat(cloud, acme_ops_session, model="meta.llama3-8b-instruct-v1:0").invoke("hi")


def test_streaming_needs_its_own_action(cloud: EmbeddedCloud) -> None:
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/converse-only", "acme")
    client = runtime(cloud, session)
    messages = [{"role": "user", "content": [{"text": "hello"}]}]
    assert client.converse(modelId=HAIKU, messages=messages)["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as exc:
        client.converse_stream(modelId=HAIKU, messages=messages)
    assert "bedrock:InvokeModelWithResponseStream" in exc.value.response["Error"]["Message"]


def test_inference_profile_needs_profile_and_every_region(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    messages = [{"role": "user", "content": [{"text": "hello"}]}]
    ok = runtime(cloud, acme_ops_session).converse(modelId=US_HAIKU_35, messages=messages)
    assert ok["stopReason"] == "end_turn"
    session = session_for(cloud, OPS, f"arn:aws:iam::{OPS}:role/converse-only", "acme")
    with pytest.raises(ClientError) as exc:
        runtime(cloud, session).converse(modelId=US_HAIKU_35, messages=messages)
    assert f"inference-profile/{US_HAIKU_35}" in exc.value.response["Error"]["Message"]


def test_converse_stream_through_langchain_matches_converse(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    model = chat(cloud, acme_ops_session)
    whole = model.invoke("Stream this, please.")
    chunks = list(model.stream("Stream this, please."))
    text = "".join(
        c.content
        if isinstance(c.content, str)
        else "".join(part.get("text", "") for part in c.content if isinstance(part, dict))
        for c in chunks
    )
    assert text == whole.content
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage == [whole.usage_metadata]
    assert [c.operation for c in cloud.bedrock.calls()] == ["Converse", "ConverseStream"]


def test_one_throttle_is_absorbed_by_retries(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    cloud.bedrock.throttle(1)
    message = chat(
        cloud, acme_ops_session, retries={"mode": "standard", "total_max_attempts": 3}
    ).invoke("hello")
    assert message.content
    assert [c.outcome for c in cloud.bedrock.calls()] == ["ThrottlingException", "success"]


def test_persistent_throttling_surfaces_after_retries(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    cloud.bedrock.throttle(10)
    model = chat(cloud, acme_ops_session, retries={"mode": "standard", "total_max_attempts": 2})
    with pytest.raises(ClientError) as exc:
        model.invoke("hello")
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert [c.outcome for c in cloud.bedrock.calls()] == ["ThrottlingException"] * 2


def test_injected_error_and_latency(cloud: EmbeddedCloud, acme_ops_session: boto3.Session) -> None:
    cloud.bedrock.fail("ModelNotReadyException", status=429, message="warming up", count=1)
    client = runtime(cloud, acme_ops_session, retries={"mode": "standard", "total_max_attempts": 1})
    messages = [{"role": "user", "content": [{"text": "hello"}]}]
    with pytest.raises(ClientError) as exc:
        client.converse(modelId=HAIKU, messages=messages)
    assert exc.value.response["Error"] == {
        "Code": "ModelNotReadyException",
        "Message": "warming up",
    }
    cloud.bedrock.set_latency(30)
    response = client.converse(modelId=HAIKU, messages=messages)
    assert response["metrics"]["latencyMs"] >= 30


def test_faults_and_call_log_over_the_admin_endpoint(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    request = urllib.request.Request(
        f"{cloud.endpoint_url}/_embedded/bedrock/faults",
        data=json.dumps({"throttle": 1}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["faults"][0]["code"] == "ThrottlingException"
    client = runtime(cloud, acme_ops_session, retries={"mode": "standard", "total_max_attempts": 1})
    with pytest.raises(ClientError):
        client.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "x"}]}])
    with urllib.request.urlopen(f"{cloud.endpoint_url}/_embedded/bedrock/calls") as response:
        calls = json.load(response)["calls"]
    assert [c["outcome"] for c in calls] == ["ThrottlingException"]
    assert calls[0]["account_id"] == OPS


def test_prompt_cache_writes_then_reads(
    cloud: EmbeddedCloud, acme_ops_session: boto3.Session
) -> None:
    client = runtime(cloud, acme_ops_session)
    # Claude 3.5 Haiku caches a prefix of at least 2,048 tokens (Claude 3 Haiku caches none).
    system = [{"text": "You are a helpful assistant. " * 300}, {"cachePoint": {"type": "default"}}]
    messages = [{"role": "user", "content": [{"text": "hello"}]}]
    first = client.converse(modelId=US_HAIKU_35, system=system, messages=messages)["usage"]
    second = client.converse(modelId=US_HAIKU_35, system=system, messages=messages)["usage"]
    assert first["cacheWriteInputTokens"] > 0 and first["cacheReadInputTokens"] == 0
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    assert second["inputTokens"] == first["inputTokens"]


def test_unknown_access_key_is_rejected(cloud: EmbeddedCloud) -> None:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key="x",
    )
    with pytest.raises(ClientError) as exc:
        client.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
