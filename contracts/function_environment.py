"""The invoker function's environment: the one contract between its stack and its code.

The customer stack writes it (``FunctionEnvironment.to_env``), the function reads
it once per container (``FunctionEnvironment.from_env``), and the StackSet
template makes each variable a parameter. Variable names are the field names in
upper case. Every field of ``FunctionSettings`` is part of it, so a setting added
there reaches the function with no change here.

Lambda refuses a function whose variables exceed 4 KB in all (keys and values);
:func:`check_size` refuses such a tenant at validation and synth, naming it,
instead of at deploy.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

from contracts.errors import field_path
from contracts.fields import ExternalId, LogGroupName, ModelId, Region, RoleArn, TenantId
from contracts.tenant_settings import FunctionSettings

# Lambda: "The total size of all environment variables doesn't exceed 4 KB."
LAMBDA_ENVIRONMENT_MAX_BYTES = 4096
# Set on every function: Powertools names its metrics' service and its logger by it.
CONSTANT_VARIABLES = {"POWERTOOLS_SERVICE_NAME": "bedrock-invoker"}
DEFAULT_BEDROCK_MAX_ATTEMPTS = 4
# A variable's name is its field's in upper case, except these: the function's word
# for the registry's ``models`` is the models it allows.
_RENAMED = {"models": "ALLOWED_MODELS"}


def variable(field_name: str) -> str:
    """The environment variable that carries a field."""
    return _RENAMED.get(field_name, field_name.upper())


class FunctionEnvironmentError(ValueError):
    """The environment does not satisfy the contract; names every bad variable."""


class FunctionEnvironment(FunctionSettings):
    """What the function is told: who it serves, which role it assumes, and its settings."""

    tenant_id: TenantId
    ops_role_arn: RoleArn
    # Not a secret (it guards against confused deputies), but kept out of reprs.
    ops_external_id: Annotated[ExternalId, Field(repr=False)]
    bedrock_region: Region
    usage_log_group: LogGroupName
    default_model_id: ModelId
    # Attempts per Bedrock call (botocore's standard retry mode), a property of the stack.
    bedrock_max_attempts: Annotated[int, Field(strict=True, ge=1, le=10)] = (
        DEFAULT_BEDROCK_MAX_ATTEMPTS
    )

    @model_validator(mode="after")
    def _default_model_is_allowed(self) -> Self:
        if self.default_model_id not in self.models:
            raise ValueError("DEFAULT_MODEL_ID must be one of ALLOWED_MODELS")
        return self

    @classmethod
    def variables(cls) -> tuple[str, ...]:
        """Every variable of the contract, in declaration order."""
        return tuple(variable(name) for name in cls.model_fields)

    def to_env(self) -> dict[str, str]:
        """The function's environment variables, every value a string.

        A value that is already a string is written as it is: in the StackSet
        template every value is a parameter's token.
        """
        env = {variable(name): encode(getattr(self, name)) for name in type(self).model_fields}
        return {**env, **CONSTANT_VARIABLES}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """Read and validate the environment; FunctionEnvironmentError names each bad variable.

        Every variable without a default must be present: a stack that forgot one
        is a deployment error, which fails the cold start loudly.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, field in cls.model_fields.items():
            raw = environ.get(variable(name))
            if raw is None:
                continue  # pydantic reports a missing required variable
            if raw == "" and not field.is_required():
                continue  # an optional setting left unset takes its default
            try:
                values[name] = decode(field, raw)
            except ValueError as exc:
                problems.append(f"{variable(name)}: {exc}")
        if problems:
            raise FunctionEnvironmentError("; ".join(problems))
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise FunctionEnvironmentError(
                "; ".join(
                    f"{_variable_path(err['loc'])}: {err['msg']}"
                    for err in exc.errors(include_url=False, include_input=False)
                )
            ) from None


def _variable_path(loc: tuple[int | str, ...]) -> str:
    """A validation error's location as the variable (and item) it concerns."""
    if not loc:
        return "environment"
    head, *rest = loc
    return variable(str(head)) + field_path(("x", *rest))[1:] if rest else variable(str(head))


def for_tenant(tenant: Any, **overrides: Any) -> FunctionEnvironment:
    """The environment of ``tenant``'s function (a resolved ``Tenant``).

    ``overrides`` replace derived values; the StackSet template passes tokens.
    """
    values: dict[str, Any] = {
        name: getattr(tenant, name) for name in FunctionSettings.model_fields
    } | {
        "tenant_id": tenant.id,
        "ops_role_arn": tenant.invoker_role_arn,
        "ops_external_id": tenant.external_id,
        "bedrock_region": tenant.bedrock_region,
        "usage_log_group": tenant.usage_log_group,
        "default_model_id": tenant.default_model,
    }
    values.update(overrides)
    # Already validated as a registry entry (or tokens, which validation would refuse).
    return FunctionEnvironment.model_construct(**values)


def size(env: Mapping[str, str]) -> int:
    """Bytes Lambda counts against its 4 KB: every key and value, UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in env.items())


def check_size(tenant: Any) -> str | None:
    """Why ``tenant``'s function environment is too big for Lambda, or None."""
    used = size(for_tenant(tenant).to_env())
    if used <= LAMBDA_ENVIRONMENT_MAX_BYTES:
        return None
    return (
        f"tenant '{tenant.id}': its function's environment is {used} bytes, over Lambda's "
        f"{LAMBDA_ENVIRONMENT_MAX_BYTES} (models, price overrides and the ExternalId count); "
        "list fewer models or overrides, or use a shorter ExternalId"
    )


def encode(value: Any) -> str:
    """One value as its variable's text: enums by value, booleans in lower case,
    lists comma-separated, mappings and settings blocks as compact sorted JSON, and
    an unset optional value as the empty string."""
    if value is None:
        return ""  # an optional setting left unset
    if isinstance(value, str):
        return str(value.value) if isinstance(value, Enum) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, tuple | list):
        return ",".join(encode(v) for v in value)
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def decode(field: FieldInfo, text: str) -> Any:
    """A variable's text as the value its field validates: the inverse of :func:`encode`."""
    kind = base_type(field.annotation)
    if kind is bool:
        if text not in {"true", "false"}:
            raise ValueError(f"'{text}' is not true or false")
        return text == "true"
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a whole number") from None
    if kind in {tuple, list}:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if kind in {dict} or (isinstance(kind, type) and issubclass(kind, BaseModel)):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    return text


def base_type(annotation: Any) -> Any:
    """The outer type behind Annotated and Optional: ``tuple``, ``dict``, ``bool`` ..."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in {typing.Union, types.UnionType}:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return base_type(args[0]) if len(args) == 1 else str
    return origin or annotation
