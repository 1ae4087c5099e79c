"""The two usage sinks, and what the handler does during init and after a SnapStart restore.

The handler runs on moto with the tenant's credentials and the Converse emulator,
as in ``test_invoker_handler``. Lambda's own log delivery (stdout -> usage log
group) is the embedded runner's job and is tested there and end to end.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from bedrock_tenant_client.usage.writer import STDOUT_RECORD_LEVEL, StdoutUsageSink, UsageLogWriter

from contracts.usage_record import parse_record
from tests.support.invoker_testkit import (
    Accounts,
    ApiCalls,
    ConverseStub,
    FakeLambdaContext,
    event,
)

Handler = Callable[[], types.ModuleType]


def _record(**fields: Any) -> dict[str, Any]:
    base = {
        "event": "bedrock.invocation",
        "invocation_id": "inv-1",
        "status": "success",
        "user_id": "alice",
        "input_tokens": 12,
        "timestamp": "2025-01-31T12:00:00.000Z",
    }
    return {**base, **fields}


def _printed_records(out: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in out.splitlines()
        if line.startswith("{") and parse_record(line) is not None
    ]


# --- the stdout sink on its own ------------------------------------------------------------


def test_stdout_sink_prints_the_record_as_one_json_line_at_info_level() -> None:
    lines: list[str] = []
    sink = StdoutUsageSink(print_line=lines.append)

    assert sink.write(_record()) == "cloudwatch"

    [line] = lines
    assert "\n" not in line
    assert json.loads(line) == {**_record(), "level": STDOUT_RECORD_LEVEL}
    assert STDOUT_RECORD_LEVEL == "INFO"
    parsed = parse_record(line)
    assert parsed is not None and not parsed.is_fallback  # same schema, no false "fallback"


def test_stdout_fallback_of_a_record_already_printed_prints_nothing_more() -> None:
    lines: list[str] = []
    sink = StdoutUsageSink(print_line=lines.append)
    record = _record()

    sink.write(record, remaining_ms=lambda: 10)
    assert sink.fallback(record) == "cloudwatch"
    assert len(lines) == 1  # a second copy would land in the usage group and count twice

    provisional = _record(provisional=True, timestamp="2025-01-31T12:00:01.000Z")
    sink.fallback(provisional)
    sink.write(provisional, urgent=True)
    assert len(lines) == 2
    assert json.loads(lines[1])["provisional"] is True


def test_stdout_sink_cuts_a_record_to_the_size_limit() -> None:
    lines: list[str] = []
    sink = StdoutUsageSink(max_record_bytes=4096, print_line=lines.append)

    sink.write(_record(response="x" * 20_000))

    assert len(lines[0].encode()) <= 4096
    assert json.loads(lines[0])["level"] == "INFO"


def test_a_failing_stdout_never_fails_the_write() -> None:
    def broken(line: str) -> None:
        raise OSError("stdout closed")

    sink = StdoutUsageSink(print_line=broken)
    assert sink.write(_record()) == "cloudwatch"
    assert sink.fallback(_record()) == "cloudwatch"


# --- the handler with each sink ------------------------------------------------------------


def test_stdout_sink_answers_with_no_logs_call_and_prints_the_record(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    api_calls: ApiCalls,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_function_env(USAGE_SINK="stdout")
    handler = cold_handler()
    assert isinstance(handler._invoker._writer, StdoutUsageSink)  # no logs client built
    contexts = [FakeLambdaContext() for _ in range(3)]

    results = [handler.lambda_handler(event(), context) for context in contexts]

    assert all(r["output"] == "Bonjour !" for r in results)
    assert not [call for call in api_calls.calls if call.startswith("cloudwatch-logs:")]
    assert api_calls.calls["sts:AssumeRole"] == 1
    records = _printed_records(capsys.readouterr().out)
    assert [r["invocation_id"] for r in records] == [c.aws_request_id for c in contexts]
    assert all(r["level"] == "INFO" and "delivery" not in r for r in records)
    assert [r["request_id"] for r in records] == [r["request_id"] for r in results]
    assert accounts.usage_records() == []  # Lambda, not the function, puts them in the group


def test_api_sink_stays_the_default_and_puts_the_record_itself(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    lambda_context: FakeLambdaContext,
    api_calls: ApiCalls,
) -> None:
    handler = cold_handler()
    assert isinstance(handler._invoker._writer, UsageLogWriter)

    handler.lambda_handler(event(), lambda_context)

    assert api_calls.calls["cloudwatch-logs:PutLogEvents"] == 1
    [record] = accounts.usage_records()
    assert record["invocation_id"] == lambda_context.aws_request_id


# --- init and SnapStart --------------------------------------------------------------------


class RuntimeHooks:
    """``snapshot_restore_py`` as Lambda's managed runtime ships it, for one test."""

    def __init__(self) -> None:
        self.after_restore: list[Callable[[], Any]] = []
        self.module = types.ModuleType("snapshot_restore_py")
        self.module.register_after_restore = self._register  # type: ignore[attr-defined]

    def _register(self, func: Callable[[], Any]) -> Callable[[], Any]:
        self.after_restore.append(func)
        return func

    def restore(self) -> None:
        """What Lambda runs when it resumes an environment from the snapshot."""
        for func in self.after_restore:
            func()


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> RuntimeHooks:
    hooks = RuntimeHooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks.module)
    return hooks


@pytest.mark.parametrize("sink", ["api", "stdout"])
def test_init_builds_the_invoker_without_any_aws_call(
    set_function_env: Callable[..., None],
    accounts: Accounts,
    cold_handler: Handler,
    api_calls: ApiCalls,
    runtime_hooks: RuntimeHooks,
    sink: str,
) -> None:
    set_function_env(USAGE_SINK=sink)
    handler = cold_handler()

    # Built at import (what SnapStart snapshots): no STS credentials in it yet.
    assert handler._invoker is not None
    assert dict(api_calls.calls) == {}
    assert handler._invoker._ops_credentials._frozen_credentials is None
    assert len(runtime_hooks.after_restore) == 1


def test_after_restore_hook_drops_the_ops_credentials_and_the_next_call_assumes_anew(
    accounts: Accounts,
    converse_stub: ConverseStub,
    cold_handler: Handler,
    api_calls: ApiCalls,
    runtime_hooks: RuntimeHooks,
) -> None:
    handler = cold_handler()
    handler.lambda_handler(event(), FakeLambdaContext())
    handler.lambda_handler(event(), FakeLambdaContext())
    assert api_calls.calls["sts:AssumeRole"] == 1  # warm: reused

    runtime_hooks.restore()
    assert handler._invoker._ops_credentials._frozen_credentials is None
    result = handler.lambda_handler(event(), FakeLambdaContext())

    assert result["output"] == "Bonjour !"
    assert api_calls.calls["sts:AssumeRole"] == 2  # the cache was dropped too
    keys = [call.access_key_id for call in converse_stub.calls]
    assert keys[0] == keys[1] != keys[2]


def test_handler_loads_where_the_runtime_has_no_snapshot_hooks(
    monkeypatch: pytest.MonkeyPatch, accounts: Accounts, cold_handler: Handler
) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    handler = cold_handler()
    assert handler._register_after_restore is None
