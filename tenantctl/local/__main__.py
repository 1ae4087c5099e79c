"""``python -m tenantctl.local serve|up|down|status|env|deploy``: the embedded cloud's CLI."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from tenantctl.local import process

DEFAULT_REGISTRY = Path("config/tenants.local.yaml")


def _registry(value: str | None, disabled: bool = False) -> Path | None:
    if disabled:
        return None
    if value:
        return Path(value)
    return DEFAULT_REGISTRY if DEFAULT_REGISTRY.exists() else None


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tenantctl.local", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=process.DEFAULT_STATE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "run the cloud in the foreground until Ctrl-C/SIGTERM"),
        ("up", "start the cloud in the background (no-op if running)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS)
        sub.add_argument(
            "--registry", help=f"accounts from this registry (default {DEFAULT_REGISTRY})"
        )
        sub.add_argument("--no-registry", action="store_true", help="only the --account ids")
        sub.add_argument("--account", action="append", default=[], help="extra account id")
        sub.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    commands.add_parser("down", help="stop the background cloud")
    commands.add_parser("status", help="print the background cloud's endpoint and accounts")
    env = commands.add_parser("env", help="print `export` lines for an account's deployer")
    env.add_argument("account_id")
    deploy = commands.add_parser("deploy", help="bootstrap + deploy every stack of a registry")
    deploy.add_argument("--registry", default=str(DEFAULT_REGISTRY))
    args = parser.parse_args(argv)

    if args.command == "serve":
        process.serve(
            args.state_dir,
            registry=_registry(args.registry, args.no_registry),
            accounts=args.account,
            port=args.port,
        )
        return 0
    if args.command == "up":
        state = process.up(
            args.state_dir,
            registry=_registry(args.registry, args.no_registry),
            accounts=args.account,
            port=args.port,
        )
        print(f"embedded cloud running at {state['endpoint_url']} (pid {state['pid']})")
        return 0
    if args.command == "down":
        print("stopped" if process.down(args.state_dir) else "not running")
        return 0
    if args.command == "status":
        running = process.status(args.state_dir)
        if running is None:
            print("not running")
            return 1
        summary = {k: running[k] for k in ("endpoint_url", "pid", "region")}
        summary["accounts"] = sorted(running["accounts"])
        print(json.dumps(summary, indent=2))
        return 0
    try:
        cloud = process.RunningCloud.load(args.state_dir)
    except process.CloudNotRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "env":
        if args.account_id not in cloud.accounts:
            print(
                f"error: account_id: no embedded account {args.account_id} "
                f"(known: {', '.join(sorted(cloud.accounts))})",
                file=sys.stderr,
            )
            return 2
        for key, value in cloud.env(args.account_id).items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    from tenantctl.local.deploy import DeployError, deploy_registry

    try:
        report = deploy_registry(cloud, args.registry, progress=print)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for step, seconds in report.timings.items():
        print(f"{step}: {seconds:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
