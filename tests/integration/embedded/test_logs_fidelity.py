"""CloudWatch Logs in the embedded cloud answers as AWS does: JSON filter patterns and KMS keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME

pytestmark = pytest.mark.xdist_group("embedded-logs")

GROUP = "/aws/lambda/bedrock-invoker-acme"
# What a tenant's usage group holds: the function's JSON records, the platform's
# JSON lines, and a plain-text line.
EVENTS: list[Any] = [
    {"type": "platform.start", "record": {"requestId": "r1", "version": "$LATEST"}},
    {"user_id": "carol", "model": "haiku", "usage": {"input_tokens": 120}, "cached": False},
    {"user_id": "dave", "model": "sonnet", "usage": {"input_tokens": 40}, "cached": True},
    {"user_id": "carol", "model": "sonnet", "usage": {"input_tokens": 900}, "note": None},
    {"type": "platform.report", "record": {"requestId": "r1", "metrics": {"durationMs": 12.5}}},
    "carol said hello in plain text",
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME], warm_lambdas=False) as embedded:
        logs = embedded.client("logs", ACME)
        logs.create_log_group(logGroupName=GROUP)
        logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
        now_ms = int(time.time() * 1000)  # CloudWatch Logs rejects events older than 14 days
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName="s",
            logEvents=[
                {"timestamp": now_ms + i, "message": _text(event)} for i, event in enumerate(EVENTS)
            ],
        )
        yield embedded


def _text(event: Any) -> str:
    return event if isinstance(event, str) else json.dumps(event)


def matching(cloud: EmbeddedCloud, pattern: str) -> list[Any]:
    """The events FilterLogEvents returns for ``pattern``, parsed back when JSON."""
    answer = cloud.client("logs", ACME).filter_log_events(logGroupName=GROUP, filterPattern=pattern)
    found = []
    for event in answer["events"]:
        try:
            found.append(json.loads(event["message"]))
        except ValueError:
            found.append(event["message"])
    return found


def test_a_json_pattern_returns_only_that_users_records(cloud: EmbeddedCloud) -> None:
    assert matching(cloud, '{ $.user_id = "carol" }') == [EVENTS[1], EVENTS[3]]


def test_an_unquoted_string_and_a_wildcard_match_as_on_aws(cloud: EmbeddedCloud) -> None:
    assert matching(cloud, "{ $.user_id = carol }") == [EVENTS[1], EVENTS[3]]
    assert matching(cloud, '{ $.type = "platform.*" }') == [EVENTS[0], EVENTS[4]]


def test_not_equal_skips_events_without_the_field(cloud: EmbeddedCloud) -> None:
    assert matching(cloud, '{ $.user_id != "carol" }') == [EVENTS[2]]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{ $.usage.input_tokens > 100 }", [1, 3]),
        ("{ $.usage.input_tokens >= 120 }", [1, 3]),
        ("{ $.usage.input_tokens < 120 }", [2]),
        ("{ $.usage.input_tokens <= 120 }", [1, 2]),
        ("{ $.usage.input_tokens = 40 }", [2]),
        ("{ $.usage.input_tokens != 40 }", [1, 3]),
        ("{ $.record.metrics.durationMs > 10 }", [4]),
    ],
)
def test_numeric_comparisons_on_nested_fields(
    cloud: EmbeddedCloud, pattern: str, expected: list[int]
) -> None:
    assert matching(cloud, pattern) == [EVENTS[i] for i in expected]


def test_and_binds_tighter_than_or_and_parentheses_group(cloud: EmbeddedCloud) -> None:
    either = '{ $.user_id = "dave" || $.user_id = "carol" && $.model = "sonnet" }'
    assert matching(cloud, either) == [EVENTS[2], EVENTS[3]]
    grouped = '{ ($.user_id = "dave" || $.user_id = "carol") && $.model = "sonnet" }'
    assert matching(cloud, grouped) == [EVENTS[2], EVENTS[3]]
    grouped = '{ ($.user_id = "dave" || $.user_id = "carol") && $.model = "haiku" }'
    assert matching(cloud, grouped) == [EVENTS[1]]


def test_null_boolean_and_absence_checks(cloud: EmbeddedCloud) -> None:
    assert matching(cloud, "{ $.note IS NULL }") == [EVENTS[3]]
    assert matching(cloud, "{ $.cached IS TRUE }") == [EVENTS[2]]
    assert matching(cloud, "{ $.cached IS FALSE }") == [EVENTS[1]]
    assert matching(cloud, "{ $.user_id NOT EXISTS }") == [EVENTS[0], EVENTS[4]]


def test_a_text_event_never_matches_a_json_pattern(cloud: EmbeddedCloud) -> None:
    assert "carol said hello in plain text" not in matching(cloud, '{ $.user_id = "*" }')


def test_plain_term_patterns_keep_matching_text(cloud: EmbeddedCloud) -> None:
    assert matching(cloud, "hello") == [EVENTS[5]]
    assert len(matching(cloud, "carol")) == 3


def test_a_malformed_json_pattern_is_refused_with_invalid_parameter(cloud: EmbeddedCloud) -> None:
    with pytest.raises(ClientError) as refused:
        matching(cloud, '{ $.user_id = "carol" && }')
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# -- a log group's KMS key, deployed by CloudFormation ------------------------------------


def _encrypted_group_template(retention_days: int) -> str:
    return json.dumps(
        {
            "Resources": {
                "UsageKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}},
                "UsageLogGroup": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {
                        "LogGroupName": "/tenant/usage",
                        "RetentionInDays": retention_days,
                        "KmsKeyId": {"Fn::GetAtt": ["UsageKey", "Arn"]},
                    },
                },
            }
        }
    )


def test_a_deployed_log_group_shows_its_kms_key_and_keeps_it_through_updates(
    cloud: EmbeddedCloud,
) -> None:
    cfn = cloud.client("cloudformation", ACME)
    cfn.create_stack(StackName="encrypted-logs", TemplateBody=_encrypted_group_template(30))
    key_arn = cloud.client("kms", ACME).describe_key(
        KeyId=cfn.describe_stack_resource(StackName="encrypted-logs", LogicalResourceId="UsageKey")[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
    )["KeyMetadata"]["Arn"]

    def described() -> dict[str, Any]:
        groups = cloud.client("logs", ACME).describe_log_groups(logGroupNamePrefix="/tenant/usage")
        return dict(groups["logGroups"][0])

    assert (described()["kmsKeyId"], described()["retentionInDays"]) == (key_arn, 30)
    cfn.update_stack(StackName="encrypted-logs", TemplateBody=_encrypted_group_template(60))
    assert (described()["kmsKeyId"], described()["retentionInDays"]) == (key_arn, 60)
