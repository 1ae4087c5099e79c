"""Reading an AWS API request from its WSGI environ without consuming it.

The embedded cloud's middleware looks at a request before moto serves it, so
whatever it reads of the body is put back for moto to read again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back so the next app can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def replace_body(environ: dict[str, Any], body: bytes) -> None:
    """Give the next app ``body`` instead of the request's own."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def request_params(environ: dict[str, Any]) -> dict[str, str]:
    """A Query-protocol request's parameters: the query string, then a form body's."""
    params = {k: v[0] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
    content_type = str(environ.get("CONTENT_TYPE", ""))
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # A form body, or a small body without a type (moto reads those as forms too);
    # never an upload's megabytes.
    if environ.get("REQUEST_METHOD") == "POST" and (
        "x-www-form-urlencoded" in content_type or (not content_type and length <= 65536)
    ):
        body = read_body(environ).decode("utf-8", "replace")
        params.update({k: v[0] for k, v in parse_qs(body).items()})
    return params


def operation_name(environ: dict[str, Any]) -> str:
    """The operation a request calls: the JSON target, the Query action, or REST's method+path."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rpartition(".")[2]  # e.g. Logs_20140328.PutLogEvents
    action = request_params(environ).get("Action")
    if action:
        return action
    return f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
