"""SigV4 authentication of every request the embedded cloud serves.

moto takes the access key id of a request as its identity and never checks
the signature, so a wrong secret key, a temporary key without its session
token, or an expired session all pass. Here each request is verified as AWS
verifies it, before moto sees it:

* the signature (``Authorization`` header, or a presigned URL's query) is
  recomputed with the secret the embedded IAM/STS issued for the access key,
  by botocore's own SigV4 signer over the request as it arrived (the raw path,
  the query, the headers the client listed as signed, the payload hash), and
  compared in constant time. S3's older presigned URLs
  (``AWSAccessKeyId``/``Signature``/``Expires``, what boto3 still makes for an
  S3 client on a custom endpoint) are checked the same way with botocore's
  HMAC-SHA1 query signer;
* a temporary key must come with the session token it was issued with, and a
  long-term key with none;
* a temporary credential past its expiration (by the cloud's clock,
  ``embedded_aws.clock``) is refused;
* a request signed more than a few minutes away from the real time is refused,
  as is a presigned URL past its ``X-Amz-Expires``.

What is not checked: the chunk signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``
upload (the seed signature over the headers is) and SigV4a.

Each refusal names its ``Failure``; ``refusal_response`` answers it with the
code, message and status the called service uses on AWS.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import EMPTY_SHA256_HASH, UNSIGNED_PAYLOAD, HmacV1QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path
from werkzeug.wrappers import Response

from embedded_aws.aws_errors import error_response, protocol_of
from embedded_aws.aws_request import read_body
from embedded_aws.identity import CallerIdentity, SigV4Scope, issued_credential

ALGORITHM = "AWS4-HMAC-SHA256"
S3_QUERY_V2 = "S3 HMAC-SHA1 query"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_CREDENTIAL = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# How far a request's signing time may be from the server's, as AWS allows:
# S3 15 minutes, the other services 5.
_ALLOWED_SKEW = {"s3": timedelta(minutes=15)}
_DEFAULT_SKEW = timedelta(minutes=5)


class Failure(Enum):
    """Why a request is not authenticated."""

    MISSING = "no signature"
    MALFORMED = "a malformed signature"
    UNKNOWN_KEY = "an access key the cloud never issued"
    MISSING_TOKEN = "a temporary key without its session token"
    INVALID_TOKEN = "a session token that is not the key's"
    EXPIRED_TOKEN = "an expired credential"
    SIGNATURE_MISMATCH = "a signature the key's secret does not produce"
    REQUEST_TIME = "a signing time too far from now"
    PRESIGN_EXPIRED = "a presigned URL past its expiry"
    PAYLOAD_MISMATCH = "a body whose hash is not the signed x-amz-content-sha256"


@dataclass(frozen=True)
class Refusal:
    """A request refused, why, and as which service: the signing service it named, or ""."""

    failure: Failure
    service: str
    detail: str = ""


@dataclass(frozen=True)
class Signature:
    """A request's SigV4 signature and what it claims, from its header or its query."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    session_token: str | None
    presigned: bool
    expires_seconds: int | None = None
    algorithm: str = ALGORITHM

    @property
    def scope(self) -> SigV4Scope:
        """The credential scope, as ``embedded_aws.identity`` names it."""
        return SigV4Scope(self.access_key_id, self.date, self.region, self.service)


@dataclass(frozen=True)
class Authenticated:
    """A verified request: its signature, and the identity behind it.

    ``identity`` is None for one of the cloud's own keys (``own_keys``), which
    belong to no IAM principal.
    """

    signature: Signature
    identity: CallerIdentity | None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _header(environ: Mapping[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        value = environ.get(key)
    else:
        value = environ.get(f"HTTP_{key}")
    return None if value is None else str(value)


def _raw_target(environ: Mapping[str, Any]) -> tuple[str, str]:
    """The path and query exactly as the client sent them (before any decoding)."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if not raw:
        return quote(str(environ.get("PATH_INFO", "")), safe="/~%"), str(
            environ.get("QUERY_STRING", "")
        )
    if raw.startswith(("http://", "https://")):
        parts = urlsplit(raw)
        return parts.path or "/", parts.query
    path, _, query = raw.partition("?")
    return path or "/", query


def read_signature(environ: Mapping[str, Any]) -> Signature | Refusal | None:
    """The request's signature, a Refusal if it is malformed, None if it has none."""
    authorization = _header(environ, "Authorization")
    _, query = _raw_target(environ)
    params = dict(_query_pairs(query))
    if authorization is not None:
        return _from_header(environ, authorization)
    if "X-Amz-Signature" in params or "X-Amz-Credential" in params:
        return _from_query(params)
    if "Signature" in params and "AWSAccessKeyId" in params:
        return _from_s3_query_v2(params)
    return None


def _scope_parts(credential: str, service_hint: str = "") -> tuple[str, ...] | Refusal:
    match = _CREDENTIAL.match(credential.strip())
    if match is None:
        return Refusal(Failure.MALFORMED, service_hint, "bad credential scope")
    return match.groups()


def _from_header(environ: Mapping[str, Any], authorization: str) -> Signature | Refusal:
    algorithm, _, rest = authorization.strip().partition(" ")
    fields = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    scope = _scope_parts(fields.get("Credential", ""))
    if isinstance(scope, Refusal):
        return scope
    access_key_id, date, region, service = scope
    if algorithm != ALGORITHM or not fields.get("SignedHeaders") or not fields.get("Signature"):
        return Refusal(Failure.MALFORMED, service, "not a SigV4 Authorization header")
    amz_date = _header(environ, "X-Amz-Date")
    if amz_date is None:
        return Refusal(Failure.MALFORMED, service, "no X-Amz-Date")
    return Signature(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=tuple(fields["SignedHeaders"].split(";")),
        signature=fields["Signature"],
        amz_date=amz_date,
        session_token=_header(environ, "X-Amz-Security-Token"),
        presigned=False,
    )


def _from_query(params: Mapping[str, str]) -> Signature | Refusal:
    scope = _scope_parts(params.get("X-Amz-Credential", ""))
    if isinstance(scope, Refusal):
        return scope
    access_key_id, date, region, service = scope
    if (
        params.get("X-Amz-Algorithm") != ALGORITHM
        or not params.get("X-Amz-SignedHeaders")
        or not params.get("X-Amz-Signature")
        or not params.get("X-Amz-Date")
    ):
        return Refusal(Failure.MALFORMED, service, "incomplete presigned query")
    try:
        expires = int(params.get("X-Amz-Expires", "604800"))
    except ValueError:
        return Refusal(Failure.MALFORMED, service, "X-Amz-Expires is not a number")
    return Signature(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=tuple(params["X-Amz-SignedHeaders"].split(";")),
        signature=params["X-Amz-Signature"],
        amz_date=params["X-Amz-Date"],
        session_token=params.get("X-Amz-Security-Token"),
        presigned=True,
        expires_seconds=expires,
    )


def _from_s3_query_v2(params: Mapping[str, str]) -> Signature | Refusal:
    try:
        expires_at = datetime.fromtimestamp(int(params.get("Expires", "")), UTC)
    except ValueError:
        return Refusal(Failure.MALFORMED, "s3", "Expires is not a number")
    return Signature(
        access_key_id=params["AWSAccessKeyId"],
        date=expires_at.strftime("%Y%m%d"),
        region="us-east-1",
        service="s3",
        signed_headers=(),
        signature=params["Signature"],
        # The signing time is not sent; the expiry is, and is what is checked.
        amz_date=expires_at.strftime(_AMZ_DATE),
        session_token=params.get("x-amz-security-token"),
        presigned=True,
        expires_seconds=0,
        algorithm=S3_QUERY_V2,
    )


class _S3QueryV2Verifier(HmacV1QueryAuth):
    """botocore's S3 HMAC-SHA1 query signer, with the URL's own Expires as the date."""

    def __init__(self, credentials: Credentials, expires: str) -> None:
        super().__init__(credentials)
        self._expires_value = expires

    def _get_date(self) -> str:
        return self._expires_value


def _expected_s3_query_v2(environ: dict[str, Any], signature: Signature, secret: str) -> str:
    path, query = _raw_target(environ)
    headers = HTTPHeaders()
    for name in ("Content-MD5", "Content-Type"):
        if (value := _header(environ, name)) is not None:
            headers[name] = value
    for key, value in environ.items():
        if key.startswith("HTTP_X_AMZ_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    token = signature.session_token
    verifier = _S3QueryV2Verifier(
        Credentials(signature.access_key_id, secret, token),
        dict(_query_pairs(query)).get("Expires", ""),
    )
    method = str(environ.get("REQUEST_METHOD", "GET"))
    # botocore's stub says Mapping; the signer reads HTTPHeaders.get_all, as when it signs.
    signed = verifier.get_signature(method, urlsplit(f"{path}?{query}"), headers)  # type: ignore[arg-type]
    return str(signed)


def _body(environ: dict[str, Any]) -> bytes:
    """The request body, put back for moto; also a chunked one werkzeug has de-chunked."""
    if environ.get("CONTENT_LENGTH") or not environ.get("wsgi.input_terminated"):
        return read_body(environ)
    body = environ["wsgi.input"].read()
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _payload_hash(environ: dict[str, Any], signature: Signature) -> str | Refusal:
    declared = _header(environ, "X-Amz-Content-SHA256")
    if signature.presigned and signature.service == "s3" and declared is None:
        return UNSIGNED_PAYLOAD  # a presigned URL cannot know the body it will carry
    if declared is not None and not _HEX_SHA256.match(declared):
        return declared  # UNSIGNED-PAYLOAD, STREAMING-*: the client signed this literal
    body = _body(environ)
    actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256_HASH
    if declared is not None and not hmac.compare_digest(declared, actual):
        return Refusal(Failure.PAYLOAD_MISMATCH, signature.service)
    return actual


def expected_signature(environ: dict[str, Any], signature: Signature, secret: str) -> str | Refusal:
    """The signature the holder of ``secret`` would have sent for this request."""
    if signature.algorithm == S3_QUERY_V2:
        return _expected_s3_query_v2(environ, signature, secret)
    payload_hash = _payload_hash(environ, signature)
    if isinstance(payload_hash, Refusal):
        return payload_hash
    path, query = _raw_target(environ)
    # S3 signs the path as sent; every other service its normalized, URI-encoded form.
    canonical_path = (
        path if signature.service == "s3" else quote(normalize_url_path(path), safe="/~")
    )
    signer = SigV4Auth(
        Credentials(signature.access_key_id, secret), signature.service, signature.region
    )
    pairs = [(k, v) for k, v in _query_pairs(query) if k != "X-Amz-Signature"]
    headers = HTTPHeaders()
    for name in signature.signed_headers:
        value = _header(environ, name)
        if value is not None:
            headers[name] = value
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    # The query as decoded pairs, which botocore encodes and sorts as SigV4 says.
    # (Pairs, not a dict, keep a repeated key; botocore's signer takes either.)
    request = AWSRequest(method=method, url="http://localhost/", params=pairs)  # type: ignore[arg-type]
    request.context["timestamp"] = signature.amz_date
    canonical_request = "\n".join(
        [
            method,
            canonical_path,
            signer.canonical_query_string(request),
            signer.canonical_headers(headers) + "\n",
            ";".join(signature.signed_headers),
            payload_hash,
        ]
    )
    string_to_sign = signer.string_to_sign(request, canonical_request)
    return str(signer.signature(string_to_sign, request))


def _request_time_refusal(signature: Signature) -> Refusal | None:
    try:
        signed_at = datetime.strptime(signature.amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        return Refusal(Failure.MALFORMED, signature.service, "X-Amz-Date is not a SigV4 date")
    # Real time, not the embedded clock: clients sign with the real time (see
    # embedded_aws.clock), and advancing the clock ages credentials, not requests.
    now = datetime.now(UTC)
    if signature.presigned:
        if now > signed_at + timedelta(seconds=signature.expires_seconds or 0):
            return Refusal(Failure.PRESIGN_EXPIRED, signature.service)
        return None
    allowed = _ALLOWED_SKEW.get(signature.service, _DEFAULT_SKEW)
    minutes = int(allowed.total_seconds() // 60)
    stamp = now.strftime(_AMZ_DATE)
    if signed_at < now - allowed:
        earliest = (now - allowed).strftime(_AMZ_DATE)
        detail = (
            f"Signature expired: {signature.amz_date} is now earlier than "
            f"{earliest} ({stamp} - {minutes} min.)"
        )
        return Refusal(Failure.REQUEST_TIME, signature.service, detail)
    if signed_at > now + allowed:
        latest = (now + allowed).strftime(_AMZ_DATE)
        detail = (
            f"Signature not yet current: {signature.amz_date} is still later than "
            f"{latest} ({stamp} + {minutes} min.)"
        )
        return Refusal(Failure.REQUEST_TIME, signature.service, detail)
    return None


def authenticate(
    environ: dict[str, Any], *, own_keys: Mapping[str, str] | None = None
) -> Authenticated | Refusal:
    """Verify the request's SigV4 signature, session token and credential lifetime.

    ``own_keys`` maps access key ids the cloud uses itself (outside IAM) to
    their secrets.
    """
    signature = read_signature(environ)
    if signature is None:
        return Refusal(Failure.MISSING, "")
    if isinstance(signature, Refusal):
        return signature
    identity: CallerIdentity | None = None
    own_secret = (own_keys or {}).get(signature.access_key_id)
    if own_secret is not None:
        secret = own_secret
    else:
        credential = issued_credential(signature.access_key_id)
        if credential is None:
            return Refusal(Failure.UNKNOWN_KEY, signature.service)
        if credential.session_token is None:
            if signature.session_token is not None:
                return Refusal(Failure.INVALID_TOKEN, signature.service)
        elif signature.session_token is None:
            return Refusal(Failure.MISSING_TOKEN, signature.service)
        elif not hmac.compare_digest(signature.session_token, credential.session_token):
            return Refusal(Failure.INVALID_TOKEN, signature.service)
        if credential.identity.expired():
            return Refusal(Failure.EXPIRED_TOKEN, signature.service)
        identity, secret = credential.identity, credential.secret_access_key
    expected = expected_signature(environ, signature, secret)
    if isinstance(expected, Refusal):
        return expected
    if not hmac.compare_digest(expected, signature.signature):
        return Refusal(Failure.SIGNATURE_MISMATCH, signature.service)
    too_far = _request_time_refusal(signature)
    if too_far is not None:
        return too_far
    return Authenticated(signature, identity)


# (Query/REST-XML code, JSON code, S3 code, message, S3 message, status, S3 status)
_ANSWERS: dict[Failure, tuple[str, str, str, str, str, int, int]] = {
    Failure.MISSING: (
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "AccessDenied",
        "Request is missing Authentication Token",
        "Access Denied",
        403,
        403,
    ),
    Failure.MALFORMED: (
        "IncompleteSignature",
        "IncompleteSignatureException",
        "AuthorizationHeaderMalformed",
        "The request signature does not conform to AWS standards.",
        "The authorization header is malformed.",
        400,
        400,
    ),
    Failure.UNKNOWN_KEY: (
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "The security token included in the request is invalid.",
        "The AWS Access Key Id you provided does not exist in our records.",
        403,
        403,
    ),
    Failure.MISSING_TOKEN: (
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "The security token included in the request is invalid.",
        "The AWS Access Key Id you provided does not exist in our records.",
        403,
        403,
    ),
    Failure.INVALID_TOKEN: (
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidToken",
        "The security token included in the request is invalid.",
        "The provided token is malformed or otherwise invalid.",
        403,
        400,
    ),
    Failure.EXPIRED_TOKEN: (
        "ExpiredToken",
        "ExpiredTokenException",
        "ExpiredToken",
        "The security token included in the request is expired",
        "The provided token has expired.",
        403,
        400,
    ),
    Failure.SIGNATURE_MISMATCH: (
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details.",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
        403,
    ),
    Failure.REQUEST_TIME: (
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "RequestTimeTooSkewed",
        "Signature expired",
        "The difference between the request time and the current time is too large.",
        403,
        403,
    ),
    Failure.PRESIGN_EXPIRED: (
        "AccessDenied",
        "AccessDeniedException",
        "AccessDenied",
        "Request has expired",
        "Request has expired",
        403,
        403,
    ),
    Failure.PAYLOAD_MISMATCH: (
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "XAmzContentSHA256Mismatch",
        "The request signature we calculated does not match the signature you provided.",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
        403,
        400,
    ),
}


def refusal_response(environ: dict[str, Any], refusal: Refusal) -> Response:
    """The refusal as the called service answers it on AWS."""
    code, json_code, s3_code, message, s3_message, status, s3_status = _ANSWERS[refusal.failure]
    service = refusal.service
    protocol = protocol_of(service, environ)
    if protocol == "rest-xml" and service in ("s3", ""):
        code, message, status = s3_code, s3_message, s3_status
    elif protocol in ("json", "rest-json"):
        code = json_code
    if refusal.failure is Failure.REQUEST_TIME and service != "s3":
        message = refusal.detail
    return error_response(environ, service, code=code, message=message, status=status)
