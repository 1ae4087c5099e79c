"""`tenantctl usage` against moto acting as acme's account (222222222222/us-east-1)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.pricing import price_table
from tests.support.cli_fixtures import (
    FUNCTION_LOG_GROUP,
    Cli,
    deploy_fake_function,
    put_fallback_records,
    put_records,
)
from tests.support.usage_samples import COMPLETED, PROVISIONAL, record

VERSION = price_table().version


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
        "price_table_versions": [VERSION],
        "price_sources": ["list:us-east-1"],  # acme's operations region has list prices
        "throttles": 1,  # r5's ThrottlingException; r6 is another error
        "latency_calls": 4,  # the n behind the percentiles
    }


def test_usage_by_application(usage_records: None, cli: Cli) -> None:
    groups = _usage_json(cli, "--by", "application")["groups"]

    assert groups == [
        {"application": "chat", "invocations": 3, "errors": 0, "input_tokens": 60,
         "output_tokens": 6, "total_tokens": 66, "cache_read_input_tokens": 5,
         "cache_write_input_tokens": 7, "latency_p50_ms": 200.0, "latency_p90_ms": 280.0,
         "latency_p99_ms": 298.0, "cost_usd": 2.55e-05, "estimated_cost_records": 3,
         "unpriced_records": 0, "price_table_versions": [VERSION],
         "price_sources": ["list:us-east-1"], "throttles": 0,
         "latency_calls": 3},
        {"application": "search", "invocations": 3, "errors": 2, "input_tokens": 40,
         "output_tokens": 4, "total_tokens": 44, "cache_read_input_tokens": 0,
         "cache_write_input_tokens": 0, "latency_p50_ms": 400.0, "latency_p90_ms": 400.0,
         "latency_p99_ms": 400.0, "cost_usd": 4.8e-05, "estimated_cost_records": 1,
         "unpriced_records": 0, "price_table_versions": [VERSION],
         "price_sources": ["list:us-east-1"], "throttles": 1,
         "latency_calls": 1},
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
    assert rows[0]["latency_p50_ms"] == "200"  # whole milliseconds


def test_usage_json_and_csv_write_whole_milliseconds_without_float_noise(
    acme_account: None, cli: Cli
) -> None:
    # p90 of 100.1, 100.2, 100.7 interpolates to 100.60000000000001.
    put_records([record(latency_ms=ms, request_id=f"r{ms}") for ms in (100.1, 100.2, 100.7)])

    as_json = cli("usage", "--tenant", "acme", "--format", "json")
    as_csv = cli("usage", "--tenant", "acme", "--format", "csv")

    assert as_json.exit_code == 0 and as_csv.exit_code == 0, as_json.output + as_csv.output
    assert '"latency_p90_ms": 101,' in as_json.stdout
    (row,) = csv.DictReader(io.StringIO(as_csv.stdout))
    assert (row["latency_p50_ms"], row["latency_p90_ms"], row["latency_p99_ms"]) == (
        "100",
        "101",
        "101",
    )


def test_usage_table_has_a_total_row(usage_records: None, cli: Cli) -> None:
    result = cli("usage", "--tenant", "acme", "--by", "user")

    assert result.exit_code == 0, result.output
    total = next(line for line in result.stdout.splitlines() if "TOTAL" in line)
    cells = [c.strip() for c in total.strip("│").split("│")]
    assert cells[:4] == ["TOTAL", "6", "2", "100"]


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
    usage_records: None, cli: Cli, unreadable_log_group: Callable[[str], None]
) -> None:
    put_fallback_records([record(user="erin", request_id="r8")])
    unreadable_log_group(FUNCTION_LOG_GROUP)

    result = cli("usage", "--tenant", "acme")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot read fallback records from {FUNCTION_LOG_GROUP}: access denied in "
        "account 222222222222 (StartQuery): not allowed (pass --no-fallback to count only the "
        "usage log group)"
    )
    assert _usage_json(cli, "--no-fallback")["total"]["invocations"] == 6  # type: ignore[index]


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--by", "region"),
            "error: --by: 'region' is not one of 'application', 'user', 'model', 'day'\n",
        ),
        (("--format", "xml"), "error: --format: 'xml' is not one of 'table', 'json', 'csv'\n"),
        (("--chart", "."), "error: --chart: file '.' is a directory\n"),
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


def test_choices_are_case_insensitive(usage_records: None, cli: Cli) -> None:
    assert _usage_json(cli, "--by", "USER") == _usage_json(cli, "--by", "user")
    result = cli("usage", "--tenant", "acme", "--format", "JSON")
    assert result.exit_code == 0 and json.loads(result.stdout)["total"]["invocations"] == 6


def test_local_is_gone_and_says_what_reaches_the_embedded_cloud_now(
    aws_env: None, cli: Cli
) -> None:
    result = cli("usage", "--tenant", "acme", "--local")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --local: removed; the embedded cloud is reached")
    assert 'eval "$(tenantctl local env)"' in result.stderr
    assert "--local" not in cli("usage", "--help").stdout


def test_a_profile_pattern_may_name_only_the_account_and_the_tenant(
    aws_env: None, cli: Cli
) -> None:
    result = cli("usage", "--tenant", "acme", "--tenant-profile", "tenant-{acount_id}")

    assert result.exit_code == 2
    assert result.stderr == (
        "error: --tenant-profile: 'tenant-{acount_id}' may name only {account_id}, {name}, "
        "{tenant} (got {acount_id})\n"
    )


# --- a record delivered twice (the stdout sink delivers at least once) ----------------------

TWICE = record(user="alice", request_id="d1", invocation_id="inv-2", input_tokens=1000,
               output_tokens=100, cost_usd=0.001, price_table_version="2026-11-15")  # fmt: skip


def test_usage_counts_a_record_delivered_twice_once(acme_account: None, cli: Cli) -> None:
    put_records([TWICE, TWICE, record(user="bob", request_id="d2", invocation_id="inv-3")])

    data = _usage_json(cli, "--by", "user")

    alice = data["groups"][0]  # type: ignore[index]
    assert (alice["user"], alice["invocations"], alice["input_tokens"]) == ("alice", 1, 1000)
    assert alice["cost_usd"] == 0.001
    assert data["total"]["invocations"] == 2  # type: ignore[index]


def test_usage_counts_an_async_retry_of_an_invocation_as_its_own_call(
    acme_account: None, cli: Cli
) -> None:
    # Lambda retries an asynchronous event under the same request id: the
    # retry called the model again, with its own Bedrock request id.
    retry = {**TWICE, "request_id": "d1-retry"}
    put_records([TWICE, retry])

    assert _usage_json(cli)["total"]["invocations"] == 2  # type: ignore[index]


def test_usage_counts_a_fallback_copy_of_a_delivered_record_once(
    acme_account: None, cli: Cli
) -> None:
    put_records([TWICE])
    put_fallback_records([TWICE])

    data = _usage_json(cli)

    assert data["total"]["invocations"] == 1  # type: ignore[index]
    assert data["fallback_records"] == 0
