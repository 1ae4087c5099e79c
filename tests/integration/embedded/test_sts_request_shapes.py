"""Every STS request shape that could return credentials is evaluated or refused.

moto answers AssumeRole sent as a signed GET, as a POST with the action in the
URL, and AssumeRoleWithWebIdentity / AssumeRoleWithSAML even unsigned, and hands
out credentials for any role. The embedded cloud's isolation proof holds only if
its trust check sees all of them.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import ACME, GLOBEX, OPS, allow, create_role, policy, trust

pytestmark = pytest.mark.xdist_group("embedded-sts-shapes")

EXTERNAL_ID = "acme-5f0c2a9e8b7d4c1e"
TARGET = f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme"
CALLER = f"arn:aws:iam::{ACME}:role/bedrock-caller-acme"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME, GLOBEX]) as embedded:
        create_role(
            embedded,
            OPS,
            "bedrock-invoker-acme",
            trust(
                {"AWS": f"arn:aws:iam::{ACME}:root"},
                {
                    "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
                    "ArnEquals": {"aws:PrincipalArn": CALLER},
                },
            ),
        )
        yield embedded


def _assume_params(action: str = "AssumeRole") -> dict[str, str]:
    params = {
        "Action": action,
        "Version": "2011-06-15",
        "RoleArn": TARGET,
        "RoleSessionName": "acme",
        "ExternalId": EXTERNAL_ID,
    }
    if action == "AssumeRoleWithWebIdentity":
        params["WebIdentityToken"] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhdHRhY2tlciJ9."
    if action == "AssumeRoleWithSAML":
        params["PrincipalArn"] = f"arn:aws:iam::{OPS}:saml-provider/evil"
        params["SAMLAssertion"] = "PHNhbWw+PC9zYW1sPg=="
    return params


def _send(
    cloud: EmbeddedCloud,
    method: str,
    *,
    query: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    signer: boto3.Session | None = None,
) -> tuple[int, str]:
    url = cloud.endpoint_url + "/" + (f"?{urlencode(query)}" if query else "")
    body = urlencode(form).encode() if form else b""
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form else {}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    if signer is not None:
        credentials = signer.get_credentials()
        assert credentials is not None
        SigV4Auth(credentials.get_frozen_credentials(), "sts", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(
        url, data=body or None, method=method, headers=dict(request.headers.items())
    )
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _attacker(cloud: EmbeddedCloud) -> boto3.Session:
    # Another tenant's administrator: full rights in its own account, none here.
    return cloud.session(GLOBEX)


@pytest.mark.parametrize(
    ("shape", "method", "in_query", "signed", "action"),
    [
        ("signed GET, action in the query", "GET", True, True, "AssumeRole"),
        ("signed POST, action in the URL", "POST", True, True, "AssumeRole"),
        ("unsigned POST web identity", "POST", False, False, "AssumeRoleWithWebIdentity"),
        ("unsigned GET web identity", "GET", True, False, "AssumeRoleWithWebIdentity"),
        ("unsigned POST SAML", "POST", False, False, "AssumeRoleWithSAML"),
        ("signed POST web identity", "POST", False, True, "AssumeRoleWithWebIdentity"),
    ],
)
def test_no_request_shape_gets_another_tenants_credentials(
    cloud: EmbeddedCloud, shape: str, method: str, in_query: bool, signed: bool, action: str
) -> None:
    params = _assume_params(action)
    status, body = _send(
        cloud,
        method,
        query=params if in_query else None,
        form=None if in_query else params,
        signer=_attacker(cloud) if signed else None,
    )
    assert status == 403, (shape, body)
    assert "AccessKeyId" not in body and "SessionToken" not in body, shape


def test_the_allowed_caller_may_use_the_query_shape_too(cloud: EmbeddedCloud) -> None:
    create_role(
        cloud,
        ACME,
        "bedrock-caller-acme",
        trust({"AWS": f"arn:aws:iam::{ACME}:root"}),
        policy(allow("sts:AssumeRole", TARGET)),
    )
    admin = cloud.client("sts", ACME)
    creds = admin.assume_role(RoleArn=CALLER, RoleSessionName="setup")["Credentials"]
    caller = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    status, body = _send(cloud, "GET", query=_assume_params(), signer=caller)
    assert status == 200, body
    assert "<AccessKeyId>" in body
    decisions = [d for d in cloud.assume_role_decisions() if d.role_arn == TARGET]
    assert [d.allowed for d in decisions][-1] is True


def test_session_tokens_for_the_callers_own_identity_still_work(cloud: EmbeddedCloud) -> None:
    sts = cloud.client("sts", GLOBEX)
    credentials = sts.get_session_token()["Credentials"]
    assert credentials["AccessKeyId"]
