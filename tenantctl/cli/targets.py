"""Where a command's AWS calls go: one account and region, through an AWS profile.

Every command that talks to AWS asks for an :class:`AwsTarget` for one
account and region and builds its clients from it. There is one code path:
the credentials come from the caller's AWS configuration (a named profile, or
whatever the SDK finds by default), the endpoint from it too. The embedded
cloud is reached the same way, through the profiles and ``AWS_ENDPOINT_URL``
that ``tenantctl local env`` prints; nothing here knows it exists.

``--ops-profile`` and ``--tenant-profile`` are patterns (:class:`ProfilePattern`):
``{account_id}`` and ``{name}`` (the tenant id, or the operations account's
registry name) pick one profile per account, so one command can reach a fleet.

A target remembers which option named its profile (``--tenant-profile`` or
``--ops-profile``), so every credentials error tells the user which one to pass.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from contracts.registry import Operations, Tenant
from tenantctl.cli.errors import BadInput, CliError
from tenantctl.cli.options import OPS_PROFILE, TENANT_PROFILE

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
    # The option that chooses this account's profile, named in credentials errors.
    profile_option: str = TENANT_PROFILE
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in this target's region (cached)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=self.region,
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


# The fields a profile pattern may name, and what each stands for.
PATTERN_FIELDS = {
    "account_id": "the account id",
    "name": "the tenant id, or the operations account's registry name",
    "tenant": "the tenant id (as {name})",
}


@dataclass(frozen=True)
class ProfilePattern:
    """``--ops-profile`` or ``--tenant-profile``: a profile name, or a pattern of one.

    ``None`` as the pattern means the caller's default credentials for every account.
    """

    pattern: str | None
    option: str

    def __post_init__(self) -> None:
        if self.pattern is None:
            return
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(self.pattern) if f is not None]
        except ValueError as exc:
            raise BadInput(
                f"{self.option}: '{self.pattern}' is not a profile pattern ({exc})"
            ) from None
        unknown = [n for n in names if n not in PATTERN_FIELDS]
        if unknown or not self.pattern.strip():
            known = ", ".join("{" + f + "}" for f in PATTERN_FIELDS)
            raise BadInput(
                f"{self.option}: '{self.pattern}' may name only {known} "
                f"(got {', '.join('{' + n + '}' for n in unknown) or 'an empty name'})"
            )

    def profile(self, account_id: str, name: str) -> str | None:
        """The profile of one account (``name``: its tenant id or operations name)."""
        if self.pattern is None:
            return None
        return self.pattern.format(account_id=account_id, name=name, tenant=name)

    def check_exists(self, account_id: str, name: str) -> None:
        """Refuse a profile the AWS configuration does not define, before anything is done."""
        profile = self.profile(account_id, name)
        if profile is None:
            return
        try:
            available = botocore.session.Session().available_profiles
        except BotoCoreError as exc:  # pragma: no cover - a broken ~/.aws/config
            raise CliError(f"cannot read the AWS configuration: {exc}") from None
        if profile not in available:
            raise BadInput(
                f"{self.option}: no AWS profile named '{profile}' (for account {account_id}) "
                "in the AWS configuration"
            )


def tenant_profiles(pattern: str | None) -> ProfilePattern:
    """``--tenant-profile`` as a pattern."""
    return ProfilePattern(pattern, TENANT_PROFILE)


def ops_profiles(pattern: str | None) -> ProfilePattern:
    """``--ops-profile`` as a pattern."""
    return ProfilePattern(pattern, OPS_PROFILE)


def aws_target(
    account_id: str, region: str, *, profile: str | None, profile_option: str = TENANT_PROFILE
) -> AwsTarget:
    """The caller's credentials for an account, or those of a named profile."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise BadInput(f"{profile_option}: no AWS profile named '{profile}'") from None
    except BotoCoreError as exc:  # pragma: no cover - a broken ~/.aws/config
        raise CliError(f"cannot read the AWS configuration: {exc}") from None
    return AwsTarget(
        session=session, account_id=account_id, region=region, profile_option=profile_option
    )


def operations_target(ops: Operations, pattern: str | None, region: str | None = None) -> AwsTarget:
    """An operations account (in ``region``, default its own) through ``--ops-profile``."""
    profiles = ops_profiles(pattern)
    return aws_target(
        ops.account_id,
        region or ops.region,
        profile=profiles.profile(ops.account_id, ops.name),
        profile_option=OPS_PROFILE,
    )


def tenant_target(tenant: Tenant, pattern: str | None) -> AwsTarget:
    """The tenant's own account and region, its credentials checked before any other call."""
    profile = tenant_profiles(pattern).profile(tenant.account_id, tenant.id)
    target = aws_target(tenant.account_id, tenant.region, profile=profile)
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
