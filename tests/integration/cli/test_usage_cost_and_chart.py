"""`tenantctl usage`: cost beside tokens, --by day, the 80-column table, --chart, and the stdout sink.

Against moto acting as acme's account (222222222222/us-east-1), like test_usage_command.
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from contracts.pricing import Pricing, price_table
from contracts.usage_record import parse_record
from tenantctl.chart import (
    PERCENTILE_MIN_CALLS,
    TOP_KEYS,
    chart_size_pixels,
    render_usage_chart,
    usage_figure,
    window_days,
)
from tenantctl.cli import app
from tenantctl.usage import GroupBy, summarize, summarize_daily
from tenantctl.usage_reader import user_filter_pattern
from tests.support.cli_fixtures import USAGE_LOG_GROUP, Cli, logs_client, put_records
from tests.support.usage_samples import record

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"  # $0.25 in / $1.25 out per million
HAIKU_35 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"  # $0.80 / $4.00, cache read $0.08
VERSION = price_table().version


def _json(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("usage", "--tenant", "acme", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _set_acme(registry: Path, **fields: Any) -> None:
    yaml = YAML()
    data = yaml.load(registry)
    data["tenants"][0].update(fields)
    yaml.dump(data, registry)


# --- cost ----------------------------------------------------------------------------------


def test_usage_counts_the_cost_each_record_carries_and_prices_the_rest_now(
    acme_account: None, cli: Cli
) -> None:
    put_records(
        [
            # Priced by the function (at an older table, say): that figure counts.
            record(user="alice", input_tokens=1000, output_tokens=1000, cost_usd=0.5,
                   price_table_version="2026-01-01", request_id="a"),
            # No cost in the record: 1000 x $0.25 + 1000 x $1.25 per million, now.
            record(user="bob", input_tokens=1000, output_tokens=1000, request_id="b"),
        ]
    )  # fmt: skip

    data = _json(cli, "--by", "user")

    alice, bob = data["groups"]
    assert (alice["cost_usd"], alice["estimated_cost_records"]) == (0.5, 0)
    assert (bob["cost_usd"], bob["estimated_cost_records"]) == (0.0015, 1)
    # $0.5015 to the cent, as the table's TOTAL row shows it ($0.50).
    assert data["total"]["cost_usd"] == 0.5
    assert data["total"]["price_table_versions"] == ["2026-01-01", VERSION]

    table = cli("usage", "--tenant", "acme", "--by", "user")
    assert table.exit_code == 0, table.output
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines()
            if line.startswith("│")}  # fmt: skip
    assert "$0.50" in rows["alice"] and "~" not in rows["alice"]
    assert "~$0.00150" in rows["bob"]
    assert "~$0.50" in rows["TOTAL"]  # part of the total is an estimate
    assert "cost as recorded by the function at price table 2026-01-01" in table.stdout
    assert (
        f"~ estimated: 1 record carried no cost and was priced now with price table {VERSION} "
        "(region us-east-1; registry overrides: none)"
    ) in table.stdout


def test_a_call_without_tokens_costs_nothing_without_an_estimate(
    acme_account: None, cli: Cli
) -> None:
    put_records([record(status="error", input_tokens=0, output_tokens=0,
                        model="mistral.unknown-model-v9:0", error_type="AccessDeniedException")])  # fmt: skip

    total = _json(cli)["total"]

    assert (total["cost_usd"], total["estimated_cost_records"], total["unpriced_records"]) == (
        0.0,
        0,
        0,
    )


def test_usage_prices_records_without_a_cost_with_the_registrys_overrides(
    acme_account: None, cli: Cli
) -> None:
    _set_acme(cli.registry, price_overrides={HAIKU: {"input": 0.1, "output": 0.5}})
    put_records([record(input_tokens=1_000_000, output_tokens=1_000_000)])

    total = _json(cli)["total"]

    assert total["cost_usd"] == pytest.approx(0.6)  # the negotiated price, not $1.50


def test_usage_names_the_models_it_could_not_price(acme_account: None, cli: Cli) -> None:
    put_records([record(model="mistral.unknown-model-v9:0"), record(request_id="r2")])

    result = cli("usage", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert (
        "1 record of models missing from the price table is not in the cost: "
        "mistral.unknown-model-v9:0"
    ) in " ".join(result.stdout.split())
    assert _json(cli)["total"]["unpriced_records"] == 1


def test_usage_by_day_groups_on_the_records_utc_day(acme_account: None, cli: Cli) -> None:
    put_records(
        [
            record(request_id="old", minutes_ago=3 * 24 * 60, input_tokens=7),
            record(request_id="new1", minutes_ago=1, input_tokens=1),
            record(request_id="new2", minutes_ago=1, input_tokens=2),
        ]
    )
    days = [datetime.now(UTC) - timedelta(minutes=m) for m in (3 * 24 * 60, 1)]

    groups = _json(cli, "--by", "day")["groups"]

    assert [(g["day"], g["input_tokens"]) for g in groups] == [
        (days[0].date().isoformat(), 7),
        (days[1].date().isoformat(), 3),
    ]


# --- the table at 80 columns ---------------------------------------------------------------

LONG_IDS = ("alice.longname@research.example.com", "bob-the-batch-summariser-service-account")


def test_usage_table_keeps_the_key_column_readable_at_80_columns(
    acme_account: None, cli: Cli
) -> None:
    put_records([record(user=user, request_id=user) for user in LONG_IDS])

    # The Cli fixture is 250 columns wide; this is a terminal's 80.
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["--registry", str(cli.registry), "usage", "--tenant", "acme", "--by", "user"]
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert max(len(line) for line in table) <= 80
    key_cells = [line.split("│")[1] for line in table if line.startswith("│")]
    # The key column is at least 16 characters wide and the ids fold, whole.
    assert all(len(cell) - 2 >= 16 for cell in key_cells)
    folded = "".join(cell.strip() for cell in key_cells)
    assert all(user in folded for user in LONG_IDS)
    assert "TOTAL" in folded
    header = next(line for line in table if line.startswith("┃"))
    assert all(title in header for title in ("calls", "errors", "input", "output", "cost"))
    assert "not shown at 80 columns: cache read, cache write, total" in result.stdout


def test_usage_table_shows_every_column_when_there_is_room(acme_account: None, cli: Cli) -> None:
    put_records([record(user=user, request_id=user) for user in LONG_IDS])

    result = cli("usage", "--tenant", "acme", "--by", "user")  # 250 columns

    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    for title in ("cache read", "cache write", "total", "p50 ms", "p90 ms", "p99 ms"):
        assert title in header
    assert "not shown" not in result.stdout


# --- the chart -----------------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert (length, chunk) == (13, b"IHDR")  # the first chunk of every PNG
    width, height = struct.unpack(">II", data[16:24])
    return width, height


CHART_RECORDS = [
    record(application="chat-app", minutes_ago=2 * 24 * 60, input_tokens=300, output_tokens=100,
           latency_ms=900, request_id="c1", cost_usd=0.0002, price_table_version=VERSION),
    record(application="chat-app", minutes_ago=5, input_tokens=100, output_tokens=50,
           latency_ms=1200, request_id="c2"),
    record(application="search-app", minutes_ago=5, input_tokens=40, output_tokens=10,
           latency_ms=400, request_id="s1", model=HAIKU_35),
    record(application="search-app", minutes_ago=5, status="error", input_tokens=0,
           output_tokens=0, latency_ms=3, request_id="s2", error_type="ThrottlingException"),
]  # fmt: skip


def test_usage_chart_writes_a_png_of_the_expected_size(
    acme_account: None, cli: Cli, tmp_path: Path
) -> None:
    put_records(CHART_RECORDS)
    path = tmp_path / "charts" / "acme.png"

    result = cli("usage", "--tenant", "acme", "--chart", str(path))

    assert result.exit_code == 0, result.output
    assert f"chart written to {path}" in result.stdout
    assert _png_size(path) == chart_size_pixels() == (1200, 1000)
    assert _json(cli, "--chart", str(path))["chart"] == str(path)


def test_usage_chart_refuses_a_name_that_is_not_a_png(acme_account: None, cli: Cli) -> None:
    result = cli("usage", "--tenant", "acme", "--chart", "out.jpg")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --chart: 'out.jpg' must end in .png")


def test_the_chart_draws_the_same_aggregation_as_the_table(tmp_path: Path) -> None:
    records = [r for r in map(parse_record, map(json.dumps, CHART_RECORDS)) if r is not None]
    pricing = Pricing(region="us-east-1")

    daily = summarize_daily(records, GroupBy.APPLICATION, pricing)

    assert list(daily.groups) == summarize(records, GroupBy.APPLICATION, pricing)
    assert daily.total == summarize(records, None, pricing)[0]
    assert daily.keys == ("chat-app", "search-app")
    assert len(daily.days) == 2
    older, today = daily.days
    assert daily.cells[(older, "chat-app")].cost_usd == 0.0002  # as recorded
    assert (older, "search-app") not in daily.cells
    assert daily.cells[(today, "search-app")].invocations == 2
    assert daily.cells[(today, "search-app")].cost_estimated
    path = render_usage_chart(daily, tmp_path / "c.png", title="acme")
    assert _png_size(path) == chart_size_pixels()


def test_a_chart_of_no_records_is_still_a_png(tmp_path: Path) -> None:
    daily = summarize_daily([], GroupBy.APPLICATION)
    assert _png_size(render_usage_chart(daily, tmp_path / "empty.png", title="x")) == (1200, 1000)


def _chart_of(records: list[dict[str, Any]], **kwargs: Any) -> Any:
    parsed = [r for r in map(parse_record, map(json.dumps, records)) if r is not None]
    daily = summarize_daily(parsed, GroupBy.APPLICATION, Pricing(region="us-east-1"),
                            keep=TOP_KEYS)  # fmt: skip
    return usage_figure(daily, title="acme", **kwargs)


def _texts(ax: Any) -> str:
    return " | ".join(t.get_text() for t in ax.texts)


def test_the_chart_names_each_groups_n_and_draws_no_percentile_too_few_calls_have() -> None:
    figure = _chart_of(CHART_RECORDS)
    tokens_ax, _, _, latency_ax = figure.axes[:4]

    legend = [t.get_text() for t in tokens_ax.get_legend().get_texts()]
    assert legend == ["chat-app (n=2 calls)", "search-app (n=2 calls)"]
    ticks = [t.get_text() for t in latency_ax.get_xticklabels()]
    assert ticks == ["chat-app\nn=2", "search-app\nn=1"]  # successful calls
    p50, p90, p99 = ([bar.get_height() for bar in c] for c in latency_ax.containers)
    # chat-app's 2 successful calls have a median (1050 ms) and nothing beyond it.
    assert p50[0] == 1050 and math.isnan(p90[0]) and math.isnan(p99[0])
    # search-app's one success has no percentile at all, and the chart says so.
    assert all(math.isnan(h[1]) for h in (p50, p90, p99))
    assert "too few calls\nfor percentiles" in _texts(latency_ax)
    assert "drawn p50 from 2, p90 from 10, p99 from 100 calls (fewer: not drawn)" in _texts(
        latency_ax
    )
    assert PERCENTILE_MIN_CALLS == {"p50": 2, "p90": 10, "p99": 100}


def test_the_chart_shows_errors_and_throttles_per_day() -> None:
    records = [*CHART_RECORDS,
               record(application="chat-app", status="error", input_tokens=0, output_tokens=0,
                      error_type="ValidationException", request_id="e1", minutes_ago=5)]  # fmt: skip

    calls_ax = _chart_of(records).axes[2]

    assert calls_ax.get_title() == "Calls per day: 5 calls, 2 errors (1 throttled)"
    successful, errors, throttled = ([bar.get_height() for bar in c] for c in calls_ax.containers)
    assert (successful[-1], errors[-1], throttled[-1]) == (2, 1, 1)  # today
    assert (successful[0], errors[0], throttled[0]) == (1, 0, 0)  # two days ago


def test_the_day_axes_span_the_whole_requested_window() -> None:
    end = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    records = [record(request_id="only", timestamp="2026-11-18T10:00:00+00:00")]

    figure = _chart_of(records, window=(end - timedelta(days=7), end))

    days = window_days(end - timedelta(days=7), end)
    assert (days[0], days[-1], len(days)) == ("2026-11-13", "2026-11-20", 8)
    for ax in figure.axes[:3]:  # tokens, cost, calls
        assert [t.get_text() for t in ax.get_xticklabels()] == days
        assert [bar.get_height() > 0 for bar in ax.containers[0]] == [
            day == "2026-11-18" for day in days
        ]


def test_the_chart_draws_the_top_keys_and_folds_the_rest_into_other() -> None:
    records = [record(application=f"app-{k:03d}", input_tokens=100 + k, request_id=f"r{k}",
                      invocation_id=f"i{k}") for k in range(300)]  # fmt: skip

    tokens_ax, _, _, latency_ax = _chart_of(records).axes[:4]

    legend = tokens_ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == TOP_KEYS + 1 == len(tokens_ax.containers)
    assert labels[0] == "app-299 (n=1 call)"  # the most tokens first
    assert labels[-1] == "other 290 applications (n=290 calls)"
    colours = [tuple(h.get_facecolor()) for h in legend.legend_handles]
    assert len(set(colours)) == len(colours)  # no colour repeats
    assert [t.get_text() for t in latency_ax.get_xticklabels()][-1] == "other\nn=290"


# --- records in Lambda's own streams (the stdout sink) -------------------------------------

STDOUT_STREAM = "2026/11/20/bedrock-invoker-acme[3]0123456789abcdef0123456789abcdef"


def put_lambda_stream(lines: list[str]) -> None:
    """What the stdout sink leaves in the usage log group: one stream, many users, Lambda's lines."""
    client = logs_client()
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_group(logGroupName=USAGE_LOG_GROUP)
    client.create_log_stream(logGroupName=USAGE_LOG_GROUP, logStreamName=STDOUT_STREAM)
    start = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp() * 1000)
    client.put_log_events(
        logGroupName=USAGE_LOG_GROUP,
        logStreamName=STDOUT_STREAM,
        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(lines)],
    )


STDOUT_LINES = [
    "START RequestId: 1f2e Version: 3",
    json.dumps({"timestamp": "2026-11-20T10:00:00Z", "level": "INFO", "message": "cold start"}),
    json.dumps(record(user="alice", request_id="a1", level="INFO")),
    json.dumps(record(user="bob", request_id="b1", level="INFO")),
    "END RequestId: 1f2e",
    "REPORT RequestId: 1f2e Duration: 812.3 ms Billed Duration: 813 ms",
    json.dumps(record(user="alice", request_id="a2", level="INFO")),
]


def test_logs_for_a_user_finds_their_records_in_lambdas_shared_streams(
    acme_account: None, cli: Cli
) -> None:
    put_lambda_stream(STDOUT_LINES)

    result = cli("logs", "--tenant", "acme", "--user", "alice", "--json")

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["request_id"] for line in result.stdout.splitlines()] == [
        "a1",
        "a2",
    ]


def test_usage_by_user_counts_records_of_lambdas_shared_streams(
    acme_account: None, cli: Cli
) -> None:
    put_lambda_stream(STDOUT_LINES)

    groups = _json(cli, "--by", "user")["groups"]

    assert [(g["user"], g["invocations"]) for g in groups] == [("alice", 2), ("bob", 1)]


@pytest.mark.parametrize(
    ("user", "pattern"),
    [
        ("alice", '{ $.user_id = "alice" }'),
        ("a.b+c@example.com", '{ $.user_id = "a.b+c@example.com" }'),
        ("carol:x", None),  # outside the characters a pattern can take as they are
        ('say "hi"', None),
        ("wild*", None),  # `*` is a wildcard in filter patterns
    ],
)
def test_user_filter_pattern_matches_the_user_id_field_or_reads_everything(
    user: str, pattern: str | None
) -> None:
    assert user_filter_pattern(user) == pattern
