"""Only the holder of an issued credential is served: SigV4 verified on every service.

A wrong secret key, a temporary key without (or with another's) session token,
an expired session and an access key never issued are each refused, with the
code the called service uses on AWS, through real boto3 clients. The right
credentials, presigned URLs included, are still served.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from embedded_aws.aws_config import AwsConfigFiles
from embedded_aws.process import RunningCloud
from tests.integration.embedded.conftest import (
    ACME,
    GLOBEX,
    HAIKU,
    REGION,
    allow,
    create_role,
    policy,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-authentication")

ROLE = "acme-operator"
BUCKET = "acme-assets"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[ACME, GLOBEX]) as embedded:
        create_role(
            embedded, ACME, ROLE, trust({"AWS": f"arn:aws:iam::{ACME}:root"}), policy(allow("*"))
        )
        embedded.client("s3", ACME).create_bucket(Bucket=BUCKET)
        embedded.client("s3", ACME).put_object(Bucket=BUCKET, Key="asset one.zip", Body=b"zip")
        yield embedded


@pytest.fixture(autouse=True)
def real_time(cloud: EmbeddedCloud) -> Iterator[None]:
    yield
    cloud.clock.reset()


def _session(cloud: EmbeddedCloud) -> dict[str, Any]:
    creds = cloud.client("sts", ACME).assume_role(
        RoleArn=f"arn:aws:iam::{ACME}:role/{ROLE}", RoleSessionName="operator"
    )["Credentials"]
    return dict(creds)


def _client(cloud: EmbeddedCloud, service: str, **credentials: str | None) -> Any:
    return boto3.client(
        service,
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}),
        **credentials,
    )


def _user_keys(cloud: EmbeddedCloud, *, secret: str | None = None) -> dict[str, str | None]:
    creds = cloud.credentials(ACME)
    return {
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": secret or creds.secret_access_key,
    }


def _session_keys(creds: dict[str, Any], *, token: str | None) -> dict[str, str | None]:
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": token,
    }


# One call each service answers for any identity allowed "*", and the codes it
# refuses with on AWS: (wrong secret, missing or wrong token, expired, unknown key).
CALLS: dict[str, Callable[[Any], Any]] = {
    "sts": lambda c: c.get_caller_identity(),
    "logs": lambda c: c.describe_log_groups(),
    "lambda": lambda c: c.list_functions(),
    "bedrock-runtime": lambda c: c.converse(
        modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hello"}]}]
    ),
    "cloudformation": lambda c: c.list_stacks(),
    "s3": lambda c: c.list_objects_v2(Bucket=BUCKET),
}
QUERY = ("SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken", "InvalidClientTokenId")
JSON = (
    "InvalidSignatureException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "UnrecognizedClientException",
)
CODES = {
    "sts": QUERY,
    "cloudformation": QUERY,
    "logs": JSON,
    "lambda": JSON,
    "bedrock-runtime": JSON,
    "s3": ("SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidAccessKeyId"),
}
SERVICES = list(CALLS)


def _refused(cloud: EmbeddedCloud, service: str, **credentials: str | None) -> str:
    with pytest.raises(ClientError) as refused:
        CALLS[service](_client(cloud, service, **credentials))
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] in (400, 403), error
    return str(error["Error"]["Code"])


@pytest.mark.parametrize("service", SERVICES)
def test_the_issued_credentials_are_served(cloud: EmbeddedCloud, service: str) -> None:
    CALLS[service](_client(cloud, service, **_user_keys(cloud)))
    session = _session(cloud)
    CALLS[service](_client(cloud, service, **_session_keys(session, token=session["SessionToken"])))


@pytest.mark.parametrize("service", SERVICES)
def test_a_wrong_secret_key_is_refused(cloud: EmbeddedCloud, service: str) -> None:
    keys = _user_keys(cloud, secret="not-the-secret-iam-issued-for-this-key")
    assert _refused(cloud, service, **keys) == CODES[service][0]


@pytest.mark.parametrize("service", SERVICES)
def test_a_wrong_secret_with_a_session_token_is_refused(cloud: EmbeddedCloud, service: str) -> None:
    session = _session(cloud)
    keys = {**_session_keys(session, token=session["SessionToken"])}
    keys["aws_secret_access_key"] = "not-" + str(session["SecretAccessKey"])
    assert _refused(cloud, service, **keys) == CODES[service][0]


@pytest.mark.parametrize("service", SERVICES)
def test_temporary_credentials_without_their_session_token_are_refused(
    cloud: EmbeddedCloud, service: str
) -> None:
    session = _session(cloud)
    assert _refused(cloud, service, **_session_keys(session, token=None)) == CODES[service][1]


@pytest.mark.parametrize("service", ["sts", "logs", "lambda", "bedrock-runtime"])
def test_another_sessions_token_is_refused(cloud: EmbeddedCloud, service: str) -> None:
    mine, other = _session(cloud), _session(cloud)
    keys = _session_keys(mine, token=other["SessionToken"])
    assert _refused(cloud, service, **keys) == CODES[service][1]


@pytest.mark.parametrize("service", SERVICES)
def test_expired_credentials_are_refused(cloud: EmbeddedCloud, service: str) -> None:
    session = _session(cloud)
    keys = _session_keys(session, token=session["SessionToken"])
    CALLS[service](_client(cloud, service, **keys))
    cloud.clock.advance(timedelta(hours=1, seconds=1))
    assert _refused(cloud, service, **keys) == CODES[service][2]


def test_credentials_issued_after_the_clock_moved_live_their_full_duration(
    cloud: EmbeddedCloud,
) -> None:
    cloud.clock.advance(timedelta(hours=5))
    session = _session(cloud)
    assert session["Expiration"] > cloud.clock.now() + timedelta(minutes=59)
    keys = _session_keys(session, token=session["SessionToken"])
    assert CALLS["sts"](_client(cloud, "sts", **keys))["Arn"].endswith("/operator")


@pytest.mark.parametrize("service", SERVICES)
def test_an_access_key_never_issued_is_refused(cloud: EmbeddedCloud, service: str) -> None:
    keys = {"aws_access_key_id": "AKIAMADEUPMADEUP0000", "aws_secret_access_key": "made-up"}
    assert _refused(cloud, service, **keys) == CODES[service][3]


def test_a_long_term_key_with_a_session_token_is_refused(cloud: EmbeddedCloud) -> None:
    keys = {**_user_keys(cloud), "aws_session_token": _session(cloud)["SessionToken"]}
    assert _refused(cloud, "sts", **keys) == "InvalidClientTokenId"


def test_session_token_credentials_act_as_the_user_and_need_their_token(
    cloud: EmbeddedCloud,
) -> None:
    creds = cloud.client("sts", ACME).get_session_token(DurationSeconds=900)["Credentials"]
    keys = _session_keys(creds, token=creds["SessionToken"])
    identity = _client(cloud, "sts", **keys).get_caller_identity()
    assert identity["Arn"] == cloud.credentials(ACME).user_arn
    assert _client(cloud, "logs", **keys).describe_log_groups()["logGroups"] is not None
    assert (
        _refused(cloud, "logs", **_session_keys(creds, token=None)) == "UnrecognizedClientException"
    )
    cloud.clock.advance(timedelta(seconds=901))
    assert _refused(cloud, "sts", **keys) == "ExpiredToken"


def test_the_moto_account_header_cannot_reach_another_account(cloud: EmbeddedCloud) -> None:
    logs = cloud.client("logs", GLOBEX)

    def name_acme(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = ACME

    logs.meta.events.register("before-sign.logs.*", name_acme)
    logs.create_log_group(logGroupName="/globex/written-as-acme")
    in_acme = cloud.client("logs", ACME).describe_log_groups(logGroupNamePrefix="/globex/")
    in_globex = cloud.client("logs", GLOBEX).describe_log_groups(logGroupNamePrefix="/globex/")
    assert in_acme["logGroups"] == []
    assert [g["logGroupName"] for g in in_globex["logGroups"]] == ["/globex/written-as-acme"]


def _fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_urls_are_served_and_a_tampered_one_refused(
    cloud: EmbeddedCloud, signature_version: str
) -> None:
    s3 = cloud.client("s3", ACME, config=Config(signature_version=signature_version))
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "asset one.zip"}, ExpiresIn=60
    )
    assert _fetch(url) == (200, b"zip")
    other_key = url.replace("asset%20one.zip", "asset%20two.zip")
    status, body = _fetch(other_key)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_a_presigned_url_with_a_session_token_needs_it(
    cloud: EmbeddedCloud, signature_version: str
) -> None:
    session = _session(cloud)
    s3 = boto3.Session(**_session_keys(session, token=session["SessionToken"])).client(
        "s3",
        endpoint_url=cloud.endpoint_url,
        region_name=REGION,
        config=Config(signature_version=signature_version),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "asset one.zip"})
    assert _fetch(url) == (200, b"zip")
    without_token = "&".join(
        p for p in url.split("&") if not p.lower().startswith("x-amz-security-token=")
    )
    status, body = _fetch(without_token)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" not in body


def test_an_expired_presigned_url_is_refused(cloud: EmbeddedCloud) -> None:
    s3 = cloud.client("s3", ACME, config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "asset one.zip"}, ExpiresIn=1
    )
    time.sleep(2)
    status, body = _fetch(url)
    assert status == 403 and b"Request has expired" in body


def test_an_unsigned_request_is_refused(cloud: EmbeddedCloud) -> None:
    status, body = _fetch(f"{cloud.endpoint_url}/?Action=GetCallerIdentity&Version=2011-06-15")
    assert status == 403 and b"<Code>MissingAuthenticationToken</Code>" in body


def test_a_request_signed_minutes_ago_is_refused_as_aws_refuses_it(cloud: EmbeddedCloud) -> None:
    # botocore signs with the current time; sign by hand with one ten minutes ago.
    creds = boto3.Session(**_user_keys(cloud)).get_credentials()
    assert creds is not None
    signer = SigV4Auth(creds.get_frozen_credentials(), "logs", REGION)
    body = b"{}"
    request = AWSRequest(
        method="POST",
        url=f"{cloud.endpoint_url}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
        },
    )
    stamp = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    signature = signer.signature(string_to_sign, request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
        f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, "
        f"Signature={signature}"
    )
    status, answer = _fetch_body(request.url, dict(request.headers.items()), body)
    assert status == 403
    assert b"InvalidSignatureException" in answer and b"Signature expired" in answer


def _fetch_body(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_clock_moves_over_the_admin_endpoint_too(cloud: EmbeddedCloud, tmp_path: Path) -> None:
    # A client's view of this very cloud, as `tenantctl local` reads one from its state file.
    running = RunningCloud(
        endpoint_url=cloud.endpoint_url,
        region=REGION,
        pid=os.getpid(),
        accounts={},
        aws_config=AwsConfigFiles(
            tmp_path / "config", tmp_path / "credentials", cloud.endpoint_url
        ),
    )
    session = _session(cloud)
    keys = _session_keys(session, token=session["SessionToken"])
    moved = running.advance_clock(timedelta(hours=2))
    assert moved >= datetime.now(UTC) + timedelta(hours=1, minutes=59)
    assert _refused(cloud, "lambda", **keys) == "ExpiredTokenException"
    running.reset_clock()
    assert cloud.clock.offset == timedelta(0)
    _client(cloud, "lambda", **keys).list_functions()
