"""Fixtures for the invocation-logging guard: its handler module and a CloudFormation stand-in.

The handler is loaded by path under a unique module name (the invoker's
``handler`` must not be shadowed); its ``contracts.invocation_logging`` import is
the very module ``tenantctl doctor`` uses.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stacks.operations.invocation_logging_guard import GUARD_SOURCE


@dataclass
class CloudFormationAnswers:
    """What the guard PUT to its ResponseURL: one entry per answer."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def only(self) -> dict[str, Any]:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]


@pytest.fixture(scope="session")
def guard_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "invocation_logging_guard_handler", GUARD_SOURCE / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cloudformation() -> Iterator[CloudFormationAnswers]:
    """A real local HTTP server playing CloudFormation's pre-signed S3 ResponseURL."""
    answers = CloudFormationAnswers(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            answers.requests.append(
                {
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                }
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answers.url = f"http://127.0.0.1:{server.server_address[1]}/cfn-response?signature=abc"
    try:
        yield answers
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Bedrock control plane (it implements the logging configuration calls)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("bedrock", region_name="us-east-1")


def custom_resource_event(
    request_type: str, response_url: str, *, allow: str | None = "false"
) -> dict[str, Any]:
    """An event as CloudFormation sends it to the ServiceToken function."""
    properties: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:g"
    }
    if allow is not None:
        properties["AllowOpsInvocationLogging"] = allow
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": properties["ServiceToken"],
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/BedrockOperations/1",
        "RequestId": "req-1",
        "LogicalResourceId": "InvocationLoggingGuardCheck2153654F",
        "ResourceType": "Custom::OpsInvocationLoggingGuard",
        "ResourceProperties": properties,
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = "bedrock-ops-invocation-logging-guard"
    return event


TEXT_LOGGING = {
    "cloudWatchConfig": {
        "logGroupName": "/bedrock/invocations",
        "roleArn": "arn:aws:iam::111111111111:role/bedrock-logging",
    },
    "textDataDeliveryEnabled": True,
    "imageDataDeliveryEnabled": True,
    "embeddingDataDeliveryEnabled": False,
}
