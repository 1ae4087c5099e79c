"""The guard's decision, shared with `tenantctl doctor`."""

from __future__ import annotations

from types import ModuleType

import pytest

from contracts import invocation_logging


@pytest.fixture(scope="module")
def decision() -> ModuleType:
    return invocation_logging


def test_no_logging_config_means_off(decision: ModuleType) -> None:
    verdict = decision.evaluate({}, allow=False)
    assert verdict.ok and not verdict.logging_enabled and verdict.content_kinds == ()


def test_a_content_kind_aws_adds_later_is_refused_too(decision: ModuleType) -> None:
    verdict = decision.evaluate(
        {"loggingConfig": {"s3Config": {"bucketName": "b"}, "hologramDataDeliveryEnabled": True}},
        allow=False,
    )
    assert not verdict.ok and verdict.content_kinds == ("hologram",)


def test_every_documented_kind_counts_as_content(decision: ModuleType) -> None:
    kinds = ("text", "image", "embedding", "video", "audio")
    config = {f"{k}DataDeliveryEnabled": True for k in kinds}
    verdict = decision.evaluate({"loggingConfig": config}, allow=False)
    assert verdict.content_kinds == tuple(sorted(kinds)) and not verdict.ok


def test_a_malformed_response_is_an_error_not_a_pass(decision: ModuleType) -> None:
    with pytest.raises(ValueError, match="loggingConfig"):
        decision.evaluate({"loggingConfig": "on"}, allow=False)
