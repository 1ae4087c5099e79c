"""The tenant's chat model: a ``ChatBedrockConverse`` that carries the tenant's guardrail.

It is LangChain's own ``ChatBedrockConverse`` (invoke, stream, ainvoke, astream,
batch, tools, structured output, chains), built on the tenant's operations-account
clients with its model fields (``max_tokens``, ``service_tier``, the usage
callback). One thing cannot be a fixed field: the guardrail the operations stack
created is read from that account and changes version when its definition does,
so each call asks the tenant's ``GuardrailSource`` for the current one.
"""

from __future__ import annotations

from typing import Any

from langchain_aws.chat_models.bedrock_converse import ChatBedrockConverse
from pydantic import PrivateAttr

from bedrock_tenant_client.guardrail import GuardrailSource


class TenantChatModel(ChatBedrockConverse):
    """``ChatBedrockConverse`` with the tenant's current guardrail on every call."""

    _tenant_guardrail: GuardrailSource | None = PrivateAttr(default=None)

    def with_tenant_guardrail(self, guardrail: GuardrailSource | None) -> TenantChatModel:
        """This model, sending ``guardrail``'s current version with every call."""
        self._tenant_guardrail = guardrail
        return self

    def _converse_params(self, **kwargs: Any) -> dict[str, Any]:
        guardrail = self._tenant_guardrail
        if guardrail is not None and not kwargs.get("guardrailConfig"):
            kwargs["guardrailConfig"] = guardrail.current().request_field()
        params: dict[str, Any] = super()._converse_params(**kwargs)
        return params
