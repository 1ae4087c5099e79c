"""Short-term Bedrock API keys and the usage record of an OpenAI-style call.

A key is checked the way Bedrock checks it: decoded, its presigned URL parsed,
and its SigV4 signature recomputed with botocore's own signer for the signing
credentials. Whether Bedrock's OpenAI-compatible endpoint accepts it is not
tested here: the embedded cloud does not serve ``/openai/v1``.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import botocore.session
import pytest
from bedrock_tenant_client.api_keys import (
    API_KEY_PREFIX,
    ApiKeyError,
    record_chat_completion,
    short_term_api_key,
)
from bedrock_tenant_client.credentials import OpsCredentials
from bedrock_tenant_client.tenant import TenantBedrock
from bedrock_tenant_client.usage.callback import RecordingContext
from bedrock_tenant_client.usage.record import CallIdentity
from bedrock_tenant_client.usage.spool import Spool
from bedrock_tenant_client.usage.writer import StdoutUsageSink
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import AssumeRoleCredentialFetcher, Credentials, RefreshableCredentials
from botocore.stub import Stubber
from pydantic import BaseModel

from contracts.pricing import Pricing
from contracts.usage_metrics import DimensionValues
from contracts.usage_record import LogContent

SESSION = Credentials("ASIAEXAMPLEKEY", "example-secret", "example-session-token")
TWELVE_HOURS = 12 * 3600


def presigned_query(token: str) -> tuple[str, str, dict[str, str]]:
    """(host, path, query) of the presigned request a key encodes; ``Version`` is the key's."""
    assert token.startswith(API_KEY_PREFIX)
    url = base64.b64decode(token.removeprefix(API_KEY_PREFIX), validate=True).decode()
    parts = urlsplit("https://" + url)
    return parts.netloc, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))


def recomputed_signature(
    token: str, credentials: Credentials, region: str | None = None
) -> tuple[str, str]:
    """(the key's signature, botocore's signature of the same request with ``credentials``)."""
    host, path, query = presigned_query(token)
    signature = query.pop("X-Amz-Signature")
    query.pop("Version")
    scope_region = query["X-Amz-Credential"].split("/")[2]
    request = AWSRequest(method="POST", url=f"https://{host}{path}?{urlencode(query)}")
    request.headers["host"] = host
    request.context["timestamp"] = query["X-Amz-Date"]
    signer = SigV4QueryAuth(
        credentials, "bedrock", region or scope_region, expires=int(query["X-Amz-Expires"])
    )
    canonical = signer.canonical_request(request)
    return signature, signer.signature(signer.string_to_sign(request, canonical), request)


def test_a_key_is_a_presigned_call_with_bearer_token_request_for_its_region() -> None:
    key = short_term_api_key(SESSION, "eu-west-1")

    host, path, query = presigned_query(key.token)
    assert (host, path) == ("bedrock.amazonaws.com", "/")
    assert query["Action"] == "CallWithBearerToken"
    assert query["Version"] == "1"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    access_key, _date, region, service, terminator = query["X-Amz-Credential"].split("/")
    assert (access_key, region, service, terminator) == (
        "ASIAEXAMPLEKEY",
        "eu-west-1",
        "bedrock",
        "aws4_request",
    )
    assert query["X-Amz-Security-Token"] == "example-session-token"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert key.openai_base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com/openai/v1"


def test_a_keys_signature_verifies_for_the_credentials_that_minted_it_and_no_others() -> None:
    key = short_term_api_key(SESSION, "us-east-1")

    signature, recomputed = recomputed_signature(key.token, SESSION)
    assert signature == recomputed

    impostor = Credentials("ASIAEXAMPLEKEY", "another-secret", "example-session-token")
    assert recomputed_signature(key.token, impostor)[1] != signature
    # The scope binds the region: the same request signed for another region differs.
    assert recomputed_signature(key.token, SESSION, region="us-west-2")[1] != signature


def test_a_key_lasts_12_hours_at_most_whatever_is_asked() -> None:
    def expires(**kwargs: Any) -> int:
        return int(
            presigned_query(short_term_api_key(SESSION, "us-east-1", **kwargs).token)[2][
                "X-Amz-Expires"
            ]
        )

    assert expires() == TWELVE_HOURS
    assert expires(expires_in=datetime.timedelta(days=2)) == TWELVE_HOURS
    assert expires(expires_in=datetime.timedelta(minutes=30)) == 1800


def test_a_key_from_an_assumed_role_ends_with_the_roles_session() -> None:
    now = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
    session_ends = now + datetime.timedelta(minutes=40)
    credentials = RefreshableCredentials(
        "ASIAROLEKEY",
        "role-secret",
        "role-token",
        session_ends,
        refresh_using=lambda: pytest.fail("a session 40 minutes from its end needs no refresh"),
        method="assume-role",
        time_fetcher=lambda: now,
    )

    key = short_term_api_key(credentials, "us-east-1", now=lambda: now)

    assert presigned_query(key.token)[2]["X-Amz-Expires"] == "2400"
    assert key.expires_at == session_ends
    assert "ASIAROLEKEY/" in presigned_query(key.token)[2]["X-Amz-Credential"]


def test_a_key_from_the_tenants_invoker_credentials_assumes_the_role_first_and_ends_with_it() -> (
    None
):
    # TenantBedrock.credentials: deferred, nothing fetched until the key needs them.
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id="AKIDWORKLOAD",
        aws_secret_access_key="workload-secret",
    )
    stubber = Stubber(sts)
    session_ends = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=50)
    stubber.add_response(
        "assume_role",
        {
            "Credentials": {
                "AccessKeyId": "ASIAINVOKEREXAMPLE",
                "SecretAccessKey": "invoker-secret",
                "SessionToken": "invoker-token",
                "Expiration": session_ends,
            }
        },
        {
            "RoleArn": "arn:aws:iam::111111111111:role/bedrock-invoker-acme",
            "RoleSessionName": "acme",
            "ExternalId": "acme-external-id",
        },
    )
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=lambda *args, **kwargs: sts,
        source_credentials=Credentials("AKIDWORKLOAD", "workload-secret"),
        role_arn="arn:aws:iam::111111111111:role/bedrock-invoker-acme",
        extra_args={"RoleSessionName": "acme", "ExternalId": "acme-external-id"},
        cache={},
    )
    credentials = OpsCredentials(
        fetcher=fetcher, cache={}, clock=lambda: datetime.datetime.now(datetime.UTC)
    )

    with stubber:
        key = short_term_api_key(credentials, "us-east-1")
    stubber.assert_no_pending_responses()

    query = presigned_query(key.token)[2]
    assert query["X-Amz-Credential"].startswith("ASIAINVOKEREXAMPLE/")
    assert query["X-Amz-Security-Token"] == "invoker-token"
    assert 49 * 60 <= int(query["X-Amz-Expires"]) <= 50 * 60
    assert key.expires_at <= session_ends.replace(microsecond=0) + datetime.timedelta(seconds=1)
    invoker = Credentials("ASIAINVOKEREXAMPLE", "invoker-secret", "invoker-token")
    signature, recomputed = recomputed_signature(key.token, invoker)
    assert signature == recomputed


def test_credentials_past_their_expiry_mint_no_key() -> None:
    now = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)
    ended = RefreshableCredentials(
        "ASIAROLEKEY",
        "role-secret",
        "role-token",
        now + datetime.timedelta(minutes=20),
        refresh_using=lambda: pytest.fail("not refreshed: the clock below is past the end"),
        method="assume-role",
        time_fetcher=lambda: now,
    )

    with pytest.raises(ApiKeyError, match="expires_in"):
        short_term_api_key(ended, "us-east-1", now=lambda: now + datetime.timedelta(minutes=21))


def test_a_boto3_session_mints_with_its_own_credentials_and_a_region_is_required() -> None:
    session = boto3.Session(aws_access_key_id="AKIDSTATIC", aws_secret_access_key="static-secret")

    key = short_term_api_key(session, "ap-southeast-2")
    query = presigned_query(key.token)[2]
    assert query["X-Amz-Credential"].startswith("AKIDSTATIC/")
    assert "X-Amz-Security-Token" not in query
    with pytest.raises(ApiKeyError, match="region"):
        short_term_api_key(session, "")


def test_a_keys_repr_keeps_the_token_out_of_logs() -> None:
    key = short_term_api_key(SESSION, "us-east-1")

    assert key.token not in repr(key)
    assert "us-east-1" in repr(key)


# The usage record of a Chat Completion --------------------------------------------------

MODEL = "amazon.nova-lite-v1:0"


def recording_context(lines: list[str], log_content: LogContent) -> RecordingContext:
    return RecordingContext(
        sink=StdoutUsageSink(print_line=lines.append),
        identity=CallIdentity(
            tenant_id="acme",
            application_id="default",
            user_id="unknown",
            model_id=MODEL,
            service_tier="default",
        ),
        dimensions=DimensionValues(models=[MODEL]),
        pricing=Pricing(region="us-east-1"),
        log_content=log_content,
    )


CHAT_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris. Call +1 206 555 0100."},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 100},
    },
}


class ChatCompletionLike(BaseModel):
    """The shape of the OpenAI SDK's response objects: pydantic models with model_dump()."""

    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any]


def test_a_chat_completion_leaves_one_library_record_with_its_tokens_and_cost() -> None:
    lines: list[str] = []

    recorder = record_chat_completion(
        recording_context(lines, LogContent.METADATA),
        CHAT_COMPLETION,
        latency_ms=812,
        application_id="support-bot",
        user_id="alice",
        request_id="req-42",
    )

    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["source"] == "library"
    assert record["status"] == "success"
    assert (record["tenant_id"], record["application_id"], record["user_id"]) == (
        "acme",
        "support-bot",
        "alice",
    )
    assert record["model_id"] == MODEL
    # OpenAI's prompt_tokens include the cached ones; Bedrock bills them apart.
    assert record["input_tokens"] == 20
    assert record["cache_read_input_tokens"] == 100
    assert record["cache_write_input_tokens"] == 0
    assert record["output_tokens"] == 30
    assert record["total_tokens"] == 150
    assert record["latency_ms"] == 812
    assert record["stop_reason"] == "stop"
    assert record["request_id"] == "req-42"
    expected = Pricing(region="us-east-1").quote(
        MODEL,
        input_tokens=20,
        output_tokens=30,
        cache_read_input_tokens=100,
        service_tier="default",
    )
    assert expected.usd is not None
    assert record["cost_usd"] == expected.usd
    assert "_aws" in record  # the EMF metrics, as every record has
    assert "prompt" not in record and "response" not in record
    assert uuid.UUID(record["invocation_id"])
    assert (
        recorder.record is not None
        and recorder.record["invocation_id"] == (record["invocation_id"])
    )


def test_each_chat_completion_is_its_own_record_and_sdk_objects_are_read_too() -> None:
    lines: list[str] = []
    context = recording_context(lines, LogContent.METADATA)
    response = ChatCompletionLike.model_validate(CHAT_COMPLETION)

    record_chat_completion(context, response, latency_ms=5)
    record_chat_completion(context, response, latency_ms=6)

    first, second = (json.loads(line) for line in lines)
    assert first["invocation_id"] != second["invocation_id"]
    assert (first["input_tokens"], first["output_tokens"]) == (20, 30)
    assert (first["application_id"], first["user_id"]) == ("default", "unknown")


def test_a_tenant_that_logs_content_redacted_gets_the_prompt_and_answer_redacted() -> None:
    lines: list[str] = []

    record_chat_completion(
        recording_context(lines, LogContent.REDACTED),
        CHAT_COMPLETION,
        latency_ms=5,
        messages=[{"role": "user", "content": "Capital of France? Mail me at a@example.com"}],
    )

    record = json.loads(lines[0])
    assert record["prompt"][0]["role"] == "user"
    assert "a@example.com" not in record["prompt"][0]["content"]
    assert record["response"].startswith("Paris.")
    assert "206 555 0100" not in record["response"]


def test_a_response_without_usage_still_counts_the_call() -> None:
    lines: list[str] = []

    record_chat_completion(
        recording_context(lines, LogContent.METADATA), {"choices": []}, latency_ms=None
    )

    record = json.loads(lines[0])
    assert record["status"] == "success"
    assert (record["input_tokens"], record["output_tokens"], record["total_tokens"]) == (0, 0, 0)
    assert record["model_id"] == MODEL


def test_a_tenant_bedrock_records_a_chat_completion_through_its_own_delivery(
    tmp_path: Path,
) -> None:
    # CloudWatch Logs unreachable: the record takes the library's path to the spool.
    workload = botocore.session.Session()
    workload.set_credentials("AKIDWORKLOAD", "workload-secret")
    workload.set_config_variable("region", "us-east-1")
    workload.set_config_variable("endpoint_url", "http://127.0.0.1:9")
    spool_path = tmp_path / "usage-spool.jsonl"
    environment = {
        "TENANT_ID": "acme",
        "OPS_ROLE_ARN": "arn:aws:iam::111111111111:role/bedrock-invoker-acme",
        "OPS_EXTERNAL_ID": "acme-external-id",
        "BEDROCK_REGION": "us-east-1",
        "USAGE_LOG_GROUP": "/bedrock/usage/acme",
        "DEFAULT_MODEL_ID": MODEL,
        "ALLOWED_MODELS": MODEL,
    }
    with TenantBedrock.from_environment(
        environment, session=workload, spool_path=spool_path
    ) as bedrock:
        record_chat_completion(
            bedrock, CHAT_COMPLETION, latency_ms=40, application_id="notebook", user_id="bob"
        )
        assert bedrock.flush(timeout=60)

    (record,) = Spool(spool_path).pending()
    assert record["source"] == "library"
    assert (record["tenant_id"], record["application_id"], record["user_id"]) == (
        "acme",
        "notebook",
        "bob",
    )
    assert (record["input_tokens"], record["cache_read_input_tokens"]) == (20, 100)
    assert record["cost_usd"] is not None
