"""The usage record's metric dimensions are the registry's values, never the caller's.

Each new ApplicationId or ModelId value would be nine more billed custom metrics
in the tenant's account; a caller could run up that bill by naming new ids. A
refused model and an application the registry does not list are counted under
``refused``; with no ``applications`` listed, every call is counted under
``other``. The record keeps the ids as called.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from tests.support.invoker_testkit import (
    HAIKU,
    Accounts,
    ConverseStub,
    FakeLambdaContext,
    event,
)

Handler = Callable[[], ModuleType]
FAKE_MODEL = "anthropic.totally-fake-model-v9:0"


def test_a_refused_model_is_recorded_as_asked_and_counted_under_refused(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    result = cold_handler().lambda_handler(event(model_id=FAKE_MODEL), lambda_context)

    assert result["error"]["type"] == "AccessDenied"
    [record] = accounts.usage_records()
    assert (record["model_id"], record["ModelId"]) == (FAKE_MODEL, "refused")


def test_an_application_the_registry_does_not_list_is_refused_and_counted_under_refused(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    set_function_env: Callable[..., None],
) -> None:
    set_function_env(APPLICATIONS="support-bot,search")  # as the stack writes it
    handler = cold_handler()

    listed = handler.lambda_handler(event(application_id="search"), lambda_context)
    unlisted = handler.lambda_handler(event(application_id="made-up-app"), lambda_context)

    assert "output" in listed, listed
    assert unlisted["error"] == {
        "type": "AccessDenied",
        "message": "application_id: 'made-up-app' is not one of this tenant's applications",
    }
    assert len(converse_stub.calls) == 1  # the unlisted one never reached Bedrock
    ok, refused = accounts.usage_records()
    assert (ok["application_id"], ok["ApplicationId"], ok["ModelId"]) == ("search", "search", HAIKU)
    assert (refused["application_id"], refused["ApplicationId"]) == ("made-up-app", "refused")
    assert refused["status"] == "error"


def test_with_no_applications_listed_any_may_call_and_all_are_counted_under_other(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    handler = cold_handler()
    for application in ("support-bot", "app-1", "app-2"):
        assert "output" in handler.lambda_handler(event(application_id=application), lambda_context)

    records = accounts.usage_records()
    assert sorted(r["application_id"] for r in records) == ["app-1", "app-2", "support-bot"]
    assert {r["ApplicationId"] for r in records} == {"other"}
