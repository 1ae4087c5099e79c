"""Where a command's AWS calls go: real AWS, or the embedded cloud with ``--local``.

Every command that talks to AWS asks for an :class:`AwsTarget` for one
account and region and builds its clients from it, so ``invoke``, ``logs`` and
``usage`` have a single code path for both backends. The embedded cloud is
plugged in through :func:`local_target`, which only needs the local state
(endpoint and the account's credentials) from ``embedded_aws``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from tenantctl.cli.errors import BadInput, CliError

# Interactive commands: botocore's "standard" retries, 3 attempts in all (not
# the legacy mode's 5), which back off with jitter on throttling and transient
# errors and then fail with a message instead of keeping the user waiting.
# Not "adaptive" (botocore calls it experimental): after a throttle it also
# rate-limits the client's own sends, a rate learned over the many calls of a
# long-lived client; a CLI run of a few calls gains nothing from it but waits.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=120)


@dataclass(frozen=True)
class AwsTarget:
    """Credentials for one account and region, and the endpoint to send calls to."""

    session: boto3.Session
    account_id: str
    region: str
    endpoint_url: str | None = None
    local: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in this target's region (cached)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
        return self._clients[service]

    @property
    def where(self) -> str:
        """``account/region`` as the messages print it."""
        return f"{self.account_id}/{self.region}"

    def partition(self) -> str:
        """The AWS partition of the target's region (``aws``, ``aws-cn``, ...)."""
        return self.session.get_partition_for_region(self.region) or "aws"

    def check_account(self) -> None:
        """Refuse credentials that belong to another account.

        Without this, reading ``/aws/bedrock/langchain/logs`` with the wrong
        profile would quietly show another account's records (or none).
        """
        try:
            actual = self.client("sts").get_caller_identity()["Account"]
        except (NoCredentialsError, PartialCredentialsError):
            raise no_credentials(self.account_id) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch"}:
                raise CliError(
                    f"the AWS credentials for account {self.account_id} were refused ({code}): "
                    "refresh them or pass --profile"
                ) from None
            raise
        if actual != self.account_id:
            raise CliError(
                f"the AWS credentials are for account {actual}, not {self.account_id}: "
                f"pass --profile for account {self.account_id}"
            )


def no_credentials(account_id: str) -> CliError:
    """The error for a call made without any credentials."""
    return CliError(f"no AWS credentials for account {account_id}: pass --profile")


def aws_target(account_id: str, region: str, *, profile: str | None) -> AwsTarget:
    """Real AWS with the caller's credentials, or those of a named profile."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise BadInput(f"--profile: no AWS profile named '{profile}'") from None
    except BotoCoreError as exc:  # pragma: no cover - a broken ~/.aws/config
        raise CliError(f"cannot read the AWS configuration: {exc}") from None
    return AwsTarget(session=session, account_id=account_id, region=region)


def local_target(account_id: str, region: str) -> AwsTarget:
    """The embedded cloud: the account's credentials and endpoint from the local state."""
    from tenantctl.cli import local_cloud

    endpoint, access_key, secret_key = local_cloud.credentials(account_id)
    session = boto3.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )
    return AwsTarget(
        session=session, account_id=account_id, region=region, endpoint_url=endpoint, local=True
    )


def target_for(account_id: str, region: str, *, profile: str | None, local: bool) -> AwsTarget:
    """The target a command asked for with ``--local`` / ``--profile``."""
    if local:
        if profile:
            raise BadInput("--profile: not used with --local (the embedded cloud has its own keys)")
        return local_target(account_id, region)
    return aws_target(account_id, region, profile=profile)
