"""`tenantctl usage` and `cost --estimate` say what prices a cost rests on (``price_source``).

Against moto acting as acme's account (222222222222/us-east-1), like test_usage_command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.support.cli_fixtures import Cli, put_records
from tests.support.usage_samples import record

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def _usage(cli: Cli, *args: str) -> Any:
    result = cli("usage", "--tenant", "acme", *args)
    assert result.exit_code == 0, result.output
    return result


def _move_operations_to(registry: Path, region: str) -> None:
    yaml = YAML()
    data = yaml.load(registry)
    data["operations"]["region"] = region
    data["tenants"][0]["models"] = [HAIKU]  # no us. profile outside the US
    yaml.dump(data, registry)


def test_usage_lists_the_recorded_price_sources_and_explains_an_estimate(
    acme_account: None, cli: Cli
) -> None:
    put_records(
        [
            record(request_id="a", cost_usd=0.001, price_table_version="2026-12-04",
                   price_source="list:us-east-1"),
            record(request_id="b", cost_usd=0.002, price_table_version="2026-12-04",
                   price_source="estimate:us-list-price"),
            record(request_id="c", cost_usd=0.003, price_table_version="2026-12-04",
                   price_source="override"),
        ]
    )  # fmt: skip

    data = json.loads(_usage(cli, "--format", "json").stdout)
    table = " ".join(_usage(cli).stdout.split())

    assert data["total"]["price_sources"] == [
        "estimate:us-list-price",
        "list:us-east-1",
        "override",
    ]
    assert "prices: estimate:us-list-price, list:us-east-1, override" in table
    assert (
        "estimate:us-list-price: the price table has no list price for the Region called, "
        "so US list prices stand in; the bill may differ"
    ) in table


def test_records_priced_now_in_a_region_without_list_prices_are_marked_estimates(
    acme_account: None, cli: Cli
) -> None:
    # Bedrock called in Frankfurt: the table only has US list prices for Claude 3 Haiku.
    _move_operations_to(cli.registry, "eu-central-1")
    put_records([record(request_id="a", input_tokens=1000, output_tokens=1000)])

    total = json.loads(_usage(cli, "--format", "json").stdout)["total"]
    csv_lines = _usage(cli, "--format", "csv").stdout.splitlines()

    assert (total["cost_usd"], total["price_sources"]) == (0.0015, ["estimate:us-list-price"])
    assert csv_lines[0].endswith(",price_table_versions,price_sources")
    assert csv_lines[1].endswith(",estimate:us-list-price")
