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

from pydantic import Field, ValidationInfo, field_validator

from contracts.function_environment import FunctionEnvironment, FunctionEnvironmentError
from contracts.model_access import APPLICATION_PROFILE_ARN_RE
from contracts.usage_record import LogContent, UsageSink

__all__ = ["LogContent", "Settings", "SettingsError", "UsageSink"]

# PutLogEvents accepts one event up to 1 MiB minus 26 bytes of overhead; stay well
# below so a record never comes near the hard limit.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024
PUT_LOG_EVENTS_MAX_EVENT_BYTES = 1_048_576 - 26

SettingsError = FunctionEnvironmentError


class Settings(FunctionEnvironment):
    """The environment contract, plus what only the function reads."""

    # The tenant calls its models through its application inference profiles
    # (registry application_inference_profiles): model id -> profile ARN, as JSON,
    # from the operations stack's outputs at deploy time.
    inference_profile_arns: dict[str, str] = Field(default_factory=dict)
    # Not set by the stack; an escape hatch should a tenant need bigger records.
    usage_log_max_record_bytes: Annotated[
        int, Field(ge=4096, le=PUT_LOG_EVENTS_MAX_EVENT_BYTES)
    ] = DEFAULT_MAX_RECORD_BYTES

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """The models the tenant may call (``ALLOWED_MODELS``); the first is the default."""
        return self.models

    @field_validator("inference_profile_arns")
    @classmethod
    def _profiles_are_for_allowed_models(
        cls, value: dict[str, str], info: ValidationInfo
    ) -> dict[str, str]:
        # A missing entry is not an error here: the other models still work, and
        # calling that one answers with a ConfigurationError naming the variable.
        allowed = info.data.get("models") or ()
        for model, arn in value.items():
            if model not in allowed:
                raise ValueError(f"'{model}' is not one of ALLOWED_MODELS")
            if not APPLICATION_PROFILE_ARN_RE.fullmatch(arn):
                raise ValueError(
                    f"'{arn}' (for {model}) is not an application inference profile ARN"
                )
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the settings from ``environ`` (default: the process environment)."""
        return super().from_env(os.environ if environ is None else environ)
