"""LangChain's standard chat-model suite (``langchain-tests``) for ``ChatBedrockConverse``,
run against the embedded cloud's Converse endpoint as a tenant's invoker role.

The credentials are the function's: the tenant's caller role assumes the tenant's
invoker role in the operations account with its ExternalId and session name, and
that role may call the tenant's models only (``contracts.model_access``, as the
operations stack grants them).

The model is Claude 3 Haiku, and the feature flags say what it does on Bedrock
(the Converse "Supported models and model features" table): tool use with forced
tool choice, structured output through tools, image and PDF input, image and PDF
content in tool results, usage metadata. It has no JSON mode and no audio or
video input on Bedrock.

The suite fetches its sample image and PDF from the web; offline, those URLs are
answered with a locally made PNG and PDF of the same kind (``offline_samples``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from PIL import Image

from contracts import naming
from contracts.model_access import default_profile_regions, model_grants
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
    session_from,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-langchain-standard")

TENANT = "acme"
EXTERNAL_ID = "acme-external-id-0123456789"
TENANT_MODELS = (HAIKU, US_HAIKU_35)


def _invoker_role_policy() -> str:
    grants = model_grants(
        TENANT_MODELS,
        partition="aws",
        region=REGION,
        account=OPS,
        profile_regions=default_profile_regions(),
    )
    statements = []
    for grant in grants:
        statement: dict[str, Any] = {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Action": list(grant.actions),
            "Resource": list(grant.resources),
        }
        if grant.conditions:
            statement["Condition"] = grant.conditions
        statements.append(statement)
    return policy(*statements)


def _invoker_session(cloud: EmbeddedCloud) -> boto3.Session:
    """The tenant function's caller role assumes its invoker role, as the function does."""
    invoker_arn = f"arn:aws:iam::{OPS}:role/{naming.invoker_role_name(TENANT)}"
    caller_arn = create_role(
        cloud,
        ACME,
        naming.caller_role_name(TENANT),
        trust({"AWS": f"arn:aws:iam::{ACME}:root"}),
        policy(allow("sts:AssumeRole", invoker_arn)),
    )
    create_role(
        cloud,
        OPS,
        naming.invoker_role_name(TENANT),
        trust(
            {"AWS": f"arn:aws:iam::{ACME}:root"},
            {
                "StringEquals": {"sts:ExternalId": EXTERNAL_ID, "sts:RoleSessionName": TENANT},
                "ArnEquals": {"aws:PrincipalArn": caller_arn},
            },
        ),
        _invoker_role_policy(),
    )
    caller = cloud.client("sts", ACME).assume_role(RoleArn=caller_arn, RoleSessionName="fn")
    caller_sts = session_from(caller["Credentials"]).client("sts", endpoint_url=cloud.endpoint_url)
    assumed = caller_sts.assume_role(
        RoleArn=invoker_arn, RoleSessionName=TENANT, ExternalId=EXTERNAL_ID
    )
    return session_from(assumed["Credentials"])


@pytest.fixture(scope="module", autouse=True)
def invoker_clients() -> Iterator[None]:
    """One cloud for the module; the model's clients act as the tenant's invoker role."""
    with EmbeddedCloud(accounts=[OPS, ACME]) as cloud:
        session = _invoker_session(cloud)
        TestChatBedrockConverseStandard.cloud = cloud
        TestChatBedrockConverseStandard.clients = {
            "client": session.client("bedrock-runtime", endpoint_url=cloud.endpoint_url),
            "bedrock_client": session.client("bedrock", endpoint_url=cloud.endpoint_url),
        }
        yield


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _pdf() -> bytes:
    # A real one-page PDF, made by the charting library the CLI already uses.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    figure.text(0.1, 0.5, "Dummy PDF file")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def offline_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's sample files, served locally: the tests run offline."""
    samples = {".png": _png, ".pdf": _pdf}

    def get(url: str, **_: Any) -> httpx.Response:
        for suffix, make in samples.items():
            if url.endswith(suffix):
                return httpx.Response(200, content=make(), request=httpx.Request("GET", url))
        raise AssertionError(f"the standard suite fetched {url}, which has no offline sample")

    monkeypatch.setattr("langchain_tests.integration_tests.chat_models.httpx.get", get)


class TestChatBedrockConverseStandard(ChatModelIntegrationTests):
    """The standard suite for ChatBedrockConverse on Claude 3 Haiku, as acme's invoker role."""

    cloud: EmbeddedCloud
    clients: dict[str, Any] = {}

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatBedrockConverse

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": HAIKU, "region_name": REGION, **self.clients}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True  # Claude 3 on Bedrock: toolChoice any and tool

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return False  # Converse takes image bytes or S3 locations, not web URLs

    @property
    def supports_pdf_inputs(self) -> bool:
        return True  # Converse document chat

    @property
    def supports_image_tool_message(self) -> bool:
        return True  # toolResult content may hold an image

    @property
    def supports_pdf_tool_message(self) -> bool:
        return True  # toolResult content may hold a document

    @property
    def supports_audio_inputs(self) -> bool:
        return False  # Converse has no audio content block

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True  # ChatBedrockConverse reads Anthropic-format content blocks too

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        # ChatBedrockConverse has no json_mode method (function_calling, json_schema,
        # prompt_prefill), and Bedrock's JSON-schema output is not offered for Claude 3 Haiku.
        return False

    @property
    def enable_vcr_tests(self) -> bool:
        # test_stream_time benchmarks replayed cassettes of the real service; none offline.
        return False

    @property
    def model_override_value(self) -> str | None:
        return US_HAIKU_35  # also on acme's allowlist

    # A per-call model override fails in the client before any request is made.
    _NO_MODEL_OVERRIDE = pytest.mark.xfail(
        raises=TypeError,
        strict=True,
        reason=(
            "langchain-aws 1.9.1: ChatBedrockConverse._converse_params() takes no 'model' "
            "keyword, so invoke(model=...) raises TypeError (no issue found; runtime "
            "overrides are traced since langchain-aws PR #1048)"
        ),
    )

    @_NO_MODEL_OVERRIDE
    def test_invoke_with_model_override(self, model: BaseChatModel) -> None:
        super().test_invoke_with_model_override(model)

    @_NO_MODEL_OVERRIDE
    async def test_ainvoke_with_model_override(self, model: BaseChatModel) -> None:
        await super().test_ainvoke_with_model_override(model)

    @_NO_MODEL_OVERRIDE
    def test_stream_with_model_override(self, model: BaseChatModel) -> None:
        super().test_stream_with_model_override(model)

    @_NO_MODEL_OVERRIDE
    async def test_astream_with_model_override(self, model: BaseChatModel) -> None:
        await super().test_astream_with_model_override(model)


def test_the_models_calls_are_the_tenants_invoker_role() -> None:
    """What the operations account sees of the suite's calls: acme's invoker role."""
    cloud = TestChatBedrockConverseStandard.cloud
    cloud.bedrock.clear_calls()
    ChatBedrockConverse(
        model=HAIKU, region_name=REGION, **TestChatBedrockConverseStandard.clients
    ).invoke("hi")
    [call] = cloud.bedrock.calls()
    assert call.role_arn == f"arn:aws:iam::{OPS}:role/{naming.invoker_role_name(TENANT)}"
    assert (call.session_name, call.outcome) == (TENANT, "success")
