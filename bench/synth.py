"""``make bench-synth``: synthesize generated fleets of 10, 100 and 1,000 tenants.

Each size runs in a fresh process (wall time and peak memory are that process's),
the project's app side by side with a bare baseline: a minimal CDK app that
creates the same resource types per tenant (an invoker role with its policy and
output in a sharded operations stack; per tenant a stack with a KMS key, two log
groups, a role with its policy, a Lambda function and three outputs) with none of
the project's code. Bundling is off in both (``aws:cdk:bundling-stacks: []``):
the function asset is bundled once per platform whatever the fleet size.

    python -m bench.synth [--sizes 10 100 1000] [--json bench/synth-results.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
SHARD = 150


def fleet_registry(count: int) -> dict[str, Any]:
    """A valid registry of ``count`` tenants, shards recorded as onboarding does."""
    return {
        "operations": {
            "account_id": "111111111111",
            "region": "us-east-1",
            "iam_role_quota": 5000,
        },
        "tenants": [
            {
                "id": f"tenant-{i:05d}",
                "account_id": f"{300000000000 + i}",
                "region": "us-east-1",
                "external_id": f"tenant-{i:05d}-ext",
                "shard": i // SHARD,
            }
            for i in range(count)
        ],
    }


def synth_project(count: int, outdir: str) -> int:
    """The project's app for a generated fleet; the number of stacks."""
    sys.path.insert(0, str(ROOT))
    from app import build_app
    from contracts.registry import parse_registry

    app = build_app(parse_registry(fleet_registry(count)), context=NO_BUNDLING, outdir=outdir)
    return len(app.synth().stacks)


def synth_baseline(count: int, outdir: str) -> int:
    """A bare CDK app with the same resource types per tenant; the number of stacks."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

    app = cdk.App(outdir=outdir, context=NO_BUNDLING)
    ops_env = cdk.Environment(account="111111111111", region="us-east-1")
    shards = [cdk.Stack(app, f"Ops-{s}", env=ops_env) for s in range(max(1, -(-count // SHARD)))]
    for i in range(count):
        tenant = f"tenant-{i:05d}"
        account = f"{300000000000 + i}"
        ops = shards[i // SHARD]
        role = iam.Role(
            ops,
            f"Invoker-{tenant}",
            role_name=f"bedrock-invoker-{tenant}",
            assumed_by=iam.AccountPrincipal(account).with_conditions(
                {"StringEquals": {"sts:ExternalId": f"{tenant}-ext"}}
            ),
        )
        iam.Policy(
            ops,
            f"Models-{tenant}",
            statements=[
                iam.PolicyStatement(
                    actions=["bedrock:InvokeModel"],
                    resources=["arn:aws:bedrock:us-east-1::foundation-model/m"],
                )
            ],
        ).attach_to_role(role)
        cdk.CfnOutput(ops, f"Arn-{tenant}", value=role.role_arn)

        stack = cdk.Stack(
            app, f"Customer-{tenant}", env=cdk.Environment(account=account, region="us-east-1")
        )
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        usage = logs.LogGroup(
            stack, "Usage", log_group_name="/aws/bedrock/langchain/logs", encryption_key=key
        )
        fn_logs = logs.LogGroup(stack, "FnLogs", encryption_key=key)
        fn_role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        fn_role.add_to_policy(
            iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role.role_arn])
        )
        usage.grant_write(fn_role)
        fn = lambda_.Function(
            stack,
            "Fn",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(e, c): return e"),
            role=fn_role,
            log_group=fn_logs,
            environment={"TENANT_ID": tenant},
        )
        cdk.CfnOutput(stack, "FunctionName", value=fn.function_name)
        cdk.CfnOutput(stack, "RoleArn", value=fn_role.role_arn)
        cdk.CfnOutput(stack, "LogGroup", value=usage.log_group_name)
    return len(app.synth().stacks)


def _child(kind: str, count: int, outdir: str) -> None:
    started = time.perf_counter()
    stacks = (synth_project if kind == "project" else synth_baseline)(count, outdir)
    print(json.dumps({"stacks": stacks, "seconds": time.perf_counter() - started}))


def _measured(kind: str, count: int, outdir: str) -> None:
    """Run one synth in a child and add its peak memory.

    The child's jsii kernel (a Node.js process, where most of the memory is) is
    waited for at the child's exit, so this process's RUSAGE_CHILDREN holds the
    larger of the two peaks.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench.synth", "--child", kind, str(count), outdir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(figures))


def measure(kind: str, count: int, outdir: Path) -> dict[str, Any]:
    """One synth in fresh processes; its figures (wall includes interpreter start)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.synth", "--measured", kind, str(count), str(outdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall_seconds"] = time.perf_counter() - started
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "synth-results.json")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--measured", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    if args.measured:
        _measured(args.measured[0], int(args.measured[1]), args.measured[2])
        return 0

    import tempfile

    from rich.console import Console
    from rich.table import Table

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for size in args.sizes:
            # Side by side: the baseline and the project, each in its own process.
            base = measure("baseline", size, Path(tmp) / f"base-{size}")
            project = measure("project", size, Path(tmp) / f"project-{size}")
            rows.append({"tenants": size, "project": project, "baseline": base})
    table = Table(
        title="cdk synth of a generated fleet (bundling off), fresh processes each; "
        "peak MB = the larger of Python and its Node.js jsii kernel"
    )
    for column in (
        "tenants",
        "stacks",
        "project wall s",
        "ms/tenant",
        "peak MB",
        "baseline wall s",
        "baseline peak MB",
        "ratio",
        "target",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        p, b, n = row["project"], row["baseline"], row["tenants"]
        ratio = p["wall_seconds"] / b["wall_seconds"]
        row["ratio"] = ratio
        target = "< 30 s, <= 2x" if n == 1000 else "<= 2x"
        table.add_row(
            str(n),
            str(p["stacks"]),
            f"{p['wall_seconds']:.1f}",
            f"{1000 * p['wall_seconds'] / n:.1f}",
            f"{p['peak_mb']:.0f}",
            f"{b['wall_seconds']:.1f}",
            f"{b['peak_mb']:.0f}",
            f"{ratio:.2f}x",
            target,
        )
    Console(width=140).print(table)
    args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
