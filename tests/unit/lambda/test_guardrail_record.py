"""What a guardrail did to a call, read from Converse's answer into the usage record."""

from __future__ import annotations

import json

import pytest
from bedrock_tenant_client.outcome import BedrockAnswer, CallTimer
from bedrock_tenant_client.usage.record import CallIdentity, UsageRecorder
from bedrock_tenant_client.usage.writer import StdoutUsageSink
from langchain_core.messages import AIMessage

from contracts.pricing import Pricing
from contracts.usage_metrics import DimensionValues

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def _assessment(content_units: int, word_units: int) -> dict[str, object]:
    return {
        "invocationMetrics": {
            "usage": {"contentPolicyUnits": content_units, "wordPolicyUnits": word_units}
        }
    }


def _answer(stop_reason: str, *, tier: str = "default") -> BedrockAnswer:
    # ChatBedrockConverse keeps the Converse response (less output and usage) as
    # response_metadata: stopReason, trace and serviceTier among it.
    message = AIMessage(
        content="Sorry, the model cannot answer this question.",
        usage_metadata={"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
        response_metadata={
            "stopReason": stop_reason,
            "serviceTier": {"type": tier},
            "trace": {
                "guardrail": {
                    "inputAssessment": {"gr1": _assessment(2, 2)},
                    "outputAssessments": {"gr1": [_assessment(1, 1)]},
                }
            },
        },
    )
    return BedrockAnswer.from_message(message, latency_ms=5)


def _record(answer: BedrockAnswer, *, guarded: bool) -> dict[str, object]:
    printed: list[str] = []
    recorder = UsageRecorder(
        writer=StdoutUsageSink(print_line=printed.append),
        identity=CallIdentity(
            tenant_id="acme",
            application_id="app",
            user_id="u1",
            model_id=HAIKU,
            service_tier="default",
            guarded=guarded,
        ),
        timer=CallTimer(),
        pricing=Pricing(region="us-east-1"),
        dimensions=DimensionValues(models=(HAIKU,)),
    )
    recorder.succeeded(answer)
    record: dict[str, object] = json.loads(printed[-1])
    return record


def test_an_intervention_and_its_text_units_are_read_from_stop_reason_and_trace() -> None:
    answer = _answer("guardrail_intervened")
    assert answer.guardrail_intervened
    assert answer.guardrail_units == {"contentPolicyUnits": 3, "wordPolicyUnits": 3}
    assert answer.service_tier == "default"


def test_the_record_says_the_guardrail_intervened_and_prices_its_units() -> None:
    record = _record(_answer("guardrail_intervened"), guarded=True)
    assert record["guardrail_intervened"] is True
    assert record["guardrail_text_units"] == 6
    # No model tokens: only the content filter's 3 units at $0.15 per 1,000.
    assert record["cost_usd"] == pytest.approx(3 * 0.15 / 1000)


def test_a_tenant_without_a_guardrail_says_null_not_false() -> None:
    assert _record(_answer("end_turn"), guarded=False)["guardrail_intervened"] is None
    assert _record(_answer("end_turn"), guarded=True)["guardrail_intervened"] is False
