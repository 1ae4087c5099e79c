"""The StackSet template's AllowedPatterns accept exactly what the registry accepts.

CloudFormation matches an ``AllowedPattern`` against the whole value without
Python's re.ASCII, so ``cfn_pattern`` spells ``\\d`` and ``\\w`` out; these tests match
its output the way CloudFormation (and the embedded cloud) does.
"""

from __future__ import annotations

import re

import pytest

from contracts.fields import ACCOUNT_ID_RE, EXTERNAL_ID_RE, REGION_RE, cfn_pattern


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        (ACCOUNT_ID_RE, ["111111111111", "012345678901"], ["0-9", "11111111111", "1111111111a1"]),
        (REGION_RE, ["us-east-1", "eu-west-3", "us-gov-west-1"], ["us-east-x", "US-EAST-1"]),
        (EXTERNAL_ID_RE, ["ext-acme_1+=,.@:/"], ["ext id", "ext!"]),
    ],
)
def test_an_allowed_pattern_accepts_what_the_registry_accepts_and_nothing_else(
    pattern: re.Pattern[str], accepted: list[str], refused: list[str]
) -> None:
    allowed = cfn_pattern(pattern)
    for value in accepted:
        assert pattern.fullmatch(value)
        assert re.fullmatch(allowed, value), (allowed, value)
    for value in refused:
        assert not re.fullmatch(allowed, value), (allowed, value)


def test_an_operations_account_pattern_is_a_class_repeated_twelve_times() -> None:
    assert cfn_pattern(ACCOUNT_ID_RE) == "[0-9]{12}"
    assert cfn_pattern(EXTERNAL_ID_RE) == "[A-Za-z0-9_+=,.@:/-]+"
