"""invoke, logs and usage against moto acting as acme's account (222222222222/us-east-1)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from tenantctl.cli import aws_commands
from tenantctl.cli.app import State
from tenantctl.cli.errors import CliError
from tests.unit.cli.conftest import (
    Cli,
    deploy_fake_function,
    put_records,
    queue_function_result,
    record,
)

ANSWER = {
    "output": "Hello from the embedded model",
    "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
    "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
    "latency_ms": 42,
    "request_id": "req-123",
}
INVOKE = ("invoke", "--tenant", "acme", "--prompt", "hi", "--user-id", "u1",
          "--application-id", "app-a")  # fmt: skip

# Six records of three users, two applications and two models; two errors.
RECORDS = [
    record(user="alice", application="chat", latency_ms=100, input_tokens=10, output_tokens=1,
           cache_read=5, request_id="r1"),
    record(user="alice", application="chat", latency_ms=200, input_tokens=20, output_tokens=2,
           request_id="r2"),
    record(user="bob", application="chat", latency_ms=300, input_tokens=30, output_tokens=3,
           cache_write=7, request_id="r3"),
    record(user="bob", application="search", latency_ms=400, input_tokens=40, output_tokens=4,
           model="us.anthropic.claude-3-5-haiku-20241022-v1:0", request_id="r4"),
    record(user="carol:x", application="search", status="error", latency_ms=3, input_tokens=0,
           output_tokens=0, error_type="ThrottlingException", request_id="r5"),
    record(user="carol:x", application="search", status="error", latency_ms=4, input_tokens=0,
           output_tokens=0, error_type="ValidationException", request_id="r6", minutes_ago=600),
]  # fmt: skip


@pytest.fixture
def usage_records(acme_account: None) -> None:
    put_records(RECORDS, extra_messages=[("alice", "not a usage record")])


# --- invoke --------------------------------------------------------------------------------


def test_invoke_prints_the_answer_and_usage(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result(ANSWER)

    result = cli(*INVOKE)

    assert result.exit_code == 0, result.output
    assert "Hello from the embedded model" in result.stdout
    assert "12 in / 7 out / 19 total tokens" in result.stdout
    assert "42 ms" in result.stdout and "req-123" in result.stdout


def test_invoke_json_prints_the_raw_result(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result(ANSWER)

    result = cli(*INVOKE, "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout) == ANSWER


def test_invoke_function_error_result_exits_1(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result({"error": {"type": "ValidationException", "message": "bad model"}})

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: ValidationException: bad model"


def test_invoke_throttled_gets_a_clear_message(acme_account: None, cli: Cli) -> None:
    deploy_fake_function()
    queue_function_result({"error": {"type": "ThrottlingException", "message": "Too many"}})

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert "error: Bedrock throttled the request for tenant acme" in result.stderr
    assert "retry with backoff or raise the quota" in result.stderr


def test_invoke_function_not_deployed(
    aws_env: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "222222222222")
    # moto's Docker-free Lambda answers for any name; its regular backend checks.
    with mock_aws():
        result = cli(*INVOKE)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: function bedrock-invoker-acme is not deployed in 222222222222/us-east-1: "
        "run npx cdk deploy BedrockCustomer-acme"
    )


def test_invoke_unknown_tenant(acme_account: None, cli: Cli) -> None:
    result = cli("invoke", "--tenant", "nope", "--prompt", "hi", "--user-id", "u",
                 "--application-id", "a")  # fmt: skip

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown tenant 'nope' (known: acme, globex)"


def test_invoke_model_not_allowed_for_the_tenant(acme_account: None, cli: Cli) -> None:
    result = cli(*INVOKE, "--model", "anthropic.claude-3-opus-20240229-v1:0")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --model: 'anthropic.claude-3-opus-20240229-v1:0' is not allowed for tenant acme"
    )


def test_invoke_without_credentials(
    aws_env: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: no AWS credentials for account 222222222222: pass --profile"
    )


def test_invoke_with_an_unknown_profile(aws_env: None, cli: Cli) -> None:
    result = cli(*INVOKE, "--profile", "nosuch")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --profile: no AWS profile named 'nosuch'"


def test_invoke_with_credentials_of_another_account(
    acme_account: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")

    result = cli(*INVOKE)

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the AWS credentials are for account 999999999999, not 222222222222: "
        "pass --profile for account 222222222222"
    )


# --- logs ----------------------------------------------------------------------------------


def test_logs_shows_recent_records_as_a_table(usage_records: None, cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 5  # r6 is 10 hours old
    assert any("carol:x" in r and "error: ThrottlingException" in r for r in rows)
    assert "5 records in /aws/bedrock/langchain/logs (222222222222/us-east-1)" in result.stdout


def test_logs_since_reaches_further_back(usage_records: None, cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme", "--since", "1d", "--json")

    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["request_id"] for r in lines) == ["r1", "r2", "r3", "r4", "r5", "r6"]


def test_logs_for_one_user_selects_their_records_by_user_id(usage_records: None, cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme", "--user", "carol:x", "--since", "1d", "--json")

    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["request_id"] for r in records] == ["r6", "r5"]  # oldest first
    assert records[1] == RECORDS[4]


def test_logs_for_a_user_without_records(usage_records: None, cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme", "--user", "nobody", "--json")

    assert result.exit_code == 0
    assert result.stdout == ""


def test_logs_follow_prints_new_records_once(
    usage_records: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = iter([False, True])

    def next_poll(_: float) -> None:
        if next(polls):
            raise KeyboardInterrupt  # the user presses Ctrl-C
        put_records([record(user="dave", request_id="r7", minutes_ago=0)])

    result = cli("logs", "--tenant", "acme", "--follow", "--json", state=State(sleep=next_poll))

    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["request_id"] for line in result.stdout.splitlines()]
    assert sorted(ids[:-1]) == ["r1", "r2", "r3", "r4", "r5"]
    assert ids[-1] == "r7"


def test_logs_when_the_log_group_does_not_exist(acme_account: None, cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: log group /aws/bedrock/langchain/logs does not exist in 222222222222/us-east-1: "
        "run npx cdk deploy BedrockCustomer-acme"
    )


@pytest.mark.parametrize("since", ["3x", "0h", "h", "-1d", "1.5h"])
def test_bad_duration_is_a_clear_error(acme_account: None, cli: Cli, since: str) -> None:
    result = cli("logs", "--tenant", "acme", "--since", since)

    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: --since: '{since}' is not a duration")
    assert "e.g. 15m, 1h, 7d" in result.stderr


# --- usage ---------------------------------------------------------------------------------


def _usage_json(cli: Cli, *args: str) -> dict[str, object]:
    result = cli("usage", "--tenant", "acme", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_usage_totals_over_the_default_week(usage_records: None, cli: Cli) -> None:
    data = _usage_json(cli)

    assert data["total"] == {
        "invocations": 6,
        "errors": 2,
        "input_tokens": 100,
        "output_tokens": 10,
        "total_tokens": 110,
        "cache_read_input_tokens": 5,
        "cache_write_input_tokens": 7,
        "latency_p50_ms": 250.0,  # successes only: 100, 200, 300, 400
        "latency_p90_ms": 370.0,
        "latency_p99_ms": 397.0,
        # None of the records carries a cost: the four with tokens are priced now
        # (us-east-1, claude-3-haiku $0.25/$1.25 and 3.5-haiku $0.80/$4.00 per million;
        # cache tokens at the input price for 3-haiku): 5 + 7.5 + 13 + 48 micro-dollars.
        # The two errors used no tokens: they cost nothing, no estimate needed.
        "cost_usd": 7.35e-05,
        "estimated_cost_records": 4,
        "unpriced_records": 0,
        "price_table_versions": ["2026-11-15"],
    }


def test_usage_by_application(usage_records: None, cli: Cli) -> None:
    groups = _usage_json(cli, "--by", "application")["groups"]

    assert groups == [
        {"application": "chat", "invocations": 3, "errors": 0, "input_tokens": 60,
         "output_tokens": 6, "total_tokens": 66, "cache_read_input_tokens": 5,
         "cache_write_input_tokens": 7, "latency_p50_ms": 200.0, "latency_p90_ms": 280.0,
         "latency_p99_ms": 298.0, "cost_usd": 2.55e-05, "estimated_cost_records": 3,
         "unpriced_records": 0, "price_table_versions": ["2026-11-15"]},
        {"application": "search", "invocations": 3, "errors": 2, "input_tokens": 40,
         "output_tokens": 4, "total_tokens": 44, "cache_read_input_tokens": 0,
         "cache_write_input_tokens": 0, "latency_p50_ms": 400.0, "latency_p90_ms": 400.0,
         "latency_p99_ms": 400.0, "cost_usd": 4.8e-05, "estimated_cost_records": 1,
         "unpriced_records": 0, "price_table_versions": ["2026-11-15"]},
    ]  # fmt: skip


def test_usage_by_user_in_the_last_hour(usage_records: None, cli: Cli) -> None:
    groups = _usage_json(cli, "--by", "user", "--since", "1h")["groups"]

    assert [(g["user"], g["invocations"], g["errors"]) for g in groups] == [  # type: ignore[index]
        ("alice", 2, 0),
        ("bob", 2, 0),
        ("carol:x", 1, 1),
    ]


def test_usage_by_model_as_csv(usage_records: None, cli: Cli) -> None:
    result = cli("usage", "--tenant", "acme", "--by", "model", "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["model"], r["invocations"], r["input_tokens"]) for r in rows] == [
        ("anthropic.claude-3-haiku-20240307-v1:0", "5", "60"),
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "1", "40"),
    ]
    assert rows[0]["latency_p50_ms"] == "200.0"


def test_usage_table_has_a_total_row(usage_records: None, cli: Cli) -> None:
    result = cli("usage", "--tenant", "acme", "--by", "user")

    assert result.exit_code == 0, result.output
    total = next(line for line in result.stdout.splitlines() if "TOTAL" in line)
    cells = [c.strip() for c in total.strip("│").split("│")]
    assert cells[:4] == ["TOTAL", "6", "2", "100"]


FUNCTION_LOG_GROUP = "/aws/lambda/bedrock-invoker-acme"


def put_fallback_records(records: list[dict[str, object]]) -> None:
    """Records the function printed to its own log group, among its other lines."""
    put_records(
        [{**r, "delivery": "fallback"} for r in records],
        log_group=FUNCTION_LOG_GROUP,
        extra_messages=[("2025/01/01/[$LATEST]abc", "START RequestId: 1 Version: $LATEST")],
    )


def test_usage_counts_fallback_records_by_default_and_once_when_also_delivered(
    usage_records: None, cli: Cli
) -> None:
    deploy_fake_function()
    put_fallback_records(
        [
            record(user="alice", request_id="r1"),  # also delivered: counted once
            record(user="erin", request_id="r8", input_tokens=1000),
        ]
    )

    data = _usage_json(cli)

    assert data["total"]["invocations"] == 7  # type: ignore[index]
    assert data["total"]["input_tokens"] == 1100  # type: ignore[index]
    assert data["fallback_records"] == 1
    # The old opt-in flag still works (it is the default now).
    assert _usage_json(cli, "--include-fallback") == data


def test_usage_no_fallback_counts_only_the_usage_log_group(usage_records: None, cli: Cli) -> None:
    deploy_fake_function()
    put_fallback_records([record(user="erin", request_id="r8", input_tokens=1000)])

    data = _usage_json(cli, "--no-fallback")

    assert data["total"]["invocations"] == 6  # type: ignore[index]
    assert data["total"]["input_tokens"] == 100  # type: ignore[index]
    assert data["fallback_records"] is None


def test_usage_table_footer_says_how_many_fallback_records_were_included(
    usage_records: None, cli: Cli
) -> None:
    deploy_fake_function()
    put_fallback_records(
        [record(user="erin", request_id="r8"), record(user="erin", request_id="r9")]
    )

    result = cli("usage", "--tenant", "acme")
    without = cli("usage", "--tenant", "acme", "--no-fallback")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"2 fallback records included (from {FUNCTION_LOG_GROUP}; printed there when the usage "
        "log group could not be written)"
    )
    assert without.exit_code == 0, without.output
    assert without.stdout.splitlines()[-1] == "fallback records not counted (--no-fallback)"


def test_usage_csv_keeps_the_footer_out_of_the_table(usage_records: None, cli: Cli) -> None:
    result = cli("usage", "--tenant", "acme", "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["invocations"] for r in rows] == ["6"]
    assert [r["cost_usd"] for r in rows] == ["7.35e-05"]
    assert result.stderr.startswith("~ estimated: 4 records carried no cost")
    assert "0 fallback records included" in result.stderr


def test_usage_without_function_or_function_log_group_counts_no_fallback_records(
    usage_records: None, cli: Cli
) -> None:
    # Neither the function nor its log group exists (the function never ran):
    # nothing can have fallen back.
    assert _usage_json(cli)["fallback_records"] == 0


def test_usage_finds_the_function_log_group_of_a_deleted_function(
    usage_records: None, cli: Cli
) -> None:
    # The customer stack retains the function's log group when the function goes.
    put_fallback_records([record(user="erin", request_id="r8")])

    assert _usage_json(cli)["fallback_records"] == 1


def test_usage_refuses_to_undercount_when_the_function_log_group_cannot_be_read(
    usage_records: None, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_records = aws_commands._read_records

    def denied(target: Any, tenant: Any, log_group: str, *args: Any) -> Any:
        if log_group == FUNCTION_LOG_GROUP:
            raise CliError("access denied in account 222222222222 (StartQuery): no")
        return read_records(target, tenant, log_group, *args)

    monkeypatch.setattr(aws_commands, "_read_records", denied)

    result = cli("usage", "--tenant", "acme")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot read fallback records from {FUNCTION_LOG_GROUP}: access denied in "
        "account 222222222222 (StartQuery): no (pass --no-fallback to count only the usage "
        "log group)"
    )
    assert _usage_json(cli, "--no-fallback")["total"]["invocations"] == 6  # type: ignore[index]


# A call that outlived the function's timeout margin: the provisional record,
# then the record of the completed call (same invocation id).
PROVISIONAL = record(
    user="dave",
    status="error",
    error_type="FunctionTimeout",
    input_tokens=0,
    output_tokens=0,
    latency_ms=0,
    request_id=None,
    provisional=True,
    invocation_id="inv-1",
    minutes_ago=3,
)
COMPLETED = record(
    user="dave",
    input_tokens=50,
    output_tokens=5,
    latency_ms=900,
    request_id="r10",
    supersedes="FunctionTimeout",
    invocation_id="inv-1",
    minutes_ago=2,
)


def test_usage_counts_a_superseded_provisional_record_once(usage_records: None, cli: Cli) -> None:
    put_records([PROVISIONAL, COMPLETED])

    total = _usage_json(cli)["total"]

    assert total["invocations"] == 7  # type: ignore[index]
    assert total["errors"] == 2  # type: ignore[index]  # RECORDS' two, not the timeout
    assert total["input_tokens"] == 150  # type: ignore[index]


def test_usage_counts_a_provisional_record_superseded_by_a_fallback_record(
    usage_records: None, cli: Cli
) -> None:
    # The provisional record reached the usage log group; the completed one could not.
    deploy_fake_function()
    put_records([PROVISIONAL])
    put_fallback_records([COMPLETED])

    data = _usage_json(cli, "--by", "user")
    dave = next(g for g in data["groups"] if g["user"] == "dave")  # type: ignore[attr-defined]

    assert (dave["invocations"], dave["errors"], dave["input_tokens"]) == (1, 0, 50)
    assert data["fallback_records"] == 1


def test_usage_counts_a_provisional_record_alone_as_a_timeout(
    usage_records: None, cli: Cli
) -> None:
    put_records([PROVISIONAL])  # the function was killed: nothing followed

    groups = _usage_json(cli, "--by", "user")["groups"]
    dave = next(g for g in groups if g["user"] == "dave")  # type: ignore[attr-defined]

    assert (dave["invocations"], dave["errors"]) == (1, 1)


def test_logs_shows_both_records_of_a_superseded_invocation_marked(
    usage_records: None, cli: Cli
) -> None:
    put_records([PROVISIONAL, COMPLETED])

    result = cli("logs", "--tenant", "acme", "--user", "dave")
    raw = cli("logs", "--tenant", "acme", "--user", "dave", "--json")

    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 2
    assert "error: FunctionTimeout (provisional)" in rows[0]
    assert "success (supersedes FunctionTimeout)" in rows[1]
    assert result.stdout.splitlines()[-1] == (
        "1 of them provisional and superseded by a later record of the same invocation: "
        "`tenantctl usage` counts that invocation once"
    )
    # --json prints the records exactly as stored.
    assert [json.loads(line) for line in raw.stdout.splitlines()] == [PROVISIONAL, COMPLETED]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--by", "region"), "error: --by: 'region' is not one of application, user, model"),
        (("--format", "xml"), "error: --format: 'xml' is not one of table, json, csv"),
        (("--since", "soon"), "error: --since: 'soon' is not a duration"),
    ],
)
def test_usage_bad_arguments(
    acme_account: None, cli: Cli, registry_path: Path, args: tuple[str, ...], message: str
) -> None:
    before = registry_path.read_bytes()

    result = cli("usage", "--tenant", "acme", *args)

    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert registry_path.read_bytes() == before


def test_local_and_profile_are_exclusive(aws_env: None, cli: Cli) -> None:
    result = cli("usage", "--tenant", "acme", "--local", "--profile", "p")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --profile: not used with --local")
