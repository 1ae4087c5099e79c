"""An error answered in the shape its client parses: the protocol of the service called.

AWS services speak one of a few wire protocols, and each has its own error
shape: Query services (STS, IAM, CloudFormation) an ``<ErrorResponse>`` XML
document, S3 (REST-XML) a bare ``<Error>``, JSON and REST-JSON services
(CloudWatch Logs, Lambda, Bedrock) a JSON body with the code in
``x-amzn-ErrorType``. botocore's service models say which protocol a signing
service uses; the request itself says so too when it carries a JSON target or
a Query action, which wins (a service that offers several protocols answers in
the one the client chose).
"""

from __future__ import annotations

import json
import uuid
from functools import cache, lru_cache
from typing import Any, Literal
from xml.sax.saxutils import escape as xml_escape

import botocore.session
from botocore.exceptions import UnknownServiceError
from werkzeug.wrappers import Response

from embedded_aws.aws_request import request_params

Protocol = Literal["query", "json", "rest-json", "rest-xml"]
# The protocols botocore's clients speak, as the embedded cloud answers them;
# smithy-rpc-v2-cbor (offered first by CloudWatch) is left to the next one a
# model lists: moto does not speak CBOR either.
_KNOWN: dict[str, Protocol] = {
    "query": "query",
    "ec2": "query",
    "json": "json",
    "rest-json": "rest-json",
    "rest-xml": "rest-xml",
}


@lru_cache(maxsize=1)
def _loader() -> Any:
    return botocore.session.get_session().get_component("data_loader")


@cache
def _service_metadata(signing_name: str) -> dict[str, Any]:
    """The service model metadata of the service signed as ``signing_name`` ({} if none)."""
    if not signing_name:
        return {}
    loader = _loader()
    try:
        return dict(loader.load_service_model(signing_name, "service-2")["metadata"])
    except UnknownServiceError:
        pass
    # The signing name is not always the model's name (CloudWatch signs as
    # "monitoring"): look it up once in the models' metadata.
    for name in loader.list_available_services("service-2"):
        metadata = loader.load_service_model(name, "service-2")["metadata"]
        if signing_name in (metadata.get("signingName"), metadata.get("endpointPrefix")):
            return dict(metadata)
    return {}


def protocol_of(signing_name: str, environ: dict[str, Any]) -> Protocol:
    """The protocol a request to ``signing_name`` expects its error in."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if signing_name != "s3" and "Action" in request_params(environ):
        return "query"
    if not signing_name:
        # Unsigned and neither JSON nor Query: S3's anonymous REST access, the
        # one kind of unsigned call AWS serves at all.
        return "rest-xml"
    metadata = _service_metadata(signing_name)
    for name in metadata.get("protocols") or [metadata.get("protocol")]:
        if name in _KNOWN:
            return _KNOWN[name]
    return "rest-json"


def error_response(
    environ: dict[str, Any],
    signing_name: str,
    *,
    code: str,
    message: str,
    status: int,
) -> Response:
    """``code`` and ``message`` in the error shape of the service signed as ``signing_name``."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    protocol = protocol_of(signing_name, environ)
    if protocol in ("json", "rest-json"):
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message})
        content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
    elif protocol == "rest-xml":
        headers["x-amz-request-id"] = request_id
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        content_type = "application/xml"
    else:
        namespace = _service_metadata(signing_name).get("xmlNamespace")
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        body = (
            f"<ErrorResponse{xmlns}>\n"
            f"  <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n"
            f"    <Message>{xml_escape(message)}</Message>\n  </Error>\n"
            f"  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
        )
        content_type = "text/xml"
    if environ.get("REQUEST_METHOD") == "HEAD":
        body = ""  # HEAD answers carry no body; clients read the status alone
    return Response(body, status=status, headers=headers, content_type=content_type)
