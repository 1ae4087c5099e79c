"""Shared helpers for the embedded-cloud tests.

Each module that needs a server starts its own ``EmbeddedCloud`` on a free
localhost port in a module-scoped fixture and stops it afterwards; modules
are kept on one xdist worker each (``xdist_group``), since moto's state is
per process and only one cloud runs per process at a time.
"""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from typing import Any

import boto3

from embedded_aws import EmbeddedCloud

OPS = "111111111111"
ACME = "222222222222"
GLOBEX = "333333333333"
REGION = "us-east-1"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
US_HAIKU_35 = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def policy(*statements: dict[str, Any]) -> str:
    """A policy document with the given statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    """An Allow statement."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> str:
    """A trust policy allowing sts:AssumeRole for ``principal``."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return policy(statement)


def create_role(
    cloud: EmbeddedCloud,
    account: str,
    name: str,
    trust_policy: str,
    inline: str | None = None,
) -> str:
    """Create a role (with an optional inline policy) as the account's deployer."""
    iam = cloud.client("iam", account)
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)["Role"]["Arn"])
    if inline is not None:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=inline)
    return arn


def session_for(
    cloud: EmbeddedCloud,
    account: str,
    role_arn: str,
    name: str = "test",
    **kwargs: Any,
) -> boto3.Session:
    """Assume ``role_arn`` as the account's deployer; a boto3 session on its credentials."""
    creds = cloud.client("sts", account).assume_role(
        RoleArn=role_arn, RoleSessionName=name, **kwargs
    )["Credentials"]
    return session_from(creds)


def session_from(creds: dict[str, Any]) -> boto3.Session:
    """A boto3 session on AssumeRole's ``Credentials``."""
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def zip_source(files: dict[str, str]) -> bytes:
    """A Lambda code package holding the given files (source is dedented)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, textwrap.dedent(source))
    return buffer.getvalue()
