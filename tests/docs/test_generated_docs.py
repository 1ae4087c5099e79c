"""The docs' examples and figures are what the code and the last benchmark produce.

A failure here means a doc went stale: run ``python -m tests.docs.regenerate``
and commit the result (or fix the prose the message names).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from regenerate import (
    GOLDEN_RECORD,
    PERFORMANCE,
    PERFORMANCE_SECTION,
    README,
    REGENERATE_COMMAND,
    USAGE_RECORD_SECTION,
    MissingSection,
    bench_results,
    example_usage_record,
    generated_section,
    golden_usage_record,
    performance_block,
    usage_record_block,
    with_section,
)

from contracts import usage_metrics
from contracts.usage_record import USAGE_EVENT, parse_record

STALE = f"stale: run `{REGENERATE_COMMAND}` and commit the result"


def _json_in(block: str) -> Any:
    body = block.removeprefix("```json\n").removesuffix("\n```")
    return json.loads(body)


def test_the_readme_usage_record_is_the_record_the_contracts_build() -> None:
    readme_block = generated_section(README.read_text(encoding="utf-8"), USAGE_RECORD_SECTION)
    assert readme_block == usage_record_block(), f"README.md's usage record is {STALE}"
    assert _json_in(readme_block) == example_usage_record()


def test_the_golden_usage_record_is_the_record_the_contracts_build() -> None:
    assert GOLDEN_RECORD.read_text(encoding="utf-8") == golden_usage_record(), (
        f"{GOLDEN_RECORD.name} is {STALE}"
    )


def test_the_example_record_is_one_every_reader_accepts_with_every_metric() -> None:
    record = example_usage_record()
    parsed = parse_record(json.dumps(record))
    assert parsed is not None and parsed.event == USAGE_EVENT
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    names = [metric["Name"] for metric in directive["Metrics"]]
    assert sorted(names) == sorted(metric.name for metric in usage_metrics.USAGE_METRICS)
    assert record["cost_usd"] is not None, "the example's model must be priced"


def test_a_schema_change_makes_the_readme_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check has teeth: a field added to new_record no longer matches the README."""
    import regenerate

    real_new_record = regenerate.new_record

    def new_record_with_a_new_field(**fields: Any) -> dict[str, Any]:
        return {**real_new_record(**fields), "region": "us-east-1"}

    monkeypatch.setattr(regenerate, "new_record", new_record_with_a_new_field)
    readme_block = generated_section(README.read_text(encoding="utf-8"), USAGE_RECORD_SECTION)
    assert readme_block != usage_record_block()
    assert GOLDEN_RECORD.read_text(encoding="utf-8") != golden_usage_record()


def test_a_doc_without_its_markers_is_reported_not_skipped() -> None:
    with pytest.raises(MissingSection, match="usage-record"):
        generated_section("# README\n\nno generated part here\n", USAGE_RECORD_SECTION)
    with pytest.raises(MissingSection):
        with_section("text", PERFORMANCE_SECTION, "table")


# -- docs/PERFORMANCE.md against bench/results.json -------------------------------------------


def _performance_text() -> str:
    return PERFORMANCE.read_text(encoding="utf-8")


def test_the_performance_table_is_bench_results_json() -> None:
    doc_block = generated_section(_performance_text(), PERFORMANCE_SECTION)
    assert doc_block == performance_block(bench_results()), f"docs/PERFORMANCE.md is {STALE}"


def _prose(text: str) -> str:
    """``text`` without its generated sections (what a person wrote)."""
    return re.sub(r"<!-- generated: .*?<!-- end generated: [\w-]+ -->", "", text, flags=re.DOTALL)


def _sentences(text: str) -> list[str]:
    joined = re.sub(r"\s+", " ", text)
    return re.split(r"(?<=[.!?)])\s+(?=[A-Z(-])", joined)


_RATIO = re.compile(r"(?<![\d.-])(\d+\.\d+)x(?![-\w])")
_RATIO_RANGE = re.compile(r"\d+\.\d+x-\d+\.\d+x")


def stale_ratios(text: str, table_values: list[str]) -> list[str]:
    """Ratios in ``text``'s prose that the last run's table does not hold.

    A single ratio (``3.28x``) is a claim about the last run and must be one of
    the table's, formatted the same way. A range (``1.62x-2.27x``) reports earlier
    runs and must say so in its sentence.
    """
    measured = {match for value in table_values for match in _RATIO.findall(value)}
    problems = []
    for sentence in _sentences(_prose(text)):
        problems += [
            f"{ratio}x is not in bench/results.json: {sentence!r}"
            for ratio in _RATIO.findall(sentence)
            if ratio not in measured
        ]
        if _RATIO_RANGE.search(sentence) and "earlier" not in sentence.lower():
            problems.append(f"a range of ratios that does not say it is earlier: {sentence!r}")
    return problems


def _table_values() -> list[str]:
    return [row["value"] for row in bench_results()["table"]]


def test_every_ratio_in_the_performance_prose_is_the_last_runs_or_says_it_is_earlier() -> None:
    assert stale_ratios(_performance_text(), _table_values()) == []


@pytest.mark.parametrize(
    ("prose", "problem"),
    [
        ("The api sink took 3.27x raw boto3.", "3.27x is not in bench/results.json"),
        ("Runs on a busy machine gave 1.62x-2.27x.", "does not say it is earlier"),
    ],
)
def test_a_ratio_the_last_run_did_not_measure_is_reported(prose: str, problem: str) -> None:
    (found,) = stale_ratios(prose, ["3.28x (17.11 vs 5.21 ms)"])
    assert problem in found


def test_a_ratio_the_last_run_measured_and_an_earlier_range_pass() -> None:
    prose = "The api sink took 3.28x. Earlier runs gave 3.12x-3.56x."
    assert stale_ratios(prose, ["3.28x (17.11 vs 5.21 ms)"]) == []


def test_the_measurement_counts_in_the_prose_are_the_last_runs() -> None:
    text = _performance_text()
    results = bench_results()["results"]
    rounds = {sink["rounds"] for sink in results["warm"].values()}
    assert re.findall(r"median of (\d+) calls each", text) == [str(r) for r in rounds]
    runs = re.findall(r"median of (\d+) runs each, interleaved", text)
    assert runs == [str(results["cold_init"]["runs"])]
    stdout = results["api_calls"]["stdout"]
    printed = re.findall(r"Under the stdout sink, (\d+) usage records were printed", text)
    assert printed == [str(stdout["records_printed"])]
    if "Neither numpy nor zstandard was imported" in text:
        assert not any(run["numpy_or_zstandard_imported"] for run in results["api_calls"].values())


def test_the_readme_package_sizes_are_the_last_runs() -> None:
    package = bench_results()["results"]["package"]
    text = re.sub(r"\s+", " ", README.read_text(encoding="utf-8"))
    match = re.search(r"(\d+) MB unzipped and (\d+) MB zipped, (\d+)% and (\d+)% of a naive", text)
    assert match is not None, "README.md no longer states the package sizes this test checks"
    trimmed = package["trimmed"]
    assert match.groups() == (
        str(round(trimmed["unzipped"] / 1e6)),
        str(round(trimmed["zipped"] / 1e6)),
        str(round(package["unzipped_ratio"] * 100)),
        str(round(package["zipped_ratio"] * 100)),
    )
