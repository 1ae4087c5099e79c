"""What a call cost: the versioned price table, registry overrides and the arithmetic.

The table (``prices.json`` beside this module) lists Bedrock's on-demand list
prices per model in US dollars per million tokens, each entry dated (``as_of``)
and citing its source. Its ``version`` goes into every usage record beside the
cost it was priced at, so a bill can be recomputed when prices change. The
registry may override a model's price (a negotiated discount); an override
replaces the table's entry for that model in every region.

Prices depend on where Bedrock is called. An entry gives its model's list price
in the regions it was read for (``list_regions``, US regions) and in any region
where Bedrock charges differently (``other_regions``); a call anywhere else is
priced at the US list price and its record says so (``price_source``
``estimate:us-list-price``), GovCloud included.

Geographic cross-region profiles (``us.``, ``eu.`` ...) and application
inference profiles are priced as their base model in the calling region, as
Bedrock bills them; a ``global.`` profile has its own price where the table
gives one (``global_profile``: Claude 4.5 models cost about 10% less through
it). The caller passes the model id it asked for, which an application
profile's ARN does not reveal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_access import GLOBAL_PROFILE_PREFIX, parse_model_id

PRICE_TABLE_FILE = Path(__file__).resolve().parent / "prices.json"
TOKENS_PER_PRICE_UNIT = 1_000_000

# No Bedrock model lists above $75 per million tokens (Claude Opus 4 output). A
# price past this is a typo (per 1,000 tokens for per million, a stray exponent),
# and one near float's limit would price a call at Infinity, which is not JSON.
MAX_USD_PER_MILLION_TOKENS = 1000.0

# Strict: a registry's `input: true` or `input: "0.25"` is a mistake, not $1 or $0.25.
UsdPerMillion = Annotated[
    float, Field(strict=True, ge=0, le=MAX_USD_PER_MILLION_TOKENS, allow_inf_nan=False)
]

# What a record's ``price_source`` says about its ``cost_usd``.
OVERRIDE_SOURCE = "override"  # the registry's price_overrides
ESTIMATE_SOURCE = "estimate:us-list-price"  # the US list price, for a region the table lacks
GLOBAL_LIST_SOURCE = f"list:{GLOBAL_PROFILE_PREFIX}"  # the list price of a global. profile


def list_source(region: str) -> str:
    """``price_source`` of a call priced at ``region``'s own list price."""
    return f"list:{region}"


class ModelPrice(BaseModel):
    """US dollars per million tokens; cache prices default to the input price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: UsdPerMillion
    output: UsdPerMillion
    cache_read: UsdPerMillion | None = None
    cache_write: UsdPerMillion | None = None

    def cost_usd(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_input_tokens: int = 0,
        cache_write_input_tokens: int = 0,
    ) -> float:
        """The cost of one call's tokens (Bedrock's counts: input excludes cache tokens)."""
        cache_read = self.input if self.cache_read is None else self.cache_read
        cache_write = self.input if self.cache_write is None else self.cache_write
        micro_dollars = (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_read_input_tokens * cache_read
            + cache_write_input_tokens * cache_write
        )
        # Ten decimals: a single cheap call is a fraction of a cent.
        return round(micro_dollars / TOKENS_PER_PRICE_UNIT, 10)


PriceOverrides = Mapping[str, ModelPrice]


class ModelPrices(BaseModel):
    """One model's entry in the table: its list prices, where they apply, and whence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The day the prices were read, and where.
    as_of: str = Field(min_length=10)
    source: str = Field(min_length=1)
    # The list price in ``list_regions`` (US regions); elsewhere an estimate.
    list_price: ModelPrice
    list_regions: tuple[str, ...] = Field(min_length=1)
    # Regions where Bedrock's list price differs from ``list_price``.
    other_regions: dict[str, ModelPrice] = Field(default_factory=dict)
    # Through a ``global.`` cross-region profile, where that is priced differently.
    global_profile: ModelPrice | None = None


@dataclass(frozen=True)
class PricePoint:
    """A price and what a record says about it (``price_source``)."""

    price: ModelPrice
    source: str


TEXT_UNITS_PER_GUARDRAIL_PRICE_UNIT = 1000
# A tier's price against the standard one: no Bedrock tier costs ten times standard.
TierMultiplier = Annotated[float, Field(strict=True, gt=0, le=10, allow_inf_nan=False)]
UsdPerThousandUnits = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]


class ServiceTierPrices(BaseModel):
    """What each Bedrock service tier costs against the standard (``default``) price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: str = Field(min_length=10)
    source: str = Field(min_length=1)
    note: str = ""
    multipliers: dict[str, TierMultiplier]

    def multiplier(self, tier: str | None) -> float:
        """The tier's multiplier; no tier, or one the table does not list, is standard."""
        return self.multipliers.get(tier or "default", 1.0)


class GuardrailPrices(BaseModel):
    """What a guardrail's assessments cost, per 1,000 text units, per policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: str = Field(min_length=10)
    source: str = Field(min_length=1)
    note: str = ""
    usd_per_1000_text_units: dict[str, UsdPerThousandUnits]

    def cost_usd(self, units: Mapping[str, int]) -> float:
        """The cost of ``units`` (Bedrock's GuardrailUsage fields); a policy not
        listed costs nothing."""
        usd = sum(
            count * self.usd_per_1000_text_units.get(policy, 0.0) for policy, count in units.items()
        )
        return round(usd / TEXT_UNITS_PER_GUARDRAIL_PRICE_UNIT, 10)


class PriceTable(BaseModel):
    """The repository's price table: ``models[base model id]``, plus the service tiers'
    multipliers and the guardrails' prices."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(min_length=1)
    taken: str = Field(min_length=1)
    source: str = ""
    currency: str = "USD"
    unit: str = ""
    note: str = ""
    service_tiers: ServiceTierPrices | None = None
    guardrails: GuardrailPrices | None = None
    models: dict[str, ModelPrices]

    def price(
        self,
        model_id: str,
        region: str,
        overrides: PriceOverrides | None = None,
    ) -> PricePoint | None:
        """The price of ``model_id`` called in ``region``, or None if nobody priced it.

        ``model_id`` may be a foundation model or a cross-region profile id; an
        override keyed by either the id as given or its base model wins.
        """
        override = override_for(model_id, overrides or {})
        if override is not None:
            return PricePoint(override, OVERRIDE_SOURCE)
        entry = self.models.get(base_model_id(model_id))
        if entry is None:
            return None
        profile, _ = _split(model_id)
        if profile == GLOBAL_PROFILE_PREFIX and entry.global_profile is not None:
            return PricePoint(entry.global_profile, GLOBAL_LIST_SOURCE)
        if region in entry.other_regions:
            return PricePoint(entry.other_regions[region], list_source(region))
        if region in entry.list_regions:
            return PricePoint(entry.list_price, list_source(region))
        return PricePoint(entry.list_price, ESTIMATE_SOURCE)

    def is_priced(self, model_id: str, overrides: PriceOverrides | None = None) -> bool:
        """Whether a call of ``model_id`` gets a cost (a list price, an estimate or an override)."""
        return self.price(model_id, "", overrides) is not None


def override_for(model_id: str, overrides: PriceOverrides) -> ModelPrice | None:
    """The registry's price for ``model_id``: keyed by the id as given, else its base model."""
    for key in (model_id, base_model_id(model_id)):
        if key in overrides:
            return overrides[key]
    return None


def _split(model_id: str) -> tuple[str | None, str]:
    try:
        return parse_model_id(model_id)
    except ValueError:
        return None, model_id


def base_model_id(model_id: str) -> str:
    """The foundation model behind a model id or cross-region profile id."""
    return _split(model_id)[1]


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    """The repository's price table (read once per process)."""
    return load_price_table(PRICE_TABLE_FILE)


def load_price_table(path: Path) -> PriceTable:
    """A price table from a JSON file."""
    return PriceTable.model_validate(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Quote:
    """What one call's tokens cost: ``usd`` None when nobody priced the model.

    ``source`` says whose price it is and where it applies: ``override`` (the
    registry's), ``list:<region>`` or ``list:global`` (the table's list price
    there), ``estimate:us-list-price`` (the US list price, for a region the
    table has no price for); ``version`` is the price table's version either way.
    """

    usd: float | None
    source: str | None
    version: str


@dataclass(frozen=True)
class Pricing:
    """The one way a call is priced, by the function and by every reader of its records.

    ``region`` is where Bedrock is called (the tenant's operations region), which is
    what prices depend on; ``overrides`` are the tenant's resolved registry overrides.
    """

    region: str
    overrides: PriceOverrides = field(default_factory=dict)
    table: PriceTable = field(default_factory=price_table)

    def quote(
        self,
        model_id: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_input_tokens: int = 0,
        cache_write_input_tokens: int = 0,
        service_tier: str | None = None,
        guardrail_units: Mapping[str, int] | None = None,
    ) -> Quote:
        """The cost of one call on ``model_id`` (Bedrock's counts): its tokens at the
        ``service_tier``'s multiplier (an override too), plus the text units its
        guardrail assessed (``guardrail_units``, Bedrock's GuardrailUsage fields)."""
        point = self.table.price(model_id, self.region, self.overrides)
        if point is None:
            return Quote(None, None, self.table.version)
        usd = point.price.cost_usd(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_input_tokens=cache_read_input_tokens,
            cache_write_input_tokens=cache_write_input_tokens,
        )
        tiers, guardrails = self.table.service_tiers, self.table.guardrails
        if tiers is not None:
            usd *= tiers.multiplier(service_tier)
        if guardrails is not None and guardrail_units:
            usd += guardrails.cost_usd(guardrail_units)
        return Quote(round(usd, 10), point.source, self.table.version)
