"""Blocking a tenant by hand: the CLI side of the block contract.

What a block is (policy name, deny document, record format) is defined once in
``contracts.blocks``, shared with the limit enforcer; this module applies it.

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
lifts everything (:func:`lift_all`: the block, the limit enforcer's downgrade and
their records, and the enforcer's warning note) before the operations stack is
redeployed; :func:`offboarding_leftovers` names the same things for an operator
who deletes them by hand.

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
from contracts.blocks import (
    BLOCK_POLICY_DOCUMENT,
    BLOCK_POLICY_NAME,
    BLOCKED_ACTIONS,
    DOWNGRADE_POLICY_NAME,
    REASON_MAX,
    RULE_MAX,
    BlockStatus,
    check_reason,
    check_rule,
    downgrade_record_parameter_name,
    new_record,
    parse_record_value,
    record_parameter_name,
    record_value,
    status_from_record,
)
from contracts.limits import warning_parameter_name

__all__ = [
    "BLOCKED_ACTIONS",
    "BLOCK_POLICY_DOCUMENT",
    "BLOCK_POLICY_NAME",
    "REASON_MAX",
    "RULE_MAX",
    "BlockError",
    "BlockStatus",
    "ClientSource",
    "Leftovers",
    "Lifted",
    "block",
    "caller_arn",
    "check_reason",
    "downgrade_status",
    "lift_all",
    "offboarding_leftovers",
    "record_parameter_name",
    "status",
    "unblock",
]


class ClientSource(Protocol):
    """Where the operations account's clients come from (``AwsTarget``, a boto3 Session)."""

    def client(self, service: str) -> Any:  # pragma: no cover - a protocol
        """A boto3 client for ``service`` in the operations account and region."""
        ...


class BlockError(Exception):
    """A block that cannot be applied or read; the message says what to do."""


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _read_record(ssm: Any, tenant_id: str, name: str | None = None) -> dict[str, Any] | None:
    try:
        value = ssm.get_parameter(Name=name or record_parameter_name(tenant_id))["Parameter"][
            "Value"
        ]
    except ClientError as exc:
        if _error_code(exc) == "ParameterNotFound":
            return None
        raise
    return parse_record_value(value)


def _has_deny(iam: Any, tenant_id: str, policy_name: str = BLOCK_POLICY_NAME) -> bool:
    try:
        iam.get_role_policy(RoleName=naming.invoker_role_name(tenant_id), PolicyName=policy_name)
    except ClientError as exc:
        if _error_code(exc) == "NoSuchEntity":
            return False
        raise
    return True


def status(source: ClientSource, tenant_id: str) -> BlockStatus | None:
    """The tenant's block, or None when it is not blocked (the deny decides)."""
    if not _has_deny(source.client("iam"), tenant_id):
        return None
    return status_from_record(tenant_id, _read_record(source.client("ssm"), tenant_id))


def downgrade_status(source: ClientSource, tenant_id: str) -> BlockStatus | None:
    """The limit enforcer's downgrade of the tenant, or None (its deny decides, as a block's)."""
    if not _has_deny(source.client("iam"), tenant_id, DOWNGRADE_POLICY_NAME):
        return None
    return status_from_record(
        tenant_id,
        _read_record(source.client("ssm"), tenant_id, downgrade_record_parameter_name(tenant_id)),
    )


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
    rule_problem = check_rule(rule)
    if rule_problem is not None:
        raise ValueError(rule_problem)
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
    wanted = new_record(since=now or datetime.now(UTC), by=author, reason=reason, rule=rule)
    existing = _read_record(ssm, tenant_id)
    if existing is None:
        if _create_record(ssm, tenant_id, wanted):
            return status_from_record(tenant_id, wanted)
        existing = _read_record(ssm, tenant_id)  # another block won the race
        if existing is None:  # and was lifted at once: ours is the block now
            _write_record(ssm, tenant_id, wanted, overwrite=True)
            return status_from_record(tenant_id, wanted)
    kept = status_from_record(tenant_id, existing)
    if kept.recorded and kept.reason == reason and kept.rule == rule:
        return kept
    if kept.recorded:
        wanted["since"] = existing["since"]
    _write_record(ssm, tenant_id, wanted, overwrite=True)
    return status_from_record(tenant_id, wanted)


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
        Value=record_value(record),
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


@dataclass(frozen=True)
class Leftovers:
    """What tenantctl or the limit enforcer put beside a tenant's invoker role, outside
    its stack: in lifting order, records before the denies they describe (so a record
    is never seen without its deny), each record just before its deny."""

    role_name: str
    # (record parameter, inline policy of the deny it describes)
    restrictions: tuple[tuple[str, str], ...]
    # Notes with no deny: the enforcer's last warning.
    notes: tuple[str, ...]


def offboarding_leftovers(tenant_id: str) -> Leftovers:
    """Everything :func:`lift_all` removes for ``tenant_id``: the one list offboarding
    uses and prints for an operator who deletes them by hand."""
    return Leftovers(
        role_name=naming.invoker_role_name(tenant_id),
        restrictions=(
            (record_parameter_name(tenant_id), BLOCK_POLICY_NAME),
            (downgrade_record_parameter_name(tenant_id), DOWNGRADE_POLICY_NAME),
        ),
        notes=(warning_parameter_name(tenant_id),),
    )


@dataclass(frozen=True)
class Lifted:
    """What :func:`lift_all` found and removed: the block, the downgrade (None when there
    was none) and whether the enforcer had noted a warning."""

    block: BlockStatus | None
    downgrade: BlockStatus | None
    warning: bool


def lift_all(source: ClientSource, tenant_id: str) -> Lifted:
    """Lift every restriction on the tenant, so CloudFormation can delete its invoker role.

    The block (an operator's or the enforcer's), the enforcer's downgrade, their
    records and the enforcer's warning note: nothing of them is a resource of the
    operations stack, and an inline policy left on the role makes its deletion fail
    (``DeleteConflict``). Idempotent; a missing role, policy or parameter is no error.
    The enforcer writes a downgrade again while the tenant is over its limit and its
    plan stands, so offboarding calls this just before the stack update deletes both.
    """
    iam, ssm = source.client("iam"), source.client("ssm")
    leftovers = offboarding_leftovers(tenant_id)
    block, downgrade = status(source, tenant_id), downgrade_status(source, tenant_id)
    for record_name, policy_name in leftovers.restrictions:
        _delete_parameter(ssm, record_name)
        try:
            iam.delete_role_policy(RoleName=leftovers.role_name, PolicyName=policy_name)
        except ClientError as exc:
            if _error_code(exc) != "NoSuchEntity":
                raise
    warned = [_delete_parameter(ssm, note) for note in leftovers.notes]
    return Lifted(block=block, downgrade=downgrade, warning=any(warned))


def _delete_parameter(ssm: Any, name: str) -> bool:
    """Delete the parameter; False when there was none."""
    try:
        ssm.delete_parameter(Name=name)
    except ClientError as exc:
        if _error_code(exc) != "ParameterNotFound":
            raise
        return False
    return True
