"""``make bench-synth``'s inputs and verdicts: the fleets it synthesizes are valid registries
shaped as the issue's targets say, and a figure over its target reads MISS."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.synth import (
    RssSampler,
    fleet_registry,
    stack_set_registry,
    tenant_stacks,
    verdicts,
    write_import_rows,
)
from contracts.registry import parse_registry


def test_the_1000_tenant_fleet_is_valid_with_its_shards_recorded() -> None:
    registry = parse_registry(fleet_registry(1000))
    assert len(registry.tenants) == 1000
    assert len(registry.operations_stacks()) == 7  # 150 roles a shard


def test_the_10000_tenant_fleet_spreads_over_its_operations_accounts_and_rolls_out_by_stack_set() -> (
    None
):
    data = stack_set_registry(10000, operations_accounts=4)
    registry = parse_registry(data)
    per_account = Counter(t.operations_account for t in registry.resolved_tenants())
    assert sorted(per_account.values()) == [2500] * 4
    assert registry.customer_stack_set is not None
    # Its targeted synth is the tenant's operations shard alone: no CDK customer stack.
    assert tenant_stacks(data, 9999) == [registry.tenant("tenant-09999").operations_stack_name]


def test_a_tenants_targeted_synth_is_its_customer_stack_and_its_shard() -> None:
    assert tenant_stacks(fleet_registry(1000), 0) == [
        "BedrockCustomer-tenant-00000",
        "BedrockOperations",
    ]


def test_import_rows_are_the_fleets_tenants(tmp_path: Path) -> None:
    rows = write_import_rows(3, tmp_path / "rows.csv").read_text().splitlines()
    assert rows == [
        "id,account_id,region",
        "tenant-00000,300000000000,us-east-1",
        "tenant-00001,300000000001,us-east-1",
        "tenant-00002,300000000002,us-east-1",
    ]


def _results(*, full_seconds: float, baseline_seconds: float) -> dict[str, Any]:
    run = {"wall_seconds": full_seconds, "peak_mb": 1100.0}
    one_process = {"wall_seconds": full_seconds * 1.5, "peak_mb": 900.0}
    return {
        "full": [
            {
                "tenants": 1000,
                "project": run,
                "project_one_process": one_process,
                "baseline": {"wall_seconds": baseline_seconds},
                "ratio": full_seconds / baseline_seconds,
            }
        ],
        "targeted": {"tenants": 1000, "ratio": 1.6, "command": {"ratio": 1.2}},
        "import": {"rows": 1000, "skipped": "no import command"},
        "stack_set_fleet": {
            "tenants": 10000,
            "validate": {"wall_seconds": 4.0},
            "full": {"wall_seconds": 130.0},
        },
    }


def test_each_target_reads_pass_or_miss_and_a_skipped_one_says_so() -> None:
    results = {
        r["key"]: r["result"] for r in verdicts(_results(full_seconds=60, baseline_seconds=50))
    }
    assert results.pop("import_s").startswith("NOT MEASURED")
    assert results == {
        "targeted_ratio": "MISS",  # the app alone: 1.6x
        "targeted_command_ratio": "PASS",  # the command as run: 1.2x
        "full_ratio": "MISS",  # 1.2x the baseline
        "full_peak_mb": "MISS",  # 1,100 MB: parallel processes add up
        "full_one_process_ratio": "MISS",  # 1.8x
        "full_one_process_peak_mb": "PASS",  # 900 MB
        "large_validate_s": "PASS",
        "large_synth_s": "MISS",  # 130 s of 120
    }


def test_peak_memory_counts_the_children_of_the_measured_process() -> None:
    # Bytes written, not a zeroed buffer the kernel may not back until touched.
    allocate = "x = b'1' * (200 * 2**20); import time; time.sleep(1.5)"
    with RssSampler(os.getpid(), interval=0.1) as sampler:
        subprocess.run([sys.executable, "-c", allocate], check=True)
    assert sampler.peak_bytes >= 200 * 2**20
