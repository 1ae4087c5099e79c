"""``python -m embedded_aws serve``: the background server that ``tenantctl local up`` starts.

Not a user-facing CLI: ``tenantctl local up|down|status|env|deploy`` is the one
command line for the embedded cloud. This entry point only runs the server in
the foreground until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from embedded_aws import process


def main(argv: list[str] | None = None) -> int:
    """Run ``serve`` with the state directory, registry, accounts and port given."""
    parser = argparse.ArgumentParser(prog="python -m embedded_aws", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the cloud in the foreground")
    serve.add_argument("--state-dir", type=Path, default=process.DEFAULT_STATE_DIR)
    serve.add_argument("--registry", type=Path, help="the accounts of this registry")
    serve.add_argument("--account", action="append", default=[], help="extra account id")
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    args = parser.parse_args(argv)
    process.serve(args.state_dir, registry=args.registry, accounts=args.account, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
