"""The registry's guardrail: an existing one (id or ARN, numeric version) or one to create."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.registry import RegistryError, parse_registry
from contracts.tenant_settings import GuardrailSettings


@pytest.mark.parametrize(
    "value",
    [
        {"identifier": "abc123def456", "version": "3"},
        {
            "identifier": "arn:aws:bedrock:us-east-1:111111111111:guardrail/abc123def456",
            "version": "12",
        },
        {"create": {"blocked_words": ["unobtainium"]}},
        {"create": {"content_filter_strength": "HIGH"}},
    ],
)
def test_an_existing_guardrail_or_a_definition_is_accepted(value: dict[str, Any]) -> None:
    GuardrailSettings.model_validate(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"identifier": "abc123def456"}, "needs both identifier and version"),
        ({"identifier": "abc123def456", "version": "DRAFT"}, "version"),
        ({"identifier": "Not An Id", "version": "1"}, "identifier"),
        (
            {"identifier": "abc", "version": "1", "create": {"blocked_words": ["x"]}},
            "or create one",
        ),
        ({"create": {"content_filter_strength": "NONE"}}, "content filters or blocked words"),
    ],
)
def test_a_guardrail_that_pins_nothing_is_refused(value: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        GuardrailSettings.model_validate(value)


def test_a_created_guardrail_takes_its_resources_share_of_the_shard() -> None:
    """Three resources (guardrail, version, parameter): two slots of ``shard_capacity``."""
    tenant = {"region": "us-east-1", "guardrail": {"create": {"blocked_words": ["x"]}}}
    registry = {
        "operations": {"account_id": "111111111111", "region": "us-east-1", "shard_capacity": 3},
        "tenants": [
            {**tenant, "id": "one", "account_id": "222222222222", "external_id": "one-ext-00001"},
            {**tenant, "id": "two", "account_id": "333333333333", "external_id": "two-ext-00001"},
        ],
    }
    with pytest.raises(RegistryError, match="tenant 'two' takes 3 slots"):
        parse_registry(registry)
    assert parse_registry({**registry, "tenants": registry["tenants"][:1]}).tenants
