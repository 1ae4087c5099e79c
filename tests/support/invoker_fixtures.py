"""Fixtures for the invoker Lambda tests (a pytest plugin, see tests/conftest.py); the
machinery lives in ``tests.support.invoker_testkit``.

The function's environment is defined here, once: ``invoker_env`` applies it to
the test's process (with a clean AWS setup) and ``set_function_env`` changes a
variable before the next cold start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from contracts.function_environment import FunctionEnvironment
from tests.support.invoker_testkit import (
    EXTERNAL_ID,
    HAIKU,
    LOG_GROUP,
    OPS_ROLE_ARN,
    REGION,
    TENANT_ID,
    US_HAIKU,
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    load_handler,
    record_api_calls,
    running_converse_stub,
    two_accounts,
)

# What the customer stack gives acme's function: written by the environment contract
# the stack uses, so the tests read exactly what a deployed function reads.
FUNCTION_ENV = FunctionEnvironment(
    tenant_id=TENANT_ID,
    ops_role_arn=OPS_ROLE_ARN,
    ops_external_id=EXTERNAL_ID,
    bedrock_region=REGION,
    usage_log_group=LOG_GROUP,
    models=(HAIKU, US_HAIKU),
    default_model_id=HAIKU,
    # Two attempts keep the throttling tests to one short backoff.
    bedrock_max_attempts=2,
).to_env()


@pytest.fixture
def invoker_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The function's environment, set in this test's process; a copy to derive others from.

    The AWS setup is Lambda's, not the developer's: no profile, config file or
    endpoint override leaks in, and the credentials are placeholders until
    ``accounts`` puts the tenant's in.
    """
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in {"AWS_PROFILE", "MOTO_ACCOUNT_ID"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name, value in FUNCTION_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(FUNCTION_ENV)


@pytest.fixture
def set_function_env(
    monkeypatch: pytest.MonkeyPatch, invoker_env: dict[str, str]
) -> Callable[..., None]:
    """Change the function's variables for the next cold start (``None`` removes one)."""

    def set_variables(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)

    return set_variables


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> ApiCalls:
    """Counts of every AWS API call made by sessions created during the test."""
    return record_api_calls(monkeypatch)


@pytest.fixture
def converse_stub(
    monkeypatch: pytest.MonkeyPatch, invoker_env: dict[str, str]
) -> Iterator[ConverseStub]:
    """A local Converse endpoint standing in for bedrock-runtime in the ops region."""
    with running_converse_stub(monkeypatch) as stub:
        yield stub


@pytest.fixture
def accounts(
    monkeypatch: pytest.MonkeyPatch, invoker_env: dict[str, str], api_calls: ApiCalls
) -> Iterator[Accounts]:
    """Tenant and operations accounts in moto; the process runs with the tenant's key."""
    with two_accounts(monkeypatch) as world:
        api_calls.reset()  # the setup's own calls are not the function's
        yield world


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A stand-in for the Lambda context object."""
    return FakeLambdaContext()


@pytest.fixture
def cold_handler(invoker_env: dict[str, str]) -> Iterator[Callable[[], ModuleType]]:
    """Load handler.py fresh (a new container) once the test has set its environment."""
    yield load_handler
    sys.modules.pop("bedrock_invoker_handler", None)
