"""Fixtures for the invoker Lambda tests; the machinery lives in ``invoker_testkit``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from invoker_testkit import (
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    load_handler,
    record_api_calls,
    running_converse_stub,
    set_invoker_env,
    two_accounts,
)


@pytest.fixture
def invoker_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the CDK stack sets, isolated to one test."""
    return set_invoker_env(monkeypatch)


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
