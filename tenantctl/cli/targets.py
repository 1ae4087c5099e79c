"""Where a command's AWS calls go: real AWS, or the embedded cloud with ``--local``.

Every command that talks to AWS asks for an :class:`AwsTarget` for one
account and region and builds its clients from it, so ``invoke``, ``logs``,
``usage``, ``cost`` and ``doctor`` have a single code path for both backends.
The embedded cloud is plugged in through :func:`local_target`, which only needs
the local state (endpoint and the account's credentials) from ``embedded_aws``.

A target remembers which option named its profile (``--tenant-profile`` or
``--ops-profile``), so every credentials error tells the user which one to pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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

from contracts.registry import Tenant
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import TENANT_PROFILE

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
    # The option that chooses this account's profile, named in credentials errors.
    profile_option: str = TENANT_PROFILE
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
            raise self.no_credentials() from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"InvalidClientTokenId", "ExpiredToken", "SignatureDoesNotMatch"}:
                raise CliError(
                    f"the AWS credentials for account {self.account_id} were refused ({code}): "
                    f"refresh them or pass {self.profile_option}"
                ) from None
            raise
        if actual != self.account_id:
            raise CliError(
                f"the AWS credentials are for account {actual}, not {self.account_id}: "
                f"pass {self.profile_option} for account {self.account_id}"
            )

    def no_credentials(self) -> CliError:
        """The error for a call made without any credentials."""
        return no_credentials(self.account_id, self.profile_option)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn the botocore errors users meet into one-line messages naming what to do."""
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError):
            raise self.no_credentials() from None
        except ClientError as exc:
            message = self.explain(exc)
            if message is None:
                raise
            raise CliError(message) from None

    def explain(self, exc: ClientError) -> str | None:
        """What an access-denied or throttling error means here; None for other errors."""
        err = exc.response.get("Error", {})
        code, message = err.get("Code", ""), err.get("Message", "")
        if code in {"AccessDenied", "AccessDeniedException"}:
            return f"access denied in account {self.account_id} ({exc.operation_name}): {message}"
        if code in {"ThrottlingException", "TooManyRequestsException"}:
            return f"throttled by AWS ({exc.operation_name}: {code}): {message}; retry in a moment"
        return None


def no_credentials(account_id: str, profile_option: str = TENANT_PROFILE) -> CliError:
    """The error for a call made without any credentials."""
    return CliError(f"no AWS credentials for account {account_id}: pass {profile_option}")


def aws_target(
    account_id: str, region: str, *, profile: str | None, profile_option: str = TENANT_PROFILE
) -> AwsTarget:
    """Real AWS with the caller's credentials, or those of a named profile."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise BadInput(f"{profile_option}: no AWS profile named '{profile}'") from None
    except BotoCoreError as exc:  # pragma: no cover - a broken ~/.aws/config
        raise CliError(f"cannot read the AWS configuration: {exc}") from None
    return AwsTarget(
        session=session, account_id=account_id, region=region, profile_option=profile_option
    )


def local_target(
    account_id: str, region: str, *, profile_option: str = TENANT_PROFILE
) -> AwsTarget:
    """The embedded cloud: the account's credentials and endpoint from the local state."""
    from tenantctl.cli import local_cloud

    endpoint, access_key, secret_key = local_cloud.credentials(account_id)
    session = boto3.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )
    return AwsTarget(
        session=session,
        account_id=account_id,
        region=region,
        endpoint_url=endpoint,
        local=True,
        profile_option=profile_option,
    )


def target_for(
    account_id: str,
    region: str,
    *,
    profile: str | None,
    local: bool,
    profile_option: str = TENANT_PROFILE,
) -> AwsTarget:
    """The target a command asked for with ``--local`` or a profile (``profile_option``)."""
    if local:
        if profile:
            raise BadInput(
                f"{profile_option}: not used with --local (the embedded cloud has its own keys)"
            )
        return local_target(account_id, region, profile_option=profile_option)
    return aws_target(account_id, region, profile=profile, profile_option=profile_option)


def tenant_target(tenant: Tenant, profile: str | None, local: bool) -> AwsTarget:
    """The tenant's own account and region, its credentials checked before any other call."""
    target = target_for(tenant.account_id, tenant.region, profile=profile, local=local)
    with target.errors():
        target.check_account()
    return target


def function_arn(tenant: Tenant, target: AwsTarget) -> str:
    """The tenant's invoker function as an ARN in the target's partition.

    An ARN, not a bare name: a call then fails instead of reaching a
    same-named function in whatever account the credentials belong to.
    """
    return (
        f"arn:{target.partition()}:lambda:{tenant.region}:{tenant.account_id}:"
        f"function:{tenant.function_name}"
    )


def deploy_hint(tenant: Tenant) -> str:
    """What to run when something of the tenant's stack is missing."""
    return f"run tenantctl deploy --tenant {tenant.id}"
