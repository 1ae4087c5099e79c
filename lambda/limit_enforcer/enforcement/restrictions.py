"""Blocks, downgrades and warnings as the operations account holds them (``contracts.blocks``).

The same deny, record and order as ``tenantctl block``: the deny first and the
record last; the record removed first and the deny last, so a record is never
seen without its deny. The enforcer lifts only records that carry its own rule,
and reads the record again just before lifting, so an operator's block written
over the enforcer's in the meantime stays.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from contracts import naming
from contracts.blocks import (
    BLOCK_POLICY_DOCUMENT,
    BLOCK_POLICY_NAME,
    DOWNGRADE_POLICY_NAME,
    BlockStatus,
    downgrade_policy_document,
    downgrade_record_parameter_name,
    is_enforcer_rule,
    new_record,
    parse_record_value,
    record_parameter_name,
    record_value,
    status_from_record,
)
from contracts.limits import (
    Action,
    ActionKind,
    Applied,
    EnforcementPlan,
    limits_parameter_name,
    parse_plan,
    warning_parameter_name,
)

# GetParameters takes at most ten names.
GET_PARAMETERS_MAX = 10


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class OperationsAccount:
    """The enforcer's reads and writes in its operations account (IAM, SSM, SNS)."""

    def __init__(self, *, iam: Any, ssm: Any, sns: Any, author: str, topic_arn: str | None):
        self._iam, self._ssm, self._sns = iam, ssm, sns
        self._author = author
        self._topic_arn = topic_arn

    # -- reads --------------------------------------------------------------------------

    def plans(self, tenant_ids: tuple[str, ...]) -> tuple[list[EnforcementPlan], list[str]]:
        """The plans the operations stacks wrote, and the tenants that have none yet."""
        names = [limits_parameter_name(t) for t in tenant_ids]
        found: dict[str, str] = {}
        for start in range(0, len(names), GET_PARAMETERS_MAX):
            answer = self._ssm.get_parameters(Names=names[start : start + GET_PARAMETERS_MAX])
            found.update({p["Name"]: p["Value"] for p in answer.get("Parameters", [])})
        plans = [parse_plan(found[n]) for n in names if n in found]
        missing = [t for t, n in zip(tenant_ids, names, strict=True) if n not in found]
        return plans, missing

    def applied(self, tenant_id: str) -> Applied:
        """The tenant's block, downgrade and last warning, as held now."""
        warning = parse_record_value(self._parameter(warning_parameter_name(tenant_id)))
        return Applied(
            block=self._restriction(tenant_id, BLOCK_POLICY_NAME, record_parameter_name),
            downgrade=self._restriction(
                tenant_id, DOWNGRADE_POLICY_NAME, downgrade_record_parameter_name
            ),
            warned_period=str(warning["period"]) if warning and "period" in warning else None,
        )

    def _restriction(self, tenant_id: str, policy: str, record_name: Any) -> BlockStatus | None:
        try:
            self._iam.get_role_policy(
                RoleName=naming.invoker_role_name(tenant_id), PolicyName=policy
            )
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                return None
            raise
        record = parse_record_value(self._parameter(record_name(tenant_id)))
        return status_from_record(tenant_id, record)

    def _parameter(self, name: str) -> str | None:
        try:
            return str(self._ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return None
            raise

    # -- writes -------------------------------------------------------------------------

    def apply(self, action: Action, plan: EnforcementPlan, now: datetime) -> bool:
        """Carry out ``action``; False when it was no longer needed (someone acted first)."""
        tenant = action.tenant_id
        if action.kind is ActionKind.BLOCK:
            self._restrict(
                tenant,
                BLOCK_POLICY_NAME,
                BLOCK_POLICY_DOCUMENT,
                record_parameter_name(tenant),
                action,
                now,
            )
            return True
        if action.kind is ActionKind.DOWNGRADE:
            document = downgrade_policy_document(plan.denied_on_downgrade)
            self._restrict(
                tenant,
                DOWNGRADE_POLICY_NAME,
                document,
                downgrade_record_parameter_name(tenant),
                action,
                now,
            )
            return True
        if action.kind is ActionKind.UNBLOCK:
            return self._lift(tenant, BLOCK_POLICY_NAME, record_parameter_name(tenant))
        if action.kind is ActionKind.LIFT_DOWNGRADE:
            return self._lift(
                tenant, DOWNGRADE_POLICY_NAME, downgrade_record_parameter_name(tenant)
            )
        if action.kind is ActionKind.WARN:
            self.notify(f"Bedrock limit warning: tenant {tenant}", action.reason)
            self._ssm.put_parameter(
                Name=warning_parameter_name(tenant),
                Description=f"The period the limit enforcer last warned tenant {tenant} in",
                Value=json.dumps(
                    {"period": action.period, "at": now.isoformat(), **action.figures}
                ),
                Type="String",
                Overwrite=True,
            )
            return True
        return True  # METER_UNAVAILABLE: the audit record and its metric are the action

    def notify(self, subject: str, message: str) -> None:
        """Publish to the operations account's alert topic, when there is one."""
        if self._topic_arn:
            self._sns.publish(TopicArn=self._topic_arn, Subject=subject[:100], Message=message)

    def _restrict(
        self,
        tenant: str,
        policy: str,
        document: dict[str, Any],
        record_name: str,
        action: Action,
        now: datetime,
    ) -> None:
        # The deny first: a record must never be seen without it.
        self._iam.put_role_policy(
            RoleName=naming.invoker_role_name(tenant),
            PolicyName=policy,
            PolicyDocument=json.dumps(document),
        )
        record = new_record(
            since=now, by=self._author, reason=action.reason[:500], rule=action.rule
        )
        try:
            self._ssm.put_parameter(
                Name=record_name,
                Description=f"Limit enforcer's {action.kind.value} of tenant {tenant}",
                Value=record_value(record),
                Type="String",
                Overwrite=False,
            )
        except ClientError as exc:
            # An operator's block written meanwhile keeps its own record.
            if _code(exc) != "ParameterAlreadyExists":
                raise

    def _lift(self, tenant: str, policy: str, record_name: str) -> bool:
        record = parse_record_value(self._parameter(record_name))
        if record is not None and not is_enforcer_rule(record.get("rule")):
            return False  # an operator's now: theirs to lift
        # The record first: the deny must never be missing while a record says restricted.
        try:
            self._ssm.delete_parameter(Name=record_name)
        except ClientError as exc:
            if _code(exc) != "ParameterNotFound":
                raise
        try:
            self._iam.delete_role_policy(
                RoleName=naming.invoker_role_name(tenant), PolicyName=policy
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
        return True
