"""``make bench-fleet``: a generated fleet deployed into the embedded cloud, 1 and 4 at a time.

Both runs happen one after the other in this one process, each into a fresh
embedded cloud, with the same registry (``--tenants``, default 20, two shards),
through ``tenantctl.fleet.deploy_registry``: the app synthesized once, every
environment bootstrapped, operations stacks first, then customer stacks.

    python -m bench.fleet [--tenants 20] [--json bench/fleet-results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent


def write_registry(path: Path, tenants: int) -> Path:
    """A fleet of ``tenants`` in shards of 10 of one operations account."""
    YAML().dump(
        {
            "version": 1,
            "operations": {
                "account_id": "111111111111",
                "region": "us-east-1",
                "shard_capacity": 10,
            },
            "tenants": [
                {
                    "id": f"tenant-{i:05d}",
                    "account_id": f"{300000000000 + i}",
                    "region": "us-east-1",
                    "external_id": f"tenant-{i:05d}-ext",
                    "shard": i // 10,
                }
                for i in range(tenants)
            ],
        },
        path,
    )
    return path


def run(registry_path: Path, concurrency: int) -> dict[str, Any]:
    """One deployment of the fleet into a fresh embedded cloud; its figures."""
    sys.path.insert(0, str(ROOT))
    from contracts.registry import load_registry
    from embedded_aws import EmbeddedCloud
    from tenantctl.fleet import deploy_registry

    with EmbeddedCloud(registry=load_registry(registry_path)) as cloud:
        started = time.perf_counter()
        report = deploy_registry(cloud, registry_path, concurrency=concurrency)
        wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "stacks": len(report.results),
        "deployed": sum(r.status == "deployed" for r in report.results),
        "failed": len(report.failed),
        "wall_seconds": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "fleet-results.json")
    args = parser.parse_args(argv)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse")

    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        registry = write_registry(Path(tmp) / "tenants.yaml", args.tenants)
        runs = [run(registry, 1), run(registry, 4)]
    table = Table(title=f"fleet deploy of {args.tenants} tenants into the embedded cloud")
    for column in ("concurrency", "stacks", "deployed", "failed", "wall s", "vs sequential"):
        table.add_column(column, justify="right")
    for r in runs:
        table.add_row(
            str(r["concurrency"]),
            str(r["stacks"]),
            str(r["deployed"]),
            str(r["failed"]),
            f"{r['wall_seconds']:.0f}",
            f"{r['wall_seconds'] / runs[0]['wall_seconds']:.2f}x",
        )
    Console().print(table)
    args.json.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["failed"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
