"""The function's configuration, read from its environment once per container.

The CDK stack sets these variables; a wrong value is a deployment error, so it
fails the cold start loudly instead of surfacing as a confusing invocation error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts import naming
from contracts.errors import field_path
from contracts.model_access import APPLICATION_PROFILE_ARN_RE
from contracts.pricing import ModelPrice
from contracts.usage_record import LogContent, UsageSink

ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$"
# IAM's documented character set and length for sts:ExternalId.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$"
LOG_GROUP_PATTERN = r"^[A-Za-z0-9_#/.-]{1,512}$"

# PutLogEvents accepts one event up to 1 MiB minus 26 bytes of overhead; stay well
# below so a record never comes near the hard limit.
DEFAULT_MAX_RECORD_BYTES = 256 * 1024
PUT_LOG_EVENTS_MAX_EVENT_BYTES = 1_048_576 - 26


def _json_object(value: object) -> object:
    # The stack passes mappings as one JSON environment variable.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    return value


def _split_models(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class SettingsError(Exception):
    """The environment does not satisfy the contract; names every bad variable."""


class Settings(BaseModel):
    """The environment contract between the CDK stack and this function."""

    model_config = ConfigDict(frozen=True)

    # The registry's rule: the id is also the STS RoleSessionName and part of names.
    tenant_id: Annotated[str, AfterValidator(naming.valid_tenant_id)]
    ops_role_arn: str = Field(pattern=ROLE_ARN_PATTERN)
    ops_external_id: str = Field(pattern=EXTERNAL_ID_PATTERN, repr=False)
    bedrock_region: str = Field(pattern=REGION_PATTERN)
    usage_log_group: str = Field(pattern=LOG_GROUP_PATTERN)
    allowed_models: Annotated[tuple[str, ...], BeforeValidator(_split_models)] = Field(min_length=1)
    default_model_id: str = Field(min_length=1)
    log_content: LogContent = LogContent.METADATA
    usage_sink: UsageSink = UsageSink.API
    # The registry's negotiated prices per model, as JSON; the rest come from the
    # price table bundled with the contracts.
    price_overrides: Annotated[dict[str, ModelPrice], BeforeValidator(_json_object)] = Field(
        default_factory=dict
    )
    # The tenant calls its models through its application inference profiles
    # (registry application_inference_profiles): model id -> profile ARN, as JSON,
    # from the operations stack's outputs at deploy time.
    application_inference_profiles: bool = False
    inference_profile_arns: Annotated[dict[str, str], BeforeValidator(_json_object)] = Field(
        default_factory=dict
    )
    bedrock_max_attempts: int = Field(default=4, ge=1, le=10)
    # Not set by the stack today; an escape hatch should a tenant need bigger records.
    usage_log_max_record_bytes: int = Field(
        default=DEFAULT_MAX_RECORD_BYTES, ge=4096, le=PUT_LOG_EVENTS_MAX_EVENT_BYTES
    )

    @model_validator(mode="after")
    def _default_model_is_allowed(self) -> Settings:
        if self.default_model_id not in self.allowed_models:
            raise ValueError("DEFAULT_MODEL_ID must be one of ALLOWED_MODELS")
        return self

    @field_validator("inference_profile_arns")
    @classmethod
    def _profiles_are_for_allowed_models(
        cls, value: dict[str, str], info: ValidationInfo
    ) -> dict[str, str]:
        # A missing entry is not an error here: the other models still work, and
        # calling that one answers with a ConfigurationError naming the variable.
        allowed = info.data.get("allowed_models") or ()
        for model, arn in value.items():
            if model not in allowed:
                raise ValueError(f"'{model}' is not one of ALLOWED_MODELS")
            if not APPLICATION_PROFILE_ARN_RE.fullmatch(arn):
                raise ValueError(
                    f"'{arn}' (for {model}) is not an application inference profile ARN"
                )
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment).

        Variable names are the field names in upper case, e.g. ``TENANT_ID``.
        Empty values count as unset so an optional variable can be blanked.
        """
        env = os.environ if environ is None else environ
        values = {
            name: env[name.upper()] for name in cls.model_fields if env.get(name.upper(), "") != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = [
                f"{field_path(err['loc']).upper() or 'environment'}: {err['msg']}"
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise SettingsError("; ".join(problems)) from None
