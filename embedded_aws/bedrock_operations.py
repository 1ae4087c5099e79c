"""Every Bedrock runtime operation, read from botocore's service model, and what authorizes it.

The runtime (``bedrock-runtime``) and the control plane (``bedrock``) both sign
as service ``bedrock``, so a request is told apart by its method and path: a
runtime request is one that matches a ``bedrock-runtime`` operation's
``http.method`` and ``http.requestUri``. The operations come from the installed
botocore, never from a hand-written list, so an operation a newer botocore adds
reaches the emulator too, where it is refused for everyone until
:data:`IAM_RULES` says which IAM action authorizes it (fail closed).

The actions are those of AWS's Service Authorization Reference for Amazon
Bedrock: Converse is authorized as ``bedrock:InvokeModel`` and ConverseStream
as ``bedrock:InvokeModelWithResponseStream``; StartAsyncInvoke invokes the
model named in its body.

A streaming operation's output names the exception events its stream may carry
(``stream_exceptions``): ConverseStream's ``internalServerException``,
``modelStreamErrorException``, ``validationException``, ``throttlingException``
and ``serviceUnavailableException``, read from the same model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from urllib.parse import unquote

import botocore.session
from botocore.model import StructureShape

RUNTIME_SERVICE = "bedrock-runtime"

CONVERSE = "Converse"
CONVERSE_STREAM = "ConverseStream"
COUNT_TOKENS = "CountTokens"
INVOKE_MODEL = "InvokeModel"
INVOKE_MODEL_STREAM = "InvokeModelWithResponseStream"


class ResourceKind(StrEnum):
    """What an operation's IAM action is evaluated on."""

    MODEL = "the model in the path"  # model id, profile id or ARN (``{modelId}``)
    MODEL_IN_BODY = "the model in the body"  # StartAsyncInvoke's ``modelId``
    GUARDRAIL = "the guardrail in the path"
    ASYNC_INVOKE = "the async invocation in the path"
    ANY = "every resource"  # actions without resource-level permissions: "*"


@dataclass(frozen=True)
class Authorization:
    """The IAM action an operation needs, and the resource it is checked on."""

    action: str
    resource: ResourceKind


IAM_RULES: dict[str, Authorization] = {
    CONVERSE: Authorization("bedrock:InvokeModel", ResourceKind.MODEL),
    CONVERSE_STREAM: Authorization("bedrock:InvokeModelWithResponseStream", ResourceKind.MODEL),
    INVOKE_MODEL: Authorization("bedrock:InvokeModel", ResourceKind.MODEL),
    INVOKE_MODEL_STREAM: Authorization("bedrock:InvokeModelWithResponseStream", ResourceKind.MODEL),
    "InvokeModelWithBidirectionalStream": Authorization(
        "bedrock:InvokeModelWithBidirectionalStream", ResourceKind.MODEL
    ),
    COUNT_TOKENS: Authorization("bedrock:CountTokens", ResourceKind.MODEL),
    "ApplyGuardrail": Authorization("bedrock:ApplyGuardrail", ResourceKind.GUARDRAIL),
    "StartAsyncInvoke": Authorization("bedrock:InvokeModel", ResourceKind.MODEL_IN_BODY),
    "GetAsyncInvoke": Authorization("bedrock:GetAsyncInvoke", ResourceKind.ASYNC_INVOKE),
    "ListAsyncInvokes": Authorization("bedrock:ListAsyncInvokes", ResourceKind.ANY),
    # InvokeGuardrailChecks is left out on purpose: AWS's reference does not say
    # (yet) which action authorizes it, so it is refused for everyone.
}


@dataclass(frozen=True)
class RuntimeOperation:
    """One ``bedrock-runtime`` operation as its HTTP binding and its authorization."""

    name: str
    method: str
    uri_template: str
    path_pattern: re.Pattern[str]

    @property
    def authorization(self) -> Authorization | None:
        """What authorizes the operation; None: nothing does (refused for everyone)."""
        return IAM_RULES.get(self.name)


@dataclass(frozen=True)
class RuntimeRoute:
    """A request matched to its operation, with the path's labels percent-decoded."""

    operation: RuntimeOperation
    labels: dict[str, str]


def uri_path_pattern(uri_template: str) -> re.Pattern[str]:
    """A regex for the path part of a Smithy URI template, one group per label.

    ``{label}`` is one path segment, ``{label+}`` (greedy) one or more. Matched
    against the path as sent, before percent-decoding: an ARN label carries its
    slashes encoded.
    """
    path = uri_template.split("?", 1)[0]
    pattern = ""
    for literal, label, greedy in re.findall(r"([^{]*)(?:\{(\w+)(\+?)\})?", path):
        pattern += re.escape(literal)
        if label:
            pattern += f"(?P<{label}>.+)" if greedy else f"(?P<{label}>[^/]+)"
    return re.compile(f"^{pattern.rstrip('/')}/?$")


@cache
def runtime_operations() -> tuple[RuntimeOperation, ...]:
    """Every operation in the installed botocore's ``bedrock-runtime`` model."""
    model = botocore.session.get_session().get_service_model(RUNTIME_SERVICE)
    operations = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = str(http["requestUri"])
        operations.append(
            RuntimeOperation(name, str(http["method"]), template, uri_path_pattern(template))
        )
    return tuple(operations)


@cache
def stream_exceptions(operation: str) -> dict[str, int]:
    """The exception events ``operation``'s event stream may carry, by member name
    (``modelStreamErrorException``, the ``:exception-type`` a client reads), with the
    HTTP status the model gives each; empty for an operation that does not stream."""
    model = botocore.session.get_session().get_service_model(RUNTIME_SERVICE)
    output = model.operation_model(operation).output_shape
    for member in output.members.values() if isinstance(output, StructureShape) else ():
        if isinstance(member, StructureShape) and member.serialization.get("eventstream"):
            return {
                name: int(shape.metadata.get("error", {}).get("httpStatusCode", 500))
                for name, shape in member.members.items()
                if shape.metadata.get("exception")
            }
    return {}


def route(method: str, raw_path: str) -> RuntimeRoute | None:
    """The runtime operation a request calls, or None for anything else (the control plane)."""
    for operation in runtime_operations():
        if operation.method != method.upper():
            continue
        match = operation.path_pattern.match(raw_path)
        if match is not None:
            labels = {name: unquote(value) for name, value in match.groupdict().items()}
            return RuntimeRoute(operation, labels)
    return None
