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
from typing import Any, Literal, TypeVar

import botocore.session
from botocore.config import Config

# The defining module, not the package's re-export: the bundler ships
# langchain_aws's __init__ lazy, and this path does not depend on it.
from langchain_aws.chat_models.bedrock_converse import ChatBedrockConverse
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage

from bedrock_tenant_client.errors import CONFIGURATION_ERROR, ExplainedError
from bedrock_tenant_client.guardrail import GuardrailConfig, GuardrailDirectory, GuardrailSource
from bedrock_tenant_client.inference_profiles import (
    InferenceProfileDirectory,
    InferenceProfileDirectoryError,
)
from contracts.function_environment import FunctionEnvironment
from contracts.model_access import parse_model_id

__all__ = ["CONFIGURATION_ERROR", "BedrockChat", "InferenceProfileMissing"]

ChatModel = TypeVar("ChatModel", bound=ChatBedrockConverse)

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


class InferenceProfileMissing(ExplainedError):
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

    @classmethod
    def for_tenant(
        cls, settings: FunctionEnvironment, ops_session: botocore.session.Session
    ) -> BedrockChat:
        """The tenant's model calls on ``ops_session``: its region, retries, inference
        profiles and guardrail, as its settings (the function's environment) say."""
        return cls.from_session(
            ops_session,
            region_name=settings.bedrock_region,
            max_attempts=settings.bedrock_max_attempts,
            tenant_id=settings.tenant_id,
            inference_profiles=settings.application_inference_profiles,
            retry_mode=settings.retry_mode.value,
            guardrail=GuardrailConfig.of_tenant(settings),
            guardrail_from_operations=(
                settings.guardrail is not None and settings.guardrail.create is not None
            ),
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
            model = self.new_model(model_id)
            self._models[model_id] = model
        return model

    def new_model(
        self,
        model_id: str,
        *,
        model_class: type[ChatModel] = ChatBedrockConverse,  # type: ignore[assignment]
        **fields: Any,
    ) -> ChatModel:
        """A new ``model_class`` (``ChatBedrockConverse`` or a subclass) for ``model_id``
        on this tenant's clients, through its inference profile where it has one;
        ``fields`` are the model's own (callbacks, max_tokens ...)."""
        profile = self._profile_arn(model_id)
        common = {
            "client": self._runtime_client,
            "bedrock_client": self._control_client,
            "region_name": self._region_name,
            **fields,
        }
        if profile is None:
            return model_class(model=model_id, **common)
        _, foundation = parse_model_id(model_id)
        return model_class(
            model=profile,
            # Given, so no GetInferenceProfile call: the model the profile
            # copies (its features decide streaming and tool support).
            # ``base_model`` is the alias of the field ``base_model_id``.
            base_model=foundation,
            # An ARN names no provider; langchain-aws refuses one without it.
            provider=foundation.split(".", 1)[0],
            **common,
        )

    @property
    def guardrail(self) -> GuardrailSource | None:
        """Where each call's guardrail comes from (None: the tenant has none)."""
        return self._guardrail

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

    def call_params(
        self,
        *,
        max_tokens: int | None = None,
        service_tier: str | None = None,
        temperature: float | None = None,
    ) -> dict[str, Any]:
        """What a call passes to the model beside the messages: its ``maxTokens``, its
        service tier, the tenant's guardrail (the role allows no call without them)."""
        params: dict[str, Any] = {}
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if service_tier is not None:
            params["service_tier"] = service_tier
        if self._guardrail is not None:
            params["guardrail_config"] = self._guardrail.current().request_field()
        if temperature is not None:
            params["temperature"] = float(temperature)
        return params

    def converse(
        self,
        model_id: str,
        messages: Sequence[BaseMessage],
        *,
        callbacks: Sequence[BaseCallbackHandler],
        max_tokens: int | None = None,
        service_tier: str | None = None,
        temperature: float | None = None,
    ) -> AIMessage:
        """Send ``messages`` to ``model_id`` and return the answer.

        No user id or content goes into Converse ``requestMetadata``: that would
        reach the operations account.
        """
        answer = self.model(model_id).invoke(
            list(messages),
            config={"callbacks": list(callbacks)},
            **self.call_params(
                max_tokens=max_tokens, service_tier=service_tier, temperature=temperature
            ),
        )
        if not isinstance(answer, AIMessage):  # pragma: no cover - LangChain contract
            raise TypeError(f"unexpected answer type {type(answer).__name__}")
        return answer
