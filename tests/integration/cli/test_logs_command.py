"""`tenantctl logs` against moto acting as acme's account (222222222222/us-east-1)."""

from __future__ import annotations

import json

import pytest

from tenantctl.cli.app import State
from tests.support.cli_fixtures import Cli, put_records
from tests.support.usage_samples import COMPLETED, PROVISIONAL, RECORDS, record


def test_logs_shows_recent_records_as_a_table(usage_records: None, cli: Cli) -> None:
    result = cli("logs", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 5  # r6 is 10 hours old
    assert any("carol:x" in r and "error: ThrottlingException" in r for r in rows)
    assert "5 records in /aws/bedrock/langchain/logs (222222222222/us-east-1)" in result.stdout


def test_logs_counts_one_record_in_the_singular(acme_account: None, cli: Cli) -> None:
    put_records([record(request_id="only")])

    result = cli("logs", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert "1 record in /aws/bedrock/langchain/logs (222222222222/us-east-1)" in result.stdout


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
        "run tenantctl deploy --tenant acme"
    )


@pytest.mark.parametrize("since", ["3x", "0h", "h", "-1d", "1.5h"])
def test_bad_duration_is_a_clear_error(acme_account: None, cli: Cli, since: str) -> None:
    result = cli("logs", "--tenant", "acme", "--since", since)

    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: --since: '{since}' is not a duration")
    assert "e.g. 15m, 1h, 7d" in result.stderr


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


def test_logs_shows_a_record_delivered_twice_as_stored_and_says_it_counts_once(
    acme_account: None, cli: Cli
) -> None:
    twice = record(user="alice", request_id="d1", invocation_id="inv-2")
    put_records([twice, twice])

    result = cli("logs", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert len([line for line in result.stdout.splitlines() if line.startswith("│")]) == 2
    assert result.stdout.splitlines()[-1] == (
        "1 of them is a copy of a record delivered twice: `tenantctl usage` counts each record once"
    )
