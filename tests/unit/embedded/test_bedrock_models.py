"""The emulated Bedrock's model catalogue: every priced model, looked up as callers name it."""

from __future__ import annotations

import pytest

from contracts.pricing import price_table
from embedded_aws.bedrock_models import MODELS, model_features


def test_every_priced_model_is_in_the_catalogue() -> None:
    assert set(price_table().models) <= set(MODELS)


@pytest.mark.parametrize(
    "model_id",
    [
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
    ],
)
def test_profile_ids_and_arns_resolve_to_their_base_model(model_id: str) -> None:
    features = model_features(model_id)
    assert features is not None
    assert model_id.endswith(features.model_id)


@pytest.mark.parametrize(
    "model_id",
    ["mistral.unknown-model-v9:0", "not a model", "xx.anthropic.claude-3-haiku-20240307-v1:0"],
)
def test_unknown_model_ids_have_no_features(model_id: str) -> None:
    assert model_features(model_id) is None


def test_caching_minimums_follow_aws() -> None:
    haiku3 = MODELS["anthropic.claude-3-haiku-20240307-v1:0"]
    assert not haiku3.prompt_caching
    assert MODELS["anthropic.claude-3-5-haiku-20241022-v1:0"].cache_min_tokens == 2_048
    assert MODELS["anthropic.claude-3-7-sonnet-20250219-v1:0"].cache_min_tokens == 1_024
    assert MODELS["anthropic.claude-sonnet-4-20250514-v1:0"].cache_min_tokens == 1_024
    assert MODELS["anthropic.claude-opus-4-20250514-v1:0"].cache_min_tokens == 1_024
