"""The generated parts of the docs, and the one command that rewrites them.

    .venv/bin/python -m tests.docs.regenerate

- README.md's usage-record example: a record built by the contracts
  (``contracts.usage_record.new_record``, priced by ``contracts.pricing.Pricing``)
  with the EMF metrics the function adds (``bedrock_tenant_client.usage.metrics.with_metrics``),
  also written to ``tests/docs/golden/usage_record.json``;
- docs/PERFORMANCE.md's results: the table and the machine line of
  ``bench/results.json``, as ``make bench`` wrote them.

Each generated part sits between ``<!-- generated: NAME ... -->`` and
``<!-- end generated: NAME -->``; everything outside the markers is prose. The
tests in this folder fail while a generated part differs from what this module
builds, so a schema or benchmark change shows up until this command is run.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PERFORMANCE = ROOT / "docs" / "PERFORMANCE.md"
BENCH_RESULTS = ROOT / "bench" / "results.json"
GOLDEN_RECORD = Path(__file__).resolve().parent / "golden" / "usage_record.json"
REGENERATE_COMMAND = "python -m tests.docs.regenerate"

# The function is its own import root (``invoker``), as on Lambda.
INVOKER_ROOT = ROOT / "lambda" / "bedrock_invoker"
for import_root in (ROOT, INVOKER_ROOT):
    if str(import_root) not in sys.path:
        sys.path.append(str(import_root))

from bedrock_tenant_client.usage.metrics import with_metrics  # noqa: E402

from contracts.pricing import Pricing  # noqa: E402
from contracts.usage_metrics import DimensionValues  # noqa: E402
from contracts.usage_record import Record, UsageRecord, new_record  # noqa: E402

USAGE_RECORD_SECTION = "usage-record"
PERFORMANCE_SECTION = "bench-results"
# Markdown renders nothing for these; the README stays readable on GitHub.
_BEGIN = "<!-- generated: {name} by `{command}`; do not edit by hand -->"
_END = "<!-- end generated: {name} -->"


# -- the usage record -------------------------------------------------------------------------

# One successful call of acme's support bot, as the README describes it.
EXAMPLE_CALL_TIME = datetime.datetime(2026, 11, 29, 9, 38, 59, 266000, tzinfo=datetime.UTC)
EXAMPLE_REGION = "us-east-1"
EXAMPLE_ANSWER = {
    "input_tokens": 12,
    "output_tokens": 7,
    "total_tokens": 19,
    "cache_read_input_tokens": 0,
    "cache_write_input_tokens": 0,
    "bedrock_latency_ms": 321,
    "stop_reason": "end_turn",
    "request_id": "8c828c74-09fe-4383-bacd-96d266bf22ff",
    "bedrock_retries": 0,
}


def example_usage_record() -> Record:
    """The README's example record, built by the same code the function runs."""
    record = new_record(
        status="success",
        invocation_id="3f1c7a52-8d7e-4b0e-9a41-5b2f3c0d9e11",
        tenant_id="acme",
        application_id="support-bot",
        user_id="alice@example.com",
        model_id="anthropic.claude-3-haiku-20240307-v1:0",
        latency_ms=17,
        timestamp=EXAMPLE_CALL_TIME,
    )
    # Only fields the record contract declares: a renamed field fails here, not in review.
    undeclared = set(EXAMPLE_ANSWER) - set(UsageRecord.model_fields)
    if undeclared:
        raise ValueError(f"not fields of contracts.usage_record.UsageRecord: {sorted(undeclared)}")
    record.update(EXAMPLE_ANSWER)
    quote = Pricing(region=EXAMPLE_REGION).quote(
        record["model_id"],
        input_tokens=record["input_tokens"],
        output_tokens=record["output_tokens"],
        cache_read_input_tokens=record["cache_read_input_tokens"],
        cache_write_input_tokens=record["cache_write_input_tokens"],
    )
    record.update(cost_usd=quote.usd, price_table_version=quote.version, price_source=quote.source)
    # acme's registry lists its models and its applications, so both are dimensions.
    listed = DimensionValues(models=(record["model_id"],), applications=(record["application_id"],))
    return with_metrics(record, listed)


def packed_json(value: Any, *, width: int = 96, indent: int = 0) -> str:
    """JSON that keeps short values on one line and packs items up to ``width``.

    The record is a long flat object; one key per line would make the README's
    example three screens long, one line would make it unreadable.
    """
    compact = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or indent + len(compact) <= width or not value:
        return compact
    if isinstance(value, dict):
        items = [
            f"{json.dumps(key)}: {packed_json(item, width=width, indent=indent + len(key) + 4)}"
            for key, item in value.items()
        ]
        opening, closing = "{", "}"
    else:
        items = [packed_json(item, width=width, indent=indent + 1) for item in value]
        opening, closing = "[", "]"
    lines: list[str] = []
    line = opening
    for position, item in enumerate(items):
        piece = item + ("," if position < len(items) - 1 else closing)
        if line.strip() not in (opening, "") and (
            "\n" in item or indent + len(line) + 1 + len(piece) > width
        ):
            lines.append(line)
            line = " " * (indent + 1) + piece
        else:
            line = f"{line}{'' if line == opening else ' '}{piece}"
    lines.append(line)
    return "\n".join(lines)


def usage_record_block() -> str:
    """The README's fenced example."""
    return "```json\n" + packed_json(example_usage_record()) + "\n```"


def golden_usage_record() -> str:
    """The golden file: the same record, one key per line, in wire order."""
    return json.dumps(example_usage_record(), indent=2, ensure_ascii=False) + "\n"


# -- docs/PERFORMANCE.md ----------------------------------------------------------------------


def _met(met: bool | None) -> str:
    return {True: "met", False: "not met", None: ""}[met]


def _cell(text: str) -> str:
    return text.strip().replace("|", "\\|")


def performance_block(results: Mapping[str, Any]) -> str:
    """The machine line and the table of ``bench/results.json``, as the doc shows them."""
    machine = results["machine"]
    python = ".".join(str(machine["python"]).split(".")[:2])
    lines = [
        f"Taken on {machine['machine']}, {machine['cpus']} CPUs, CPython {python}, "
        f"load average {machine['load_average_1m_at_end']} at the end of the run; "
        f"`make bench` took {results['seconds']} s ({results['generated_at']}).",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(row['figure'])} | {_cell(row['value'])} | {_cell(row['target'])} "
        f"| {_met(row['met'])} |"
        for row in results["table"]
    ]
    return "\n".join(lines)


def bench_results() -> dict[str, Any]:
    """What the last ``make bench`` wrote."""
    results: dict[str, Any] = json.loads(BENCH_RESULTS.read_text(encoding="utf-8"))
    return results


# -- markers ----------------------------------------------------------------------------------


class MissingSection(LookupError):
    """A doc has no generated section of that name."""


def _section_pattern(name: str) -> re.Pattern[str]:
    begin = re.escape(_BEGIN.format(name=name, command=REGENERATE_COMMAND))
    end = re.escape(_END.format(name=name))
    return re.compile(f"(?<={begin}\n)(.*?)(?=\n{end})", re.DOTALL)


def generated_section(text: str, name: str) -> str:
    """The text between a section's markers."""
    match = _section_pattern(name).search(text)
    if match is None:
        raise MissingSection(f"no generated section {name!r} (markers missing or changed)")
    return match.group(1)


def with_section(text: str, name: str, content: str) -> str:
    """``text`` with the section's content replaced."""
    generated_section(text, name)
    return _section_pattern(name).sub(lambda _: content, text, count=1)


def main() -> int:
    """Rewrite every generated part; print what changed."""
    targets = [
        (README, USAGE_RECORD_SECTION, usage_record_block()),
        (PERFORMANCE, PERFORMANCE_SECTION, performance_block(bench_results())),
    ]
    for path, name, content in targets:
        before = path.read_text(encoding="utf-8")
        after = with_section(before, name, content)
        if after != before:
            path.write_text(after, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)} ({name})")
    golden = golden_usage_record()
    GOLDEN_RECORD.parent.mkdir(parents=True, exist_ok=True)
    if not GOLDEN_RECORD.exists() or GOLDEN_RECORD.read_text(encoding="utf-8") != golden:
        GOLDEN_RECORD.write_text(golden, encoding="utf-8")
        print(f"rewrote {GOLDEN_RECORD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
