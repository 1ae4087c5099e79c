"""The usage record's EMF block against the published EMF specification."""

from __future__ import annotations

import datetime
import json
import warnings
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from bedrock_tenant_client.usage.metrics import MAX_DIMENSION_VALUE_CHARS, with_metrics
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _provider_block(record: dict[str, Any], dimensions: m.DimensionValues) -> dict[str, Any]:
    """The EMF keys Powertools' provider builds for ``record``, one provider per record:
    the oracle for ``with_metrics``, which builds each shape with it once."""
    provider = AmazonCloudWatchEMFProvider(namespace=m.NAMESPACE, service="")
    values = {
        "TenantId": str(record.get("tenant_id") or "unknown")[:MAX_DIMENSION_VALUE_CHARS],
        "ApplicationId": dimensions.application(str(record.get("application_id") or ""))
        or "unknown",
        "ModelId": (dimensions.model(str(record.get("model_id") or "")) or "unknown")[
            :MAX_DIMENSION_VALUE_CHARS
        ],
    }
    provider.add_dimension(name="TenantId", value=values["TenantId"])
    provider.add_dimensions(TenantId=values["TenantId"], ApplicationId=values["ApplicationId"])
    provider.add_dimensions(TenantId=values["TenantId"], ModelId=values["ModelId"])

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    counted = 0 if record.get("supersedes") else 1
    error = record.get("status") not in ("success", "cancelled")
    throttled = error and record.get("error_type") in m.THROTTLING_ERROR_TYPES
    figures: list[tuple[m.UsageMetric, Any]] = [
        (m.INVOCATIONS, counted),
        (m.ERRORS, counted if error else 0),
        (m.THROTTLES, counted if throttled else 0),
        *(
            (metric, record.get(field) if number(record.get(field)) else 0)
            for metric, field in (
                (m.INPUT_TOKENS, "input_tokens"),
                (m.OUTPUT_TOKENS, "output_tokens"),
                (m.CACHE_READ_INPUT_TOKENS, "cache_read_input_tokens"),
                (m.CACHE_WRITE_INPUT_TOKENS, "cache_write_input_tokens"),
            )
        ),
        *((m.LATENCY_MS, v) for v in [record.get("latency_ms")] if number(v)),
        *((m.COST_USD, v) for v in [record.get("cost_usd")] if number(v)),
    ]
    for metric, value in figures:
        provider.add_metric(name=metric.name, unit=metric.unit, value=value)
    timestamp = record.get("timestamp")
    if isinstance(timestamp, str):
        try:
            when = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            provider.set_timestamp(int(when.timestamp() * 1000))
        except ValueError:
            pass
    return dict(provider.serialize_metric_set())


_numbers = st.one_of(
    st.none(), st.booleans(), st.integers(0, 10**9), st.floats(0, 1e6), st.text(max_size=3)
)
_ids = st.one_of(st.none(), st.sampled_from(["", " ", "support-bot", "search", MODEL, "x" * 1100]))


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from(["success", "error", "cancelled"]),
    error_type=st.sampled_from([None, "ThrottlingException", "AccessDeniedException"]),
    supersedes=st.sampled_from([None, "", "FunctionTimeout"]),
    tokens=st.tuples(_numbers, _numbers, _numbers, _numbers),
    latency=_numbers,
    cost=_numbers,
    age=st.sampled_from(
        [
            datetime.timedelta(0),
            datetime.timedelta(days=15),  # CloudWatch would skip it: the provider warns
            -datetime.timedelta(hours=3),
            None,  # no timestamp: the time of serializing
        ]
    ),
    tenant=_ids,
    application=_ids,
    model=_ids,
    applications=st.sampled_from([None, ("support-bot", "search"), ("", " ")]),
)
def test_each_records_emf_block_is_the_one_powertools_provider_builds_for_it(
    status: str,
    error_type: str | None,
    supersedes: str | None,
    tokens: tuple[Any, Any, Any, Any],
    latency: Any,
    cost: Any,
    age: datetime.timedelta | None,
    tenant: str | None,
    application: str | None,
    model: str | None,
    applications: tuple[str, ...] | None,
) -> None:
    record: dict[str, Any] = {
        "tenant_id": tenant,
        "application_id": application,
        "model_id": model,
        "status": status,
        "error_type": error_type,
        "supersedes": supersedes,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cache_read_input_tokens": tokens[2],
        "cache_write_input_tokens": tokens[3],
        "latency_ms": latency,
        "cost_usd": cost,
    }
    if age is not None:
        record["timestamp"] = (datetime.datetime.now(datetime.UTC) - age).isoformat()
    dimensions = m.DimensionValues(models=(MODEL, " "), applications=applications)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the provider's own, about old timestamps
        expected = {**record, **_provider_block(record, dimensions)}
        actual = with_metrics(record, dimensions)
    if age is None:  # each stamped with its own time of serializing
        assert abs(actual["_aws"].pop("Timestamp") - expected["_aws"].pop("Timestamp")) < 5000
    # The same keys in the same order, the same values: the same line once encoded.
    assert list(actual) == list(expected)
    assert json.dumps(actual) == json.dumps(expected)


def test_records_never_share_the_emf_directive() -> None:
    first, second = with_metrics(_record(), ACME), with_metrics(_record(), ACME)
    first["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append(["UserId"])
    first["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Seconds"
    assert second["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        list(s) for s in m.DIMENSION_SETS
    ]
    assert second["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Count"
    assert with_metrics(_record(), ACME) == second
