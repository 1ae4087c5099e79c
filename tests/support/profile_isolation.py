"""The isolation checks, made the way a user makes them: through the accounts' AWS profiles.

``demo.checks`` runs beside an in-process ``EmbeddedCloud`` and gets a tenant
function's credentials the way the Lambda runner does, from inside the cloud.
A test that drives a background cloud through ``tenantctl local env`` has only
what an AWS user has: a profile per account, holding that account's deployer
(administrator) keys. These checks need nothing more.

To act as a tenant's function role, the tenant's administrator does what a
compromised administrator could do on AWS: adds itself to the role's trust
policy, assumes the role, and puts the trust policy back afterwards. The
caller is then the function role itself (``aws:PrincipalArn`` is the role's
ARN), so each invoker role's trust policy is tested against the very principal
it admits.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from contracts.registry import Tenant
from contracts.usage_record import parse_record
from demo.checks import CheckResult
from embedded_aws.aws_config import profile_name
from tenantctl.usage_reader import filter_events

# AssumeRole refusals as STS words them (the embedded cloud answers AccessDenied).
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
# The inline policy the cross-tenant check puts on a function role for its duration.
WIDENING_POLICY_NAME = "day-two-compromised-admin-widening"


class ProfileAccounts:
    """The embedded accounts as any SDK user reaches them: one named profile each.

    Offers ``client(service, account_id, region)``, the one method the demo's
    read-only checks (``check_ops_account_holds_no_logs``,
    ``check_ops_invocation_logging_off``) call on their cloud.
    """

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        """The account's deployer, through its ``embedded-<account id>`` profile."""
        return boto3.Session(profile_name=profile_name(account_id), region_name=region)

    def client(self, service: str, account_id: str, region: str | None = None) -> Any:
        return self.session(account_id, region).client(service)


@dataclass(frozen=True)
class FoundRecord:
    """A usage record and where it was found."""

    account_id: str
    log_group: str
    tenant_id: str


def usage_records_everywhere(
    accounts: ProfileAccounts, account_ids: Iterable[str], region: str
) -> Iterator[FoundRecord]:
    """Every usage record in every log group of the given accounts (fallback prints too)."""
    for account_id in dict.fromkeys(account_ids):
        logs = accounts.client("logs", account_id, region)
        groups = [
            group["logGroupName"]
            for page in logs.get_paginator("describe_log_groups").paginate()
            for group in page.get("logGroups", [])
        ]
        for group in groups:
            for event in filter_events(logs, group, start_ms=0):
                record = parse_record(event.message)
                if record is not None:
                    yield FoundRecord(account_id, group, record.tenant_id)


def check_records_in_own_accounts(
    accounts: ProfileAccounts,
    account_of: dict[str, str],
    account_ids: Iterable[str],
    region: str,
) -> tuple[CheckResult, Counter[str]]:
    """Every usage record in any of ``account_ids`` belongs to a tenant of that account.

    ``account_of``: tenant id -> its account, offboarded tenants included (their
    records stay). Also returns how many records each tenant has, wherever found.
    """
    name = "every usage record in its own tenant's account"
    found = list(usage_records_everywhere(accounts, account_ids, region))
    misplaced = [r for r in found if account_of.get(r.tenant_id) != r.account_id]
    counts = Counter(r.tenant_id for r in found)
    if misplaced:
        first = misplaced[0]
        reason = (
            f"{len(misplaced)} misplaced record(s), e.g. tenant '{first.tenant_id}' in "
            f"{first.account_id} {first.log_group}"
        )
        return CheckResult(name, False, reason), counts
    return CheckResult(name, True, f"{len(found)} records, each in its tenant's account"), counts


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _assume(source: boto3.Session, role_arn: str, session_name: str, **extra: str) -> Any:
    sts: Any = source.client("sts")
    return sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, **extra)


def _session(credentials: dict[str, Any], region: str | None) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


@contextmanager
def function_role_session(accounts: ProfileAccounts, tenant: Tenant) -> Iterator[boto3.Session]:
    """A session as the tenant's function (execution) role, got by its own administrator.

    The role trusts only Lambda; its account's administrator adds itself to the
    trust policy, assumes the role and restores the policy on leaving.
    """
    admin = accounts.session(tenant.account_id, tenant.region)
    iam: Any = admin.client("iam")
    role_name = tenant.caller_role_arn.rsplit("/", 1)[-1]
    original = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    admin_arn = admin.client("sts").get_caller_identity()["Arn"]
    widened = {
        **original,
        "Statement": [
            *original["Statement"],
            {"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"},
        ],
    }
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(widened))
    try:
        credentials = _assume(admin, tenant.caller_role_arn, tenant.function_name)["Credentials"]
        yield _session(credentials, tenant.region)
    finally:
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(original))


def _refused(source: boto3.Session, role_arn: str, session_name: str, **extra: str) -> str | None:
    """None when STS refused the AssumeRole as AWS does; else what happened."""
    try:
        _assume(source, role_arn, session_name, **extra)
    except ClientError as error:
        code = _error_code(error)
        return None if code in ACCESS_DENIED else code
    return "allowed"


def check_tenant_roles_isolated(accounts: ProfileAccounts, tenants: list[Tenant]) -> CheckResult:
    """Each tenant's function role assumes its own invoker role, and no other way in works.

    For every tenant A, as A's function role: A's invoker role with A's
    ExternalId and session name is assumed (the control); with a wrong or no
    ExternalId it is refused. Then A's administrator allows A's function role
    ``sts:AssumeRole`` on every other tenant's invoker role (so nothing but
    the target's trust policy can refuse) and A's role calls each with that
    tenant's ExternalId and session name: every call must be refused.
    """
    name = "a tenant's invoker role admits only its own function role, with its ExternalId"
    refused = 0
    for a in tenants:
        others = [b for b in tenants if b.id != a.id]
        with function_role_session(accounts, a) as source:
            try:
                _assume(source, a.invoker_role_arn, a.id, ExternalId=a.external_id)
            except ClientError as error:
                return CheckResult(name, False, f"{a.id} cannot assume its own role: {error}")
            for extra in ({"ExternalId": f"{a.external_id}-wrong"}, {}):
                outcome = _refused(source, a.invoker_role_arn, a.id, **extra)
                if outcome is not None:
                    what = "a wrong" if extra else "no"
                    return CheckResult(name, False, f"{a.id} with {what} ExternalId: {outcome}")
                refused += 1
            if not others:
                continue
            iam: Any = accounts.client("iam", a.account_id, a.region)
            role_name = a.caller_role_arn.rsplit("/", 1)[-1]
            iam.put_role_policy(
                RoleName=role_name,
                PolicyName=WIDENING_POLICY_NAME,
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Resource": [b.invoker_role_arn for b in others],
                            }
                        ],
                    }
                ),
            )
            try:
                for b in others:
                    outcome = _refused(source, b.invoker_role_arn, b.id, ExternalId=b.external_id)
                    if outcome is not None:
                        return CheckResult(name, False, f"{a.id}'s role → {b.id}'s: {outcome}")
                    refused += 1
            finally:
                iam.delete_role_policy(RoleName=role_name, PolicyName=WIDENING_POLICY_NAME)
    return CheckResult(
        name,
        True,
        f"own roles assumed; {refused} AssumeRole calls (wrong / no ExternalId, another "
        "tenant's role with its ExternalId) refused",
    )
