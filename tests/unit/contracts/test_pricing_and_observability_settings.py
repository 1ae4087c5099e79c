"""The price table, its overrides, and the registry's sink, alarm and cost settings."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from contracts.model_access import parse_model_id
from contracts.pricing import ModelPrice, PriceTable, base_model_id, price_table
from contracts.registry import parse_registry
from contracts.usage_record import UsageSink
from tests.unit.contracts.test_registry import VALID, _issues, _with

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_35 = "anthropic.claude-3-5-haiku-20241022-v1:0"


def test_the_price_table_is_dated_and_every_entry_is_a_known_model() -> None:
    table = price_table()
    datetime.date.fromisoformat(table.version)
    datetime.date.fromisoformat(table.taken)
    assert table.models
    for model, by_region in table.models.items():
        assert parse_model_id(model) == (None, model), model
        assert "*" in by_region, f"{model} has no any-region price"


def test_profiles_are_priced_as_their_base_model() -> None:
    table = price_table()
    base = table.price(HAIKU_35, "us-east-1")
    assert base is not None
    assert table.price(f"us.{HAIKU_35}", "us-east-1") == base
    assert base_model_id(f"global.{HAIKU_35}") == HAIKU_35


def test_a_region_price_wins_over_the_any_region_price() -> None:
    table = PriceTable(
        version="t",
        taken="2026-01-01",
        models={
            HAIKU: {
                "*": ModelPrice(input=1, output=2),
                "eu-central-1": ModelPrice(input=3, output=4),
            }
        },
    )
    assert table.price(HAIKU, "eu-central-1") == ModelPrice(input=3, output=4)
    assert table.price(HAIKU, "us-east-1") == ModelPrice(input=1, output=2)
    assert table.price("amazon.titan-text-express-v1", "us-east-1") is None


def test_an_override_for_the_id_as_given_or_its_base_model_wins() -> None:
    table = price_table()
    negotiated = ModelPrice(input=0.1, output=0.5)
    assert table.price(f"us.{HAIKU_35}", "us-east-1", {HAIKU_35: negotiated}) == negotiated
    assert table.price(f"us.{HAIKU_35}", "us-east-1", {f"us.{HAIKU_35}": negotiated}) == negotiated


def test_cost_uses_bedrocks_four_token_counts_and_cache_prices() -> None:
    price = ModelPrice(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    cost = price.cost_usd(
        input_tokens=1000,
        output_tokens=200,
        cache_read_input_tokens=10_000,
        cache_write_input_tokens=2000,
    )
    # 1000 x 3 + 200 x 15 + 10,000 x 0.3 + 2000 x 3.75 = 16,500 µ$
    assert cost == pytest.approx(0.0165)


def test_a_tenant_inherits_sink_alarms_and_prices_and_overrides_field_by_field() -> None:
    data = _with("defaults.alarms", {"monthly_token_budget": 1_000_000, "email": "ops@example.com"})
    data["defaults"]["usage_sink"] = "stdout"
    data["defaults"]["price_overrides"] = {HAIKU: {"input": 0.2, "output": 1.0}}
    data["tenants"][1].update(
        alarms={"error_rate_percent": 1.5},
        usage_sink="api",
        snap_start=True,
        cost_centre="CC-1234 research",
        price_overrides={HAIKU_35: {"input": 0.5, "output": 2.0}},
    )
    acme, globex = parse_registry(data).resolved_tenants()
    assert acme.usage_sink is UsageSink.STDOUT and globex.usage_sink is UsageSink.API
    assert (acme.snap_start, globex.snap_start) == (False, True)
    assert globex.alarms.error_rate_percent == 1.5
    assert globex.alarms.monthly_token_budget == 1_000_000  # kept from the defaults
    assert globex.alarms.email == "ops@example.com"
    assert acme.alarms.error_rate_percent == 5.0
    assert set(globex.price_overrides) == {HAIKU, HAIKU_35}
    assert (acme.cost_centre, globex.cost_centre) == (None, "CC-1234 research")


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("tenants.0.usage_sink", "kinesis", "tenants[0].usage_sink: "),
        ("tenants.0.snap_start", "yes", "tenants[0].snap_start: "),
        ("tenants.0.alarms", {"error_rate_percent": 0}, "tenants[0].alarms.error_rate_percent"),
        ("tenants.0.alarms", {"email": "not-an-address"}, "tenants[0].alarms.email"),
        ("tenants.0.alarms", {"sns_topic_arn": "topic"}, "tenants[0].alarms.sns_topic_arn"),
        ("tenants.0.alarms", {"thresholds": 1}, "tenants[0].alarms.thresholds"),
        ("tenants.0.cost_centre", "a;b", "tenants[0].cost_centre: must be 1-256"),
        (
            "tenants.0.price_overrides",
            {HAIKU: {"input": -1, "output": 1}},
            f"tenants[0].price_overrides.{HAIKU}.input",
        ),
        ("tenants.0.price_overrides", {"nobody.x": {"input": 1, "output": 1}}, "price_overrides"),
        ("defaults.application_inference_profiles", 1, "defaults.application_inference_profiles"),
    ],
)
def test_bad_settings_name_their_field(path: str, value: Any, expected: str) -> None:
    issues = _issues(_with(path, value))
    assert any(expected in issue for issue in issues), issues


def test_valid_registry_still_parses() -> None:
    assert parse_registry(VALID).tenant("acme").usage_sink is UsageSink.API
