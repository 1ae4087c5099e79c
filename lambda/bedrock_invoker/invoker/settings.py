"""The function's configuration, read from its environment once per container.

The variables are the environment contract (``contracts.function_environment``),
which the customer stack writes with the same code; a wrong value is a deployment
error, so it fails the cold start loudly instead of surfacing as a confusing
invocation error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Self

from bedrock_tenant_client.guardrail import GuardrailConfig
from pydantic import Field

from contracts.function_environment import FunctionEnvironment, FunctionEnvironmentError
from contracts.usage_record import (
    DEFAULT_MAX_RECORD_BYTES,
    PUT_LOG_EVENTS_MAX_EVENT_BYTES,
    LogContent,
    UsageSink,
)

__all__ = ["LogContent", "Settings", "SettingsError", "UsageSink"]


SettingsError = FunctionEnvironmentError


class Settings(FunctionEnvironment):
    """The environment contract, plus what only the function reads."""

    # Not set by the stack; an escape hatch should a tenant need bigger records.
    usage_log_max_record_bytes: Annotated[
        int, Field(ge=4096, le=PUT_LOG_EVENTS_MAX_EVENT_BYTES)
    ] = DEFAULT_MAX_RECORD_BYTES

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """The models the tenant may call (``ALLOWED_MODELS``); the first is the default."""
        return self.models

    @property
    def guardrail_config(self) -> GuardrailConfig | None:
        """The tenant's existing guardrail (``GuardrailConfig.of_tenant``)."""
        return GuardrailConfig.of_tenant(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the settings from ``environ`` (default: the process environment)."""
        return super().from_env(os.environ if environ is None else environ)
