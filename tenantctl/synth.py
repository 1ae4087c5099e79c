"""``cdk synth`` of the app for a deploy: only the stacks asked for, in parallel when many.

A deploy about a few tenants synthesizes only their stacks (the app's ``stacks``
context); the templates are the same bytes the full synth writes, since the app
resolves the whole registry either way. A large selection is split into groups
synthesized by several ``cdk synth`` processes at once, one core each, each
into a directory of its own, and merged into one cloud assembly
(``tenantctl.cloud_assembly``) that ``cdk deploy --app <dir>`` reads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tenantctl import cloud_assembly
from tenantctl.cdk_runner import PROJECT_ROOT, CloudEnv, cli_environment, run_cdk

# Below this many stacks one process is about as fast: each extra process pays
# for its own Python, jsii and Node start-up and its own bundling.
PARALLEL_MIN_STACKS = 150
# The app's context key for its stack filter (app.py).
STACKS_CONTEXT = "stacks"


def synthesize(
    cloud: CloudEnv,
    out_dir: Path,
    *,
    context: Mapping[str, str],
    app_dir: Path = PROJECT_ROOT,
    on_line: Callable[[str], None] | None = None,
    stacks: Sequence[str] | None = None,
    groups: Sequence[Sequence[str]] = (),
) -> dict[str, dict[str, Any]]:
    """``cdk synth`` into ``out_dir`` for ``cloud``; the templates by stack name.

    ``context`` is the app's (the project's app takes ``registry``); the cloud
    adds its own (the embedded cloud's ``lambda_platform=host``). ``stacks``
    (None: the whole app) is passed as the app's ``stacks`` filter. With more
    than one of ``groups`` (partitions of the selection) each group is
    synthesized by a process of its own, at most one per core, and merged.
    """
    context = {**context, **cloud.cdk_context}
    if len(groups) < 2:
        only = {STACKS_CONTEXT: ",".join(stacks)} if stacks is not None else {}
        _synth_one(out_dir, {**context, **only}, app_dir, on_line)
        return cloud_assembly.stack_templates(out_dir)
    with tempfile.TemporaryDirectory(prefix="tenantctl-synth-", dir=out_dir.parent) as tmp:
        parts = [Path(tmp) / f"part-{i}" for i in range(len(groups))]

        def one(index: int) -> None:
            group_context = {**context, STACKS_CONTEXT: ",".join(groups[index])}
            # Only the first process's output is streamed: interleaved lines say nothing.
            _synth_one(parts[index], group_context, app_dir, on_line if index == 0 else None)

        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            for future in [pool.submit(one, i) for i in range(len(groups))]:
                future.result()
        cloud_assembly.merge(parts, out_dir)
    return cloud_assembly.stack_templates(out_dir)


def _synth_one(
    out_dir: Path,
    context: Mapping[str, str],
    app_dir: Path,
    on_line: Callable[[str], None] | None,
) -> None:
    args = ["synth", "--quiet", "--output", str(out_dir)]
    for key, value in context.items():
        args += ["-c", f"{key}={value}"]
    run_cdk(args, env=cli_environment({}), cwd=app_dir, progress=on_line)


def parallel_groups(
    operations_stacks: Sequence[str],
    customer_stacks: Sequence[str],
    *,
    processes: int | None = None,
) -> list[list[str]]:
    """The selection split for a parallel synth; one group means one process.

    Below PARALLEL_MIN_STACKS stacks, or with one idle core, one group. Otherwise
    one group per core (``processes``, default ``idle_cores()``): the operations
    stacks in the first with its block of customer stacks, the customer stacks
    in contiguous blocks of about equal size, so each process does about as much.
    """
    count = len(operations_stacks) + len(customer_stacks)
    processes = processes if processes is not None else idle_cores()
    if count < PARALLEL_MIN_STACKS or processes < 2 or not customer_stacks:
        return [[*operations_stacks, *customer_stacks]]
    return split_groups(operations_stacks, customer_stacks, processes)


def idle_cores() -> int:
    """Cores not busy with other work (1-minute load average), at least one.

    A synth process per core pays off only on idle cores: on a busy machine
    two processes took longer than one (1,000 tenants: 135 s against 120 s
    at a load of about 6 on 2 cores) and their memory adds up.
    """
    cores = os.cpu_count() or 1
    return max(1, cores - round(os.getloadavg()[0]))


def split_groups(
    operations_stacks: Sequence[str], customer_stacks: Sequence[str], groups: int
) -> list[list[str]]:
    """``groups`` groups (fewer when there are fewer customer stacks): the operations
    stacks with the first block of customer stacks, then the other blocks."""
    groups = max(1, min(groups, len(customer_stacks)))
    size, extra = divmod(len(customer_stacks), groups)
    blocks: list[list[str]] = []
    start = 0
    for index in range(groups):
        end = start + size + (1 if index < extra else 0)
        blocks.append(list(customer_stacks[start:end]))
        start = end
    blocks[0] = [*operations_stacks, *blocks[0]]
    return blocks
