"""The enforcer's decisions: pure functions of the limits, the meter's counts, what is applied
and the time (contracts.limits.decide)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.blocks import BlockStatus
from contracts.limits import (
    BLOCK_RULE,
    DOWNGRADE_RULE,
    METER_OUTAGE_RULE,
    ActionKind,
    Applied,
    EnforcementPlan,
    LimitPeriod,
    LimitSettings,
    TokenCounts,
    check_downgrade_models,
    decide,
    overspend_bound_seconds,
    parse_plan,
    period_window,
    plan_value,
    usage_of,
)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/"
NOW = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
NEXT_MONTH = datetime(2027, 1, 1, 0, 1, tzinfo=UTC)


def plan(**limits: object) -> EnforcementPlan:
    return EnforcementPlan(
        tenant_id="acme",
        limits=LimitSettings.model_validate({"tokens": 1000, **limits}),
        profiles={HAIKU: f"{PROFILE}haiku1", SONNET: f"{PROFILE}sonnet1"},
        region="us-east-1",
    )


def used(tokens: int) -> dict[str, TokenCounts]:
    return {HAIKU: TokenCounts(input=tokens // 2, output=tokens - tokens // 2)}


def enforcer_block(rule: str = BLOCK_RULE) -> BlockStatus:
    return BlockStatus("acme", NOW, "arn:aws:sts::111111111111:assumed-role/x/y", "limit", rule)


def kinds(actions: list) -> list[ActionKind]:
    return [a.kind for a in actions]


def test_a_tenant_under_its_warning_threshold_is_left_alone() -> None:
    assert decide(plan(), used(799), Applied(), NOW) == []


def test_the_warning_is_sent_once_per_period() -> None:
    first = decide(plan(), used(800), Applied(), NOW)
    assert kinds(first) == [ActionKind.WARN]
    assert first[0].figures == {"used": 800.0, "limit": 1000.0, "unit": "tokens", "percent": 80.0}
    assert decide(plan(), used(900), Applied(warned_period="2026-12"), NOW) == []
    # A new period warns again.
    assert kinds(decide(plan(), used(900), Applied(warned_period="2026-11"), NOW)) == [
        ActionKind.WARN
    ]


def test_reaching_the_limit_blocks_and_an_existing_block_is_not_written_twice() -> None:
    actions = decide(plan(), used(1000), Applied(warned_period="2026-12"), NOW)
    assert kinds(actions) == [ActionKind.BLOCK]
    assert actions[0].rule == BLOCK_RULE
    assert "1,000 of 1,000 tokens (100.0%) in 2026-12" in actions[0].reason
    applied = Applied(block=enforcer_block(), warned_period="2026-12")
    assert decide(plan(), used(5000), applied, NOW) == []


def test_the_enforcers_block_lifts_when_the_period_resets() -> None:
    actions = decide(plan(), {}, Applied(block=enforcer_block()), NEXT_MONTH)
    assert kinds(actions) == [ActionKind.UNBLOCK]
    assert actions[0].period == "2027-01"


def test_an_operators_block_is_never_lifted_nor_overwritten() -> None:
    manual = BlockStatus("acme", NOW, "arn:aws:iam::111111111111:user/ops", "incident", None)
    assert decide(plan(), {}, Applied(block=manual), NEXT_MONTH) == []
    over = decide(plan(), used(2000), Applied(block=manual, warned_period="2026-12"), NOW)
    assert over == []


def test_a_downgrade_denies_only_the_models_not_kept_and_lifts_at_reset() -> None:
    limited = plan(action="downgrade", downgrade_models=[HAIKU])
    actions = decide(limited, used(1000), Applied(warned_period="2026-12"), NOW)
    assert kinds(actions) == [ActionKind.DOWNGRADE]
    assert actions[0].rule == DOWNGRADE_RULE
    assert actions[0].figures["kept_models"] == [HAIKU]
    assert limited.denied_on_downgrade == (f"{PROFILE}sonnet1",)
    downgraded = Applied(downgrade=enforcer_block(DOWNGRADE_RULE), warned_period="2026-12")
    assert decide(limited, used(3000), downgraded, NOW) == []
    assert kinds(decide(limited, {}, downgraded, NEXT_MONTH)) == [ActionKind.LIFT_DOWNGRADE]


def test_a_usd_limit_prices_the_metered_tokens_per_model() -> None:
    limited = plan(tokens=None, usd=1.0)
    # Claude 3 Haiku: $0.25 in, $1.25 out per million tokens.
    counts = {HAIKU: TokenCounts(input=2_000_000, output=400_000)}
    usage = usage_of(limited, counts)
    assert usage.unit == "usd" and usage.used == pytest.approx(1.0)
    assert kinds(decide(limited, counts, Applied(warned_period="2026-12"), NOW)) == [
        ActionKind.BLOCK
    ]


def test_a_meter_outage_blocks_only_where_the_registry_says_fail_closed() -> None:
    open_ = decide(plan(), None, Applied(), NOW)
    assert kinds(open_) == [ActionKind.METER_UNAVAILABLE]
    closed = decide(plan(), None, Applied(), NOW, fail_closed_on_meter_outage=True)
    assert kinds(closed) == [ActionKind.METER_UNAVAILABLE, ActionKind.BLOCK]
    assert closed[1].rule == METER_OUTAGE_RULE
    # The meter reads again, under the limit: the outage block is lifted.
    back = decide(plan(), used(10), Applied(block=enforcer_block(METER_OUTAGE_RULE)), NOW)
    assert kinds(back) == [ActionKind.UNBLOCK]


def test_periods_are_utc_calendar_months_and_days() -> None:
    december = period_window(LimitPeriod.MONTH, NOW)
    assert (december.start, december.end, december.key) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
        "2026-12",
    )
    day = period_window(LimitPeriod.DAY, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert (day.key, day.end) == ("2026-12-31", datetime(2027, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"tokens": 10, "usd": 1.0}, "exactly one of usd and tokens"),
        ({}, "exactly one of usd and tokens"),
        ({"tokens": 10, "action": "downgrade"}, "needs downgrade_models"),
        ({"tokens": 10, "downgrade_models": [HAIKU]}, "only for action downgrade"),
        ({"usd": float("inf")}, "finite"),
        ({"tokens": "10"}, "valid integer"),
    ],
)
def test_limit_settings_refuse_what_cannot_be_enforced(limits: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LimitSettings.model_validate(limits)


def test_downgrade_models_must_be_a_strict_subset_of_the_tenants_models() -> None:
    keep_haiku = LimitSettings(tokens=1, action="downgrade", downgrade_models=(HAIKU,))
    assert check_downgrade_models(keep_haiku, [HAIKU, SONNET]) is None
    assert "not among" in (check_downgrade_models(keep_haiku, [SONNET]) or "")
    assert "drop at least one" in (check_downgrade_models(keep_haiku, [HAIKU]) or "")


def test_the_plan_travels_as_json_unchanged() -> None:
    limited = plan(action="downgrade", downgrade_models=[HAIKU], period="day")
    assert parse_plan(plan_value(limited)) == limited


def test_the_overspend_bound_is_the_sum_of_its_parts() -> None:
    bound = overspend_bound_seconds()
    assert bound.seconds == 180 + 60 + 10 + 60
    # $0.01 per second for 310 s.
    assert bound.overspend(0.01) == pytest.approx(3.10)
