"""A fresh embedded cloud's accounts belong to no organization, whatever an earlier
cloud of the same process did: tests that each build an organization of the same
accounts must not depend on their order (moto's reset kept who was a member)."""

from __future__ import annotations

import pytest

from embedded_aws import EmbeddedCloud
from embedded_aws.organization import build_organization, organizations_client

pytestmark = pytest.mark.xdist_group("embedded-organization-reset")

OPS, MEMBER = "111111111111", "222222222222"


def test_an_account_joins_an_organization_again_in_the_next_cloud() -> None:
    for _ in range(2):
        with EmbeddedCloud(accounts=[OPS, MEMBER], warm_lambdas=False) as cloud:
            org = build_organization(
                cloud, management_account=OPS, organizational_units={"tenants": [MEMBER]}
            )
            described = organizations_client(cloud, MEMBER).describe_organization()
            assert described["Organization"]["Id"] == org.id
            assert described["Organization"]["MasterAccountId"] == OPS
