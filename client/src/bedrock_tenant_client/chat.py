"""The model call: Bedrock Converse in the operations account through LangChain.

Building a ``ChatBedrockConverse`` costs tens of milliseconds (it loads botocore
service models), so one instance per model id lives for the whole container;
everything that varies per call (callbacks, max_tokens, temperature) is passed
to ``invoke``.

A tenant with application inference profiles calls each model through its own
profile: the profile ARN is the Converse ``modelId`` (what Bedrock meters and
Cost Explorer splits by), and the model id stays what the event named (what the
usage record and pricing use). ``ChatBedrockConverse`` is given the base model
(``base_model_id``, alias ``base_model``) and the provider: without them it would call Bedrock's
``GetInferenceProfile`` on construction, an extra control-plane call (and IAM
action) on every cold start.

Every call names its ``maxTokens`` and its service tier (Converse
``serviceTier.type``, ``service_tier`` in langchain-aws), and, for a tenant with
a guardrail, the guardrail (Converse ``guardrailConfig``: ``guardrailIdentifier``,
``guardrailVersion``, ``trace``; ``guardrail_config`` in langchain-aws). The
tenant's role allows no call without them (``contracts.model_access``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import botocore.session
from botocore.config import Config

# The defining module, not the package's re-export: the bundler ships
# langchain_aws's __init__ lazy, and this path does not depend on it.
from langchain_aws.chat_models.bedrock_converse import ChatBedrockConverse
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from contracts.model_access import parse_model_id
from invoker.event import InvocationRequest
from invoker.guardrail import GuardrailConfig, GuardrailDirectory, GuardrailSource
from invoker.inference_profiles import InferenceProfileDirectory, InferenceProfileDirectoryError

CONFIGURATION_ERROR = "ConfigurationError"

# Converse can stream for minutes on long outputs; the function's own timeout is the
# real bound, this only stops a dead connection from hanging until then.
_READ_TIMEOUT_SECONDS = 300
_CONNECT_TIMEOUT_SECONDS = 5


class _LazyClient:
    """A boto client that is only built when something actually calls it.

    ``ChatBedrockConverse`` wants a Bedrock control-plane client but only uses it
    to look up an application inference profile's base model, which this module
    always passes itself; building one eagerly would cost every cold start for nothing.
    """

    def __init__(self, session: botocore.session.Session, service: str, region: str) -> None:
        self._session = session
        self._service = service
        self._region = region
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        # Private and dunder lookups (copy, pickle, hasattr probes) must not build it.
        if name.startswith("_"):
            raise AttributeError(name)
        if self._client is None:
            self._client = self._session.create_client(self._service, region_name=self._region)
        return getattr(self._client, name)


class InferenceProfileMissing(Exception):
    """The tenant calls through application inference profiles, but this model has none.

    Calling the model directly would only be refused by the tenant's role; this
    says what to fix instead.
    """

    def __init__(self, model_id: str, reason: str) -> None:
        super().__init__(reason)
        self.model_id = model_id


class BedrockChat:
    """Calls Bedrock Converse with operations-account credentials, caching one model per id.

    ``inference_profiles``, for a tenant that calls through application inference
    profiles, is where their ARNs are read; a model without one raises
    ``InferenceProfileMissing`` instead of being called directly.
    """

    def __init__(
        self,
        *,
        runtime_client: Any,
        control_client: Any,
        region_name: str,
        inference_profiles: InferenceProfileDirectory | None = None,
        guardrail: GuardrailSource | None = None,
    ) -> None:
        self._runtime_client = runtime_client
        self._control_client = control_client
        self._region_name = region_name
        self._inference_profiles = inference_profiles
        self._guardrail = guardrail
        self._models: dict[str, ChatBedrockConverse] = {}

    @classmethod
    def from_session(
        cls,
        session: botocore.session.Session,
        *,
        region_name: str,
        max_attempts: int,
        tenant_id: str,
        inference_profiles: bool = False,
        retry_mode: Literal["standard", "adaptive"] = "adaptive",
        guardrail: GuardrailConfig | None = None,
        guardrail_from_operations: bool = False,
    ) -> BedrockChat:
        """Build the clients on ``session`` (the operations-account session).

        With ``inference_profiles`` the tenant's profile ARNs are read, on first
        use, from its operations account with the same session. ``retry_mode`` is
        botocore's (``standard`` or ``adaptive``); ``guardrail`` goes with every call,
        or, with ``guardrail_from_operations``, the one the tenant's operations stack
        created, read from that account with the same session.
        """

        def ssm_client() -> Any:
            return session.create_client(
                "ssm",
                region_name=region_name,
                config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard"}),
            )

        source: GuardrailSource | None = guardrail
        if guardrail_from_operations:
            source = GuardrailDirectory(tenant_id=tenant_id, ssm_client=ssm_client)
        runtime_client = session.create_client(
            "bedrock-runtime",
            region_name=region_name,
            config=Config(
                retries={"mode": retry_mode, "total_max_attempts": max_attempts},
                connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                read_timeout=_READ_TIMEOUT_SECONDS,
            ),
        )
        return cls(
            runtime_client=runtime_client,
            control_client=_LazyClient(session, "bedrock", region_name),
            region_name=region_name,
            guardrail=source,
            inference_profiles=InferenceProfileDirectory(tenant_id=tenant_id, ssm_client=ssm_client)
            if inference_profiles
            else None,
        )

    def forget_inference_profiles(self) -> None:
        """Drop the profile ARNs and guardrail read so far (a restored SnapStart snapshot
        reads them anew)."""
        if self._inference_profiles is not None:
            self._inference_profiles.drop()
        drop = getattr(self._guardrail, "drop", None)
        if drop is not None:
            drop()

    def model(self, model_id: str) -> ChatBedrockConverse:
        """The container's model instance for ``model_id``, built on first use.

        Raises ``InferenceProfileMissing`` when profiles are required and the
        model has none.
        """
        model = self._models.get(model_id)
        if model is None:
            profile = self._profile_arn(model_id)
            if profile is None:
                model = ChatBedrockConverse(
                    client=self._runtime_client,
                    bedrock_client=self._control_client,
                    model=model_id,
                    region_name=self._region_name,
                )
            else:
                _, foundation = parse_model_id(model_id)
                model = ChatBedrockConverse(
                    client=self._runtime_client,
                    bedrock_client=self._control_client,
                    model=profile,
                    # Given, so no GetInferenceProfile call: the model the profile
                    # copies (its features decide streaming and tool support).
                    # ``base_model`` is the alias of the field ``base_model_id``.
                    base_model=foundation,
                    # An ARN names no provider; langchain-aws refuses one without it.
                    provider=foundation.split(".", 1)[0],
                    region_name=self._region_name,
                )
            self._models[model_id] = model
        return model

    def _profile_arn(self, model_id: str) -> str | None:
        """The profile to call ``model_id`` through, or None to call the model directly."""
        directory = self._inference_profiles
        if directory is None:
            return None
        try:
            arn = directory.arn_for(model_id)
        except InferenceProfileDirectoryError as error:
            raise InferenceProfileMissing(model_id, str(error)) from None
        if arn is None:
            raise InferenceProfileMissing(
                model_id,
                f"no application inference profile for model '{model_id}' in "
                f"{directory.parameter_name} of the operations account; deploy the "
                "tenant's operations stack (tenantctl deploy --tenant <id>)",
            )
        return arn

    def converse(
        self,
        model_id: str,
        request: InvocationRequest,
        *,
        callbacks: Sequence[BaseCallbackHandler],
    ) -> AIMessage:
        """Send the request's conversation to ``model_id`` and return the answer.

        No user id or content goes into Converse ``requestMetadata``: that would
        reach the operations account.
        """
        params: dict[str, Any] = {}
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.service_tier is not None:
            params["service_tier"] = request.service_tier.value
        if self._guardrail is not None:
            params["guardrail_config"] = self._guardrail.current().request_field()
        if request.temperature is not None:
            params["temperature"] = float(request.temperature)
        answer = self.model(model_id).invoke(
            to_langchain_messages(request),
            config={"callbacks": list(callbacks)},
            **params,
        )
        if not isinstance(answer, AIMessage):  # pragma: no cover - LangChain contract
            raise TypeError(f"unexpected answer type {type(answer).__name__}")
        return answer


def to_langchain_messages(request: InvocationRequest) -> list[BaseMessage]:
    """The request as LangChain messages, system prompt first."""
    messages: list[BaseMessage] = []
    if request.system is not None:
        messages.append(SystemMessage(content=request.system))
    for turn in request.turns():
        if turn.role == "user":
            messages.append(HumanMessage(content=turn.content))
        else:
            messages.append(AIMessage(content=turn.content))
    return messages
