"""The embedded Bedrock's AWS/Bedrock metrics, read back by the limit enforcer's meter (moto)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts.limits import EnforcementPlan, LimitSettings, TokenCounts
from embedded_aws import bedrock_metrics

# The enforcer ships alone: its modules import from its own folder, as in its bundle.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambda" / "limit_enforcer"))
from enforcement.meter import CloudWatchMeter

ACCOUNT = "123456789012"
PROFILE = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/abc123xyz"
NOW = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def call(model_id: str, outcome: str = "success", at: datetime = NOW) -> None:
    data = bedrock_metrics.call_metrics(
        model_id=model_id, outcome=outcome, input_tokens=10, output_tokens=20, latency_ms=5, at=at
    )
    bedrock_metrics.publish(ACCOUNT, "us-east-1", data)


def test_a_profile_call_is_published_under_the_profile_id() -> None:
    assert bedrock_metrics.model_id_dimension(PROFILE) == "abc123xyz"
    assert bedrock_metrics.model_id_dimension("anthropic.claude-3-haiku-20240307-v1:0") == (
        "anthropic.claude-3-haiku-20240307-v1:0"
    )
    # A call IAM refused was never accepted: Bedrock publishes nothing for it.
    assert bedrock_metrics.call_metrics(
        model_id=PROFILE, outcome="AccessDeniedException", input_tokens=0, output_tokens=0,
        latency_ms=0, at=NOW,
    ) == []  # fmt: skip


def test_the_meter_reads_this_periods_calls_of_the_tenants_profiles(cloudwatch: Any) -> None:
    call(PROFILE)
    call(PROFILE, at=NOW - timedelta(days=3))  # December 1st: this period
    call(PROFILE, at=NOW - timedelta(days=40))  # last period: not counted
    call(PROFILE, outcome="ThrottlingException")  # no tokens
    call("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/other")
    plan = EnforcementPlan(
        tenant_id="acme",
        limits=LimitSettings(tokens=100),
        profiles={"anthropic.claude-3-haiku-20240307-v1:0": PROFILE},
        region="us-east-1",
    )
    counts = CloudWatchMeter(cloudwatch).read(plan, NOW + timedelta(minutes=1))
    assert counts == {"anthropic.claude-3-haiku-20240307-v1:0": TokenCounts(input=20, output=40)}
    next_month = CloudWatchMeter(cloudwatch).read(plan, datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
    assert next_month["anthropic.claude-3-haiku-20240307-v1:0"].total == 0
