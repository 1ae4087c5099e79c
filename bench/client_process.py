"""One bench process for the client library: its warm calls and its streams against raw boto3.

Run by ``bench.world.run_client_process`` as ``python -I client_process.py CONFIG``
with this virtualenv's interpreter, where ``bedrock_tenant_client`` is installed as
a workload installs it, on the tenant deployer's credentials (the workload's
own), against the embedded cloud through ``AWS_ENDPOINT_URL``. It builds one
``TenantBedrock`` (the workload role assumed, then the tenant's invoker role) and
one raw boto3 ``bedrock-runtime`` client on the very credentials the library
assumed, built once; then, interleaved call by call in a new random order each round:

* ``raw``: ``converse`` on the raw client;
* ``langchain``: a plain ``ChatBedrockConverse`` on the raw client, no callback
  (what LangChain alone costs);
* ``library``: ``model.invoke`` of the library's chat model. Its record is handed
  to the delivery thread; the bench then waits, untimed, until it is delivered
  (``flush``), so no timed call of either side shares the process with a
  PutLogEvents in flight;
* ``library_delivered``: the same, timed until its record is delivered;
* ``raw_stream_ttft``: ``converse_stream`` until its first ``contentBlockDelta``;
* ``langchain_stream_ttft``: the plain model's ``stream`` until its first chunk
  with text;
* ``library_stream_ttft``: the library model's ``stream`` until its first chunk
  with text.

Every stream is read to its end untimed, so each library stream leaves one
``success`` record. Every call sends the same prompt, ``maxTokens`` (the library's
default for the tenant) and service tier; the raw and library answers must have
the same token counts, or the process fails.

``CONFIG``: ``settings`` (the function's configuration variables, read with
``TenantBedrock.from_environment``), ``workload_role_arn``, ``prompt``,
``rounds``, ``warmup``, ``spool_path``. Prints one JSON object: per variant its
median milliseconds and sample count, the output tokens of the two answers, and
how many records are left in the spool (none, unless CloudWatch Logs refused some).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from bedrock_tenant_client import TenantBedrock
from langchain_aws import ChatBedrockConverse

CONFIG: dict[str, Any] = json.loads(sys.argv[1])
PROMPT: str = CONFIG["prompt"]

bedrock = TenantBedrock.from_environment(
    CONFIG["settings"],
    session=boto3.Session(),
    workload_role_arn=CONFIG["workload_role_arn"],
    spool_path=CONFIG["spool_path"],
    application_id="bench",
    user_id="alice",
)
model = bedrock.chat_model()
assert model.max_tokens is not None and model.service_tier is not None
MAX_TOKENS = model.max_tokens
SERVICE_TIER = model.service_tier

# The raw side: the operations-role credentials the library assumed, frozen, on a
# client built once, as the function's bench builds its raw baseline.
frozen = bedrock.credentials.get_frozen_credentials()
raw: Any = boto3.client(
    "bedrock-runtime",
    region_name=bedrock.settings.bedrock_region,
    aws_access_key_id=frozen.access_key,
    aws_secret_access_key=frozen.secret_key,
    aws_session_token=frozen.token,
)
plain = ChatBedrockConverse(
    client=raw,
    model=bedrock.settings.default_model_id,
    region_name=bedrock.settings.bedrock_region,
    max_tokens=MAX_TOKENS,
    service_tier=SERVICE_TIER,
)
# What ChatBedrockConverse sends for one prompt, an empty system list included: the
# emulator's answer derives from the conversation, and a longer one costs more.
REQUEST: dict[str, Any] = {
    "modelId": bedrock.settings.default_model_id,
    "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
    "system": [],
    "inferenceConfig": {"maxTokens": MAX_TOKENS},
    "serviceTier": {"type": SERVICE_TIER},
}


def until_first_text(chunks: Iterator[Any]) -> float:
    """Seconds from the call to the first chunk with text; the rest is read, untimed."""
    started = time.perf_counter()
    first = None
    for chunk in chunks:
        if first is None and chunk.text:
            first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("a stream ended without text")
    return first


def until_first_delta() -> float:
    """Seconds from ``converse_stream`` to its first ``contentBlockDelta``; the rest is read."""
    started = time.perf_counter()
    first = None
    for event in raw.converse_stream(**REQUEST)["stream"]:
        if first is None and "contentBlockDelta" in event:
            first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("a raw stream ended without a contentBlockDelta")
    return first


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def delivered() -> None:
    """Wait until the record of the last call is delivered (or spooled)."""
    if not bedrock.flush(timeout=30):
        raise RuntimeError("a usage record was not delivered within 30 s")


def library_invoke() -> float:
    elapsed = timed(lambda: model.invoke(PROMPT))
    delivered()
    return elapsed


def library_invoke_delivered() -> float:
    started = time.perf_counter()
    model.invoke(PROMPT)
    delivered()
    return time.perf_counter() - started


def library_stream() -> float:
    elapsed = until_first_text(model.stream(PROMPT))
    delivered()
    return elapsed


variants: dict[str, Callable[[], float]] = {
    "raw": lambda: timed(lambda: raw.converse(**REQUEST)),
    "langchain": lambda: timed(lambda: plain.invoke(PROMPT)),
    "library": library_invoke,
    "library_delivered": library_invoke_delivered,
    "raw_stream_ttft": until_first_delta,
    "langchain_stream_ttft": lambda: until_first_text(plain.stream(PROMPT)),
    "library_stream_ttft": library_stream,
}

# The same request both ways: the same answer, token for token.
raw_tokens = raw.converse(**REQUEST)["usage"]["outputTokens"]
library_answer = model.invoke(PROMPT)
assert library_answer.usage_metadata is not None
library_tokens = library_answer.usage_metadata["output_tokens"]
if raw_tokens != library_tokens:
    raise SystemExit(
        f"raw and library answers differ ({raw_tokens} vs {library_tokens} output tokens): "
        "the two sides did not send the same request"
    )

# The bench's interleaving (stdlib only), loaded by path: with -I the bench is not importable.
spec = importlib.util.spec_from_file_location(
    "bench_interleave", os.path.join(os.path.dirname(__file__), "interleave.py")
)
assert spec is not None and spec.loader is not None
interleave = importlib.util.module_from_spec(spec)
spec.loader.exec_module(interleave)
samples = {
    name: [seconds * 1000 for seconds in measured]
    for name, measured in interleave.interleaved(
        variants, CONFIG["rounds"], warmup=CONFIG["warmup"]
    ).items()
}
bedrock.close()
print(
    json.dumps(
        {
            "variants": {
                name: {"median_ms": statistics.median(v), "samples": len(v)}
                for name, v in samples.items()
            },
            "output_tokens": {"raw": raw_tokens, "library": library_tokens},
            "max_tokens": MAX_TOKENS,
            "spooled": len(bedrock.delivery.spool.pending()),
        }
    )
)
