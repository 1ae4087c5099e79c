"""What a block and a downgrade of a tenant are: one contract for tenantctl and the enforcer.

Both stop Bedrock calls with an explicit deny, an inline policy on the tenant's
invoker role (``contracts.naming.invoker_role_name``) in its operations account,
and keep a record beside it, an SSM parameter under the ``/bedrock-invoker/<tenant>/``
path the stacks already use: since when, by whom or by which rule, and why.

* A **block** (:data:`BLOCK_POLICY_NAME`) denies every Bedrock action on every
  resource. An operator writes it with ``tenantctl block``; the limit enforcer
  writes it when a tenant reaches its limit with ``action: block``.
* A **downgrade** (:data:`DOWNGRADE_POLICY_NAME`) denies Bedrock on the tenant's
  models that are not in its ``limits.downgrade_models``, so the cheap models keep
  answering until the period resets. Only the enforcer writes it.

A record names the enforcer's rule (``rule``, starting :data:`ENFORCER_RULE_PREFIX`)
or none (an operator's block). The enforcer lifts only what carries its own rule:
an operator's block stays until an operator lifts it.

This module is pure (no AWS calls): ``tenantctl.blocks`` applies it with the
operator's credentials, ``lambda/limit_enforcer`` with the enforcer's role.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BLOCK_POLICY_NAME = "bedrock-invoker-block"
DOWNGRADE_POLICY_NAME = "bedrock-invoker-downgrade"
# Every Bedrock action, the OpenAI-compatible endpoint's too.
BLOCKED_ACTIONS = ("bedrock:*", "bedrock-mantle:*")
# A wildcard is right for a deny: it must cover actions and resources the allow
# does not name yet.
BLOCK_POLICY_DOCUMENT: dict[str, Any] = {
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
# The rules of the limit enforcer (``limits:block``, ``limits:downgrade``,
# ``limits:meter-outage``); a record without one is an operator's.
ENFORCER_RULE_PREFIX = "limits:"


def record_parameter_name(tenant_id: str) -> str:
    """The SSM parameter, in the tenant's operations account and region, of its block record."""
    return f"/bedrock-invoker/{tenant_id}/block"


def downgrade_record_parameter_name(tenant_id: str) -> str:
    """The SSM parameter of the tenant's downgrade record (beside its block record)."""
    return f"/bedrock-invoker/{tenant_id}/downgrade"


def downgrade_policy_document(denied_resources: Iterable[str]) -> dict[str, Any]:
    """The deny of a downgrade: every Bedrock action on the models the tenant may no longer call.

    ``denied_resources`` are the ARNs the role's allow grants for those models (their
    application inference profiles, foundation models, system profiles); the cheap
    models' ARNs are not in it, so their allow stands.
    """
    resources = sorted(set(denied_resources))
    if not resources:
        raise ValueError("a downgrade must deny at least one model")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantDowngraded",
                "Effect": "Deny",
                "Action": list(BLOCKED_ACTIONS),
                "Resource": resources,
            }
        ],
    }


def is_enforcer_rule(rule: str | None) -> bool:
    """Whether a record's ``rule`` is the limit enforcer's (so the enforcer may lift it)."""
    return rule is not None and rule.startswith(ENFORCER_RULE_PREFIX)


def iso_utc(when: datetime) -> str:
    """A record's time: UTC, seconds, ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class BlockStatus:
    """A tenant's block (or downgrade) as its operations account holds it.

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

    @property
    def by_enforcer(self) -> bool:
        """Whether the limit enforcer wrote it (and may lift it)."""
        return is_enforcer_rule(self.rule)

    def to_json(self) -> dict[str, Any]:
        """The block as ``status --format json`` and ``list --format json`` print it."""
        return {
            "since": iso_utc(self.since) if self.since else None,
            "by": self.by,
            "rule": self.rule,
            "reason": self.reason,
        }

    def describe(self) -> str:
        """One line: since when, by whom or which rule, and why."""
        if self.since is None:
            return "blocked (no record of who or why: being changed now, or denied by hand)"
        author = f"rule {self.rule} ({self.by})" if self.rule else self.by
        return f"blocked since {iso_utc(self.since)} by {author}: {self.reason}"


def check_reason(reason: str) -> str | None:
    """Why ``reason`` cannot be a block's reason, or None when it can."""
    if not reason.strip():
        return "must not be empty: say why the tenant is blocked"
    if len(reason) > REASON_MAX:
        return f"must be at most {REASON_MAX} characters (got {len(reason)})"
    if any(ord(c) < 32 for c in reason):
        return "must be one line of text, without control characters"
    return None


def check_rule(rule: str | None) -> str | None:
    """Why ``rule`` cannot be a record's rule, or None when it can (None is an operator's)."""
    if rule is not None and not (0 < len(rule) <= RULE_MAX):
        return f"rule must be 1 to {RULE_MAX} characters"
    return None


def new_record(*, since: datetime, by: str, reason: str, rule: str | None) -> dict[str, Any]:
    """A record as it is stored (the parameter's value is its JSON)."""
    return {"since": iso_utc(since), "by": by, "rule": rule, "reason": reason}


def record_value(record: dict[str, Any]) -> str:
    """The parameter value of a record."""
    return json.dumps(record, ensure_ascii=False)


def parse_record_value(value: str | None) -> dict[str, Any] | None:
    """A stored record, or None when there is none or it is not a record."""
    if value is None:
        return None
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def status_from_record(tenant_id: str, record: dict[str, Any] | None) -> BlockStatus:
    """The status a record says (an unrecorded one when the record is missing or unreadable)."""
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
