"""Call the central Amazon Bedrock as one tenant, with one usage record per call.

    from bedrock_tenant_client import TenantBedrock

    bedrock = TenantBedrock.from_parameter("acme")  # the workload's own credentials
    model = bedrock.chat_model(application_id="support-bot", user_id="alice")
    print(model.invoke("Hello").text)
    for chunk in model.stream("Tell me more"):
        print(chunk.text, end="")

The modules:

- ``tenant``: ``TenantBedrock``, the process's credentials, models and usage sink;
- ``settings``: the tenant's settings (the function's environment contract) from
  its SSM parameter, the registry, or environment variables;
- ``chat_model``: ``TenantChatModel``, ``ChatBedrockConverse`` with the tenant's
  current guardrail;
- ``api_keys``: a short-term Amazon Bedrock API key for OpenAI-style SDKs;
- shared with the invoker function: ``credentials`` (assumed, refreshed in
  place), ``chat`` (the tenant's clients, models, profiles, guardrail),
  ``outcome``, ``redaction``, ``usage`` (the record, its metrics, the sinks, the
  LangChain callback, the spool).

The names below are imported on first use: the invoker function imports this
package's modules, not this list, and pays for none of it at cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bedrock_tenant_client.call_rules import CallRefused
    from bedrock_tenant_client.chat_model import TenantChatModel
    from bedrock_tenant_client.settings import SettingsError, TenantSettings
    from bedrock_tenant_client.tenant import TenantBedrock

__version__ = "0.1.0"

_EXPORTS = {
    "TenantBedrock": "bedrock_tenant_client.tenant",
    "CallRefused": "bedrock_tenant_client.call_rules",
    "TenantChatModel": "bedrock_tenant_client.chat_model",
    "TenantSettings": "bedrock_tenant_client.settings",
    "SettingsError": "bedrock_tenant_client.settings",
}
__all__ = [
    "CallRefused",
    "SettingsError",
    "TenantBedrock",
    "TenantChatModel",
    "TenantSettings",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bedrock_tenant_client' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
