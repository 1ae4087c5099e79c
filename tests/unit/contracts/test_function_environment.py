"""The function's environment contract: what the stack writes, the function reads back."""

from __future__ import annotations

import pytest

from contracts.function_environment import (
    LAMBDA_ENVIRONMENT_MAX_BYTES,
    FunctionEnvironment,
    FunctionEnvironmentError,
    check_size,
    for_tenant,
    size,
    variable,
)
from contracts.registry import parse_registry
from contracts.tenant_settings import FunctionSettings
from tests.unit.contracts.test_registry import VALID


def _tenant(**settings: object) -> object:
    data = {**VALID, "tenants": [{**VALID["tenants"][0], **settings}]}
    return parse_registry(data).resolved_tenants()[0]


def test_every_setting_the_function_reads_is_a_variable_of_the_contract() -> None:
    assert {variable(name) for name in FunctionSettings.model_fields} <= set(
        FunctionEnvironment.variables()
    )


def test_what_the_stack_writes_the_function_reads_back_unchanged() -> None:
    tenant = _tenant(
        models=[
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        ],
        log_content="redacted",
        usage_sink="stdout",
        application_inference_profiles=True,
        price_overrides={"anthropic.claude-3-haiku-20240307-v1:0": {"input": 0.2, "output": 1.0}},
    )
    written = for_tenant(tenant)
    env = written.to_env()

    assert all(isinstance(v, str) for v in env.values())
    assert env["ALLOWED_MODELS"] == (
        "anthropic.claude-3-haiku-20240307-v1:0,us.anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    assert env["APPLICATION_INFERENCE_PROFILES"] == "true"
    read = FunctionEnvironment.from_env(env)
    assert (
        read.model_dump() == FunctionEnvironment.model_validate(written.model_dump()).model_dump()
    )


@pytest.mark.parametrize(
    ("variable_name", "value", "message"),
    [
        ("APPLICATION_INFERENCE_PROFILES", "yes", "APPLICATION_INFERENCE_PROFILES: 'yes' is not"),
        ("PRICE_OVERRIDES", "{not json", "PRICE_OVERRIDES: not valid JSON"),
        ("BEDROCK_MAX_ATTEMPTS", "many", "BEDROCK_MAX_ATTEMPTS: 'many' is not a whole number"),
        ("LOG_CONTENT", "everything", "LOG_CONTENT: "),
        ("OPS_ROLE_ARN", "arn:aws:iam::1:role/x", "OPS_ROLE_ARN: "),
        ("DEFAULT_MODEL_ID", "anthropic.claude-3-opus-20240229-v1:0", "one of ALLOWED_MODELS"),
    ],
)
def test_a_bad_variable_is_refused_by_name(variable_name: str, value: str, message: str) -> None:
    env = for_tenant(_tenant()).to_env()
    with pytest.raises(FunctionEnvironmentError, match=message):
        FunctionEnvironment.from_env({**env, variable_name: value})


def test_a_missing_variable_is_refused_by_name() -> None:
    env = for_tenant(_tenant()).to_env()
    del env["TENANT_ID"]
    with pytest.raises(FunctionEnvironmentError, match="TENANT_ID: Field required"):
        FunctionEnvironment.from_env(env)


def test_the_size_lambda_counts_is_every_key_and_value_in_bytes() -> None:
    assert size({"AB": "cdé"}) == 2 + 4
    assert check_size(_tenant()) is None
    # Refused by the registry already; built here to show what the check measures.
    big = _tenant().model_copy(  # type: ignore[attr-defined]
        update={
            "external_id": "x" * 1224,
            "models": tuple(
                f"us.anthropic.claude-3-5-sonnet-{n:02d}241022-v2:0" for n in range(80)
            ),
        }
    )
    reason = check_size(big)
    assert reason is not None and f"over Lambda's {LAMBDA_ENVIRONMENT_MAX_BYTES}" in reason
