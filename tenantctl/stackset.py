"""Rolling the customer side out by StackSet: the code, the StackSet, one instance per tenant.

The registry's ``customer_stack_set`` block (``contracts.registry.stack_set``)
says the customer side is rolled out by one StackSet in the first operations
account (the administrator). Everything here is plain CloudFormation and S3
through the caller's credentials; the embedded cloud is only an endpoint.

- ``deploy``: the function's bundle from the synthesized cloud assembly, zipped
  into the organization-readable bucket under its content hash (skipped when
  the key is there: HeadObject), then the StackSet created or updated from the
  template (its body, or a template URL in the bucket past CloudFormation's
  51,200-byte body limit), with ManagedExecution on, so CloudFormation queues
  the instance operations that follow instead of refusing them.
- ``sync``: the instances made to match the registry. ``plan_sync`` compares each
  tenant's parameter overrides (``stack_set_parameters``) with the deployed
  instance's, and the instance's status: missing instances are created,
  differing or failed ones updated, instances of tenants gone from the registry
  deleted (``RetainStacks=False``: the stack goes, and with it everything but
  what its DeletionPolicy retains: the usage log group and its key, exactly as
  ``cdk destroy``). A failed instance is found again by the next comparison, so
  a rerun retries exactly the failed ones.

Every tenant's overrides differ (its id at least), so each created or updated
instance is its own operation; deletions share one per region. AutoDeployment
stays off: an account joining an OU must not get an instance without its
tenant's parameters.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from contracts.registry import TenantRegistry
from contracts.registry.stack_set import CustomerStackSet, PermissionModel, stack_set_parameters

# CloudFormation's TemplateBody limit; a larger template goes by TemplateURL.
TEMPLATE_BODY_MAX_BYTES = 51_200
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# An operation's end states (DescribeStackSetOperation).
FINISHED = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# A zip's entries carry this date, so the same bundle zips to the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class WantedInstance:
    """A tenant's stack instance as the registry says it should be."""

    tenant_id: str
    account_id: str
    region: str
    overrides: Mapping[str, str]


@dataclass(frozen=True)
class DeployedInstance:
    """A stack instance as CloudFormation reports it."""

    account_id: str
    region: str
    # CURRENT, OUTDATED or INOPERABLE.
    status: str
    # StackInstanceStatus.DetailedStatus: SUCCEEDED, FAILED, CANCELLED, RUNNING, ...
    detailed_status: str = ""
    reason: str = ""
    overrides: Mapping[str, str] = field(default_factory=dict)

    @property
    def failed_why(self) -> str | None:
        """Why the instance is not as its last operation meant it to be; None if it is."""
        if self.status == "CURRENT" and self.detailed_status in {"", "SUCCEEDED"}:
            return None
        detail = f" ({self.detailed_status})" if self.detailed_status else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"instance {self.status}{detail}{reason}"


@dataclass(frozen=True)
class InstanceChange:
    """One instance to create, update or delete, and why."""

    action: Action
    account_id: str
    region: str
    why: str
    tenant_id: str | None = None
    overrides: Mapping[str, str] | None = None


@dataclass
class SyncPlan:
    """What ``sync`` does: the changes, and how many instances already match."""

    changes: list[InstanceChange]
    unchanged: int = 0

    def of(self, action: Action) -> list[InstanceChange]:
        return [c for c in self.changes if c.action == action]


def wanted_instances(
    registry: TenantRegistry, *, departing: Iterable[str] = ()
) -> list[WantedInstance]:
    """One instance per tenant of the registry (but ``departing`` ones), with its overrides."""
    config = _config(registry)
    gone = set(departing)
    return [
        WantedInstance(
            tenant_id=tenant.id,
            account_id=tenant.account_id,
            region=tenant.region,
            overrides=_as_dict(
                stack_set_parameters(tenant, config.code_bucket, defaults=registry.defaults)
            ),
        )
        for tenant in registry.resolved_tenants()
        if tenant.id not in gone
    ]


def plan_sync(
    wanted: Sequence[WantedInstance],
    deployed: Sequence[DeployedInstance],
    *,
    accounts: Iterable[str] | None = None,
) -> SyncPlan:
    """The changes that make ``deployed`` match ``wanted``.

    ``accounts`` limits the plan to those accounts (``onboard`` and ``offboard``
    touch one tenant's); None means every instance of the StackSet.
    """
    scope = None if accounts is None else set(accounts)
    have = {(d.account_id, d.region): d for d in deployed if scope is None or d.account_id in scope}
    changes: list[InstanceChange] = []
    unchanged = 0
    for want in wanted:
        if scope is not None and want.account_id not in scope:
            continue
        instance = have.pop((want.account_id, want.region), None)
        if instance is None:
            changes.append(_change("create", want, "no instance yet"))
            continue
        differ = sorted(
            key
            for key in set(want.overrides) | set(instance.overrides)
            if want.overrides.get(key) != instance.overrides.get(key)
        )
        failed = instance.failed_why
        if differ:
            changes.append(_change("update", want, f"parameters differ: {', '.join(differ)}"))
        elif failed is not None:
            changes.append(_change("update", want, f"retry: {failed}"))
        else:
            unchanged += 1
    for (account, region), _ in sorted(have.items()):
        changes.append(
            InstanceChange("delete", account, region, "no tenant of the registry in this account")
        )
    return SyncPlan(changes, unchanged)


def _change(action: Action, want: WantedInstance, why: str) -> InstanceChange:
    return InstanceChange(
        action,
        want.account_id,
        want.region,
        why,
        tenant_id=want.tenant_id,
        overrides=want.overrides,
    )


def _as_dict(parameters: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in parameters}


def _config(registry: TenantRegistry) -> CustomerStackSet:
    if registry.customer_stack_set is None:
        raise ValueError("the registry has no customer_stack_set block")
    return registry.customer_stack_set


# --- the function's code -------------------------------------------------------------------


@dataclass(frozen=True)
class CodeBundle:
    """The bundled function in a cloud assembly, and its key in the code bucket."""

    directory: Path
    key: str


def code_bundle(assembly_dir: Path, stack_name: str, template: Mapping[str, Any]) -> CodeBundle:
    """The directory of the template's function code in the assembly.

    The StackSet template's stack holds the bundle as a CDK asset that no resource
    uses; its hash is the ``CodeKey`` default the template was synthesized with.
    """
    key = str(template["Parameters"]["CodeKey"]["Default"])
    manifest = json.loads((assembly_dir / f"{stack_name}.assets.json").read_text(encoding="utf-8"))
    for asset_hash, asset in manifest.get("files", {}).items():
        source = asset.get("source", {})
        if source.get("packaging") == "zip" and f"{asset_hash}.zip" == key:
            return CodeBundle(assembly_dir / source["path"], key)
    raise ValueError(f"{stack_name}: the assembly has no bundle for CodeKey {key}")


def zip_directory(directory: Path) -> bytes:
    """The directory as a zip, entries sorted and dated alike: the same bundle, the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if not path.is_file():
                continue
            entry = zipfile.ZipInfo(path.relative_to(directory).as_posix(), _ZIP_EPOCH)
            entry.external_attr = (os.stat(path).st_mode & 0o777 | 0o100000) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def template_source(body: str, bucket: str, region: str) -> tuple[dict[str, str], str | None]:
    """``TemplateBody``, or ``TemplateURL`` (and the key to upload it to) past the body limit."""
    if len(body.encode()) <= TEMPLATE_BODY_MAX_BYTES:
        return {"TemplateBody": body}, None
    key = f"templates/{hashlib.sha256(body.encode()).hexdigest()}.json"
    return {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{key}"}, key


# --- the administrator account ---------------------------------------------------------------


@dataclass(frozen=True)
class InstanceFailure:
    """An account whose instance operation did not succeed, and CloudFormation's reason."""

    account_id: str
    region: str
    reason: str
    tenant_id: str | None = None


@dataclass(frozen=True)
class OperationOutcome:
    """How one StackSet operation ended, and the accounts it failed in."""

    operation_id: str
    status: str
    failures: tuple[InstanceFailure, ...] = ()


class StackSetAdministrator:
    """The StackSet in its administrator account: CloudFormation and S3 clients of that account.

    ``sleep`` and ``poll_seconds`` pace the waits for operations.
    """

    def __init__(
        self,
        config: CustomerStackSet,
        *,
        cloudformation: Any,
        s3: Any,
        code_bucket_region: str,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 5.0,
    ) -> None:
        self.config = config
        self._cfn = cloudformation
        self._s3 = s3
        self._bucket_region = code_bucket_region
        self._sleep = sleep
        self._poll = poll_seconds

    @property
    def _call_as(self) -> dict[str, str]:
        if self.config.permission_model is PermissionModel.SERVICE_MANAGED:
            return {"CallAs": str(self.config.call_as)}
        return {}

    def _named(self) -> dict[str, str]:
        return {"StackSetName": self.config.name, **self._call_as}

    # -- code and template

    def upload_code(self, bundle: CodeBundle) -> bool:
        """Put the zipped bundle at its key unless it is there; whether it was uploaded."""
        if self._exists(bundle.key):
            return False
        self._s3.put_object(
            Bucket=self.config.code_bucket, Key=bundle.key, Body=zip_directory(bundle.directory)
        )
        return True

    def _exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.config.code_bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def deploy_template(self, template: Mapping[str, Any], code_key: str) -> str:
        """Create the StackSet, or update it when its template or code changed.

        Returns ``created``, ``updated`` or ``unchanged``. An update changes every
        instance (each keeps its overrides) and is waited for; a failed one raises
        ``StackSetOperationFailed``.
        """
        body = json.dumps(template, separators=(",", ":"), sort_keys=True)
        parameters = [
            {"ParameterKey": "CodeBucket", "ParameterValue": self.config.code_bucket},
            {"ParameterKey": "CodeKey", "ParameterValue": code_key},
        ]
        current = self._describe()
        if current is not None and _same_template(current, template, parameters):
            return "unchanged"
        source, template_key = template_source(body, self.config.code_bucket, self._bucket_region)
        if template_key is not None and not self._exists(template_key):
            self._s3.put_object(Bucket=self.config.code_bucket, Key=template_key, Body=body)
        common: dict[str, Any] = {
            **self._named(),
            **source,
            "Description": "Bedrock invoker and usage logs of one tenant (tenantctl)",
            "Parameters": parameters,
            "Capabilities": CAPABILITIES,
            "PermissionModel": str(self.config.permission_model),
            "ManagedExecution": {"Active": True},
            **self._roles(),
        }
        if self.config.permission_model is PermissionModel.SERVICE_MANAGED:
            # Each instance needs its tenant's overrides: no instance by OU membership.
            common["AutoDeployment"] = {"Enabled": False}
        if current is None:
            self._cfn.create_stack_set(**common)
            return "created"
        operation = self._cfn.update_stack_set(
            **common, OperationPreferences=self.config.operation_preferences.as_api()
        )["OperationId"]
        outcome = self.wait(operation)
        if outcome.status != "SUCCEEDED":
            raise StackSetOperationFailed(outcome)
        return "updated"

    def _roles(self) -> dict[str, str]:
        roles = {
            "AdministrationRoleARN": self.config.administration_role_arn,
            "ExecutionRoleName": self.config.execution_role_name,
        }
        return {k: v for k, v in roles.items() if v}

    def _describe(self) -> dict[str, Any] | None:
        try:
            return dict(self._cfn.describe_stack_set(**self._named())["StackSet"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "StackSetNotFoundException":
                return None
            raise

    # -- instances

    def deployed_instances(
        self, *, accounts: Iterable[str] | None = None, with_overrides: bool = True
    ) -> list[DeployedInstance]:
        """The StackSet's instances (in ``accounts`` only, if given), with their overrides.

        ListStackInstances does not return overrides; DescribeStackInstance does,
        one call per instance (8 at a time).
        """
        scope = None if accounts is None else set(accounts)
        summaries = [
            s
            for page in self._cfn.get_paginator("list_stack_instances").paginate(**self._named())
            for s in page.get("Summaries", [])
            if scope is None or s["Account"] in scope
        ]

        def read(summary: Mapping[str, Any]) -> DeployedInstance:
            overrides: dict[str, str] = {}
            if with_overrides:
                described = self._cfn.describe_stack_instance(
                    **self._named(),
                    StackInstanceAccount=summary["Account"],
                    StackInstanceRegion=summary["Region"],
                )["StackInstance"]
                overrides = _as_dict(described.get("ParameterOverrides", []))
            return DeployedInstance(
                account_id=summary["Account"],
                region=summary["Region"],
                status=summary.get("Status", ""),
                detailed_status=summary.get("StackInstanceStatus", {}).get("DetailedStatus", ""),
                reason=summary.get("StatusReason", ""),
                overrides=overrides,
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(read, summaries))

    def start(self, change: InstanceChange) -> str:
        """Start a create or update of one instance; the operation id."""
        call = {
            "create": self._cfn.create_stack_instances,
            "update": self._cfn.update_stack_instances,
        }[change.action]
        return str(
            call(
                **self._named(),
                **self._targets([change.account_id]),
                Regions=[change.region],
                ParameterOverrides=[
                    {"ParameterKey": k, "ParameterValue": v}
                    for k, v in (change.overrides or {}).items()
                ],
                OperationPreferences=self.config.operation_preferences.as_api(),
            )["OperationId"]
        )

    def start_deletes(
        self, changes: Sequence[InstanceChange]
    ) -> list[tuple[str, list[InstanceChange]]]:
        """One delete operation per region (RetainStacks false); each with its changes."""
        regions: dict[str, list[InstanceChange]] = {}
        for change in changes:
            regions.setdefault(change.region, []).append(change)
        started = []
        for region, in_region in regions.items():
            operation = self._cfn.delete_stack_instances(
                **self._named(),
                **self._targets([c.account_id for c in in_region]),
                Regions=[region],
                RetainStacks=False,
                OperationPreferences=self.config.operation_preferences.as_api(),
            )["OperationId"]
            started.append((str(operation), in_region))
        return started

    def _targets(self, accounts: list[str]) -> dict[str, Any]:
        if self.config.permission_model is PermissionModel.SELF_MANAGED:
            return {"Accounts": accounts}
        # The tenant's account, within the registry's OUs.
        return {
            "DeploymentTargets": {
                "OrganizationalUnitIds": list(self.config.organizational_unit_ids),
                "Accounts": accounts,
                "AccountFilterType": "INTERSECTION",
            }
        }

    def wait(self, operation_id: str) -> OperationOutcome:
        """Wait for an operation to end; its status and the accounts it failed in."""
        while True:
            operation = self._cfn.describe_stack_set_operation(
                **self._named(), OperationId=operation_id
            )["StackSetOperation"]
            status = str(operation.get("Status", ""))
            if status in FINISHED:
                break
            self._sleep(self._poll)
        failures = tuple(
            InstanceFailure(
                account_id=result["Account"],
                region=result["Region"],
                reason=result.get("StatusReason") or result["Status"],
            )
            for page in self._cfn.get_paginator("list_stack_set_operation_results").paginate(
                **self._named(), OperationId=operation_id
            )
            for result in page.get("Summaries", [])
            if result.get("Status") not in {"SUCCEEDED", None}
        )
        if status != "SUCCEEDED" and not failures:
            reason = operation.get("StatusReason") or f"operation {status}"
            failures = (InstanceFailure("", "", str(reason)),)
        return OperationOutcome(operation_id, status, failures)


class StackSetOperationFailed(Exception):
    """A StackSet operation that did not succeed."""

    def __init__(self, outcome: OperationOutcome) -> None:
        reasons = "; ".join(
            f"{f.account_id or 'the StackSet'}: {f.reason}" for f in outcome.failures
        )
        super().__init__(f"operation {outcome.operation_id} {outcome.status}: {reasons}")
        self.outcome = outcome


def _same_template(
    current: Mapping[str, Any], template: Mapping[str, Any], parameters: list[dict[str, str]]
) -> bool:
    try:
        body = json.loads(current.get("TemplateBody") or "null")
    except ValueError:
        return False
    have = _as_dict(current.get("Parameters", []))
    return (
        body == template
        and all(have.get(p["ParameterKey"]) == p["ParameterValue"] for p in parameters)
        and bool(current.get("ManagedExecution", {}).get("Active"))
    )


# --- a whole sync ------------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync did: each change with its failure, if any, and the instances still missing."""

    plan: SyncPlan
    failures: list[InstanceFailure] = field(default_factory=list)
    seconds: float = 0.0


def apply_plan(
    admin: StackSetAdministrator,
    plan: SyncPlan,
    wanted: Sequence[WantedInstance],
    *,
    on_finished: Callable[[InstanceChange, InstanceFailure | None], None] | None = None,
) -> SyncReport:
    """Start every change's operation, wait for each, and name the accounts that failed.

    With ManagedExecution on, CloudFormation queues the operations and runs those
    touching different instances at once. An instance wanted in an account the
    OUs do not hold is reported too: the operation succeeds without creating it.
    """
    started = time.perf_counter()
    tenants = {(w.account_id, w.region): w.tenant_id for w in wanted}
    running: list[tuple[str, list[InstanceChange]]] = [
        (admin.start(change), [change]) for change in plan.of("create") + plan.of("update")
    ]
    running += admin.start_deletes(plan.of("delete"))
    failures: list[InstanceFailure] = []
    for operation, changes in running:
        outcome = admin.wait(operation)
        failed = {(f.account_id, f.region): f for f in outcome.failures}
        # A failure of the operation as a whole (no per-account result) is each one's.
        general = failed.get(("", ""))
        for change in changes:
            failure = failed.get((change.account_id, change.region), general)
            if failure is not None:
                failure = InstanceFailure(
                    change.account_id,
                    change.region,
                    failure.reason,
                    tenants.get((change.account_id, change.region), change.tenant_id),
                )
                failures.append(failure)
            if on_finished is not None:
                on_finished(change, failure)
    failures += _not_created(admin, plan, failures)
    return SyncReport(plan, failures, time.perf_counter() - started)


def _not_created(
    admin: StackSetAdministrator, plan: SyncPlan, failures: Sequence[InstanceFailure]
) -> list[InstanceFailure]:
    """Created instances that do not exist although their operation succeeded.

    A SERVICE_MANAGED operation targets the account within the OUs: for an
    account outside them it succeeds and creates nothing.
    """
    failed = {(f.account_id, f.region) for f in failures}
    created = [c for c in plan.of("create") if (c.account_id, c.region) not in failed]
    if not created:
        return []
    present = {
        (d.account_id, d.region)
        for d in admin.deployed_instances(
            accounts={c.account_id for c in created}, with_overrides=False
        )
    }
    ous = ", ".join(admin.config.organizational_unit_ids)
    why = (
        f"no instance was created: the account is not in the organizational units {ous}"
        if ous
        else "no instance was created"
    )
    return [
        InstanceFailure(c.account_id, c.region, why, c.tenant_id)
        for c in created
        if (c.account_id, c.region) not in present
    ]
