"""The usage record's EMF block against the published EMF specification."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from bedrock_tenant_client.usage.metrics import MAX_DIMENSION_VALUE_CHARS, with_metrics

from contracts import usage_metrics as m
from contracts.usage_record import encode, new_record
from embedded_aws import emf

NOW = datetime.datetime.now(datetime.UTC)
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
# acme's registry entry: the models it may call and the applications it lists.
ACME = m.DimensionValues(models=(MODEL,), applications=("support-bot", "search"))


def _record(**fields: Any) -> dict[str, Any]:
    record = new_record(
        status=fields.pop("status", "success"),
        invocation_id="req-1",
        tenant_id="acme",
        application_id=fields.pop("application_id", "support-bot"),
        user_id="alice@example.com",
        model_id=fields.pop("model_id", MODEL),
        latency_ms=fields.pop("latency_ms", 420),
        timestamp=NOW,
    )
    record.update(
        input_tokens=100,
        output_tokens=50,
        cache_read_input_tokens=30,
        cache_write_input_tokens=10,
        cost_usd=0.000312,
    )
    record.update(fields)
    return record


def _metrics_of(
    record: dict[str, Any], dimensions: m.DimensionValues = ACME
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    message = encode(with_metrics(record, dimensions))
    assert emf.problems(message) == []
    return {(d.name, d.dimensions): d.value for d in emf.extract(message)}


def test_a_success_record_is_valid_emf_with_every_metric_in_every_dimension_set() -> None:
    event = with_metrics(_record(), ACME)
    assert emf.problems(encode(event)) == []

    [directive] = event["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == m.NAMESPACE
    assert [tuple(s) for s in directive["Dimensions"]] == list(m.DIMENSION_SETS)
    assert {(d["Name"], d["Unit"]) for d in directive["Metrics"]} == {
        (metric.name, metric.unit) for metric in m.USAGE_METRICS
    }
    assert all(len(s) <= emf.MAX_DIMENSIONS_PER_SET for s in directive["Dimensions"])
    # The record's own time, in epoch milliseconds.
    assert event["_aws"]["Timestamp"] == int(NOW.timestamp() * 1000)

    values = _metrics_of(_record())
    by_app = (("TenantId", "acme"), ("ApplicationId", "support-bot"))
    by_model = (("TenantId", "acme"), ("ModelId", MODEL))
    assert values[("Invocations", (("TenantId", "acme"),))] == 1
    assert values[("InputTokens", by_app)] == 100
    assert values[("OutputTokens", by_model)] == 50
    assert values[("CacheReadInputTokens", by_app)] == 30
    assert values[("CacheWriteInputTokens", by_app)] == 10
    assert values[("LatencyMs", by_app)] == 420
    assert values[("CostUSD", by_model)] == pytest.approx(0.000312)
    assert values[("Errors", by_app)] == 0 and values[("Throttles", by_app)] == 0


def test_the_user_and_the_request_are_never_dimensions() -> None:
    event = with_metrics(_record(), ACME)
    dimension_keys = {k for s in event["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for k in s}
    assert dimension_keys == {"TenantId", "ApplicationId", "ModelId"}
    # The plain fields stay for Logs Insights.
    assert event["user_id"] == "alice@example.com" and event["input_tokens"] == 100


def test_a_throttled_call_counts_as_an_error_and_a_throttle() -> None:
    values = _metrics_of(_record(status="error", error_type="ThrottlingException"))
    tenant = (("TenantId", "acme"),)
    assert (values[("Errors", tenant)], values[("Throttles", tenant)]) == (1, 1)
    other = _metrics_of(_record(status="error", error_type="AccessDeniedException"))
    assert (other[("Errors", tenant)], other[("Throttles", tenant)]) == (1, 0)


def test_a_superseding_record_does_not_count_the_invocation_twice() -> None:
    values = _metrics_of(_record(supersedes="FunctionTimeout"))
    tenant = (("TenantId", "acme"),)
    assert values[("Invocations", tenant)] == 0 and values[("InputTokens", tenant)] == 100


def test_unknown_latency_and_cost_are_left_out_rather_than_reported_as_zero() -> None:
    event = with_metrics(_record(latency_ms=None, cost_usd=None), ACME)
    names = {d["Name"] for d in event["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "LatencyMs" not in names and "CostUSD" not in names
    assert emf.problems(encode(event)) == []


def test_dimension_values_are_never_empty_or_over_the_spec_limit() -> None:
    long_model = "m" * 2000
    allowed = m.DimensionValues(models=(long_model,), applications=("",))
    event = with_metrics(_record(application_id="", model_id=long_model), allowed)
    assert emf.problems(encode(event)) == []
    assert event["ApplicationId"] == "unknown"
    assert len(event["ModelId"]) == MAX_DIMENSION_VALUE_CHARS


def test_a_refused_model_is_counted_under_refused_not_under_its_id() -> None:
    fake = "anthropic.totally-fake-model-v9:0"
    record = _record(status="error", error_type="AccessDenied", model_id=fake)
    event = with_metrics(record, ACME)
    assert event["ModelId"] == "refused"
    assert event["model_id"] == fake  # the tenant's log keeps what was asked for
    values = _metrics_of(record)
    assert values[("Errors", (("TenantId", "acme"), ("ModelId", "refused")))] == 1


def test_an_application_the_registry_does_not_list_is_counted_under_refused() -> None:
    event = with_metrics(_record(application_id="made-up-app"), ACME)
    assert (event["ApplicationId"], event["application_id"]) == ("refused", "made-up-app")
    assert with_metrics(_record(application_id="search"), ACME)["ApplicationId"] == "search"


def test_with_no_applications_listed_every_application_is_counted_under_other() -> None:
    unlisted = m.DimensionValues(models=(MODEL,))
    for application in ("support-bot", "anything-at-all"):
        event = with_metrics(_record(application_id=application), unlisted)
        assert (event["ApplicationId"], event["application_id"]) == ("other", application)


@pytest.mark.parametrize("applications", [None, ("support-bot", "search")])
def test_callers_cannot_create_metrics_beyond_the_registrys_bound(
    applications: tuple[str, ...] | None,
) -> None:
    dimensions = m.DimensionValues(
        models=(MODEL, "amazon.nova-micro-v1:0"), applications=applications
    )
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for n in range(200):
        record = _record(application_id=f"app-{n % 50}", model_id=f"anthropic.fake-{n}-v1:0")
        series |= set(_metrics_of(record, dimensions))
        series |= set(_metrics_of(_record(application_id="search"), dimensions))
        series |= set(_metrics_of(_record(model_id="amazon.nova-micro-v1:0"), dimensions))
    combinations = {dims for _, dims in series}
    assert len(combinations) <= dimensions.most_combinations()
    assert len(series) <= dimensions.most_metrics()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.pop("_aws"), "'_aws' is a required property"),
        (lambda e: e["_aws"].pop("Timestamp"), "'Timestamp' is a required property"),
        (lambda e: e["_aws"]["CloudWatchMetrics"][0].pop("Namespace"), "'Namespace'"),
        (lambda e: e["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Tokens"), "Tokens"),
        (lambda e: e.pop("TenantId"), "dimension TenantId"),
        (lambda e: e.update(InputTokens="100"), "metric InputTokens"),
        (
            lambda e: e["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append(
                [f"D{i}" for i in range(31)]
            ),
            "is too long",
        ),
    ],
)
def test_the_validator_rejects_what_cloudwatch_would_drop(mutate: Any, expected: str) -> None:
    # The checker itself must be able to fail, or the tests above prove nothing.
    event = json.loads(encode(with_metrics(_record(), ACME)))
    mutate(event)
    found = emf.problems(json.dumps(event))
    assert any(expected in problem for problem in found), found
