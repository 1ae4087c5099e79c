"""Synth-time checks of the templates against CloudFormation's and IAM's limits.

A deploy that would hit a limit fails late, in one account, half done; these
checks fail the synth instead, naming the stack or the tenant. They read the
synthesized templates, so they count what CloudFormation will count.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts import naming
from contracts.registry import DEFAULT_TRUST_POLICY_MAX_CHARS, TenantRegistry

if TYPE_CHECKING:
    from aws_cdk import cx_api

# CloudFormation quotas (per stack): resources, outputs, and the template body
# read from S3 (the CDK CLI uploads any template over 50 KB there).
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_TEMPLATE_BYTES = 1_000_000
# Warn when the operations account's roles reach this share of its IAM quota.
ROLE_QUOTA_WARNING = 0.8


@dataclass(frozen=True)
class LimitReport:
    """What the checks found: errors fail the synth, warnings are printed."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]


class AssemblyTemplates(Mapping[str, Mapping[str, Any]]):
    """The stack templates of a synthesized cloud assembly, by stack name, read from
    their files one at a time.

    Not through jsii (``CloudAssembly.stacks[i].template``): that copies every
    template from Node.js into Python at once, which for a 1,000-tenant fleet cost
    hundreds of MB at the synth's peak for a check that needs one at a time. The
    files' paths come from CDK's own reading of the manifest.
    """

    def __init__(self, assembly: cx_api.CloudAssembly) -> None:
        self._files = {s.stack_name: Path(s.template_full_path) for s in assembly.stacks}

    def __getitem__(self, stack_name: str) -> Mapping[str, Any]:
        text = self._files[stack_name].read_text(encoding="utf-8")
        template: Mapping[str, Any] = json.loads(text)
        return template

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def check_templates(
    templates: Mapping[str, Mapping[str, Any]],
    registry: TenantRegistry,
    *,
    max_resources: int = MAX_RESOURCES,
    max_outputs: int = MAX_OUTPUTS,
    max_template_bytes: int = MAX_TEMPLATE_BYTES,
    max_trust_policy_chars: int | None = None,
) -> LimitReport:
    """Check every stack's template (by stack name) and the operations account's roles.

    The trust-policy limit is the registry's ``operations.trust_policy_max_chars``
    unless ``max_trust_policy_chars`` is given.
    """
    errors: list[str] = []
    warnings: list[str] = []
    ops_of_stack = {s.stack_name: s.operations for s in registry.operations_stacks()}
    tenant_of_stack = {t.stack_name: t for t in registry.resolved_tenants()}
    for stack_name, template in templates.items():
        ops = ops_of_stack.get(stack_name)
        tenant = tenant_of_stack.get(stack_name)
        account, region = (
            (ops.account_id, ops.region)
            if ops is not None
            else (tenant.account_id, tenant.region)
            if tenant is not None
            else ("123456789012", "us-east-1")
        )
        # A tenant account's quota is not in the registry: IAM's default there.
        trust_limit = max_trust_policy_chars or (
            ops.trust_policy_max_chars if ops is not None else DEFAULT_TRUST_POLICY_MAX_CHARS
        )
        partition = naming.partition_for_region(region)
        resources = template.get("Resources") or {}
        outputs = template.get("Outputs") or {}
        if len(resources) > max_resources:
            errors.append(
                f"stack {stack_name}: {len(resources)} resources exceed CloudFormation's "
                f"{max_resources}; lower operations.shard_capacity"
            )
        if len(outputs) > max_outputs:
            errors.append(
                f"stack {stack_name}: {len(outputs)} outputs exceed CloudFormation's "
                f"{max_outputs}; lower operations.shard_capacity"
            )
        size = len(json.dumps(template, separators=(",", ":")).encode())
        if size > max_template_bytes:
            errors.append(
                f"stack {stack_name}: the template is {size} bytes, over CloudFormation's "
                f"{max_template_bytes}; lower operations.shard_capacity"
            )
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            document = (resource.get("Properties") or {}).get("AssumeRolePolicyDocument")
            if document is None:
                continue
            chars = trust_policy_chars(document, partition=partition, account=account)
            if chars > trust_limit:
                errors.append(
                    f"stack {stack_name}: the trust policy of {logical_id} is {chars} "
                    f"characters, over the trust-policy quota {trust_limit} "
                    "(IAM allows up to 4,096 with a quota increase)"
                )
    for ops in registry.operations_accounts():
        roles = registry.roles_in(ops.name)
        if roles >= ROLE_QUOTA_WARNING * ops.iam_role_quota:
            warnings.append(
                f"operations account {ops.account_id} ({ops.name}): {roles} IAM roles, "
                f"{roles / ops.iam_role_quota:.0%} of its iam_role_quota {ops.iam_role_quota}; "
                "ask for a higher quota (up to 5,000) or onboard new tenants into another "
                "operations account"
            )
    return LimitReport(tuple(errors), tuple(warnings))


def trust_policy_chars(document: Any, *, partition: str, account: str) -> int:
    """Characters IAM counts for a trust policy: the JSON without whitespace.

    CloudFormation resolves ``Ref AWS::Partition``/``AWS::AccountId`` and
    ``Fn::Join`` before IAM sees the document; so does this.
    """
    resolved = _resolve(document, partition=partition, account=account)
    return len(json.dumps(resolved, separators=(",", ":")))


def _resolve(value: Any, *, partition: str, account: str) -> Any:
    if isinstance(value, list):
        return [_resolve(v, partition=partition, account=account) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return {"AWS::Partition": partition, "AWS::AccountId": account}.get(value["Ref"], value)
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        resolved = [_resolve(p, partition=partition, account=account) for p in parts]
        if all(isinstance(p, str) for p in resolved):
            return str(separator).join(resolved)
    return {k: _resolve(v, partition=partition, account=account) for k, v in value.items()}
