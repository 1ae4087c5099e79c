"""``python -m bench.profile_init``: where the invoker's init time goes.

Builds (or reuses) the trimmed host package as ``make bench`` does, then in fresh
processes against the embedded cloud:

1. ``python -X importtime`` of the handler's import and first invocation: the
   import tree, folded to the modules that cost at least ``--threshold`` of it;
2. pyinstrument (a dev dependency) over the same import and first invocation:
   the call tree, including client construction and the first Converse.

Figures are this machine's, for the package as shipped: with the bytecode the
bundler compiled for this interpreter, and ``-B`` so that nothing more is
written (as on Lambda's read-only ``/var/task``). docs/PERFORMANCE.md reads
these outputs.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from bench.package import BUILD, naive_install, trimmed_package
from bench.world import OPS, REGION, TENANT, BenchProcess, provision, sessions
from embedded_aws import EmbeddedCloud
from stacks.shared.lambda_bundling import LambdaPlatform


def import_tree(stderr: str, threshold: float) -> list[str]:
    """``-X importtime`` lines as an indented tree of the costly imports, parents first."""
    rows: list[tuple[int, int, str]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(cumulative), depth, name.strip()))
    total = max(cumulative for cumulative, _, _ in rows)
    # importtime prints a module after its children: reversed, parents come first.
    return [
        f"{cumulative / total:6.1%} {cumulative / 1000:7.0f} ms  {'  ' * depth}{name}"
        for cumulative, depth, name in reversed(rows)
        if cumulative >= threshold * total
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_init")
    parser.add_argument("--threshold", type=float, default=0.03, help="share of the import")
    args = parser.parse_args(argv)
    host = LambdaPlatform.host()
    package = trimmed_package(host, naive_install(host), BUILD / f"trimmed-{host.machine}")
    spec = importlib.util.find_spec("pyinstrument")
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        runner = BenchProcess(cloud, package, sessions(cloud))
        elapsed, report = runner.run("cold-handler", flags=("-X", "importtime"))
        print(f"import + first invocation: {elapsed * 1000:.0f} ms (with -X importtime)")
        print("\n".join(import_tree(report["stderr"], args.threshold)))
        if spec is None or spec.origin is None:
            print("pyinstrument is not installed: `make setup` installs the dev pins")
            return 0
        site = str(Path(spec.origin).parent.parent)
        _, report = runner.run("profile", config={"profiler_path": site})
        print(report["value"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
