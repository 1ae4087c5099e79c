"""Load and isolation under concurrency, through the deployed functions on the embedded cloud.

Invocations spread over three tenants from 16 threads. Every one must leave exactly
one record, in its own tenant's account, and every Bedrock call must be made as
its own tenant's invoker role; the operations account must hold nothing.

``make test`` sends ``LOAD_INVOCATIONS`` (default 60); ``make soak`` sends 1,000.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from ruamel.yaml import YAML

from contracts.naming import INVOKER_ALIAS
from contracts.registry import Tenant, TenantRegistry, load_registry
from contracts.usage_record import stream_name_for
from demo.checks import ops_own_log_groups
from demo.scenario import log_group_names, scan_usage_records, usage_records
from embedded_aws import EmbeddedCloud
from tenantctl.fleet import deploy_registry
from tenantctl.usage_reader import merge_fallback

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-load"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

INVOCATIONS = int(os.environ.get("LOAD_INVOCATIONS", "60"))
THREADS = 16
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedCloud, TenantRegistry]]:
    path = tmp_path_factory.mktemp("load") / "tenants.yaml"
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": "111111111111", "region": "us-east-1"},
            "defaults": {"models": [MODEL], "log_retention_days": 7},
            "tenants": [
                {
                    "id": name,
                    "account_id": account,
                    "region": "us-east-1",
                    "external_id": f"{name}-load-0123456789",
                    "shard": 0,
                }
                for name, account in (
                    ("amber", "210000000001"),
                    ("birch", "210000000002"),
                    ("cedar", "210000000003"),
                )
            ],
        },
        path,
    )
    registry = load_registry(path)
    with EmbeddedCloud(registry=registry) as cloud:
        report = deploy_registry(cloud, path)
        assert not report.failed, report.failed
        yield cloud, registry


def _invoke(cloud: EmbeddedCloud, tenant: Tenant, n: int) -> dict[str, Any]:
    event = {
        "prompt": f"Load test question {n}: say hello.",
        "user_id": f"user-{n % 7}:{tenant.id}",  # ':' tests stream naming under load
        "application_id": f"app-{n % 3}",
        "max_tokens": 40,
    }
    target = f"{tenant.function_name}:{INVOKER_ALIAS}"  # the alias, as every caller
    answer = cloud.invoke(tenant.account_id, target, event, region=tenant.region)
    return {"tenant": tenant.id, "n": n, **answer}


def test_every_invocation_leaves_one_record_in_its_own_tenants_account(
    fleet: tuple[EmbeddedCloud, TenantRegistry],
) -> None:
    cloud, registry = fleet
    tenants = list(registry.resolved_tenants())
    cloud.bedrock.clear_calls()
    started_ms = int(time.time() * 1000) - 1
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(
            pool.map(lambda n: _invoke(cloud, tenants[n % len(tenants)], n), range(INVOCATIONS))
        )
    wall = time.perf_counter() - started

    failed = [a for a in answers if a["function_error"] or "error" in (a["payload"] or {})]
    assert failed == [], failed[:3]
    sent = Counter(a["tenant"] for a in answers)

    total = printed = 0
    invocation_ids: list[str] = []
    for tenant in tenants:
        found = usage_records(cloud, tenant, start_ms=started_ms)
        fallback = [
            r
            for r in scan_usage_records(cloud, [tenant.account_id], tenant.region)
            if r.record.is_fallback
        ]
        # A record CloudWatch Logs did not take is printed to the function's own log
        # group: still in the tenant's account, and counted once (merge_fallback).
        records = merge_fallback([f.record for f in found], [f.record for f in fallback])
        assert len(records) == sent[tenant.id], (tenant.id, len(records), sent[tenant.id])
        assert {r.tenant_id for r in records} == {tenant.id}
        assert all(f.account_id == tenant.account_id for f in [*found, *fallback])
        # Each record sits in its own user's stream.
        assert all(r.stream == stream_name_for(r.record.user_id) for r in found)
        invocation_ids += [str(r.invocation_id) for r in records]
        total += len(records)
        printed += len(records) - len(found)
    assert total == INVOCATIONS
    assert len(set(invocation_ids)) == INVOCATIONS, "a duplicate record"

    ops = registry.operations
    assert set(log_group_names(cloud, ops.account_id, ops.region)) <= ops_own_log_groups(
        cloud, registry
    )
    assert list(scan_usage_records(cloud, [ops.account_id], ops.region)) == []

    role_tenant = {t.invoker_role_arn: t.id for t in tenants}
    calls = cloud.bedrock.calls()
    assert all(c.account_id == ops.account_id for c in calls)
    assert all(role_tenant.get(c.role_arn or "") == c.session_name for c in calls)
    assert Counter(role_tenant[c.role_arn or ""] for c in calls if c.outcome == "success") == sent
    print(
        f"\nload: {INVOCATIONS} invocations over {len(tenants)} tenants from {THREADS} threads "
        f"in {wall:.1f}s ({INVOCATIONS / wall:.1f}/s); {total} records ({printed} through the "
        "stdout fallback), 0 lost, 0 duplicated, "
        f"{len(calls)} Bedrock calls, 0 in the wrong role"
    )
