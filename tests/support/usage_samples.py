"""Usage records shaped like the function writes them, shared by the CLI tests.

A plain module, not the conftest: pytest imports a conftest under a second
module name, which would build these records twice with different timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def record(
    *,
    user: str = "u1",
    application: str = "app-a",
    model: str = "anthropic.claude-3-haiku-20240307-v1:0",
    status: str = "success",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int = 0,
    cache_write: int = 0,
    latency_ms: float = 100,
    request_id: str | None = "r",
    minutes_ago: float = 5,
    **extra: Any,
) -> dict[str, Any]:
    """A usage record shaped like the Lambda's usage logger writes it."""
    return {
        "event": "bedrock.invocation",
        "status": status,
        "tenant_id": "acme",
        "application_id": application,
        "user_id": user,
        "model_id": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_write_input_tokens": cache_write,
        "latency_ms": latency_ms,
        "bedrock_latency_ms": latency_ms - 10,
        "stop_reason": "end_turn" if status == "success" else None,
        "request_id": request_id,
        "timestamp": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        **extra,
    }


# Six records of three users, two applications and two models; two errors.
RECORDS = [
    record(user="alice", application="chat", latency_ms=100, input_tokens=10, output_tokens=1,
           cache_read=5, request_id="r1"),
    record(user="alice", application="chat", latency_ms=200, input_tokens=20, output_tokens=2,
           request_id="r2"),
    record(user="bob", application="chat", latency_ms=300, input_tokens=30, output_tokens=3,
           cache_write=7, request_id="r3"),
    record(user="bob", application="search", latency_ms=400, input_tokens=40, output_tokens=4,
           model="us.anthropic.claude-3-5-haiku-20241022-v1:0", request_id="r4"),
    record(user="carol:x", application="search", status="error", latency_ms=3, input_tokens=0,
           output_tokens=0, error_type="ThrottlingException", request_id="r5"),
    record(user="carol:x", application="search", status="error", latency_ms=4, input_tokens=0,
           output_tokens=0, error_type="ValidationException", request_id="r6", minutes_ago=600),
]  # fmt: skip

# A call that outlived the function's timeout margin: the provisional record,
# then the record of the completed call (same invocation id).
PROVISIONAL = record(
    user="dave",
    status="error",
    error_type="FunctionTimeout",
    input_tokens=0,
    output_tokens=0,
    latency_ms=0,
    request_id=None,
    provisional=True,
    invocation_id="inv-1",
    minutes_ago=3,
)
COMPLETED = record(
    user="dave",
    input_tokens=50,
    output_tokens=5,
    latency_ms=900,
    request_id="r10",
    supersedes="FunctionTimeout",
    invocation_id="inv-1",
    minutes_ago=2,
)
