"""``make bench``'s function rows time the same question on every side: the handler, raw
boto3, the api sink's floor and the minimal LangChain app ask Bedrock what the function
asks, so the emulator (whose answer derives from the whole request) gives each the same
answer; a side that asks something else fails the bench instead of skewing its ratios."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.__main__ import cold_init, warm_overhead
from bench.world import OPS, REGION, TENANT, BenchProcess, converse_request, provision, sessions
from embedded_aws import EmbeddedCloud
from stacks.customer.invoker_function import INVOKER_SOURCE
from stacks.shared.lambda_bundling import LambdaPlatform, PipInstallBundling

# Really bundles (from the bundle cache when it holds this bundle).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench-function")]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host package as the bundler ships it, bytecode included."""
    out = tmp_path_factory.mktemp("bench") / "asset"
    out.mkdir()
    assert PipInstallBundling(INVOKER_SOURCE, LambdaPlatform.host()).try_bundle(
        str(out),
        None,  # type: ignore[arg-type]
    )
    return out


@pytest.fixture
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=(OPS, TENANT), region=REGION) as embedded:
        provision(embedded)
        yield embedded


def _questions_and_answers(cloud: EmbeddedCloud) -> Counter[tuple[int, int | None, str | None]]:
    """Each Converse the emulator answered: (output tokens, maxTokens, service tier)."""
    calls = cloud.bedrock.calls()
    assert calls and {c.outcome for c in calls} == {"success"}
    return Counter((c.output_tokens, c.max_tokens, c.service_tier) for c in calls)


def test_every_side_of_the_warm_rows_asks_what_the_function_asks(
    cloud: EmbeddedCloud, package: Path
) -> None:
    warm_overhead(BenchProcess(cloud, package, sessions(cloud)), "api", rounds=2)
    asked = _questions_and_answers(cloud)
    request = converse_request()
    # Raw, floor, LangChain and handler calls alike: one question, one answer length.
    assert len(asked) == 1, asked
    ((_, max_tokens, tier),) = asked
    assert (max_tokens, tier) == (
        request["inferenceConfig"]["maxTokens"],
        request["serviceTier"]["type"],
    )


def test_the_cold_rows_boto3_and_langchain_processes_ask_what_the_function_asks(
    cloud: EmbeddedCloud, package: Path
) -> None:
    runner = BenchProcess(cloud, package, sessions(cloud))
    cold = cold_init(runner, runner, runs=1)
    assert cold["handler_ms"] > 0 and cold["boto3_ms"] > 0
    assert cold["minimal_langchain"]["ms"] > 0
    asked = _questions_and_answers(cloud)
    assert len(asked) == 1, asked
    # Handler and boto3 (each shipped and from source), LangChain and the restore path.
    assert sum(asked.values()) == 6


def test_a_raw_side_asking_another_question_fails_the_warm_process(
    cloud: EmbeddedCloud, package: Path
) -> None:
    # The raw side's request as it was: no system list (ChatBedrockConverse sends one).
    other = {k: v for k, v in converse_request().items() if k != "system"}
    runner = BenchProcess(cloud, package, sessions(cloud))
    with pytest.raises(RuntimeError, match="answers differ"):
        runner.run("warm", config={"request": other, "rounds": 1, "warmup": 0})
