"""The one aggregation both log readers feed, which records count, and the readers' edge cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.usage_record import parse_record
from tenantctl.usage import (
    OTHER_KEY,
    GroupBy,
    counted,
    percentile,
    round_usd,
    summarize,
    summarize_daily,
)
from tenantctl.usage_reader import (
    INSIGHTS_MAX_ROWS,
    InsightsQueryError,
    drop_copies,
    insights_messages,
    merge_fallback,
    parse_records,
    records_to_count,
    settle_provisional,
)
from tests.support.usage_samples import record


def _parsed(**kwargs: Any) -> Any:
    parsed = parse_record(json.dumps(record(**kwargs)))
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([10, 20, 30, 40], 50, 25.0),
        ([10, 20, 30, 40], 90, 37.0),
        ([10, 20, 30, 40], 0, 10.0),
        ([10, 20, 30, 40], 100, 40.0),
        ([40, 10, 30, 20], 50, 25.0),  # order does not matter
        (list(range(1, 101)), 90, 90.1),
        ([7], 90, 7.0),
        ([], 50, None),
    ],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    result = percentile(values, q)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_summary_counts_errors_sums_tokens_and_takes_latency_of_successes_only() -> None:
    records = [
        _parsed(latency_ms=100, input_tokens=10, output_tokens=1, cache_read=3, cache_write=2),
        _parsed(latency_ms=200, input_tokens=20, output_tokens=2),
        _parsed(latency_ms=300, input_tokens=30, output_tokens=3),
        _parsed(latency_ms=400, input_tokens=40, output_tokens=4, cache_read=1),
        _parsed(status="error", latency_ms=5, input_tokens=0, output_tokens=0),
    ]

    (total,) = summarize(records)

    assert total.key is None
    assert (total.invocations, total.errors) == (5, 1)
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (100, 10, 110)
    assert (total.cache_read_input_tokens, total.cache_write_input_tokens) == (4, 2)
    assert total.latency_p50_ms == pytest.approx(250.0)
    assert total.latency_p90_ms == pytest.approx(370.0)


@pytest.mark.parametrize(
    ("by", "keys"),
    [
        (GroupBy.APPLICATION, ["app-a", "app-b"]),
        (GroupBy.USER, ["u1", "u2", "u3"]),
        (GroupBy.MODEL, ["m1", "m2"]),
    ],
)
def test_summary_groups_sorted_by_key(by: GroupBy, keys: list[str]) -> None:
    records = [
        _parsed(application="app-b", user="u3", model="m2", input_tokens=1),
        _parsed(application="app-a", user="u1", model="m1", input_tokens=2),
        _parsed(application="app-a", user="u2", model="m1", input_tokens=4),
    ]

    groups = summarize(records, by)

    assert [g.key for g in groups] == keys
    assert sum(g.invocations for g in groups) == 3
    assert sum(g.input_tokens for g in groups) == 7


def test_output_rounds_cost_and_latency_as_the_table_shows_them_but_sums_stay_exact() -> None:
    records = [
        _parsed(latency_ms=100.1, cost_usd=0.5, request_id="a"),
        _parsed(latency_ms=100.2, cost_usd=0.0015, request_id="b"),
        _parsed(latency_ms=100.7, cost_usd=0.0, request_id="c"),
    ]

    (total,) = summarize(records)
    written = total.as_dict()

    # The aggregation's arithmetic is untouched: interpolation noise and all.
    assert total.latency_p90_ms == pytest.approx(100.6)
    assert total.latency_p90_ms != 100.6
    assert total.cost_usd == 0.5015
    # What JSON and CSV write: whole milliseconds and the table's dollars ($0.50).
    assert (written["latency_p50_ms"], written["latency_p90_ms"], written["latency_p99_ms"]) == (
        100,
        101,
        101,
    )
    assert written["cost_usd"] == 0.5
    assert json.dumps(written["latency_p90_ms"]) == "101"


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        (14.500000000000004, 14.5),
        (0.30000000000000004, 0.3),
        (1.2345, 1.23),  # cents from a cent up, as format_usd shows $1.23
        (7.35e-05, 7.35e-05),  # three significant digits below a cent
        (0.00012345, 0.000123),
        (0.0, 0.0),
    ],
)
def test_round_usd_keeps_the_tables_precision(usd: float, shown: float) -> None:
    assert round_usd(usd) == shown


@pytest.mark.parametrize(
    ("count", "noun", "plural", "text"),
    [
        (0, "record", None, "0 records"),
        (1, "record", None, "1 record"),
        (2, "record", None, "2 records"),
        (1, "fallback record", None, "1 fallback record"),
        (1_500, "call", None, "1,500 calls"),
        (1, "copy", "copies", "1 copy"),
        (3, "copy", "copies", "3 copies"),
    ],
)
def test_counted_puts_the_noun_in_the_right_number(
    count: int, noun: str, plural: str | None, text: str
) -> None:
    assert counted(count, noun, plural) == text


def test_throttles_are_the_errors_bedrock_refused_for_quota() -> None:
    records = [
        _parsed(status="error", error_type="ThrottlingException", request_id="t1"),
        _parsed(status="error", error_type="ServiceQuotaExceededException", request_id="t2"),
        _parsed(status="error", error_type="ValidationException", request_id="v"),
        _parsed(request_id="ok", latency_ms=120),
    ]

    (total,) = summarize(records)

    assert (total.invocations, total.errors, total.throttles) == (4, 3, 2)
    assert total.latency_calls == 1  # the n behind the percentiles: successes only


def test_daily_usage_keeps_the_top_keys_by_tokens_and_folds_the_rest_into_other() -> None:
    # app-00 has the fewest tokens, app-24 the most.
    records = [
        _parsed(application=f"app-{k:02d}", input_tokens=100 + k, latency_ms=10 * (k + i),
                request_id=f"r{k}-{i}", invocation_id=f"i{k}-{i}")
        for k in range(25)
        for i in range(3)
    ]  # fmt: skip

    daily = summarize_daily(records, GroupBy.APPLICATION, keep=10)

    assert daily.keys == (*[f"app-{k:02d}" for k in range(24, 14, -1)], OTHER_KEY)
    assert daily.folded_keys == tuple(f"app-{k:02d}" for k in range(15))
    other = daily.groups[-1]
    folded = [r for r in records if r.application_id in daily.folded_keys]
    # "other" is summarized from its own calls, so its percentiles are theirs.
    (expected,) = summarize(folded)
    assert (other.invocations, other.input_tokens, other.latency_p90_ms) == (
        45,
        expected.input_tokens,
        expected.latency_p90_ms,
    )
    assert sum(g.invocations for g in daily.groups) == daily.total.invocations == 75
    assert sum(c.input_tokens for c in daily.cells.values()) == daily.total.input_tokens


def test_daily_usage_with_no_more_keys_than_kept_is_the_tables_grouping() -> None:
    records = [_parsed(application=app, request_id=app) for app in ("b", "a", "c")]

    daily = summarize_daily(records, GroupBy.APPLICATION, keep=3)

    assert daily.keys == ("a", "b", "c")
    assert daily.folded_keys == ()
    assert list(daily.groups) == summarize(records, GroupBy.APPLICATION)


def test_summary_of_nothing() -> None:
    (total,) = summarize([])
    assert total.invocations == 0
    assert total.latency_p50_ms is None
    assert summarize([], GroupBy.USER) == []


def test_parse_record_skips_other_events_and_garbage() -> None:
    messages = [
        json.dumps(record(request_id="a")),
        "START RequestId: 123 Version: $LATEST",
        json.dumps({"event": "something.else"}),
        json.dumps(["not", "a", "record"]),
        json.dumps({"event": "bedrock.invocation"}),  # no status: unusable
    ]
    assert [r.request_id for r in parse_records(messages)] == ["a"]


def test_parse_record_tolerates_null_tokens_and_content_turns() -> None:
    data = record(status="error", error_type="ValidationException")
    data.update(input_tokens=None, output_tokens=None, total_tokens=None)
    data["prompt"] = [{"role": "user", "content": "hi"}]
    parsed = parse_record(json.dumps(data))
    assert parsed is not None
    assert (parsed.input_tokens, parsed.is_error, parsed.error_type) == (
        0,
        True,
        "ValidationException",
    )


def test_merge_fallback_adds_only_records_missing_from_the_usage_log_group() -> None:
    primary = [_parsed(request_id="a"), _parsed(request_id="b")]
    fallback = [
        _parsed(request_id="b", delivery="fallback"),  # also stored: counted once
        _parsed(request_id="c", delivery="fallback"),
        _parsed(request_id="d"),  # not a fallback record: ignored
    ]
    merged = merge_fallback(primary, fallback)
    assert [r.request_id for r in merged] == ["a", "b", "c"]
    assert merged[-1].is_fallback


def test_merge_fallback_matches_records_without_a_bedrock_request_id_by_invocation() -> None:
    timeout = record(status="error", error_type="FunctionTimeout", request_id=None,
                     provisional=True, invocation_id="i1")  # fmt: skip
    primary = [parse_record(json.dumps(timeout)), _parsed(request_id="a", invocation_id="i0")]
    fallback = [
        # The same provisional record, also printed: counted once.
        parse_record(json.dumps({**timeout, "delivery": "fallback"})),
        # The completed call of that invocation: a different record.
        _parsed(request_id="b", invocation_id="i1", supersedes="FunctionTimeout",
                delivery="fallback"),
        # An error of another invocation without a request id.
        _parsed(status="error", request_id=None, invocation_id="i2", delivery="fallback"),
        # An old record with neither id cannot be matched: counted.
        _parsed(status="error", request_id=None, delivery="fallback"),
    ]  # fmt: skip

    merged = merge_fallback([r for r in primary if r], [r for r in fallback if r])

    assert [(r.invocation_id, r.request_id, r.is_fallback) for r in merged] == [
        ("i1", None, False),
        ("i0", "a", False),
        ("i1", "b", True),
        ("i2", None, True),
        (None, None, True),
    ]


def _invocation(invocation_id: str | None, *, provisional: bool = False, **kwargs: Any) -> Any:
    if provisional:
        kwargs = {"status": "error", "error_type": "FunctionTimeout", "input_tokens": 0,
                  "output_tokens": 0, "request_id": None, **kwargs}  # fmt: skip
    return _parsed(invocation_id=invocation_id, provisional=provisional, **kwargs)


def test_a_provisional_record_is_dropped_when_its_invocation_completed() -> None:
    provisional = _invocation("i1", provisional=True)
    completed = _invocation("i1", supersedes="FunctionTimeout", input_tokens=50)
    other = _invocation("i2", input_tokens=7)

    assert settle_provisional([provisional, other, completed]) == [other, completed]
    # Position does not matter: readers do not return records in writing order.
    assert settle_provisional([completed, provisional]) == [completed]

    (total,) = summarize([provisional, other, completed])
    assert (total.invocations, total.errors, total.input_tokens) == (2, 0, 57)


def test_a_provisional_record_alone_counts_as_a_timeout_error() -> None:
    provisional = _invocation("i1", provisional=True)

    assert settle_provisional([provisional]) == [provisional]
    (total,) = summarize([provisional, _invocation("i2")])
    assert (total.invocations, total.errors) == (2, 1)


def test_copies_of_one_provisional_record_count_once() -> None:
    first = _invocation("i1", provisional=True)
    copy = _invocation("i1", provisional=True, delivery="fallback")

    assert settle_provisional([first, copy]) == [copy]


def test_records_without_invocation_id_and_completed_records_are_all_counted() -> None:
    # Older records carry no invocation id; two completed records of one
    # invocation (Lambda retries an async event under the same request id)
    # are two model calls.
    old = [_parsed(request_id="a"), _parsed(request_id="a"), _parsed(provisional=True)]
    retried = [_invocation("i1", request_id="b"), _invocation("i1", request_id="c")]

    assert settle_provisional(old + retried) == old + retried
    assert summarize(old + retried)[0].invocations == 5


def test_a_line_delivered_twice_counts_once_in_the_table_and_the_chart() -> None:
    # The stdout sink is delivered at least once: the same line, stored twice.
    line = json.dumps(record(invocation_id="i1", request_id="a", input_tokens=100, cost_usd=0.5))
    first, copy = parse_records([line, line])

    assert drop_copies([first, copy]) == [first]
    (total,) = summarize([first, copy])
    assert (total.invocations, total.input_tokens, total.cost_usd) == (1, 100, 0.5)
    daily = summarize_daily([first, copy])
    assert daily.total == total
    assert sum(cell.invocations for cell in daily.cells.values()) == 1


def test_a_copy_of_a_completed_record_and_its_provisional_record_count_once() -> None:
    provisional = _invocation("i1", provisional=True)
    completed = _invocation("i1", supersedes="FunctionTimeout", request_id="b")

    assert records_to_count([provisional, completed, completed, provisional]) == [completed]


def test_superseded_records_are_dropped_before_grouping() -> None:
    # Even if the two records disagreed on a key, the invocation counts once.
    records = [
        _invocation("i1", provisional=True, model="m1"),
        _invocation("i1", model="m2", supersedes="FunctionTimeout"),
    ]

    assert [(g.key, g.invocations) for g in summarize(records, GroupBy.MODEL)] == [("m2", 1)]


def test_parse_record_reads_the_invocation_fields_and_tolerates_a_null_flag() -> None:
    parsed = _parsed(invocation_id="i1", provisional=None, supersedes="FunctionTimeout")
    assert (parsed.invocation_id, parsed.provisional, parsed.supersedes) == (
        "i1",
        False,
        "FunctionTimeout",
    )
    old = _parsed()
    assert (old.invocation_id, old.provisional, old.supersedes) == (None, False, None)


class FakeInsights:
    """A Logs Insights stand-in holding (second, ptr, message) rows."""

    def __init__(self, rows: list[tuple[int, str, str]], polls_before_done: int = 1) -> None:
        self.rows = rows
        self.polls_before_done = polls_before_done
        self.queries: dict[str, tuple[int, int, int]] = {}

    def start_query(self, **kwargs: Any) -> dict[str, str]:
        query_id = f"q{len(self.queries)}"
        self.queries[query_id] = (kwargs["startTime"], kwargs["endTime"], 0)
        return {"queryId": query_id}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        start, end, polls = self.queries[queryId]
        self.queries[queryId] = (start, end, polls + 1)
        if polls < self.polls_before_done:
            return {"status": "Running", "results": []}
        hits = [r for r in self.rows if start <= r[0] <= end][:INSIGHTS_MAX_ROWS]
        return {
            "status": "Complete",
            "results": [
                [{"field": "@message", "value": m}, {"field": "@ptr", "value": p}]
                for _, p, m in hits
            ],
        }

    def stop_query(self, queryId: str) -> None:
        pass


def test_insights_reader_polls_until_complete() -> None:
    client = FakeInsights([(5, "p1", "one"), (6, "p2", "two")], polls_before_done=3)
    naps: list[float] = []

    messages = insights_messages(client, ["g"], start_s=0, end_s=10, sleep=naps.append)

    assert sorted(messages) == ["one", "two"]
    assert len(naps) == 3


def test_insights_reader_splits_windows_that_hit_the_row_limit() -> None:
    rows = [(i % 100, f"p{i}", f"m{i}") for i in range(INSIGHTS_MAX_ROWS + 500)]
    client = FakeInsights(rows, polls_before_done=0)

    messages = insights_messages(client, ["g"], start_s=0, end_s=99, sleep=lambda _: None)

    assert len(messages) == INSIGHTS_MAX_ROWS + 500
    assert len(client.queries) > 1


def test_insights_reader_reports_a_failed_query() -> None:
    class Failing(FakeInsights):
        def get_query_results(self, queryId: str) -> dict[str, Any]:
            return {"status": "Failed"}

    with pytest.raises(InsightsQueryError, match="status Failed"):
        insights_messages(Failing([]), ["g"], start_s=0, end_s=1, sleep=lambda _: None)
