"""A small registry with the shapes a targeted or parallel synth must get right.

Two operations accounts, the first with two shards, and a tenant with limits
in shard 1: shard 0's limit enforcer holds it, so a synth of shard 0 alone
must still see the whole registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

OPS = "111111111111"
EU_OPS = "888888888888"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def _tenant(tenant_id: str, number: int, **settings: Any) -> dict[str, Any]:
    return {
        "id": tenant_id,
        "account_id": f"2000000000{number:02d}",
        "region": settings.pop("region", "us-east-1"),
        "external_id": f"{tenant_id}-ext-0123456789",
        **settings,
    }


SHARDED_REGISTRY: dict[str, Any] = {
    "version": 1,
    "operations": {"account_id": OPS, "region": "us-east-1", "enforcer": {"enabled": True}},
    "additional_operations": [
        {
            "name": "eu",
            "account_id": EU_OPS,
            "region": "eu-west-1",
            "enforcer": {"enabled": True},
        }
    ],
    "defaults": {"models": [HAIKU]},
    "tenants": [
        _tenant("aa", 1, shard=0),
        _tenant("bb", 2, shard=1, limits={"usd": 50.0}, application_inference_profiles=True),
        _tenant("cc", 3, shard=1),
        _tenant("dd", 4, shard=0, log_content="full"),
        _tenant("ee", 5, region="eu-west-1", operations_account="eu"),
        _tenant(
            "ff",
            6,
            region="eu-west-1",
            operations_account="eu",
            limits={"usd": 10.0},
            application_inference_profiles=True,
        ),
    ],
}


def write_sharded_registry(path: Path) -> Path:
    """The registry as a file, for the app and the CLI."""
    YAML().dump(SHARDED_REGISTRY, path)
    return path
