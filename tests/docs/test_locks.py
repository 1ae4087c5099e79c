"""The two lock files agree, and each says how it was made."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
INVOKER_LOCK = ROOT / "lambda" / "bedrock_invoker" / "requirements.lock"


def pins(text: str) -> dict[str, str]:
    """``name==version`` lines by canonical name (``PyYAML`` is ``pyyaml``)."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        if specifier.operator != "==":
            raise ValueError(f"not a pin: {line!r}")
        found[canonicalize_name(requirement.name)] = specifier.version
    return found


def disagreements(first: str, second: str) -> list[str]:
    """Every distribution both pin, at different versions."""
    a, b = pins(first), pins(second)
    return [
        f"{name}: {a[name]} vs {b[name]}"
        for name in sorted(a.keys() & b.keys())
        if a[name] != b[name]
    ]


def test_the_pins_both_locks_hold_agree() -> None:
    shared = pins(CONSTRAINTS.read_text()).keys() & pins(INVOKER_LOCK.read_text()).keys()
    assert {"boto3", "botocore", "pydantic", "langchain-aws"} <= shared
    assert disagreements(CONSTRAINTS.read_text(), INVOKER_LOCK.read_text()) == []


@pytest.mark.parametrize(
    ("constraints", "lock", "expected"),
    [
        ("boto3==1.44.8\n", "boto3==1.44.9\n", ["boto3: 1.44.8 vs 1.44.9"]),
        ("PyYAML==6.0.4\n", "pyyaml==6.0.3\n", ["pyyaml: 6.0.4 vs 6.0.3"]),
        (
            "typing_extensions==4.16.0\n",
            "typing-extensions==4.15.0\n",
            ["typing-extensions: 4.16.0 vs 4.15.0"],
        ),
        ("# header\nboto3==1.44.8  # why\nrich==15.0.0\n", "boto3==1.44.8\nsix==1.17.0\n", []),
    ],
)
def test_a_distribution_pinned_at_two_versions_is_reported(
    constraints: str, lock: str, expected: list[str]
) -> None:
    assert disagreements(constraints, lock) == expected


def test_a_lock_line_that_is_not_a_pin_is_refused() -> None:
    with pytest.raises(ValueError, match="not a pin"):
        pins("boto3>=1.44\n")


@pytest.mark.parametrize("lock", [CONSTRAINTS, INVOKER_LOCK], ids=lambda p: p.name)
def test_each_lock_says_it_is_made_by_make_lock(lock: Path) -> None:
    header = [line for line in lock.read_text().splitlines() if line.startswith("#")]
    assert any("`make lock`" in line for line in header)
