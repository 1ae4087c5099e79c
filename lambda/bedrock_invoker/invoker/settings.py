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

from pydantic import Field

from contracts import naming
from contracts.function_environment import FunctionEnvironment, FunctionEnvironmentError
from contracts.model_access import guardrail_arn
from contracts.usage_record import LogContent, UsageSink
from invoker.guardrail import GuardrailConfig

__all__ = ["LogContent", "Settings", "SettingsError", "UsageSink"]

# PutLogEvents accepts one event up to 1 MiB minus 26 bytes of overhead; stay well
# below so a record never comes near the hard limit.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024
PUT_LOG_EVENTS_MAX_EVENT_BYTES = 1_048_576 - 26

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
        """The tenant's guardrail as every call names it: its full ARN (an id is in the
        operations account, the invoker role's, and Bedrock's region) and version."""
        if self.guardrail is None or self.guardrail.identifier is None:
            return None  # none, or the one the operations stack created (read from there)
        assert self.guardrail.version is not None  # the contract requires both
        ops_account = self.ops_role_arn.split(":")[4]
        arn = guardrail_arn(
            naming.partition_for_region(self.bedrock_region),
            self.bedrock_region,
            ops_account,
            self.guardrail.identifier,
        )
        return GuardrailConfig(arn=arn, version=self.guardrail.version)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the settings from ``environ`` (default: the process environment)."""
        return super().from_env(os.environ if environ is None else environ)
