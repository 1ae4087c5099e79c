"""The tenant's rules for one model call, checked before anything is sent.

The function applies them to each event, the library to each chat model it
hands out; both refuse with ``CallRefused``, which names the offending field
(``<field>: <message>``). The tenant's invoker role would refuse most of these
calls anyway; saying so here names what to change, and leaves a record of a
refused call instead of an AccessDenied from the operations account.
"""

from __future__ import annotations

from collections.abc import Sequence

from bedrock_tenant_client.errors import ExplainedError
from contracts.model_output_limits import default_max_tokens
from contracts.tenant_settings import ServiceTier


class CallRefused(ExplainedError):
    """A call the tenant's rules (or the request's own shape) refuse; ``field`` names
    the offending part."""

    error_type = "ValidationError"
    # Built from the request's own field names and the tenant's settings.
    sanitized = False

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ModelNotAllowedError(CallRefused):
    """The requested model is not on this tenant's allowlist."""

    error_type = "AccessDenied"


class ApplicationNotAllowedError(CallRefused):
    """The calling application is not one the registry lists for this tenant."""

    error_type = "AccessDenied"


class ServiceTierNotAllowedError(CallRefused):
    """The requested service tier is not one this tenant may use."""

    error_type = "AccessDenied"


def resolve_model(model_id: str, *, allowed_models: Sequence[str]) -> str:
    """Return ``model_id`` if the tenant may use it; raise ``ModelNotAllowedError`` if not."""
    if model_id not in allowed_models:
        raise ModelNotAllowedError("model_id", f"'{model_id}' is not allowed for this tenant")
    return model_id


def resolve_application(application_id: str, *, applications: Sequence[str] | None) -> str:
    """Return ``application_id`` if the tenant lists it (or lists none); refuse it if not.

    An unlisted id would be a new metric dimension value, billed per month.
    """
    if applications is not None and application_id not in applications:
        raise ApplicationNotAllowedError(
            "application_id", f"'{application_id}' is not one of this tenant's applications"
        )
    return application_id


def resolve_service_tier(
    requested: ServiceTier | None, *, allowed_tiers: Sequence[ServiceTier]
) -> ServiceTier:
    """The tier to call with: the requested one if the tenant may use it, else its first.

    Raises ``ServiceTierNotAllowedError`` for a tier the tenant may not use: its
    role would refuse the call anyway (``bedrock:ServiceTier``).
    """
    if requested is None:
        return allowed_tiers[0]
    if requested not in allowed_tiers:
        allowed = ", ".join(tier.value for tier in allowed_tiers)
        raise ServiceTierNotAllowedError(
            "service_tier",
            f"'{requested.value}' is not allowed for this tenant (allowed: {allowed})",
        )
    return requested


def resolve_max_tokens(requested: int | None, *, model_id: str, cap: int) -> int:
    """The call's ``maxTokens``: never above the tenant's ``cap``.

    Bedrock reserves input + cache + maxTokens against the account's
    tokens-per-minute before it answers, and without a value it reserves the
    model's maximum: a call that names none is sent the tenant's cap, lowered to
    the model's own limit (``contracts.model_output_limits``); one that asks for
    more than the cap is refused.
    """
    if requested is None:
        return default_max_tokens(model_id, cap=cap)
    if requested < 1:
        raise CallRefused("max_tokens", f"{requested} is below 1")
    if requested > cap:
        raise CallRefused("max_tokens", f"{requested} is over this tenant's limit of {cap}")
    return requested
