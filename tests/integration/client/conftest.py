"""The client library's tests: one embedded cloud per module, two tenants provisioned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded_aws import EmbeddedCloud
from tests.support.client_world import (
    OPS,
    OTHER_TENANT,
    TENANT,
    ClientTenant,
    embedded_endpoint,
    provision_tenant,
)


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, TENANT, OTHER_TENANT]) as running, embedded_endpoint(running):
        yield running


@pytest.fixture(scope="module")
def acme(cloud: EmbeddedCloud) -> ClientTenant:
    return provision_tenant(cloud, "acme", TENANT)


@pytest.fixture(scope="module")
def globex(cloud: EmbeddedCloud) -> ClientTenant:
    return provision_tenant(cloud, "globex", OTHER_TENANT)


@pytest.fixture
def spool_path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "usage-spool.jsonl"
