"""Blocking a tenant: the one owner of what a block is, where it lives and how it is read.

**The deny.** A block is an inline policy named :data:`BLOCK_POLICY_NAME` on the
tenant's invoker role (``contracts.naming.invoker_role_name``) in its operations
account, denying every Bedrock action on every resource. An explicit deny wins
over any allow, so it stops the tenant's calls within IAM's propagation time
whatever the role's own policy allows; the tenant owns its account and its
function's code, but not this role. A wildcard is right for a deny: it must
cover actions and resources the allow does not name yet.

**The record** (since when, by whom or by which rule, why) is an SSM parameter in
the operations account and region, :func:`record_parameter_name`, under the
``/bedrock-invoker/<tenant>/`` path the stacks already use. Not role tags:

* the operations stack sets the role's ``Tags`` (its cost-allocation tags), and
  CloudFormation checks every property a template sets for drift, so extra tags
  would show the role as drifted; it never looks at a parameter it does not own;
* a tag value allows only letters, digits, spaces and ``_.:/=+-@``, 256 at most,
  so most reasons could not be kept as typed; a parameter holds 4 KB of any text;
* a parameter keeps its history (``GetParameterHistory``) of who blocked and
  why, and the operator reads it with the account's own credentials: it holds no
  tenant content, only the operator's (or the enforcer's) words.

The role's own ``Policies`` property is not set by the stacks (its permissions
are a separate ``AWS::IAM::Policy``, which manages only its own policy name), so
the block's inline policy is no property CloudFormation checks for drift, and a
stack update leaves it in place. CloudFormation cannot delete a role that still
has an inline policy it does not manage (``DeleteConflict``), so offboarding
lifts the block (:func:`unblock`) before the operations stack is redeployed.

**Order and concurrency.** Block writes the deny first, then the record; unblock
deletes the record first, then the deny. So a reader that finds a record also
finds the deny. :func:`status` trusts the deny alone: a deny without a record
(a block half-written or half-lifted, or put there by hand) is a block whose
author is unknown; a record without a deny (two runs interleaved) is not a block.
Every call is idempotent (``PutRolePolicy`` and ``DeleteRolePolicy`` are; a
missing policy or parameter is not an error when lifting).

**A second block** of a blocked tenant keeps ``since``: it is when the tenant's
calls stopped, and they have not resumed. With the same reason and rule it
changes nothing; with another reason or rule it replaces the reason, the author
and the rule (an operator's block over the enforcer's turns it into a manual
one). Two first blocks at once agree on ``since``: the record is created only if
absent, and the one that loses the race keeps the winner's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from contracts import naming

BLOCK_POLICY_NAME = "bedrock-invoker-block"
# Every Bedrock action, the OpenAI-compatible endpoint's too.
BLOCKED_ACTIONS = ("bedrock:*", "bedrock-mantle:*")
BLOCK_POLICY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TenantBlocked",
            "Effect": "Deny",
            "Action": list(BLOCKED_ACTIONS),
            "Resource": "*",
        }
    ],
}
# A reason is one line an operator reads in `status` and `list`; the record
# must stay well inside a standard parameter's 4 KB.
REASON_MAX = 500
RULE_MAX = 128


def record_parameter_name(tenant_id: str) -> str:
    """The SSM parameter, in the tenant's operations account and region, of its block record."""
    return f"/bedrock-invoker/{tenant_id}/block"


class ClientSource(Protocol):
    """Where the operations account's clients come from (``AwsTarget``, a boto3 Session)."""

    def client(self, service: str) -> Any:  # pragma: no cover - a protocol
        """A boto3 client for ``service`` in the operations account and region."""
        ...


class BlockError(Exception):
    """A block that cannot be applied or read; the message says what to do."""


@dataclass(frozen=True)
class BlockStatus:
    """A tenant's block as its operations account holds it.

    ``since``, ``by`` and ``reason`` are None when the deny has no record (being
    written or lifted right now, or put there by hand).
    """

    tenant_id: str
    since: datetime | None
    by: str | None
    reason: str | None
    rule: str | None = None

    @property
    def recorded(self) -> bool:
        """Whether the block's record was found beside its deny."""
        return self.since is not None

    def to_json(self) -> dict[str, Any]:
        """The block as ``status --format json`` and ``list --format json`` print it."""
        return {
            "since": _iso(self.since) if self.since else None,
            "by": self.by,
            "rule": self.rule,
            "reason": self.reason,
        }

    def describe(self) -> str:
        """One line: since when, by whom or which rule, and why."""
        if not self.recorded:
            return "blocked (no record of who or why: being changed now, or denied by hand)"
        author = f"rule {self.rule} ({self.by})" if self.rule else self.by
        return f"blocked since {_iso(self.since)} by {author}: {self.reason}"


def _iso(when: datetime | None) -> str:
    assert when is not None
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_reason(reason: str) -> str | None:
    """Why ``reason`` cannot be a block's reason, or None when it can."""
    if not reason.strip():
        return "must not be empty: say why the tenant is blocked"
    if len(reason) > REASON_MAX:
        return f"must be at most {REASON_MAX} characters (got {len(reason)})"
    if any(ord(c) < 32 for c in reason):
        return "must be one line of text, without control characters"
    return None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _read_record(ssm: Any, tenant_id: str) -> dict[str, Any] | None:
    try:
        value = ssm.get_parameter(Name=record_parameter_name(tenant_id))["Parameter"]["Value"]
    except ClientError as exc:
        if _error_code(exc) == "ParameterNotFound":
            return None
        raise
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _status(tenant_id: str, record: dict[str, Any] | None) -> BlockStatus:
    if record is None:
        return BlockStatus(tenant_id, None, None, None)
    try:
        since = datetime.fromisoformat(str(record["since"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return BlockStatus(tenant_id, None, None, None)
    return BlockStatus(
        tenant_id,
        since=since,
        by=record.get("by"),
        reason=record.get("reason"),
        rule=record.get("rule"),
    )


def _has_deny(iam: Any, tenant_id: str) -> bool:
    try:
        iam.get_role_policy(
            RoleName=naming.invoker_role_name(tenant_id), PolicyName=BLOCK_POLICY_NAME
        )
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return False
        raise
    return True


def status(source: ClientSource, tenant_id: str) -> BlockStatus | None:
    """The tenant's block, or None when it is not blocked (the deny decides)."""
    if not _has_deny(source.client("iam"), tenant_id):
        return None
    return _status(tenant_id, _read_record(source.client("ssm"), tenant_id))


def caller_arn(source: ClientSource) -> str:
    """Who is blocking: the ARN STS gives the caller's credentials."""
    return str(source.client("sts").get_caller_identity()["Arn"])


def block(
    source: ClientSource,
    tenant_id: str,
    *,
    reason: str,
    by: str | None = None,
    rule: str | None = None,
    now: datetime | None = None,
) -> BlockStatus:
    """Block the tenant's Bedrock calls; returns the block as recorded.

    ``by``: the author's ARN (default: the caller's, from STS). ``rule``: the
    enforcer's rule that decided it, None for an operator's block.
    """
    problem = check_reason(reason)
    if problem is not None:
        raise ValueError(f"reason {problem}")
    if rule is not None and not (0 < len(rule) <= RULE_MAX):
        raise ValueError(f"rule must be 1 to {RULE_MAX} characters")
    iam, ssm = source.client("iam"), source.client("ssm")
    role = naming.invoker_role_name(tenant_id)
    author = by or caller_arn(source)
    # The deny first: a record must never be seen without it.
    try:
        iam.put_role_policy(
            RoleName=role,
            PolicyName=BLOCK_POLICY_NAME,
            PolicyDocument=json.dumps(BLOCK_POLICY_DOCUMENT),
        )
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            raise BlockError(
                f"the role {role} does not exist: the tenant's operations stack is not deployed"
            ) from None
        raise
    wanted = {
        "since": _iso(now or datetime.now(UTC)),
        "by": author,
        "rule": rule,
        "reason": reason,
    }
    existing = _read_record(ssm, tenant_id)
    if existing is None:
        if _create_record(ssm, tenant_id, wanted):
            return _status(tenant_id, wanted)
        existing = _read_record(ssm, tenant_id)  # another block won the race
        if existing is None:  # and was lifted at once: ours is the block now
            _write_record(ssm, tenant_id, wanted, overwrite=True)
            return _status(tenant_id, wanted)
    kept = _status(tenant_id, existing)
    if kept.recorded and kept.reason == reason and kept.rule == rule:
        return kept
    if kept.recorded:
        wanted["since"] = existing["since"]
    _write_record(ssm, tenant_id, wanted, overwrite=True)
    return _status(tenant_id, wanted)


def _create_record(ssm: Any, tenant_id: str, record: dict[str, Any]) -> bool:
    """Write the record only if none exists; False when another block wrote one first."""
    try:
        _write_record(ssm, tenant_id, record, overwrite=False)
    except ClientError as exc:
        if _error_code(exc) == "ParameterAlreadyExists":
            return False
        raise
    return True


def _write_record(ssm: Any, tenant_id: str, record: dict[str, Any], *, overwrite: bool) -> None:
    ssm.put_parameter(
        Name=record_parameter_name(tenant_id),
        Description=f"Block of tenant {tenant_id}'s Bedrock calls (tenantctl block)",
        Value=json.dumps(record, ensure_ascii=False),
        Type="String",
        Overwrite=overwrite,
    )


def unblock(source: ClientSource, tenant_id: str) -> BlockStatus | None:
    """Lift the tenant's block; returns the block that was lifted, None if there was none.

    Lifting an unblocked tenant, or one whose role is gone, is not an error.
    """
    iam, ssm = source.client("iam"), source.client("ssm")
    lifted = status(source, tenant_id)
    # The record first: the deny must never be missing while a record says blocked.
    try:
        ssm.delete_parameter(Name=record_parameter_name(tenant_id))
    except ClientError as exc:
        if _error_code(exc) != "ParameterNotFound":
            raise
    try:
        iam.delete_role_policy(
            RoleName=naming.invoker_role_name(tenant_id), PolicyName=BLOCK_POLICY_NAME
        )
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
    return lifted
