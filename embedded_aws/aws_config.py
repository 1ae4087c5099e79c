"""The embedded cloud as standard AWS configuration: one named profile per account.

A running embedded cloud writes an AWS config file and a shared-credentials
file with a profile ``embedded-<account id>`` for each of its accounts (that
account's deployer key), and its endpoint in ``AWS_ENDPOINT_URL``. Any SDK, the
AWS CLI and the CDK CLI then reach it exactly as they reach AWS: through a
profile. That is what lets ``tenantctl`` have one code path: ``--ops-profile``
and ``--tenant-profile`` pick the accounts, the environment picks the cloud.

The endpoint travels in the environment, not only in the profiles: botocore
honours a profile's ``endpoint_url``, but the CDK CLI ignores it (and would call
``sts.<region>.amazonaws.com``); both honour ``AWS_ENDPOINT_URL``. It is written
into each profile too, so the AWS CLI or boto3 given just ``AWS_PROFILE`` work.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from embedded_aws.cloud import AccountCredentials

# ``--ops-profile`` / ``--tenant-profile`` pattern that names an account's profile.
PROFILE_PATTERN = "embedded-{account_id}"
CONFIG_FILE = "config"
CREDENTIALS_FILE = "credentials"


def profile_name(account_id: str) -> str:
    """The embedded account's profile name."""
    return PROFILE_PATTERN.format(account_id=account_id)


@dataclass(frozen=True)
class AwsConfigFiles:
    """Where the embedded cloud's AWS config and credentials files are, and its endpoint."""

    config: Path
    credentials: Path
    endpoint_url: str

    def environment(self) -> dict[str, str]:
        """The variables that point every SDK and the CDK CLI at the embedded cloud.

        Credentials come from the profiles only: a key or profile left in the
        caller's environment would otherwise win over ``--*-profile``.
        """
        return {
            "AWS_CONFIG_FILE": str(self.config),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials),
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }


# Variables that would pick credentials other than the named profile's.
SHADOWING_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


def write_aws_config(
    directory: Path,
    *,
    endpoint_url: str,
    region: str,
    accounts: Mapping[str, AccountCredentials],
) -> AwsConfigFiles:
    """Write ``config`` and ``credentials`` (mode 0600) with a profile per account."""
    directory.mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser()
    credentials = configparser.ConfigParser()
    for account_id, creds in sorted(accounts.items()):
        name = profile_name(account_id)
        config[f"profile {name}"] = {"region": region, "endpoint_url": endpoint_url}
        credentials[name] = {
            "aws_access_key_id": creds.access_key_id,
            "aws_secret_access_key": creds.secret_access_key,
        }
    files = AwsConfigFiles(
        config=(directory / CONFIG_FILE).resolve(),
        credentials=(directory / CREDENTIALS_FILE).resolve(),
        endpoint_url=endpoint_url,
    )
    _write_private(files.config, config)
    _write_private(files.credentials, credentials)
    return files


def _write_private(path: Path, parser: configparser.ConfigParser) -> None:
    # The credentials are an emulator's, but keys are keys: owner only, and
    # replaced atomically so a reader never sees half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        parser.write(handle)
    tmp.replace(path)
