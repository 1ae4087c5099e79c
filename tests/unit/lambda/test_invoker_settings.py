"""The environment contract with the CDK stack, validated once at cold start."""

from __future__ import annotations

import pytest
from invoker.settings import LogContent, Settings, SettingsError

from tests.support.invoker_testkit import EXTERNAL_ID, HAIKU, US_HAIKU


def test_stack_environment_is_read_into_typed_settings(invoker_env: dict[str, str]) -> None:
    settings = Settings.from_env(invoker_env)

    assert settings.tenant_id == "acme"
    assert settings.allowed_models == (HAIKU, US_HAIKU)
    assert settings.log_content is LogContent.METADATA
    assert settings.bedrock_max_attempts == 2
    assert settings.usage_log_max_record_bytes == 256 * 1024


def test_optional_variables_fall_back_to_their_defaults(invoker_env: dict[str, str]) -> None:
    env = {k: v for k, v in invoker_env.items() if k not in {"LOG_CONTENT", "BEDROCK_MAX_ATTEMPTS"}}
    settings = Settings.from_env(env)

    assert settings.log_content is LogContent.METADATA
    assert settings.bedrock_max_attempts == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TENANT_ID", ""),
        ("TENANT_ID", "Acme_Corp"),
        ("OPS_ROLE_ARN", "arn:aws:iam::12345:role/x"),
        ("OPS_EXTERNAL_ID", "x"),
        ("BEDROCK_REGION", "mars-1"),
        ("USAGE_LOG_GROUP", "bad group:name"),
        ("ALLOWED_MODELS", " , "),
        ("LOG_CONTENT", "everything"),
        ("BEDROCK_MAX_ATTEMPTS", "zero"),
        ("BEDROCK_MAX_ATTEMPTS", "0"),
    ],
)
def test_a_bad_variable_fails_the_cold_start_naming_it(
    name: str, value: str, invoker_env: dict[str, str]
) -> None:
    with pytest.raises(SettingsError, match=rf"\b{name}: "):
        Settings.from_env({**invoker_env, name: value})


def test_default_model_must_be_one_of_the_allowed_models(invoker_env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="DEFAULT_MODEL_ID must be one of ALLOWED_MODELS"):
        Settings.from_env({**invoker_env, "DEFAULT_MODEL_ID": "anthropic.other-v1:0"})


def test_settings_errors_never_echo_the_external_id(invoker_env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**invoker_env, "OPS_EXTERNAL_ID": EXTERNAL_ID + " !"})
    assert EXTERNAL_ID not in str(caught.value)
    assert EXTERNAL_ID not in repr(Settings.from_env(invoker_env))
