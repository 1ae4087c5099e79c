"""``make bench``: the invoker's cost, measured side by side in one run, beside its targets.

1. **Warm overhead** per usage sink (``api``, ``stdout``): the handler's median
   latency over raw boto3 ``bedrock-runtime.converse``, and over the floor (raw
   Converse plus one raw PutLogEvents: what the api sink cannot do without),
   interleaved call by call in one warm process (plus a minimal LangChain app, for
   what LangChain alone costs).
2. **Cold init**: a fresh process that imports the handler and serves its first
   invocation, against a fresh process that runs ``import boto3`` and one raw
   Converse; each the median of ``--cold-runs`` alternating runs. Beside it, the
   minimal LangChain app's cold start (``ChatBedrockConverse`` on a raw client, one
   ``invoke``: the floor LangChain sets), the same two on the package without its
   bytecode (as shipped before), and
   SnapStart's restore path as far as it can be emulated here (the after-restore
   hooks and the first invocation, in a process whose init is done).
3. **Package size**: the arm64 package the bundler ships (trimmed, with bytecode
   for Python 3.12) against the naive ``pip install --target`` of the invoker's
   requirements, unzipped and zipped; and, for comparison, the same package with
   sourceless dependencies.
4. **API calls** per 100 invocations of a fresh container, counted by the embedded
   cloud's request log (``EmbeddedCloud.request_counts``), per sink.
5. **The client library** (``bedrock_tenant_client``, as a workload runs it): its
   warm ``invoke`` against raw boto3 ``converse``, and the time to the first token
   of its ``stream`` against raw ``converse_stream``, interleaved call by call in
   one process (``bench/client_process.py``); ``--only client`` runs these alone.

Every process runs the trimmed host-architecture package as shipped, bytecode
for this interpreter included, with ``python -B -I -S`` (nothing but it and the
standard library; ``bench/lambda_process.py``) against the
embedded cloud's endpoints. The Converse emulator answers in about a millisecond,
so the ratios show the client-side overhead that a real Bedrock call (hundreds of
milliseconds) dwarfs. Absolute numbers are this machine's; the ratios are the result.

The table is printed and written to ``bench/results.json`` (not with ``--only``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.interleave import interleaved
from bench.package import (
    BUILD,
    PackageSize,
    measure,
    naive_install,
    sourceless_dependencies,
    trimmed_package,
    without_bytecode,
)
from bench.world import (
    OPS,
    REGION,
    TENANT,
    BenchProcess,
    provision,
    run_client_process,
    sessions,
)
from contracts.usage_record import parse_record
from embedded_aws import EmbeddedCloud
from stacks.shared.lambda_bundling import LambdaPlatform

ROOT = Path(__file__).resolve().parent.parent

RESULTS = Path(__file__).resolve().parent / "results.json"
SINKS = ("api", "stdout")
COUNTED = {
    "AssumeRole": "sts:AssumeRole",
    "CreateLogStream": "logs:CreateLogStream",
    "PutLogEvents": "logs:PutLogEvents",
}


# -- the four measurements ------------------------------------------------------------


def cold_init(shipped: BenchProcess, source_only: BenchProcess, runs: int) -> dict[str, Any]:
    """Fresh processes, interleaved: the shipped package and the one without bytecode,
    and on the shipped package the minimal LangChain app (LangChain's own cold start)."""
    output_tokens: dict[str, set[int]] = {}

    def answered(runner: BenchProcess, mode: str, name: str) -> Callable[[], float]:
        def run() -> float:
            elapsed, report = runner.run(mode)
            output_tokens.setdefault(name, set()).add(report["value"]["output_tokens"])
            return elapsed * 1000

        return run

    variants: dict[str, Callable[[], float]] = {
        "handler": answered(shipped, "cold-handler", "handler"),
        "boto3": answered(shipped, "cold-boto3", "boto3"),
        "langchain": answered(shipped, "cold-langchain", "langchain"),
        "handler_from_source": answered(source_only, "cold-handler", "handler_from_source"),
        "boto3_from_source": answered(source_only, "cold-boto3", "boto3_from_source"),
        "restore": lambda: float(shipped.run("cold-restore")[1]["value"]["restore_ms"]),
    }
    samples = interleaved(variants, runs)
    if len(set().union(*output_tokens.values())) != 1:
        # The emulator's answer derives from the whole request: another length is
        # another request, and another amount of work timed.
        raise RuntimeError(f"the cold processes' answers differ: {output_tokens} output tokens")
    ms = {name: statistics.median(v) for name, v in samples.items()}
    return {
        "handler_ms": ms["handler"],
        "boto3_ms": ms["boto3"],
        "ratio": ms["handler"] / ms["boto3"],
        "from_source": {
            "handler_ms": ms["handler_from_source"],
            "boto3_ms": ms["boto3_from_source"],
            "ratio": ms["handler_from_source"] / ms["boto3_from_source"],
        },
        # The cold start of LangChain alone, which the function cannot go below.
        "minimal_langchain": {"ms": ms["langchain"], "ratio": ms["langchain"] / ms["boto3"]},
        "snap_start_restore": {"restore_ms": ms["restore"], "ratio": ms["restore"] / ms["boto3"]},
        "runs": runs,
    }


def warm_overhead(runner: BenchProcess, sink: str, rounds: int) -> dict[str, Any]:
    _, report = runner.run("warm", sink=sink, config={"rounds": rounds, "warmup": 5})
    medians = {name: v["median_ms"] for name, v in report["value"].items()}
    return {
        "raw_ms": medians["raw"],
        "floor_ms": medians["floor"],
        "handler_ms": medians["handler"],
        "langchain_ms": medians["langchain"],
        "ratio": medians["handler"] / medians["raw"],
        "floor_ratio": medians["handler"] / medians["floor"],
        "rounds": rounds,
    }


def api_calls(
    cloud: EmbeddedCloud, runner: BenchProcess, sink: str, invocations: int
) -> dict[str, Any]:
    """API calls of one fresh container serving ``invocations`` calls, by operation."""
    before = cloud.request_counts()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        _, report = runner.run("count", sink=sink, config={"invocations": invocations}, stdout=out)
        out.seek(0)
        printed = sum(1 for line in out if parse_record(line.strip()) is not None)
    delta = cloud.request_counts() - before
    counts = {name: delta[key] for name, key in COUNTED.items()}
    counts["Converse"] = sum(n for key, n in delta.items() if key.endswith("/converse"))
    return {
        "invocations": invocations,
        "calls": counts,
        "records_printed": printed,
        "numpy_or_zstandard_imported": sorted(
            {"numpy", "zstandard"} & set(report["value"]["modules"])
        ),
    }


def package_sizes(
    naive_dir: Path, trimmed_dir: Path, sourceless_dir: Path | None
) -> dict[str, Any]:
    naive: PackageSize = measure(naive_dir)
    trimmed: PackageSize = measure(trimmed_dir)
    sizes: dict[str, Any] = {
        "naive": {"unzipped": naive.unzipped, "zipped": naive.zipped},
        "trimmed": {"unzipped": trimmed.unzipped, "zipped": trimmed.zipped},
        "unzipped_ratio": trimmed.unzipped / naive.unzipped,
        "zipped_ratio": trimmed.zipped / naive.zipped,
        "bytecode": sourceless_dir is not None,
    }
    if sourceless_dir is not None:
        sourceless = measure(sourceless_dir)
        sizes["sourceless_dependencies"] = {
            "unzipped": sourceless.unzipped,
            "zipped": sourceless.zipped,
            "unzipped_ratio": sourceless.unzipped / naive.unzipped,
            "zipped_ratio": sourceless.zipped / naive.zipped,
        }
    return sizes


def client_overhead(cloud: EmbeddedCloud, rounds: int, warmup: int = 5) -> dict[str, Any]:
    """The client library's warm call and time to first token, against raw boto3."""
    with tempfile.TemporaryDirectory() as spool:
        report = run_client_process(
            cloud,
            {
                "rounds": rounds,
                "warmup": warmup,
                "spool_path": str(Path(spool) / "usage-spool.jsonl"),
            },
        )
    ms = {name: v["median_ms"] for name, v in report["variants"].items()}
    return {
        "invoke": {
            "raw_ms": ms["raw"],
            "library_ms": ms["library"],
            "ratio": ms["library"] / ms["raw"],
            "langchain_ms": ms["langchain"],
            "delivered_ms": ms["library_delivered"],
        },
        "time_to_first_token": {
            "raw_ms": ms["raw_stream_ttft"],
            "library_ms": ms["library_stream_ttft"],
            "ratio": ms["library_stream_ttft"] / ms["raw_stream_ttft"],
            "langchain_ms": ms["langchain_stream_ttft"],
        },
        "max_tokens": report["max_tokens"],
        "output_tokens": report["output_tokens"]["library"],
        "records_spooled": report["spooled"],
        "rounds": rounds,
    }


# -- the table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    target: str
    met: bool | None  # None: no target, shown for context


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# The targets of issue 22, side by side in one run.
WARM_TARGETS = {"api": 2.5, "stdout": 1.4}
API_FLOOR_TARGET = 1.2
COLD_TARGET = 2.5
PACKAGE_TARGET = 0.60
# Issue 21's, for the client library.
CLIENT_WARM_TARGET = 1.3
CLIENT_TTFT_TARGET = 1.1


def client_rows(client: Mapping[str, Any]) -> list[Row]:
    """The client library against raw boto3, each ratio with its context rows."""
    invoke, first = client["invoke"], client["time_to_first_token"]
    return [
        Row(
            "client library, warm invoke",
            f"{invoke['ratio']:.2f}x ({invoke['library_ms']:.2f} vs {invoke['raw_ms']:.2f} ms)",
            f"<= {CLIENT_WARM_TARGET:.1f}x raw boto3 converse",
            invoke["ratio"] <= CLIENT_WARM_TARGET,
        ),
        Row(
            "  minimal LangChain app (client, invoke)",
            f"{invoke['langchain_ms'] / invoke['raw_ms']:.2f}x ({invoke['langchain_ms']:.2f} ms)",
            "",
            None,
        ),
        Row(
            "  invoke until its record is delivered",
            f"{invoke['delivered_ms'] / invoke['raw_ms']:.2f}x ({invoke['delivered_ms']:.2f} ms)",
            "",
            None,
        ),
        Row(
            "client library, stream: time to first token",
            f"{first['ratio']:.2f}x ({first['library_ms']:.2f} vs {first['raw_ms']:.2f} ms)",
            f"<= {CLIENT_TTFT_TARGET:.1f}x raw boto3 converse_stream",
            first["ratio"] <= CLIENT_TTFT_TARGET,
        ),
        Row(
            "  minimal LangChain app (client, stream)",
            f"{first['langchain_ms'] / first['raw_ms']:.2f}x ({first['langchain_ms']:.2f} ms)",
            "",
            None,
        ),
    ]


def warm_rows(warm: Mapping[str, Any]) -> list[Row]:
    """The function's warm overhead per sink, against raw boto3 and the api sink's floor."""
    out: list[Row] = []
    for sink, limit in WARM_TARGETS.items():
        w = warm[sink]
        out.append(
            Row(
                f"warm overhead, {sink} sink",
                f"{w['ratio']:.2f}x ({w['handler_ms']:.2f} vs {w['raw_ms']:.2f} ms)",
                f"<= {limit:.1f}x raw boto3",
                w["ratio"] <= limit,
            )
        )
        if sink == "api":
            out.append(
                Row(
                    "warm overhead, api sink, over its floor",
                    f"{w['floor_ratio']:.2f}x ({w['handler_ms']:.2f} vs {w['floor_ms']:.2f} ms)",
                    f"<= {API_FLOOR_TARGET:.1f}x raw Converse + raw PutLogEvents",
                    w["floor_ratio"] <= API_FLOOR_TARGET,
                )
            )
    for sink in SINKS:
        w = warm[sink]
        out.append(
            Row(
                f"  minimal LangChain app, same process ({sink})",
                f"{w['langchain_ms'] / w['raw_ms']:.2f}x ({w['langchain_ms']:.2f} ms)",
                "",
                None,
            )
        )
    return out


def cold_rows(cold: Mapping[str, Any]) -> list[Row]:
    """The function's cold init, with and without bytecode, and SnapStart's restore path."""
    out: list[Row] = []
    out.append(
        Row(
            "cold init (import + first call)",
            f"{cold['ratio']:.2f}x ({cold['handler_ms']:.0f} vs {cold['boto3_ms']:.0f} ms)",
            f"<= {COLD_TARGET:.1f}x boto3-only process",
            cold["ratio"] <= COLD_TARGET,
        )
    )
    langchain = cold["minimal_langchain"]
    out.append(
        Row(
            "  minimal LangChain app, cold start",
            f"{langchain['ratio']:.2f}x ({langchain['ms']:.0f} ms)",
            "",
            None,
        )
    )
    source = cold["from_source"]
    out.append(
        Row(
            "  the same, package without bytecode (before)",
            f"{source['ratio']:.2f}x ({source['handler_ms']:.0f} vs {source['boto3_ms']:.0f} ms)",
            "",
            None,
        )
    )
    restore = cold["snap_start_restore"]
    out.append(
        Row(
            "  SnapStart: after-restore hooks + first call",
            f"{restore['ratio']:.2f}x ({restore['restore_ms']:.0f} ms; no microVM resume here)",
            "",
            None,
        )
    )
    return out


def rows(results: Mapping[str, Any]) -> list[Row]:
    out = warm_rows(results["warm"])
    if "client" in results:
        out += client_rows(results["client"])
    out += cold_rows(results["cold_init"])
    size = results["package"]
    for kind in ("unzipped", "zipped"):
        ratio = size[f"{kind}_ratio"]
        out.append(
            Row(
                f"arm64 package, {kind}",
                f"{ratio:.0%} ({_mb(size['trimmed'][kind])} vs {_mb(size['naive'][kind])})",
                f"<= {PACKAGE_TARGET:.0%} of naive",
                ratio <= PACKAGE_TARGET,
            )
        )
    sourceless = size.get("sourceless_dependencies")
    out.append(
        Row(
            "  sourceless dependencies instead (not shipped)",
            (
                f"{sourceless['unzipped_ratio']:.0%} ({_mb(sourceless['unzipped'])}) unzipped, "
                f"{sourceless['zipped_ratio']:.0%} ({_mb(sourceless['zipped'])}) zipped"
            )
            if sourceless
            else "no CPython 3.12 here: the package shipped without bytecode",
            "",
            None,
        )
    )
    for sink in SINKS:
        c = results["api_calls"][sink]
        calls, n = c["calls"], c["invocations"]
        out.append(
            Row(
                f"AssumeRole per container ({sink})",
                f"{calls['AssumeRole']} in {n} calls",
                "exactly 1",
                calls["AssumeRole"] == 1,
            )
        )
        limit = 1 if sink == "api" else 0
        out.append(
            Row(
                f"PutLogEvents per call ({sink})",
                f"{calls['PutLogEvents'] / n:.2f} ({calls['PutLogEvents']} in {n})",
                f"<= {limit}" if limit else "0",
                calls["PutLogEvents"] <= limit * n,
            )
        )
        out.append(
            Row(
                f"CreateLogStream, Converse ({sink})",
                f"{calls['CreateLogStream']}, {calls['Converse']} in {n} calls",
                "",
                None,
            )
        )
    return out


def render(table_rows: list[Row], console: Console, title: str) -> None:
    table = Table(title=title)
    for column in ("figure", "value", "target", "met"):
        table.add_column(column, justify="left")
    for row in table_rows:
        met = "" if row.met is None else ("met" if row.met else "NOT MET")
        table.add_row(row.figure, row.value, row.target, met)
    console.print(table)


def _step(console: Console, message: str) -> Callable[[], None]:
    started = time.perf_counter()
    console.print(f"[dim]{message}...[/dim]")
    return lambda: console.print(f"[dim]  {time.perf_counter() - started:.1f} s[/dim]")


def profile_warm(host: LambdaPlatform, sink: str, invocations: int) -> int:
    """Where a warm call's time goes: the shipped host package under cProfile."""
    package = trimmed_package(host, naive_install(host), BUILD / f"trimmed-{host.machine}")
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        runner = BenchProcess(cloud, package, sessions(cloud))
        _, report = runner.run(
            "profile-warm", sink=sink, config={"warmup": 20, "invocations": invocations}
        )
    print(report["value"])
    return 0


def warm_layers(console: Console, host: LambdaPlatform, sink: str, rounds: int) -> int:
    """Where a warm call's time goes, layer by layer, without a profiler's distortion."""
    package = trimmed_package(host, naive_install(host), BUILD / f"trimmed-{host.machine}")
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        runner = BenchProcess(cloud, package, sessions(cloud))
        _, report = runner.run("layers", sink=sink, config={"warmup": 20, "rounds": rounds})
    layers: dict[str, dict[str, Any]] = report["value"]
    raw = layers["raw boto3 converse"]["median_ms"]
    table = Table(title=f"a warm call's layers ({sink} sink), median of {rounds} interleaved calls")
    for column in ("layer", "ms", "x raw", "adds", "to"):
        table.add_column(column, justify="left")
    for name, figures in layers.items():
        ms, base = figures["median_ms"], figures["over"]
        adds = "" if base is None else f"{(ms - layers[base]['median_ms']) * 1000:+.0f} µs"
        table.add_row(name, f"{ms:.2f}", f"{ms / raw:.2f}x", adds, base or "")
    console.print(table)
    console.print(f"[dim]load average {os.getloadavg()[0]:.1f}[/dim]")
    return 0


def client_only(console: Console, rounds: int) -> int:
    """The client library's rows alone, printed."""
    started = time.perf_counter()
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        client = client_overhead(cloud, rounds)
    render(client_rows(client), console, "make bench: the client library against its targets")
    console.print(
        f"[dim]{time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.1f}[/dim]"
    )
    return 0


def function_only(console: Console, only: str, args: argparse.Namespace) -> int:
    """The function's warm rows (``warm``) or cold rows (``cold``) alone, printed."""
    started = time.perf_counter()
    host = LambdaPlatform.host()
    package = trimmed_package(host, naive_install(host), BUILD / f"trimmed-{host.machine}")
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        creds = sessions(cloud)
        runner = BenchProcess(cloud, package, creds)
        if only == "warm":
            warm = {sink: warm_overhead(runner, sink, args.rounds) for sink in SINKS}
            table_rows = warm_rows(warm)
        else:
            source_only = without_bytecode(package, BUILD / f"source-only-{host.machine}")
            cold = cold_init(runner, BenchProcess(cloud, source_only, creds), args.cold_runs)
            table_rows = cold_rows(cold)
    render(table_rows, console, f"make bench: the function's {only} rows against their targets")
    console.print(
        f"[dim]{time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.1f}[/dim]"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=150, help="warm calls per variant")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--invocations", type=int, default=100, help="calls counted per sink")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--only",
        choices=("client", "warm", "cold"),
        help="instead: measure only these rows (client: the client library; warm, cold: "
        "the function's warm overhead per sink, its cold init), print them and write nothing",
    )
    parser.add_argument(
        "--profile-warm",
        choices=SINKS,
        metavar="SINK",
        help="instead: profile --invocations warm calls of the handler and the floor "
        "(cProfile, interleaved) with this usage sink, print it and write nothing",
    )
    parser.add_argument(
        "--layers",
        choices=SINKS,
        metavar="SINK",
        help="instead: time the layers of a warm call with this usage sink (raw Converse, "
        "the worker hand-off, LangChain, the invocation without and with its deadline, the "
        "handler), interleaved --rounds times each, print them and write nothing",
    )
    args = parser.parse_args(argv)
    console = Console(width=120)
    started = time.perf_counter()
    arm, host = LambdaPlatform.aws_lambda(), LambdaPlatform.host()
    if args.profile_warm:
        return profile_warm(host, args.profile_warm, args.invocations)
    if args.layers:
        return warm_layers(console, host, args.layers, args.rounds)
    if args.only == "client":
        return client_only(console, args.rounds)
    if args.only is not None:
        return function_only(console, args.only, args)

    done = _step(console, "packages (pip runs only when build/bench/ has no install yet)")
    arm_naive, host_naive = naive_install(arm), naive_install(host)
    arm_trimmed = trimmed_package(arm, arm_naive, BUILD / "trimmed-arm64")
    host_trimmed = trimmed_package(host, host_naive, BUILD / f"trimmed-{host.machine}")
    host_source_only = without_bytecode(host_trimmed, BUILD / f"source-only-{host.machine}")
    arm_bytecode = arm.bytecode
    arm_sourceless = (
        sourceless_dependencies(arm_trimmed, arm_bytecode, BUILD / "sourceless-arm64")
        if arm_bytecode is not None
        else None
    )
    package = package_sizes(arm_naive, arm_trimmed, arm_sourceless)
    done()

    results: dict[str, Any] = {"package": package, "warm": {}, "api_calls": {}}
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as cloud:
        provision(cloud)
        creds = sessions(cloud)
        runner = BenchProcess(cloud, host_trimmed, creds)
        done = _step(console, f"cold init, {args.cold_runs} fresh processes each")
        results["cold_init"] = cold_init(
            runner, BenchProcess(cloud, host_source_only, creds), args.cold_runs
        )
        done()
        for sink in SINKS:
            done = _step(console, f"{sink} sink: {args.invocations} counted calls, warm rounds")
            results["api_calls"][sink] = api_calls(cloud, runner, sink, args.invocations)
            results["warm"][sink] = warm_overhead(runner, sink, args.rounds)
            done()
        done = _step(console, f"client library: {args.rounds} warm calls and streams each")
        results["client"] = client_overhead(cloud, args.rounds)
        done()
    table_rows = rows(results)
    render(table_rows, console, "make bench: the invoker against its targets")
    for sink in SINKS:
        c = results["api_calls"][sink]
        console.print(
            f"{sink} sink: {c['records_printed']} usage records printed to stdout; "
            f"numpy/zstandard imported: {c['numpy_or_zstandard_imported'] or 'neither'}"
        )
    elapsed = time.perf_counter() - started
    console.print(f"[dim]{elapsed:.0f} s in all, load average {os.getloadavg()[0]:.1f}[/dim]")
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            # Other work on the machine slows thread hand-offs and process starts alike.
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "seconds": round(elapsed, 1),
        "table": [row.__dict__ for row in table_rows],
        "results": results,
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
