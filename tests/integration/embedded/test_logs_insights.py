"""Logs Insights in the embedded cloud answers the product's queries as CloudWatch Logs does.

The CLI reads usage records with one Insights query on AWS and on the embedded
cloud alike, so the embedded engine must filter, sort, limit and window as
Insights does, and refuse, never ignore, what it does not run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from contracts.usage_record import encode, new_record
from embedded_aws import EmbeddedCloud
from tenantctl import usage_reader
from tenantctl.usage_reader import INSIGHTS_QUERY, filter_events, insights_messages, parse_records
from tests.integration.embedded.conftest import ACME, HAIKU, REGION

pytestmark = pytest.mark.xdist_group("embedded-logs-insights")

USAGE = "/aws/bedrock/langchain/logs"
FUNCTION = "/aws/lambda/bedrock-invoker-acme"
FUNCTION_STREAM = "2025/01/01/bedrock-invoker-acme[$LATEST]0123abcd"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
# Whole seconds ago, so that windows and expected timestamps are exact; CloudWatch
# Logs rejects events older than 14 days.
BASE_S = int(time.time()) - 3600


def _record(user: str, model: str, input_tokens: int, at_ms: int, **extra: Any) -> str:
    record = new_record(
        status=extra.pop("status", "success"),
        invocation_id=f"inv-{at_ms}",
        tenant_id="acme",
        application_id="chat",
        user_id=user,
        model_id=model,
        latency_ms=120,
        timestamp=datetime.fromtimestamp(at_ms / 1000, UTC),
    )
    record.update(input_tokens=input_tokens, request_id=f"req-{at_ms}", **extra)
    return encode(record)


def _at(seconds: float) -> int:
    """Epoch milliseconds ``seconds`` after BASE_S."""
    return BASE_S * 1000 + round(seconds * 1000)


# The usage log group: one stream per user, records 1 and 2 in the same second.
USAGE_EVENTS = [
    ("carol", _at(0.1), _record("carol", HAIKU, 120, _at(0.1))),
    ("dave", _at(1.5), _record("dave", SONNET, 40, _at(1.5))),
    ("carol", _at(1.9), _record("carol", SONNET, 900, _at(1.9))),
    ("dave", _at(3), _record("dave", HAIKU, 10, _at(3), status="error", error_type="Throttling")),
    ("carol", _at(5.999), _record("carol", HAIKU, 5, _at(5.999))),
]
PLATFORM_REPORT = {
    "type": "platform.report",
    "record": {
        "requestId": "r1",
        "metrics": {"durationMs": 12.5},
        "tracing": {"sampled": True},
        "spans": [{"name": "responseLatency", "durationMs": 3.25}],
    },
}
FALLBACK = _record("carol", HAIKU, 7, _at(2), delivery="fallback")
# The function's own group: Lambda's JSON lines, a fallback record, other JSON, text.
FUNCTION_EVENTS = [
    (_at(0.05), json.dumps({"type": "platform.start", "record": {"requestId": "r1"}})),
    (_at(2), FALLBACK),
    (_at(2.1), json.dumps({"event": "cache.miss", "user_id": "carol"})),
    (_at(2.2), "carol said hello in plain text"),
    (_at(4), json.dumps(PLATFORM_REPORT)),
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME], warm_lambdas=False) as embedded:
        logs = embedded.client("logs", ACME)
        logs.create_log_group(logGroupName=USAGE)
        for user in ("carol", "dave"):
            logs.create_log_stream(logGroupName=USAGE, logStreamName=user)
            logs.put_log_events(
                logGroupName=USAGE,
                logStreamName=user,
                logEvents=[
                    {"timestamp": ms, "message": message}
                    for who, ms, message in USAGE_EVENTS
                    if who == user
                ],
            )
        logs.create_log_group(logGroupName=FUNCTION)
        logs.create_log_stream(logGroupName=FUNCTION, logStreamName=FUNCTION_STREAM)
        logs.put_log_events(
            logGroupName=FUNCTION,
            logStreamName=FUNCTION_STREAM,
            logEvents=[{"timestamp": ms, "message": message} for ms, message in FUNCTION_EVENTS],
        )
        yield embedded


def run(
    cloud: EmbeddedCloud, query: str, *, start: int = 0, end: int = 10, **where: Any
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Each row as {field: value}, and the whole GetQueryResults answer."""
    logs = cloud.client("logs", ACME)
    where = where or {"logGroupNames": [USAGE]}
    query_id = logs.start_query(
        startTime=BASE_S + start, endTime=BASE_S + end, queryString=query, **where
    )["queryId"]
    answer = logs.get_query_results(queryId=query_id)
    rows = [{field["field"]: field["value"] for field in row} for row in answer["results"]]
    return rows, answer


def usage_message(index: int) -> str:
    return USAGE_EVENTS[index][2]


def insights_time(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{epoch_ms % 1000:03d}"


# -- the product's query -------------------------------------------------------------------


def test_the_products_query_returns_only_usage_records_oldest_first(cloud: EmbeddedCloud) -> None:
    rows, answer = run(cloud, INSIGHTS_QUERY, logGroupNames=[USAGE, FUNCTION])

    assert [row["@message"] for row in rows] == [
        usage_message(0),
        usage_message(1),
        usage_message(2),
        FALLBACK,
        usage_message(3),
        usage_message(4),
    ]
    assert answer["status"] == "Complete"
    assert all(set(row) == {"@timestamp", "@message", "@ptr"} for row in rows)
    assert rows[0]["@timestamp"] == insights_time(_at(0.1))
    assert len({row["@ptr"] for row in rows}) == len(rows)


def test_statistics_count_the_window_and_the_matches(cloud: EmbeddedCloud) -> None:
    _, answer = run(cloud, INSIGHTS_QUERY, logGroupNames=[USAGE, FUNCTION])

    statistics = answer["statistics"]
    assert (statistics["recordsScanned"], statistics["recordsMatched"]) == (10, 6)
    scanned = [message for _, _, message in USAGE_EVENTS] + [m for _, m in FUNCTION_EVENTS]
    assert statistics["bytesScanned"] == sum(len(m.encode()) for m in scanned)


def test_the_window_is_whole_seconds_with_both_ends_included(cloud: EmbeddedCloud) -> None:
    rows, _ = run(cloud, INSIGHTS_QUERY, start=1, end=3)
    assert [row["@message"] for row in rows] == [usage_message(i) for i in (1, 2, 3)]

    rows, _ = run(cloud, INSIGHTS_QUERY, start=5, end=5)  # the record at 5.999 s
    assert [row["@message"] for row in rows] == [usage_message(4)]


def test_limit_in_the_query_and_in_start_query_caps_the_rows(cloud: EmbeddedCloud) -> None:
    rows, answer = run(cloud, "fields @message | sort @timestamp asc | limit 2")
    assert [row["@message"] for row in rows] == [usage_message(0), usage_message(1)]
    assert answer["statistics"]["recordsMatched"] == 5

    rows, _ = run(cloud, "fields @message | sort @timestamp asc", logGroupNames=[USAGE], limit=3)
    assert [row["@message"] for row in rows] == [usage_message(i) for i in range(3)]


def test_without_sort_the_newest_come_first(cloud: EmbeddedCloud) -> None:
    rows, _ = run(cloud, "fields @timestamp")
    assert [row["@timestamp"] for row in rows] == [
        insights_time(ms) for _, ms, _ in reversed(USAGE_EVENTS)
    ]


# -- the language --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('user_id = "carol"', [0, 2, 4]),
        ('user_id != "carol"', [1, 3]),
        ("input_tokens > 100", [0, 2]),
        ("input_tokens < 40", [3, 4]),
        ("input_tokens <= 40", [1, 3, 4]),
        ("input_tokens >= 120", [0, 2]),
        ("input_tokens = 40", [1]),
        ('model_id like "sonnet"', [1, 2]),
        (r"model_id like /^anthropic\.claude-3-haiku/", [0, 3, 4]),
        ("model_id =~ /(?i)SONNET/", [1, 2]),
        ("user_id not like /^c/", [1, 3]),
        ('user_id in ["dave", "erin"]', [1, 3]),
        ('user_id not in ["dave"]', [0, 2, 4]),
        ('user_id = "carol" and input_tokens > 100', [0, 2]),
        ('user_id = "dave" or input_tokens < 10', [1, 3, 4]),
        ('not (user_id = "carol")', [1, 3]),
        ('status = "error" or (user_id = "carol" and not input_tokens > 100)', [3, 4]),
        ("ispresent(error_type)", [3]),
        ("not ispresent(error_type) and input_tokens < 100", [1, 4]),
    ],
)
def test_filter_selects_as_insights_does(
    cloud: EmbeddedCloud, condition: str, expected: list[int]
) -> None:
    rows, _ = run(cloud, f"fields @message | filter {condition} | sort @timestamp asc")
    assert [row["@message"] for row in rows] == [usage_message(i) for i in expected]


def test_several_filter_commands_all_apply(cloud: EmbeddedCloud) -> None:
    rows, _ = run(cloud, 'filter user_id = "carol" | filter input_tokens < 200 | fields @message')
    assert [row["@message"] for row in rows] == [usage_message(4), usage_message(0)]


def test_fields_discovered_in_json_by_dotted_path_and_the_system_fields(
    cloud: EmbeddedCloud,
) -> None:
    rows, _ = run(
        cloud,
        "fields type, record.metrics.durationMs, record.spans.0.name, record.tracing.sampled,"
        " user_id, @logStream, @log"
        " | filter ispresent(record.metrics.durationMs)",
        logGroupNames=[FUNCTION],
    )
    (row,) = rows
    ptr = row.pop("@ptr")
    assert ptr
    # user_id is not in the event, so not in the row; a JSON true shows as 1.
    assert row == {
        "type": "platform.report",
        "record.metrics.durationMs": "12.5",
        "record.spans.0.name": "responseLatency",
        "record.tracing.sampled": "1",
        "@logStream": FUNCTION_STREAM,
        "@log": f"{ACME}:{FUNCTION}",
    }


def test_sort_by_a_number_field_is_numeric(cloud: EmbeddedCloud) -> None:
    rows, _ = run(cloud, "fields input_tokens | sort input_tokens desc")
    assert [row["input_tokens"] for row in rows] == ["900", "120", "40", "10", "5"]


def test_stats_counts_by_field(cloud: EmbeddedCloud) -> None:
    rows, _ = run(cloud, "stats count(*) as calls by user_id | sort calls desc")
    assert rows == [{"user_id": "carol", "calls": "3"}, {"user_id": "dave", "calls": "2"}]


# -- log groups ----------------------------------------------------------------------------


def test_log_group_identifiers_take_names_and_arns(cloud: EmbeddedCloud) -> None:
    arn = f"arn:aws:logs:{REGION}:{ACME}:log-group:{USAGE}"
    by_name, _ = run(cloud, INSIGHTS_QUERY, logGroupNames=[USAGE, FUNCTION])
    by_identifier, _ = run(cloud, INSIGHTS_QUERY, logGroupIdentifiers=[arn, FUNCTION])
    assert by_identifier == by_name


@pytest.mark.parametrize("where", ["logGroupNames", "logGroupIdentifiers", "logGroupName"])
def test_a_missing_log_group_is_resource_not_found(cloud: EmbeddedCloud, where: str) -> None:
    missing = "/aws/lambda/bedrock-invoker-nobody"
    value: Any = missing if where == "logGroupName" else [USAGE, missing]
    with pytest.raises(ClientError) as refused:
        run(cloud, INSIGHTS_QUERY, **{where: value})
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing in refused.value.response["Error"]["Message"]


def test_an_unknown_query_id_is_resource_not_found(cloud: EmbeddedCloud) -> None:
    with pytest.raises(ClientError) as refused:
        cloud.client("logs", ACME).get_query_results(queryId="no-such-query")
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


# -- what is not run is refused ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("parse @message 'user=*' as user", "'parse'"),
        ("fields @message | display @message", "'display'"),
        ("fields @message | dedup user_id", "'dedup'"),
        ("stats avg(input_tokens) by user_id", "'avg'"),
        ("fields concat(user_id, model_id) as who", "'concat'"),
        ("fields input_tokens * 2", "'*'"),
        ("fields input_tokens as tokens", "'as'"),
        ("filter isblank(user_id)", "'isblank'"),
        ("filter input_tokens > output_tokens", "'output_tokens'"),
        ('stats count(*) by user_id | filter user_id = "carol"', "stats"),
        ("filter user_id =", "a value"),
        ("fields @message | limit 100001", "limit"),
    ],
)
def test_unsupported_syntax_is_refused_with_malformed_query(
    cloud: EmbeddedCloud, query: str, named: str
) -> None:
    with pytest.raises(ClientError) as refused:
        run(cloud, query)
    error = refused.value.response
    assert error["Error"]["Code"] == "MalformedQueryException"
    assert named in error["Error"]["Message"]
    assert error["queryCompileError"]["location"]["startCharOffset"] >= 0


# -- the reader's Insights path against FilterLogEvents ------------------------------------


def _filter_log_events_selection(cloud: EmbeddedCloud, groups: list[str]) -> list[str]:
    """The messages of the records FilterLogEvents and ``parse_records`` find in the window."""
    logs = cloud.client("logs", ACME)
    window = {"start_ms": BASE_S * 1000, "end_ms": (BASE_S + 10) * 1000 + 999}
    events = [event for group in groups for event in filter_events(logs, group, **window)]
    return sorted(event.message for event in events if parse_records([event.message]))


# A limit of 3 rows splits the window of both groups (6 records) down to single seconds.
@pytest.mark.parametrize("row_limit", [usage_reader.INSIGHTS_MAX_ROWS, 3])
@pytest.mark.parametrize("groups", [[USAGE], [FUNCTION], [USAGE, FUNCTION]])
def test_the_readers_insights_path_selects_what_filter_log_events_does(
    cloud: EmbeddedCloud, monkeypatch: pytest.MonkeyPatch, groups: list[str], row_limit: int
) -> None:
    monkeypatch.setattr(usage_reader, "INSIGHTS_MAX_ROWS", row_limit)
    read = insights_messages(
        cloud.client("logs", ACME),
        groups,
        start_s=BASE_S,
        end_s=BASE_S + 10,
        sleep=lambda _: None,
    )
    assert read
    assert sorted(read) == _filter_log_events_selection(cloud, groups)
