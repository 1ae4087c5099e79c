"""The handler end to end on moto: two accounts, a local Converse endpoint, real LangChain.

The function runs with the tenant account's credentials, assumes the invoker
role in the operations account for Bedrock, and must leave every usage record in
the tenant account only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from invoker.invocation import (
    TIMEOUT_RECORD_MARGIN_MS,
    URGENT_LOGS_CONNECT_TIMEOUT_S,
    URGENT_LOGS_MAX_ATTEMPTS,
    URGENT_LOGS_READ_TIMEOUT_S,
    URGENT_WRITE_WORST_CASE_MS,
    BedrockInvoker,
)
from invoker.settings import Settings
from moto.logs.models import logs_backends

from embedded_aws.bedrock import HOLD_SAFETY_SECONDS
from tests.support.invoker_testkit import (
    EXTERNAL_ID,
    HAIKU,
    LOG_GROUP,
    NOT_ALLOWED_MODEL,
    OPS_ACCOUNT,
    OPS_ROLE_ARN,
    REGION,
    TENANT_ACCOUNT,
    TENANT_ID,
    US_HAIKU,
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    MovableClock,
    NoCredentialCache,
    assumed_role_sessions,
    event,
    fail_operation,
    signal_provisional_records,
)

Handler = Callable[[], ModuleType]


def _fallback_lines(out: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in out.splitlines()
        if '"delivery":"fallback"' in line.replace(" ", "")
    ]


# --- Where things land ---------------------------------------------------------------------


def test_answer_is_returned_and_usage_record_lands_in_tenant_log_group(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result == {
        "output": "Bonjour !",
        "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        "model_id": HAIKU,
        "latency_ms": result["latency_ms"],
        "request_id": converse_stub.calls[0].request_id,
    }
    assert isinstance(result["latency_ms"], int)
    [record] = accounts.usage_records()
    assert record["_stream"] == "alice@example.com"
    assert record["status"] == "success"
    assert (record["tenant_id"], record["application_id"]) == (TENANT_ID, "support-bot")
    assert (record["user_id"], record["model_id"]) == ("alice@example.com", HAIKU)
    assert (record["input_tokens"], record["output_tokens"], record["total_tokens"]) == (12, 7, 19)
    assert record["bedrock_latency_ms"] == 321
    assert record["stop_reason"] == "end_turn"
    assert record["request_id"] == result["request_id"]
    assert record["latency_ms"] == result["latency_ms"]
    assert record["invocation_id"] == lambda_context.aws_request_id
    assert "provisional" not in record and "supersedes" not in record  # no timer fired
    print("\nusage record:", json.dumps({k: v for k, v in record.items() if k != "_stream"}))


def test_operations_account_holds_no_log_group_and_no_log_event(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    handler = cold_handler()
    for user in ("alice", "bob"):
        handler.lambda_handler(event(user_id=user), lambda_context)
    converse_stub.always_fail("ThrottlingException")
    handler.lambda_handler(event(user_id="carol"), lambda_context)  # an error record too

    assert accounts.ops_logs.describe_log_groups()["logGroups"] == []
    assert dict(logs_backends[OPS_ACCOUNT][REGION].groups) == {}
    assert len(accounts.usage_records()) == 3
    assert list(logs_backends[TENANT_ACCOUNT][REGION].groups) == [LOG_GROUP]


def test_bedrock_is_called_as_the_operations_role_with_the_tenant_as_session_name(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    cold_handler().lambda_handler(event(), lambda_context)

    [call] = converse_stub.calls
    assert call.account_id == OPS_ACCOUNT
    assert call.access_key_id != accounts.tenant_access_key_id
    [session] = assumed_role_sessions()
    assert session.role_arn == OPS_ROLE_ARN
    assert session.session_name == TENANT_ID  # visible in ops CloudTrail: never a user id
    assert session.external_id == EXTERNAL_ID
    assert api_calls.last_params["sts:AssumeRole"]["DurationSeconds"] == 3600


def test_converse_request_carries_settings_but_no_user_id_or_request_metadata(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    cold_handler().lambda_handler(
        event(
            prompt=None,
            messages=[
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Say bonjour"},
            ],
            system="Be brief.",
            max_tokens=256,
            temperature=0.2,
            model_id=US_HAIKU,
        ),
        lambda_context,
    )

    [call] = converse_stub.calls
    assert call.model_id == US_HAIKU
    assert call.body["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.2}
    assert call.body["system"] == [{"text": "Be brief."}]
    assert [m["role"] for m in call.body["messages"]] == ["user", "assistant", "user"]
    assert "requestMetadata" not in call.body
    assert "alice" not in json.dumps(call.body)


# --- Credentials: once per container, refreshed before expiry ----------------------------


def test_fifty_warm_invocations_assume_the_operations_role_once(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    handler = cold_handler()
    results = [handler.lambda_handler(event(), lambda_context) for _ in range(51)]

    assert all(r["output"] == "Bonjour !" for r in results)
    assert api_calls.calls["sts:AssumeRole"] == 1
    assert len(assumed_role_sessions()) == 1
    assert len({call.access_key_id for call in converse_stub.calls}) == 1


def test_hundred_warm_invocations_cost_one_put_log_events_each_and_no_sts_call(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    handler = cold_handler()
    handler.lambda_handler(event(), lambda_context)  # cold: AssumeRole + CreateLogStream
    cold_calls = dict(api_calls.calls)
    api_calls.reset()

    for _ in range(100):
        handler.lambda_handler(event(), lambda_context)

    assert cold_calls == {
        "sts:AssumeRole": 1,
        "cloudwatch-logs:CreateLogStream": 1,
        "cloudwatch-logs:PutLogEvents": 1,
        "bedrock-runtime:Converse": 1,
    }
    assert dict(api_calls.calls) == {
        "bedrock-runtime:Converse": 100,
        "cloudwatch-logs:PutLogEvents": 100,
    }
    print(f"\nAPI calls per 100 warm invocations: {dict(api_calls.calls)}")


def test_expired_credentials_are_refreshed_exactly_once(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    invoker_env: dict[str, str],
) -> None:
    clock = MovableClock()
    monkeypatch.setattr("moto.sts.models.utcnow", clock.moto_utcnow)
    invoker = BedrockInvoker.from_settings(
        Settings.from_env(), clock=clock.now, credential_cache=NoCredentialCache()
    )

    for _ in range(3):
        invoker.handle(event())
    clock.advance(minutes=30)  # 30 minutes left: outside botocore's refresh windows
    invoker.handle(event())
    assert len(assumed_role_sessions()) == 1

    clock.advance(minutes=25)  # 5 minutes left: inside the mandatory refresh window
    results = [invoker.handle(event()) for _ in range(5)]

    assert all(r["output"] == "Bonjour !" for r in results)
    assert len(assumed_role_sessions()) == 2
    keys = [call.access_key_id for call in converse_stub.calls]
    assert len(set(keys[:4])) == 1 and len(set(keys[4:])) == 1 and keys[0] != keys[4]


def test_a_container_parses_botocores_endpoint_data_once(
    monkeypatch: pytest.MonkeyPatch, accounts: Accounts
) -> None:
    # Two botocore sessions (the Lambda's own, the operations role's) share one
    # data loader: endpoints.json, the largest data file, is parsed once at init.
    parsed: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self: botocore.loaders.JSONFileLoader, file_path: str) -> Any:
        parsed.append(file_path)
        return load_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    BedrockInvoker.from_settings(Settings.from_env(), source_session=botocore.session.Session())
    assert sum(path.endswith("/endpoints") for path in parsed) == 1, parsed


# --- Failures --------------------------------------------------------------------------------


def test_put_log_events_outage_still_returns_the_answer_and_prints_the_record(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fail_operation(monkeypatch, "cloudwatch-logs", "PutLogEvents")
    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["output"] == "Bonjour !"
    [printed] = _fallback_lines(capsys.readouterr().out)
    assert printed["delivery"] == "fallback"
    assert printed["event"] == "bedrock.invocation"
    assert printed["request_id"] == result["request_id"]
    assert printed["input_tokens"] == 12
    assert printed["invocation_id"] == lambda_context.aws_request_id
    assert api_calls.attempts["cloudwatch-logs:PutLogEvents"] == 3  # retried before giving up
    assert accounts.usage_records() == []


def test_throttling_after_retries_returns_throttling_error_and_logs_it(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    converse_stub.always_fail("ThrottlingException")

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result == {
        "error": {
            "type": "ThrottlingException",
            "message": "Too many requests, please wait before trying again.",
        }
    }
    assert len(converse_stub.calls) == 2  # BEDROCK_MAX_ATTEMPTS
    [record] = accounts.usage_records()
    assert (record["status"], record["error_type"]) == ("error", "ThrottlingException")
    assert record["user_id"] == "alice@example.com"
    assert record["invocation_id"] == lambda_context.aws_request_id


def test_a_single_throttle_is_retried_and_the_user_gets_the_answer(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    converse_stub.fail("ThrottlingException")

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["output"] == "Bonjour !"
    assert [r["status"] for r in accounts.usage_records()] == ["success"]


def test_bedrock_access_denied_is_returned_safely_and_logged(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    converse_stub.always_fail("AccessDeniedException")

    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["error"]["type"] == "AccessDeniedException"
    assert "Traceback" not in result["error"]["message"]
    assert len(converse_stub.calls) == 1  # not retried
    [record] = accounts.usage_records()
    assert record["error_type"] == "AccessDeniedException"


def _provisional_and_final(records: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    provisional = [r for r in records if r.get("provisional")]
    final = [r for r in records if not r.get("provisional")]
    assert (len(provisional), len(final)) == (1, 1), records
    return provisional[0], final[0]


def test_a_warm_invocation_starts_no_thread(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
) -> None:
    # The timeout watchdog is one thread for the environment and the model-call
    # workers are pooled: once warm, a call hands work over but starts nothing.
    handler = cold_handler()
    for _ in range(3):
        handler.lambda_handler(event(), FakeLambdaContext())
    started: list[str] = []
    start = threading.Thread.start
    invoking = threading.current_thread()

    def counted_start(self: threading.Thread) -> None:
        # Only the handler's own: the moto server starts a thread per request.
        if threading.current_thread() is invoking:
            started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counted_start)
    for _ in range(10):
        assert "error" not in handler.lambda_handler(event(), FakeLambdaContext())
    assert started == []
    assert len(accounts.usage_records()) == 13


def test_every_container_in_one_process_shares_one_watchdog_thread(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
) -> None:
    # Each cold handler builds its own invoker; none adds a watchdog thread that
    # would outlive it (the process's one starts with its first alarm, if no
    # earlier test started it).
    def watchdogs() -> set[int | None]:
        return {t.ident for t in threading.enumerate() if t.name == "timeout-watchdog"}

    before = watchdogs()
    for _ in range(3):
        assert "error" not in cold_handler().lambda_handler(event(), FakeLambdaContext())
    assert len(watchdogs() - before) <= 1


def test_answer_arriving_after_the_timeout_record_is_still_recorded_and_returned(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
) -> None:
    # The watchdog fires at once (no time left beyond the margin); the model answers
    # only once the provisional record is out: the answer lands inside the margin.
    converse_stub.hold_answers(signal_provisional_records(monkeypatch))
    context = FakeLambdaContext(remaining_ms=TIMEOUT_RECORD_MARGIN_MS)

    result = cold_handler().lambda_handler(event(), context)

    provisional, final = _provisional_and_final(accounts.usage_records())
    assert provisional["status"] == "error"
    assert provisional["error_type"] == "FunctionTimeout"
    assert provisional["provisional"] is True
    assert provisional["invocation_id"] == context.aws_request_id
    assert provisional["user_id"] == "alice@example.com"
    assert "supersedes" not in provisional
    # The billed tokens are not lost: the real record follows and says what it replaces.
    assert final["status"] == "success"
    assert final["supersedes"] == "FunctionTimeout"
    assert final["invocation_id"] == context.aws_request_id
    assert (final["input_tokens"], final["output_tokens"], final["total_tokens"]) == (12, 7, 19)
    assert final["request_id"] == converse_stub.calls[0].request_id
    # The caller gets the answer's own figures, never the provisional record's.
    assert result == {
        "output": "Bonjour !",
        "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        "model_id": HAIKU,
        "latency_ms": final["latency_ms"],
        "request_id": converse_stub.calls[0].request_id,
    }


def test_bedrock_error_after_the_timeout_record_supersedes_it(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
) -> None:
    converse_stub.hold_answers(signal_provisional_records(monkeypatch))
    converse_stub.always_fail("AccessDeniedException")
    context = FakeLambdaContext(remaining_ms=TIMEOUT_RECORD_MARGIN_MS)

    result = cold_handler().lambda_handler(event(), context)

    assert result["error"]["type"] == "AccessDeniedException"
    provisional, final = _provisional_and_final(accounts.usage_records())
    assert provisional["error_type"] == "FunctionTimeout"
    assert (final["status"], final["error_type"]) == ("error", "AccessDeniedException")
    assert final["supersedes"] == "FunctionTimeout"
    assert final["request_id"] == converse_stub.calls[0].request_id
    assert {provisional["invocation_id"], final["invocation_id"]} == {context.aws_request_id}


def test_timeout_record_takes_one_fast_attempt_then_stdout_during_a_logs_outage(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fail_operation(monkeypatch, "cloudwatch-logs", "PutLogEvents")
    provisional_out = signal_provisional_records(monkeypatch)
    gate = threading.Event()
    converse_stub.hold_answers(gate)
    attempts_at_provisional: list[int] = []

    def release_after_provisional() -> None:
        # Count the provisional write's attempts before the model answers.
        provisional_out.wait(timeout=HOLD_SAFETY_SECONDS)
        attempts_at_provisional.append(api_calls.attempts["cloudwatch-logs:PutLogEvents"])
        gate.set()

    releaser = threading.Thread(target=release_after_provisional, daemon=True)
    releaser.start()
    context = FakeLambdaContext(remaining_ms=TIMEOUT_RECORD_MARGIN_MS)

    result = cold_handler().lambda_handler(event(), context)
    releaser.join()

    assert result["output"] == "Bonjour !"
    assert attempts_at_provisional == [1]  # one attempt, no retries on the urgent path
    printed = _fallback_lines(capsys.readouterr().out)
    provisional, final = _provisional_and_final(printed)
    assert provisional["error_type"] == "FunctionTimeout"
    assert final["supersedes"] == "FunctionTimeout"
    assert final["input_tokens"] == 12
    assert {provisional["invocation_id"], final["invocation_id"]} == {context.aws_request_id}
    assert accounts.usage_records() == []


def test_timeout_record_fast_path_fits_inside_the_margin(invoker_env: dict[str, str]) -> None:
    # The urgent write must be over, delivered or not, before Lambda kills the function.
    assert URGENT_WRITE_WORST_CASE_MS < TIMEOUT_RECORD_MARGIN_MS
    assert (
        URGENT_WRITE_WORST_CASE_MS
        == 2
        * URGENT_LOGS_MAX_ATTEMPTS
        * (URGENT_LOGS_CONNECT_TIMEOUT_S + URGENT_LOGS_READ_TIMEOUT_S)
        * 1000
    )

    invoker = BedrockInvoker.from_settings(Settings.from_env())

    urgent = invoker._writer._urgent_client  # built once per container
    assert urgent is not invoker._writer._client
    config = urgent.meta.config
    assert config.retries["total_max_attempts"] == URGENT_LOGS_MAX_ATTEMPTS == 1
    assert config.connect_timeout == URGENT_LOGS_CONNECT_TIMEOUT_S
    assert config.read_timeout == URGENT_LOGS_READ_TIMEOUT_S


def test_timeout_record_is_written_with_the_functions_own_credentials(
    monkeypatch: pytest.MonkeyPatch,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
) -> None:
    converse_stub.hold_answers(signal_provisional_records(monkeypatch))
    context = FakeLambdaContext(remaining_ms=TIMEOUT_RECORD_MARGIN_MS)

    cold_handler().lambda_handler(event(), context)

    assert len(accounts.usage_records()) == 2  # both in the tenant account
    assert accounts.ops_logs.describe_log_groups()["logGroups"] == []
    assert dict(logs_backends[OPS_ACCOUNT][REGION].groups) == {}


def test_model_outside_the_allowlist_is_refused_before_any_aws_call(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    result = cold_handler().lambda_handler(event(model_id=NOT_ALLOWED_MODEL), lambda_context)

    assert result == {
        "error": {
            "type": "AccessDenied",
            "message": f"model_id: '{NOT_ALLOWED_MODEL}' is not allowed for this tenant",
        }
    }
    assert converse_stub.calls == []
    assert api_calls.calls["sts:AssumeRole"] == 0
    [record] = accounts.usage_records()  # the refusal is the tenant's to audit
    assert (record["error_type"], record["model_id"]) == ("AccessDenied", NOT_ALLOWED_MODEL)
    assert record["invocation_id"] == lambda_context.aws_request_id


@pytest.mark.parametrize(
    ("bad_event", "message_start"),
    [
        ("hello", "event: "),
        (None, "event: "),
        ([1, 2], "event: "),
        (event(user_id=None), "user_id: "),
        (event(application_id="bad app"), "application_id: "),
        (event(prompt=None), "prompt: "),
        (event(max_tokens=100_000), "max_tokens: "),
        (event(temperature=3), "temperature: "),
    ],
)
def test_bad_event_gets_a_validation_error_and_touches_no_aws(
    bad_event: Any,
    message_start: str,
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    result = cold_handler().lambda_handler(bad_event, lambda_context)

    assert result["error"]["type"] == "ValidationError"
    assert result["error"]["message"].startswith(message_start)
    assert sum(api_calls.calls.values()) == 0
    assert converse_stub.calls == []


# --- Content modes end to end -------------------------------------------------------------


def test_full_content_mode_keeps_prompt_and_response_in_the_tenants_record(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    set_function_env(LOG_CONTENT="full")

    cold_handler().lambda_handler(event(system="Be brief."), lambda_context)

    [record] = accounts.usage_records()
    assert record["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Translate 'good morning' to French."},
    ]
    assert record["response"] == "Bonjour !"


def test_redacted_content_mode_masks_the_prompt_in_the_record_but_not_the_answer(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    set_function_env(LOG_CONTENT="redacted")
    converse_stub.answer_with("Reply to bob@example.com")

    result = cold_handler().lambda_handler(event(prompt="I am bob@example.com"), lambda_context)

    assert result["output"] == "Reply to bob@example.com"  # the caller's answer is untouched
    [record] = accounts.usage_records()
    assert record["prompt"] == [{"role": "user", "content": "I am [EMAIL]"}]
    assert record["response"] == "Reply to [EMAIL]"


def test_metadata_mode_keeps_content_out_of_the_record(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
) -> None:
    cold_handler().lambda_handler(event(prompt="my secret plan"), lambda_context)

    [record] = accounts.usage_records()
    assert "secret plan" not in json.dumps(record)
    assert "prompt" not in record and "response" not in record


def test_function_logs_carry_the_tenant_id_but_no_prompt(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A service name of its own: Powertools binds a logger's stream once per process.
    # DEBUG: a delivered success logs only there ("model call succeeded").
    set_function_env(
        POWERTOOLS_SERVICE_NAME="bedrock-invoker-log-check", POWERTOOLS_LOG_LEVEL="DEBUG"
    )
    cold_handler().lambda_handler(event(prompt="my secret plan"), lambda_context)

    logs = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert "model call succeeded" in {line.get("message") for line in logs}
    assert all(line["tenant_id"] == TENANT_ID for line in logs)
    assert "secret plan" not in json.dumps(logs)
    assert "Bonjour" not in json.dumps(logs)


def test_a_delivered_success_writes_nothing_to_the_function_log_at_info(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The usage record is the call's log: a second INFO event per call would repeat it.
    set_function_env(POWERTOOLS_SERVICE_NAME="bedrock-invoker-quiet", POWERTOOLS_LOG_LEVEL="INFO")
    result = cold_handler().lambda_handler(event(), lambda_context)

    assert result["output"] == "Bonjour !"
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")] == []


def test_missing_configuration_fails_the_cold_start_naming_the_variable(
    set_function_env: Callable[..., None], cold_handler: Handler
) -> None:
    set_function_env(OPS_ROLE_ARN=None)
    with pytest.raises(Exception, match="OPS_ROLE_ARN: Field required"):
        cold_handler()


def test_a_model_that_never_answers_gets_a_clean_timeout_before_lambda_kills_the_call(
    accounts: Accounts, converse_stub: ConverseStub, cold_handler: Handler
) -> None:
    # A 6 s budget: the watchdog writes at 5 s before the end, the call is given up
    # at 4 s before it; without the deadline the caller would wait for
    # botocore's 300 s read timeout and Lambda would kill the function first.
    never = threading.Event()
    converse_stub.hold_answers(never)
    deadline_s = 6.0
    started = time.monotonic()

    class Context(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return int((deadline_s - (time.monotonic() - started)) * 1000)

    context = Context()
    try:
        result = cold_handler().lambda_handler(event(), context)
        elapsed = time.monotonic() - started
    finally:
        never.set()  # let the abandoned call end

    assert result == {
        "error": {
            "type": "FunctionTimeout",
            "message": "Bedrock did not answer before the function's timeout",
        }
    }
    assert elapsed < deadline_s  # answered before Lambda's own timeout
    provisional, final = _provisional_and_final(accounts.usage_records())
    assert final["status"] == "error" and final["error_type"] == "FunctionTimeout"
    assert final["supersedes"] == "FunctionTimeout"
    assert final["invocation_id"] == provisional["invocation_id"] == context.aws_request_id
