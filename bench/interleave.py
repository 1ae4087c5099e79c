"""How the bench interleaves what it compares: one owner for every side-by-side figure.

Standard library only: ``lambda_process.py`` and ``client_process.py`` run in
interpreters that have nothing of the project on ``sys.path`` (``-I``) and load
this file by its path.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping


def interleaved(
    variants: Mapping[str, Callable[[], float]], rounds: int, *, warmup: int = 0
) -> dict[str, list[float]]:
    """Each variant's measurements (what its call returns) over ``rounds`` rounds,
    after ``warmup`` untimed calls of each (every cache and connection warm first).

    Every round calls each variant once, in a new random order. A rotation of one
    order would keep each variant's predecessor, and with it whatever the one
    before leaves the machine doing (the embedded cloud finishing a PutLogEvents,
    a delivery thread waking): one side would always pay for it. The order is
    seeded, so a run repeats.
    """
    for variant in variants.values():
        for _ in range(warmup):
            variant()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            samples[name].append(variants[name]())
    return samples
