"""The price table, its overrides, and the registry's sink, alarm and cost settings."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

import pytest

from contracts.function_environment import FunctionEnvironment, for_tenant
from contracts.model_access import parse_model_id
from contracts.pricing import (
    MAX_USD_PER_MILLION_TOKENS,
    ModelPrice,
    ModelPrices,
    PricePoint,
    PriceTable,
    Pricing,
    base_model_id,
    price_table,
)
from contracts.registry import cost_settings_in_use, parse_registry, unused_override_warnings
from contracts.usage_metrics import DimensionValues
from contracts.usage_record import UsageSink
from tests.unit.contracts.test_registry import VALID, _issues, _with

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_35 = "anthropic.claude-3-5-haiku-20241022-v1:0"
SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_the_price_table_is_dated_and_every_entry_is_a_known_model() -> None:
    table = price_table()
    datetime.date.fromisoformat(table.version)
    datetime.date.fromisoformat(table.taken)
    assert table.models
    for model, entry in table.models.items():
        assert parse_model_id(model) == (None, model), model
        assert datetime.date.fromisoformat(entry.as_of) <= datetime.date.fromisoformat(table.taken)
        assert entry.source.startswith("https://aws.amazon.com/bedrock/pricing/"), model
        # The list price is a US one: elsewhere it is an estimate and records say so.
        assert all(r.startswith("us-") and "-gov-" not in r for r in entry.list_regions), model


@pytest.mark.parametrize(
    "model",
    [
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "anthropic.claude-opus-4-1-20250805-v1:0",
        "amazon.nova-premier-v1:0",
    ],
)
def test_current_models_are_priced(model: str) -> None:
    quote = Pricing(region="us-east-1").quote(model, input_tokens=1000, output_tokens=100)
    assert quote.usd is not None and quote.usd > 0
    assert quote.source == "list:us-east-1"


def test_profiles_are_priced_as_their_base_model() -> None:
    table = price_table()
    base = table.price(HAIKU_35, "us-east-1")
    assert base is not None
    assert table.price(f"us.{HAIKU_35}", "us-east-1") == base
    assert base_model_id(f"global.{HAIKU_35}") == HAIKU_35


def test_a_global_profile_has_its_own_price_where_bedrock_charges_less() -> None:
    # Claude 4.5: the global profile is about 10% cheaper than a geographic one.
    table = price_table()
    regional = table.price(f"us.{SONNET_45}", "us-east-1")
    global_ = table.price(f"global.{SONNET_45}", "us-east-1")
    assert regional is not None and global_ is not None
    assert (regional.source, global_.source) == ("list:us-east-1", "list:global")
    assert global_.price.input == pytest.approx(regional.price.input / 1.1)
    assert global_.price.output == pytest.approx(regional.price.output / 1.1)


@pytest.mark.parametrize(
    ("region", "source"),
    [
        ("us-east-1", "list:us-east-1"),
        ("us-west-2", "list:us-west-2"),
        ("eu-central-1", "estimate:us-list-price"),
        ("us-gov-west-1", "estimate:us-list-price"),
        ("", "estimate:us-list-price"),
    ],
)
def test_a_record_says_whether_its_price_is_the_regions_list_price_or_an_estimate(
    region: str, source: str
) -> None:
    quote = Pricing(region=region).quote(HAIKU, input_tokens=1000, output_tokens=100)
    assert quote.usd == pytest.approx((1000 * 0.25 + 100 * 1.25) / 1_000_000)
    assert quote.source == source


def test_a_region_price_wins_over_the_us_list_price() -> None:
    table = PriceTable(
        version="t",
        taken="2026-01-01",
        models={
            HAIKU: ModelPrices(
                as_of="2026-01-01",
                source="https://aws.amazon.com/bedrock/pricing/",
                list_price=ModelPrice(input=1, output=2),
                list_regions=("us-east-1",),
                other_regions={"eu-central-1": ModelPrice(input=3, output=4)},
            )
        },
    )
    assert table.price(HAIKU, "eu-central-1") == PricePoint(
        ModelPrice(input=3, output=4), "list:eu-central-1"
    )
    assert table.price(HAIKU, "us-east-1") == PricePoint(
        ModelPrice(input=1, output=2), "list:us-east-1"
    )
    assert table.price("amazon.titan-text-express-v1", "us-east-1") is None


def test_an_override_for_the_id_as_given_or_its_base_model_wins() -> None:
    table = price_table()
    negotiated = ModelPrice(input=0.1, output=0.5)
    expected = PricePoint(negotiated, "override")
    assert table.price(f"us.{HAIKU_35}", "us-east-1", {HAIKU_35: negotiated}) == expected
    assert table.price(f"us.{HAIKU_35}", "us-east-1", {f"us.{HAIKU_35}": negotiated}) == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input", True, "valid number"),  # not $1
        ("input", "0.25", "valid number"),  # quoted
        ("input", 1e308, "less than or equal to 1000"),  # would price a call at Infinity
        ("output", float("inf"), "finite number"),
        ("output", float("nan"), "finite number"),
        ("cache_read", -0.1, "greater than or equal to 0"),
    ],
)
def test_a_price_override_must_be_a_plain_finite_number_within_bounds(
    field: str, value: Any, message: str
) -> None:
    price = {"input": 0.25, "output": 1.25, field: value}
    issues = _issues(_with("tenants.0.price_overrides", {HAIKU: price}))
    assert any(
        i.startswith(f"tenants[0].price_overrides.{HAIKU}.{field}:") and message in i
        for i in issues
    ), issues


def test_the_dearest_allowed_price_still_prices_a_call_in_finite_json() -> None:
    dearest = ModelPrice(
        input=MAX_USD_PER_MILLION_TOKENS,
        output=MAX_USD_PER_MILLION_TOKENS,
        cache_read=MAX_USD_PER_MILLION_TOKENS,
        cache_write=MAX_USD_PER_MILLION_TOKENS,
    )
    cost = dearest.cost_usd(
        input_tokens=10_000_000,
        output_tokens=10_000_000,
        cache_read_input_tokens=10_000_000,
        cache_write_input_tokens=10_000_000,
    )
    assert math.isfinite(cost)
    json.dumps({"cost_usd": cost}, allow_nan=False)


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


# --- cost settings need priced models; overrides that price nothing ---------------------------

UNPRICED = "anthropic.totally-unpriced-model-v1:0"


def test_a_tenant_with_a_cost_alarm_and_an_unpriced_model_is_refused_naming_both() -> None:
    data = _with("tenants.1.models", [HAIKU, UNPRICED])
    data["tenants"][1]["alarms"] = {"monthly_cost_budget_usd": 100.0}
    issues = _issues(data)
    assert issues == [
        f"tenants[1].models[1]: '{UNPRICED}' has no price (not in contracts/prices.json, "
        "no price_overrides entry), so tenants[1].alarms.monthly_cost_budget_usd would not "
        "see its calls; add a price_overrides entry for it"
    ]


def test_a_budget_in_the_defaults_needs_the_inherited_models_priced_once_not_per_tenant() -> None:
    data = _with("defaults.models", [UNPRICED])
    data["defaults"]["alarms"] = {"monthly_cost_budget_usd": 100.0}
    [issue] = _issues(data)
    assert issue.startswith(f"defaults.models[0]: '{UNPRICED}' has no price")
    assert "defaults.alarms.monthly_cost_budget_usd" in issue


def test_an_override_prices_a_model_the_table_lacks_so_the_cost_alarm_may_stay() -> None:
    data = _with("tenants.1.models", [f"us.{UNPRICED}"])
    data["tenants"][1]["alarms"] = {"monthly_cost_budget_usd": 100.0}
    data["tenants"][1]["price_overrides"] = {UNPRICED: {"input": 1.0, "output": 2.0}}
    globex = parse_registry(data).tenant("globex")
    assert cost_settings_in_use(globex) == ["alarms.monthly_cost_budget_usd"]


def test_an_unpriced_model_without_any_cost_setting_is_allowed() -> None:
    # Its records carry cost_usd null, and nothing acts on cost.
    assert parse_registry(_with("tenants.1.models", [UNPRICED])).tenant("globex").models == (
        UNPRICED,
    )


def test_overrides_for_models_a_tenant_does_not_use_are_warnings_not_errors() -> None:
    data = _with("tenants.0.price_overrides", {HAIKU_35: {"input": 0.5, "output": 2.0}})
    data["tenants"][1]["price_overrides"] = {HAIKU: {"input": 0.2, "output": 1.0}}
    data["defaults"]["price_overrides"] = {SONNET_45: {"input": 2.0, "output": 10.0}}
    warnings = [str(w) for w in unused_override_warnings(parse_registry(data))]
    assert warnings == [
        f"tenants[0].price_overrides.{HAIKU_35}: prices none of this tenant's models "
        f"({HAIKU}); it has no effect",
        f"defaults.price_overrides.{SONNET_45}: prices no tenant's models; it has no effect",
    ]


def test_an_override_keyed_by_the_base_model_of_a_profile_is_in_use() -> None:
    data = _with("tenants.0.models", [f"us.{HAIKU_35}"])
    data["tenants"][0]["price_overrides"] = {HAIKU_35: {"input": 0.5, "output": 2.0}}
    assert unused_override_warnings(parse_registry(data)) == []


# --- applications: the bound on the ApplicationId metric dimension ---------------------------


def test_the_applications_a_tenant_lists_reach_its_function_and_bound_its_dimensions() -> None:
    tenant = parse_registry(_with("tenants.0.applications", ["support-bot", "search"])).tenant(
        "acme"
    )
    env = for_tenant(tenant).to_env()
    read = FunctionEnvironment.from_env(env)
    assert env["APPLICATIONS"] == "support-bot,search"
    assert read.applications == ("support-bot", "search")
    dimensions = DimensionValues(models=read.models, applications=read.applications)
    assert [dimensions.application(a) for a in ("search", "made-up")] == ["search", "refused"]
    # Unset: any application, one dimension value for all.
    unset = FunctionEnvironment.from_env(for_tenant(parse_registry(VALID).tenant("acme")).to_env())
    assert unset.applications is None
    assert DimensionValues(models=unset.models).application("made-up") == "other"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must list at least one application (or leave it unset for any)"),
        (["chat", "chat"], "'chat' is listed twice"),
        (["has space"], "String should match pattern"),
        (["x" * 65], "String should match pattern"),
    ],
)
def test_bad_application_lists_are_refused_naming_the_field(value: Any, message: str) -> None:
    issues = _issues(_with("tenants.0.applications", value))
    assert any(i.startswith("tenants[0].applications") and message in i for i in issues), issues
