"""Per-tenant spend and token limits: the setting, the meter's figures and the enforcer's decisions.

**The setting** (``limits`` in ``defaults`` or a tenant's entry): a period (``month``
or ``day``, UTC calendar), an amount in ``usd`` or ``tokens`` (exactly one), a
``warn_percent`` that notifies, and the ``action`` at 100%: ``block`` every call,
or ``downgrade`` to ``downgrade_models`` (a subset of the tenant's models) until the
period resets. Whether an operations account enforces limits at all is its
``enforcer`` block (:class:`EnforcerSettings`).

**The meter** is Bedrock's own CloudWatch metrics in the operations account
(namespace ``AWS/Bedrock``: ``InputTokenCount``, ``OutputTokenCount``,
``CacheReadInputTokenCount``, ``CacheWriteInputTokenCount``) per application
inference profile. Why this one:

* it is counts only, published by Bedrock itself in the account the tenant cannot
  write to: no content, no invocation logging, nothing the tenant's function can
  skip or forge (the tenant-side EMF metrics are the tenant's to change);
* an application inference profile is one tenant's and one model's, so its
  ``ModelId`` dimension is a per-tenant, per-model meter; that is why a limited
  tenant must call through ``application_inference_profiles`` (the registry
  refuses a limit without them, and the role allows those models only through
  their profiles, so every call is metered). Bedrock publishes a profile call
  under ``ModelId`` = the profile's id (the last part of its ARN; Cloud
  Custodian's ``bedrock-inference-profile`` metrics filter reads the same); the
  enforcer reads the id and the full ARN and takes the larger of the two, so a
  change of spelling can only over-count, never hide usage;
* its lag is minutes (one-minute datapoints, usually visible within 1-3 minutes),
  against hours for AWS Budgets or CUR 2.0 (``line_item_iam_principal``), which
  are the slow billed backstop (docs/COST.md), not the meter.

USD is priced here from the same table and overrides as the tenant's records
(``contracts.pricing``), per model, from the metered tokens.

**Worst-case overspend** (what a tenant can spend past its limit before its calls
stop) is :func:`overspend_bound_seconds` of the tenant's spend rate: meter lag +
the enforcer's period + IAM's propagation of the deny + the longest call already in
flight (the invoker function's timeout, 60 s). docs/COST.md gives the figures.

**The decisions** (:func:`decide`) are a pure function of the plan (limits, models,
prices), the meter's reading, what is applied now and the time: the enforcer reads,
decides and applies, so the rules are unit-tested without AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from contracts.blocks import BlockStatus
from contracts.fields import FrozenModel, ModelId, StrictBool
from contracts.pricing import ModelPrice, Pricing

# Bedrock's per-profile token metrics, and the dimension they are published under.
METER_NAMESPACE = "AWS/Bedrock"
METER_DIMENSION = "ModelId"
INPUT_TOKENS = "InputTokenCount"
OUTPUT_TOKENS = "OutputTokenCount"
CACHE_READ_TOKENS = "CacheReadInputTokenCount"
CACHE_WRITE_TOKENS = "CacheWriteInputTokenCount"
TOKEN_METRICS = (INPUT_TOKENS, OUTPUT_TOKENS, CACHE_READ_TOKENS, CACHE_WRITE_TOKENS)

# The enforcer's rules, as its block and downgrade records name them.
BLOCK_RULE = "limits:block"
DOWNGRADE_RULE = "limits:downgrade"
METER_OUTAGE_RULE = "limits:meter-outage"

DEFAULT_WARN_PERCENT = 80.0


def limits_parameter_name(tenant_id: str) -> str:
    """The SSM parameter, in the tenant's operations account, of its :class:`EnforcementPlan`."""
    return f"/bedrock-invoker/{tenant_id}/limits"


def warning_parameter_name(tenant_id: str) -> str:
    """The SSM parameter where the enforcer notes the period it last warned the tenant in."""
    return f"/bedrock-invoker/{tenant_id}/limit-warning"


class LimitPeriod(StrEnum):
    """The UTC calendar period a limit counts over."""

    MONTH = "month"
    DAY = "day"


class LimitAction(StrEnum):
    """What the enforcer does at 100% of the limit."""

    BLOCK = "block"
    DOWNGRADE = "downgrade"


class LimitSettings(FrozenModel):
    """A tenant's spend or token limit per UTC period, and what happens as it is reached."""

    period: LimitPeriod = LimitPeriod.MONTH
    usd: Annotated[float, Field(strict=True, gt=0, le=10_000_000, allow_inf_nan=False)] | None = (
        None
    )
    tokens: Annotated[int, Field(strict=True, ge=1)] | None = None
    warn_percent: Annotated[float, Field(gt=0, lt=100)] = DEFAULT_WARN_PERCENT
    action: LimitAction = LimitAction.BLOCK
    # The models the tenant keeps after a downgrade: cheap ones (e.g. Haiku only).
    downgrade_models: tuple[ModelId, ...] = ()

    @model_validator(mode="after")
    def _one_amount_and_a_downgrade_list(self) -> LimitSettings:
        if (self.usd is None) == (self.tokens is None):
            raise ValueError("set exactly one of usd and tokens")
        if self.action is LimitAction.DOWNGRADE and not self.downgrade_models:
            raise ValueError("action downgrade needs downgrade_models (the models kept)")
        if self.action is LimitAction.BLOCK and self.downgrade_models:
            raise ValueError("downgrade_models is only for action downgrade")
        if len(set(self.downgrade_models)) != len(self.downgrade_models):
            raise ValueError("downgrade_models lists a model twice")
        return self

    @property
    def amount(self) -> float:
        """The limit in its unit."""
        return float(self.usd if self.usd is not None else self.tokens or 0)

    @property
    def unit(self) -> str:
        """``usd`` or ``tokens``."""
        return "usd" if self.usd is not None else "tokens"


class EnforcerSettings(FrozenModel):
    """An operations account's limit enforcer (``operations.enforcer`` in the registry).

    ``fail_closed_on_meter_outage``: when the meter cannot be read, block every
    limited tenant until it can (off: keep serving and alarm).
    """

    enabled: StrictBool = False
    fail_closed_on_meter_outage: StrictBool = False


class EnforcementPlan(FrozenModel):
    """What the enforcer needs of one limited tenant; the operations stack writes it as JSON
    in :func:`limits_parameter_name` (its profile ARNs are known only at deploy time)."""

    tenant_id: str
    limits: LimitSettings
    # Model id -> the tenant's application inference profile ARN for it.
    profiles: dict[str, str]
    # Where Bedrock is called, and the tenant's negotiated prices: how USD is priced.
    region: str
    price_overrides: dict[str, ModelPrice] = Field(default_factory=dict)

    @property
    def denied_on_downgrade(self) -> tuple[str, ...]:
        """The profile ARNs a downgrade denies: every model not kept.

        The role allows a limited tenant's models only through these profiles, so
        denying a profile denies its model."""
        kept = set(self.limits.downgrade_models)
        return tuple(arn for model, arn in sorted(self.profiles.items()) if model not in kept)


def plan_value(plan: EnforcementPlan) -> str:
    """The parameter value of a plan."""
    return plan.model_dump_json()


def parse_plan(value: str) -> EnforcementPlan:
    """A plan from its parameter value."""
    return EnforcementPlan.model_validate(json.loads(value))


# --- periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodWindow:
    """One UTC calendar period ``[start, end)``, named by ``key`` (``2026-12``, ``2026-12-04``)."""

    start: datetime
    end: datetime
    key: str


def period_window(period: LimitPeriod, now: datetime) -> PeriodWindow:
    """The period ``now`` falls in."""
    now = now.astimezone(UTC)
    if period is LimitPeriod.DAY:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return PeriodWindow(start, start + timedelta(days=1), start.strftime("%Y-%m-%d"))
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return PeriodWindow(start, end, start.strftime("%Y-%m"))


# --- the meter's figures ------------------------------------------------------------------


@dataclass(frozen=True)
class TokenCounts:
    """Bedrock's token counts of one model over a period."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        """Every token Bedrock counted (cache reads and writes included)."""
        return self.input + self.output + self.cache_read + self.cache_write


@dataclass(frozen=True)
class Usage:
    """A tenant's metered use in a period, in the limit's unit, and its share of the limit."""

    used: float
    limit: float
    unit: str

    @property
    def percent(self) -> float:
        """``used`` as a share of ``limit``, in percent."""
        return 100.0 * self.used / self.limit

    def figures(self) -> dict[str, Any]:
        """The audit record's numbers."""
        return {
            "used": round(self.used, 6),
            "limit": self.limit,
            "unit": self.unit,
            "percent": round(self.percent, 2),
        }


def usage_of(plan: EnforcementPlan, counts: Mapping[str, TokenCounts]) -> Usage:
    """The tenant's use of its limit from the meter's counts per model."""
    limits = plan.limits
    if limits.tokens is not None:
        used = float(sum(c.total for c in counts.values()))
    else:
        pricing = Pricing(region=plan.region, overrides=plan.price_overrides)
        used = 0.0
        for model, c in counts.items():
            quote = pricing.quote(
                model,
                input_tokens=c.input,
                output_tokens=c.output,
                cache_read_input_tokens=c.cache_read,
                cache_write_input_tokens=c.cache_write,
            )
            # The registry refuses a usd limit on an unpriced model; never count it as free.
            if quote.usd is None:
                raise ValueError(f"model {model} of tenant {plan.tenant_id} has no price")
            used += quote.usd
    return Usage(used=used, limit=limits.amount, unit=limits.unit)


# --- decisions ----------------------------------------------------------------------------


class ActionKind(StrEnum):
    """What the enforcer does to a tenant."""

    WARN = "warn"
    BLOCK = "block"
    UNBLOCK = "unblock"
    DOWNGRADE = "downgrade"
    LIFT_DOWNGRADE = "lift-downgrade"
    METER_UNAVAILABLE = "meter-unavailable"


@dataclass(frozen=True)
class Applied:
    """What the operations account holds for a tenant now (read before deciding)."""

    block: BlockStatus | None = None
    downgrade: BlockStatus | None = None
    # The period key the tenant was last warned in.
    warned_period: str | None = None


@dataclass(frozen=True)
class Action:
    """One thing the enforcer does, with what it writes in its audit record."""

    kind: ActionKind
    tenant_id: str
    rule: str
    period: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def _reason(what: str, usage: Usage, window: PeriodWindow) -> str:
    amount = (
        f"${usage.used:,.4f} of ${usage.limit:,.2f}"
        if usage.unit == "usd"
        else (f"{int(usage.used):,} of {int(usage.limit):,} tokens")
    )
    return f"{what}: {amount} ({usage.percent:.1f}%) in {window.key} (UTC)"


def decide(
    plan: EnforcementPlan,
    counts: Mapping[str, TokenCounts] | None,
    applied: Applied,
    now: datetime,
    *,
    fail_closed_on_meter_outage: bool = False,
) -> list[Action]:
    """What to do about one tenant at ``now``; ``counts`` None means the meter could not be read.

    Only the enforcer's own block and downgrade are ever lifted (their records
    carry a ``limits:`` rule); an operator's block is left as it is, and no second
    block is written over it.
    """
    window = period_window(plan.limits.period, now)
    tenant = plan.tenant_id
    block, downgrade = applied.block, applied.downgrade
    ours_blocked = block is not None and block.by_enforcer
    if counts is None:
        outage = [
            Action(
                ActionKind.METER_UNAVAILABLE,
                tenant,
                METER_OUTAGE_RULE,
                window.key,
                "the meter (AWS/Bedrock metrics) could not be read",
                {"fail_closed": fail_closed_on_meter_outage},
            )
        ]
        if fail_closed_on_meter_outage and block is None:
            outage.append(
                Action(
                    ActionKind.BLOCK,
                    tenant,
                    METER_OUTAGE_RULE,
                    window.key,
                    "meter outage: blocked until the meter reads again (fail closed)",
                )
            )
        return outage
    usage = usage_of(plan, counts)
    over = usage.used >= usage.limit
    action = plan.limits.action
    figures = usage.figures()
    actions: list[Action] = []
    if usage.percent >= plan.limits.warn_percent and applied.warned_period != window.key:
        actions.append(
            Action(
                ActionKind.WARN,
                tenant,
                f"limits:warn-{plan.limits.warn_percent:g}",
                window.key,
                _reason(f"reached {plan.limits.warn_percent:g}% of its limit", usage, window),
                figures,
            )
        )
    want_block = over and action is LimitAction.BLOCK
    want_downgrade = over and action is LimitAction.DOWNGRADE
    if want_block and block is None:
        actions.append(
            Action(
                ActionKind.BLOCK,
                tenant,
                BLOCK_RULE,
                window.key,
                _reason("limit reached, blocked until the period resets", usage, window),
                figures,
            )
        )
    elif block is not None and ours_blocked and not want_block:
        actions.append(
            Action(
                ActionKind.UNBLOCK,
                tenant,
                block.rule or BLOCK_RULE,
                window.key,
                _reason("under its limit again", usage, window),
                figures,
            )
        )
    ours_downgraded = downgrade is not None and downgrade.by_enforcer
    if want_downgrade and downgrade is None:
        kept = ", ".join(plan.limits.downgrade_models)
        actions.append(
            Action(
                ActionKind.DOWNGRADE,
                tenant,
                DOWNGRADE_RULE,
                window.key,
                _reason(f"limit reached, only {kept} until the period resets", usage, window),
                {**figures, "kept_models": list(plan.limits.downgrade_models)},
            )
        )
    elif ours_downgraded and not want_downgrade:
        actions.append(
            Action(
                ActionKind.LIFT_DOWNGRADE,
                tenant,
                DOWNGRADE_RULE,
                window.key,
                _reason("under its limit again", usage, window),
                figures,
            )
        )
    return actions


# --- the bound ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OverspendBound:
    """The seconds a tenant keeps spending after crossing its limit, at worst, and their parts."""

    meter_lag_s: float
    enforcer_period_s: float
    deny_propagation_s: float
    longest_call_s: float

    @property
    def seconds(self) -> float:
        """meter lag + enforcer period + deny propagation + longest call in flight."""
        return (
            self.meter_lag_s
            + self.enforcer_period_s
            + self.deny_propagation_s
            + self.longest_call_s
        )

    def overspend(self, rate_per_second: float) -> float:
        """The most a tenant spending ``rate_per_second`` (USD or tokens) spends past its limit."""
        return rate_per_second * self.seconds


def overspend_bound_seconds(
    *,
    meter_lag_s: float = 180.0,
    enforcer_period_s: float = 60.0,
    deny_propagation_s: float = 10.0,
    longest_call_s: float = 60.0,
) -> OverspendBound:
    """The documented bound (defaults: the figures docs/COST.md gives for AWS)."""
    return OverspendBound(meter_lag_s, enforcer_period_s, deny_propagation_s, longest_call_s)


def check_downgrade_models(limits: LimitSettings, models: Sequence[str]) -> str | None:
    """Why ``downgrade_models`` do not fit the tenant's ``models``, or None."""
    missing = [m for m in limits.downgrade_models if m not in models]
    if missing:
        return f"{', '.join(missing)} not among the tenant's models"
    if limits.downgrade_models and set(limits.downgrade_models) >= set(models):
        return "keeps every model of the tenant: a downgrade must drop at least one"
    return None


# The enforcer's own metrics (EMF lines in its audit log), which its alarms watch.
ENFORCER_METRICS_NAMESPACE = "BedrockLimitEnforcer"
ENFORCER_ACTIONS_METRIC = "EnforcerActions"
METER_UNAVAILABLE_METRIC = "MeterUnavailable"
