"""Is Bedrock's model-invocation logging copying prompts into this account? (pure logic)

Shared by the deploy-time guard Lambda (``lambda/invocation_logging_guard``, whose
asset gets a copy of this package) and by ``tenantctl doctor``. It imports only
the standard library because the guard ships without dependencies.

Input is the body of ``bedrock:GetModelInvocationLoggingConfiguration``. When
logging is off, AWS returns no ``loggingConfig`` (moto returns an empty one);
when on, ``<kind>DataDeliveryEnabled`` flags say which request/response bodies
are delivered. Any such flag set means tenants' prompts or answers would be
copied into the operations account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DATA_DELIVERY_SUFFIX = "DataDeliveryEnabled"


@dataclass(frozen=True)
class LoggingVerdict:
    """What the guard concluded; ``ok`` False means the deployment must fail."""

    ok: bool
    logging_enabled: bool
    content_kinds: tuple[str, ...]
    allowed_by_registry: bool
    message: str


def content_kinds(logging_config: Mapping[str, Any]) -> tuple[str, ...]:
    """Kinds of content delivered (``text``, ``image`` ...), sorted.

    Keyed on the suffix rather than a fixed list, so a kind AWS adds later
    (``audio`` came after ``video``) is refused too.
    """
    return tuple(
        sorted(
            key.removesuffix(DATA_DELIVERY_SUFFIX)
            for key, value in logging_config.items()
            if key.endswith(DATA_DELIVERY_SUFFIX) and value is True
        )
    )


def evaluate(response: Mapping[str, Any], *, allow: bool) -> LoggingVerdict:
    """Decide from a GetModelInvocationLoggingConfiguration response.

    ``allow`` is the registry's ``operations.allow_ops_invocation_logging``.
    Logging without any content delivery (metadata only) passes: it records
    model ids and token counts, not prompts.
    """
    config = response.get("loggingConfig") or {}
    if not isinstance(config, Mapping):
        raise ValueError(f"loggingConfig: expected an object, got {type(config).__name__}")
    enabled = bool(config)
    kinds = content_kinds(config)
    if not kinds:
        message = (
            "model-invocation logging is enabled without content delivery (metadata only)"
            if enabled
            else "model-invocation logging is off"
        )
        return LoggingVerdict(True, enabled, kinds, allow, message)
    delivered = ", ".join(kinds)
    if allow:
        return LoggingVerdict(
            True,
            enabled,
            kinds,
            allow,
            f"model-invocation logging delivers {delivered} data in the operations account; "
            "allowed by the registry (operations.allow_ops_invocation_logging: true)",
        )
    return LoggingVerdict(
        False,
        enabled,
        kinds,
        allow,
        f"Bedrock model-invocation logging is enabled in the operations account with {delivered} "
        "data delivery: every tenant's prompts and responses would be copied into this account. "
        "Turn it off (aws bedrock delete-model-invocation-logging-configuration) or set "
        "operations.allow_ops_invocation_logging: true in the tenant registry.",
    )
