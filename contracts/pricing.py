"""What a call cost: the versioned price table, registry overrides and the arithmetic.

The table (``prices.json`` beside this module) lists on-demand prices per model
and region in US dollars per million tokens, with the date they were taken. Its
``version`` goes into every usage record beside the cost it was priced at, so a
bill can be recomputed when prices change. The registry may override a model's
price (a negotiated discount); an override replaces the table's entry for that
model in every region.

Cross-region profiles (``us.``, ``eu.``, ``global.`` ...) and application
inference profiles are priced as their base model: the caller passes the base
model id, which an application profile's ARN does not reveal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.model_access import parse_model_id

PRICE_TABLE_FILE = Path(__file__).resolve().parent / "prices.json"
ANY_REGION = "*"
TOKENS_PER_PRICE_UNIT = 1_000_000

UsdPerMillion = Annotated[float, Field(ge=0, allow_inf_nan=False)]


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


class PriceTable(BaseModel):
    """The repository's price table: ``models[base model id][region or '*']``."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(min_length=1)
    taken: str = Field(min_length=1)
    source: str = ""
    currency: str = "USD"
    unit: str = ""
    note: str = ""
    models: dict[str, dict[str, ModelPrice]]

    def price(
        self,
        model_id: str,
        region: str,
        overrides: PriceOverrides | None = None,
    ) -> ModelPrice | None:
        """The price of ``model_id`` called in ``region``, or None if nobody priced it.

        ``model_id`` may be a foundation model or a cross-region profile id; an
        override keyed by either the id as given or its base model wins.
        """
        base = base_model_id(model_id)
        for key in (model_id, base):
            if overrides and key in overrides:
                return overrides[key]
        by_region = self.models.get(base)
        if not by_region:
            return None
        return by_region.get(region) or by_region.get(ANY_REGION)


def base_model_id(model_id: str) -> str:
    """The foundation model behind a model id or cross-region profile id."""
    try:
        return parse_model_id(model_id)[1]
    except ValueError:
        return model_id


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    """The repository's price table (read once per process)."""
    return load_price_table(PRICE_TABLE_FILE)


def load_price_table(path: Path) -> PriceTable:
    """A price table from a JSON file."""
    return PriceTable.model_validate(json.loads(path.read_text(encoding="utf-8")))


PriceSource = Literal["table", "registry"]


@dataclass(frozen=True)
class Quote:
    """What one call's tokens cost: ``usd`` None when nobody priced the model.

    ``source`` says whose price it is (the table's or the registry's override);
    ``version`` is the price table's version either way.
    """

    usd: float | None
    source: PriceSource | None
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
    ) -> Quote:
        """The cost of one call's tokens on ``model_id`` (Bedrock's counts)."""
        price = self.table.price(model_id, self.region, self.overrides)
        if price is None:
            return Quote(None, None, self.table.version)
        overridden = model_id in self.overrides or base_model_id(model_id) in self.overrides
        usd = price.cost_usd(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_input_tokens=cache_read_input_tokens,
            cache_write_input_tokens=cache_write_input_tokens,
        )
        return Quote(usd, "registry" if overridden else "table", self.table.version)
