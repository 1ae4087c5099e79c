"""The bench's interleaving gives every variant each predecessor, not one fixed one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from bench.interleave import interleaved


def _calls(rounds: int) -> tuple[dict[str, list[float]], list[str]]:
    calls: list[str] = []

    def variant(name: str, value: float) -> tuple[str, Callable[[], float]]:
        def call() -> float:
            calls.append(name)
            return value

        return name, call

    variants = dict(variant(name, value) for name, value in (("a", 1.0), ("b", 2.0), ("c", 3.0)))
    return interleaved(variants, rounds), calls


def test_each_variant_is_measured_once_a_round_and_keeps_its_own_measurements() -> None:
    samples, calls = _calls(rounds=40)
    assert samples == {"a": [1.0] * 40, "b": [2.0] * 40, "c": [3.0] * 40}
    assert all(sorted(calls[i : i + 3]) == ["a", "b", "c"] for i in range(0, 120, 3))


def test_no_variant_always_follows_the_same_one() -> None:
    # A rotation of one order (a b c, b c a, c a b ...) keeps, within a round, every
    # predecessor: b always right after a. A new random order each round does not.
    _, calls = _calls(rounds=60)
    predecessors: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(calls), 3):
        first, second, third = calls[start : start + 3]
        predecessors[second].add(first)
        predecessors[third].add(second)
    assert all(len(predecessors[name]) == 2 for name in "abc"), dict(predecessors)


def test_the_order_repeats_from_run_to_run() -> None:
    assert _calls(rounds=20)[1] == _calls(rounds=20)[1]
