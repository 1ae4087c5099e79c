"""``make bench``'s client library rows: what the bench process calls is the library's real
path (one record per call, in the tenant's account), its raw side asks Bedrock the same
question, and a ratio over its target reads as not met."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import (
    CLIENT_TTFT_TARGET,
    CLIENT_WARM_TARGET,
    client_overhead,
    client_rows,
    rows,
)
from bench.world import LOG_GROUP, OPS, REGION, TENANT, TENANT_ID, provision
from embedded_aws import EmbeddedCloud

pytestmark = pytest.mark.xdist_group("bench-client")

ROUNDS, WARMUP = 2, 1
# Three of the variants are library calls (invoke, invoke until delivered, stream),
# and one more invoke checks the two sides' answers.
LIBRARY_CALLS = 1 + 3 * (ROUNDS + WARMUP)


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[EmbeddedCloud, dict[str, Any]]]:
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        yield cloud, client_overhead(cloud, ROUNDS, warmup=WARMUP)


def _usage_records(cloud: EmbeddedCloud) -> list[dict[str, Any]]:
    logs = cloud.client("logs", TENANT)
    return [
        json.loads(event["message"])
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=LOG_GROUP)
        for event in page["events"]
    ]


def test_each_library_call_of_the_bench_leaves_one_record_in_the_tenants_usage_group(
    measured: tuple[EmbeddedCloud, dict[str, Any]],
) -> None:
    cloud, client = measured
    records = _usage_records(cloud)
    assert len(records) == LIBRARY_CALLS
    assert {(r["source"], r["status"], r["tenant_id"]) for r in records} == {
        ("library", "success", TENANT_ID)
    }
    streamed = [r for r in records if r.get("time_to_first_token_ms") is not None]
    assert len(streamed) == ROUNDS + WARMUP
    assert client["records_spooled"] == 0


def test_the_raw_and_library_sides_get_the_same_answer_from_the_same_role(
    measured: tuple[EmbeddedCloud, dict[str, Any]],
) -> None:
    cloud, client = measured
    calls = [c for c in cloud.bedrock.calls() if c.outcome == "success"]
    # Raw, plain LangChain and library calls alike: one role session, one answer length.
    assert {(c.role_arn, c.session_name) for c in calls} == {
        (f"arn:aws:iam::{OPS}:role/bedrock-invoker-{TENANT_ID}", TENANT_ID)
    }
    assert {(c.output_tokens, c.max_tokens, c.service_tier) for c in calls} == {
        (client["output_tokens"], client["max_tokens"], "default")
    }
    for figure in ("invoke", "time_to_first_token"):
        assert client[figure]["raw_ms"] > 0
        assert client[figure]["ratio"] == client[figure]["library_ms"] / client[figure]["raw_ms"]


def _client(invoke_ratio: float, ttft_ratio: float) -> dict[str, Any]:
    return {
        "invoke": {
            "raw_ms": 2.0,
            "library_ms": 2.0 * invoke_ratio,
            "ratio": invoke_ratio,
            "langchain_ms": 2.3,
            "delivered_ms": 6.0,
        },
        "time_to_first_token": {
            "raw_ms": 2.4,
            "library_ms": 2.4 * ttft_ratio,
            "ratio": ttft_ratio,
            "langchain_ms": 2.5,
        },
    }


def test_a_client_ratio_over_its_target_reads_not_met_and_within_it_met() -> None:
    within = {r.figure: r.met for r in client_rows(_client(CLIENT_WARM_TARGET, 1.05))}
    over = {r.figure: r.met for r in client_rows(_client(1.31, CLIENT_TTFT_TARGET + 0.01))}
    assert within["client library, warm invoke"] is True
    assert within["client library, stream: time to first token"] is True
    assert over["client library, warm invoke"] is False
    assert over["client library, stream: time to first token"] is False
    # The context rows carry no verdict.
    assert [met for met in over.values() if met is None] == [None, None, None]


def test_a_full_runs_table_has_the_client_rows_beside_the_functions_warm_rows(root: Path) -> None:
    last_run = json.loads((root / "bench" / "results.json").read_text())
    figures = [r.figure for r in rows({**last_run["results"], "client": _client(1.2, 1.05)})]
    first = figures.index("client library, warm invoke")
    assert figures[first - 1].startswith("  minimal LangChain app, same process")
    assert figures[first : first + 5] == [r.figure for r in client_rows(_client(1.2, 1.05))]
    assert figures[first + 5] == "cold init (import + first call)"
