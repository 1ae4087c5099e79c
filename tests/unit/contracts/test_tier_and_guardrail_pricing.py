"""The price table knows the service tier and the guardrail's text units."""

from __future__ import annotations

import pytest

from contracts.pricing import Pricing, price_table

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
CALL = {"input_tokens": 1_000_000, "output_tokens": 0}


def test_priority_and_flex_cost_their_documented_multiple_of_standard() -> None:
    pricing = Pricing(region="us-east-1")
    standard = pricing.quote(HAIKU, **CALL, service_tier="default").usd
    assert standard is not None and standard > 0
    assert pricing.quote(HAIKU, **CALL).usd == standard
    assert pricing.quote(HAIKU, **CALL, service_tier="priority").usd == pytest.approx(
        standard * 1.75
    )
    assert pricing.quote(HAIKU, **CALL, service_tier="flex").usd == pytest.approx(standard * 0.5)
    # Reserved capacity is a monthly fee: a call is estimated at the standard rate.
    assert pricing.quote(HAIKU, **CALL, service_tier="reserved").usd == standard


def test_guardrail_text_units_are_billed_per_policy_and_word_filters_are_free() -> None:
    pricing = Pricing(region="us-east-1")
    without = pricing.quote(HAIKU, input_tokens=10, output_tokens=10).usd
    guarded = pricing.quote(
        HAIKU,
        input_tokens=10,
        output_tokens=10,
        guardrail_units={"contentPolicyUnits": 2, "wordPolicyUnits": 3},
    ).usd
    assert without is not None and guarded is not None
    # Content filters: $0.15 per 1,000 text units.
    assert guarded - without == pytest.approx(2 * 0.15 / 1000)


def test_tier_and_guardrail_prices_are_dated_and_sourced() -> None:
    table = price_table()
    assert table.service_tiers is not None and table.guardrails is not None
    for entry in (table.service_tiers, table.guardrails):
        assert entry.as_of[:4].isdigit() and entry.source.startswith("https://aws.amazon.com/")
    assert set(table.service_tiers.multipliers) == {"default", "priority", "flex", "reserved"}
