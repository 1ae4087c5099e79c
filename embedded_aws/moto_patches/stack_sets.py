"""What moto's CloudFormation StackSets get wrong, and the fixes: StackSets run for real.

moto (pinned 5.2.5) creates SELF_MANAGED instances as stacks named
``StackSet:<name>``, but for SERVICE_MANAGED (AWS Organizations) it builds each
instance's stack out of sight (never in the account's stack list), ignores
``AccountFilterType`` (OUs and accounts are always added together), resolves
only the direct children of an OU, and reads the organization of the StackSet's
own account, so a delegated administrator's OUs resolve to nothing. Every
operation is answered SUCCEEDED whatever happened; ``UpdateStackInstances``
changes the recorded overrides but not the stacks; ``DeleteStackInstances``
ignores ``RetainStacks``; ``ListStackInstances`` says CURRENT/SUCCEEDED for all;
``ListStackSetOperationResults`` invents a row per account; no
``OperationPreferences``, ``CallAs`` or ``ManagedExecution`` is read; parameter
constraints (``AllowedValues``, ``AllowedPattern``, lengths, bounds) are never checked.

Here, for both permission models, each operation is run in the target accounts
as StackSets runs it:

* **Targets.** SELF_MANAGED takes ``Accounts``. SERVICE_MANAGED takes
  ``DeploymentTargets``: each OU (or the root) resolves through the organization
  (``embedded_aws.moto_patches.organizations``) to the accounts in it and in
  every OU below it, the management account never included (StackSets never
  deploys there), then ``AccountFilterType`` applies ``Accounts``: ``NONE``
  (default), ``INTERSECTION``, ``DIFFERENCE`` or ``UNION``. The organization is
  the one the caller manages, or, with ``CallAs=DELEGATED_ADMIN``, the one it is
  StackSets' registered delegated administrator of; trusted access must be on
  (``ActivateOrganizationsAccess``, or ``EnableAWSServiceAccess`` in
  Organizations), else AWS's ValidationError.
* **Stacks.** Each instance is a real stack ``StackSet-<name>-<uuid>`` in its
  account and region, with the StackSet's parameters and the instance's
  overrides, checked against the template's parameter constraints as
  CloudFormation checks them. A stack that fails to create rolls back (retained
  resources kept) and the instance is FAILED with the reason. Creating an
  instance that exists again redeploys it (a failed one from scratch).
  ``UpdateStackInstances`` updates the stacks with the new overrides, following
  AWS's rules for omitted keys and ``UsePreviousValue``; ``UpdateStackSet``
  updates every instance (or those it names) to the new template.
  ``DeleteStackInstances`` deletes the stacks unless ``RetainStacks``, so
  ``DeletionPolicy: Retain`` resources (a tenant's usage log group and its key)
  stay in the account, as with ``cdk destroy``; a stack that fails to delete
  leaves the instance INOPERABLE.
* **Operations.** ``OperationPreferences`` are validated (each count/percentage
  pair is exclusive, region concurrency is SEQUENTIAL or PARALLEL) and honoured:
  accounts run in batches of the maximum concurrency (lowered to the failure
  tolerance + 1 under STRICT_FAILURE_TOLERANCE, the default), region by region in
  ``RegionOrder``; once a region's failures exceed the tolerance, its remaining
  accounts (and, in SEQUENTIAL, every later region's) are CANCELLED and the
  operation FAILED; within tolerance it SUCCEEDED with the failures listed.
  ``DescribeStackSetOperation`` (RUNNING while it runs, then SUCCEEDED or FAILED,
  with ``StatusReason`` and ``StatusDetails``), ``ListStackSetOperationResults``
  (per account and region, with the reason) and ``ListStackInstances``/
  ``DescribeStackInstance`` (``Status``, ``StackInstanceStatus.DetailedStatus``,
  ``StatusReason``, ``OrganizationalUnitId``) say what happened. Operations run
  synchronously within the request; one StackSet runs one at a time, and a
  request that arrives while another runs (another client thread) gets
  ``OperationInProgressException``. ``ManagedExecution`` is kept and shown
  (execution is serial here either way).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from unittest import mock

from moto.cloudformation.exceptions import (
    CloudFormationError,
    StackInstanceNotFound,
    ValidationError,
)
from moto.cloudformation.models import StackSet, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.organizations.models import (
    FakeDelegatedAdministrator,
    OrganizationsBackend,
    organizations_backends,
)

from embedded_aws.moto_patches.cloudformation import roll_back_failed_create

STACK_SETS_SERVICE_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
_ACCOUNT_FILTERS = ("NONE", "INTERSECTION", "DIFFERENCE", "UNION")
_REGION_CONCURRENCY = ("SEQUENTIAL", "PARALLEL")
_CONCURRENCY_MODES = ("STRICT_FAILURE_TOLERANCE", "SOFT_FAILURE_TOLERANCE")
# What StackSets reports when an account has no account-gate function (none here).
_ACCOUNT_GATE = (
    "Function not found: "
    "arn:aws:lambda:{region}:{account}:function:AWSCloudFormationStackSetAccountGate"
)


class OperationInProgressException(CloudFormationError):
    """StackSets' answer while another operation on the StackSet runs."""

    code = "OperationInProgressException"


class OperationIdAlreadyExistsException(CloudFormationError):
    """StackSets' answer to an ``OperationId`` already used."""

    code = "OperationIdAlreadyExistsException"


@dataclass
class StackSetInstance:
    """One stack instance: where it is, its overrides, its stack and its last outcome."""

    stack_set_id: str
    account_id: str
    region_name: str
    organizational_unit_id: str | None
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    stack_id: str | None = None
    status: str = "OUTDATED"
    detailed_status: str = "PENDING"
    status_reason: str | None = None
    last_operation_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """The ``StackInstanceSummary`` of ListStackInstances."""
        summary: dict[str, Any] = {
            "StackSetId": self.stack_set_id,
            "Region": self.region_name,
            "Account": self.account_id,
            "Status": self.status,
            "StackInstanceStatus": {"DetailedStatus": self.detailed_status},
            "DriftStatus": "NOT_CHECKED",
        }
        optional = {
            "StackId": self.stack_id,
            "StatusReason": self.status_reason,
            "OrganizationalUnitId": self.organizational_unit_id,
            "LastOperationId": self.last_operation_id,
        }
        summary.update({k: v for k, v in optional.items() if v is not None})
        return summary

    def to_dict(self) -> dict[str, Any]:
        """The ``StackInstance`` of DescribeStackInstance (moto's name for it)."""
        return {
            **self.summary(),
            "ParameterOverrides": [
                {"ParameterKey": k, "ParameterValue": v}
                for k, v in self.parameter_overrides.items()
            ],
        }


@dataclass(frozen=True)
class Target:
    """An account and region an operation acts on, and the OU it was reached through."""

    account_id: str
    region_name: str
    organizational_unit_id: str | None = None


@dataclass(frozen=True)
class Preferences:
    """``OperationPreferences`` as StackSets applies them."""

    region_order: tuple[str, ...] = ()
    region_concurrency: str = "SEQUENTIAL"
    concurrency_mode: str = "STRICT_FAILURE_TOLERANCE"
    failure_tolerance_count: int | None = None
    failure_tolerance_percentage: int | None = None
    max_concurrent_count: int | None = None
    max_concurrent_percentage: int | None = None

    def tolerance(self, accounts: int) -> int:
        if self.failure_tolerance_percentage is not None:
            return math.floor(accounts * self.failure_tolerance_percentage / 100)
        return self.failure_tolerance_count or 0

    def concurrency(self, accounts: int) -> int:
        if self.max_concurrent_percentage is not None:
            return max(1, math.floor(accounts * self.max_concurrent_percentage / 100))
        return max(1, self.max_concurrent_count or 1)

    def as_dict(self) -> dict[str, Any]:
        """The ``OperationPreferences`` DescribeStackSetOperation returns."""
        shown: dict[str, Any] = {
            "RegionConcurrencyType": self.region_concurrency,
            "RegionOrder": list(self.region_order),
            "ConcurrencyMode": self.concurrency_mode,
            "FailureToleranceCount": self.failure_tolerance_count,
            "FailureTolerancePercentage": self.failure_tolerance_percentage,
            "MaxConcurrentCount": self.max_concurrent_count,
            "MaxConcurrentPercentage": self.max_concurrent_percentage,
        }
        return {k: v for k, v in shown.items() if v is not None}


@dataclass
class Outcome:
    """How one target fared in an operation."""

    target: Target
    status: str = "PENDING"
    reason: str | None = None

    def result(self) -> dict[str, Any]:
        """The ``StackSetOperationResultSummary`` of ListStackSetOperationResults."""
        row: dict[str, Any] = {
            "Account": self.target.account_id,
            "Region": self.target.region_name,
            "Status": self.status,
            "AccountGateResult": {
                "Status": "SKIPPED",
                "StatusReason": _ACCOUNT_GATE.format(
                    region=self.target.region_name, account=self.target.account_id
                ),
            },
        }
        if self.reason is not None:
            row["StatusReason"] = self.reason
        if self.target.organizational_unit_id is not None:
            row["OrganizationalUnitId"] = self.target.organizational_unit_id
        return row


@dataclass
class StackSetSettings:
    """What CreateStackSet sets that moto's StackSet does not keep."""

    organization: OrganizationsBackend | None = None
    managed_execution: bool = False
    auto_deployment: dict[str, bool] | None = None


# Per StackSet (by id): its settings, and the lock an operation holds while it runs.
_SETTINGS: dict[str, StackSetSettings] = {}
_RUNNING: dict[str, threading.Lock] = {}
_RUNNING_GUARD = threading.Lock()


def install() -> Callable[[], None]:
    """Run StackSet operations for real (see the module docstring); returns the undo."""
    _RUNNING.clear()
    _SETTINGS.clear()
    patches = contextlib.ExitStack()
    for name, operation in {
        "create_stack_set": _create_stack_set,
        "describe_stack_set": _describe_stack_set,
        "update_stack_set": _update_stack_set,
        "create_stack_instances": _create_stack_instances,
        "update_stack_instances": _update_stack_instances,
        "delete_stack_instances": _delete_stack_instances,
        "list_stack_instances": _list_stack_instances,
        "describe_stack_instance": _describe_stack_instance,
        "describe_stack_set_operation": _describe_stack_set_operation,
        "list_stack_set_operations": _list_stack_set_operations,
        "list_stack_set_operation_results": _list_stack_set_operation_results,
        "activate_organizations_access": _activate_organizations_access,
        "describe_organizations_access": _describe_organizations_access,
    }.items():
        patches.enter_context(
            mock.patch.object(CloudFormationResponse, name, operation, create=True)
        )
    # moto lets only a few services have delegated administrators; StackSets is one on AWS.
    patches.enter_context(
        mock.patch.object(
            FakeDelegatedAdministrator,
            "SUPPORTED_SERVICES",
            [*FakeDelegatedAdministrator.SUPPORTED_SERVICES, STACK_SETS_SERVICE_PRINCIPAL],
        )
    )
    patches.callback(_RUNNING.clear)
    patches.callback(_SETTINGS.clear)
    return patches.close


# -- request parsing ---------------------------------------------------------------------


def _params(response: CloudFormationResponse) -> dict[str, Any]:
    return dict(response._get_params())


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


def _was_given(response: CloudFormationResponse, name: str) -> bool:
    """Whether the request carries ``name`` at all (an empty list counts as given)."""
    return any(key == name or key.startswith(f"{name}.") for key in response.querystring)


def _given_overrides(response: CloudFormationResponse) -> list[dict[str, Any]] | None:
    """``ParameterOverrides`` as given, or None when the request leaves them out (which
    keeps an existing instance's overrides, where an empty list drops them)."""
    if not _was_given(response, "ParameterOverrides"):
        return None
    raw = response._get_param("ParameterOverrides") or []
    return [dict(p) for p in raw if isinstance(p, Mapping)]


def _preferences(raw: Mapping[str, Any] | None) -> Preferences:
    """``OperationPreferences``, refused as StackSets refuses them."""
    raw = raw or {}
    for count, percentage in (
        ("FailureToleranceCount", "FailureTolerancePercentage"),
        ("MaxConcurrentCount", "MaxConcurrentPercentage"),
    ):
        if raw.get(count) not in (None, "") and raw.get(percentage) not in (None, ""):
            raise ValidationError(
                message=f"You must specify either {count} or {percentage}, but not both."
            )
    region_concurrency = str(raw.get("RegionConcurrencyType") or "SEQUENTIAL")
    if region_concurrency not in _REGION_CONCURRENCY:
        raise ValidationError(
            message=(
                f"1 validation error detected: Value '{region_concurrency}' at "
                "'operationPreferences.regionConcurrencyType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [SEQUENTIAL, PARALLEL]"
            )
        )
    mode = str(raw.get("ConcurrencyMode") or "STRICT_FAILURE_TOLERANCE")
    if mode not in _CONCURRENCY_MODES:
        raise ValidationError(
            message=(
                f"1 validation error detected: Value '{mode}' at "
                "'operationPreferences.concurrencyMode' failed to satisfy constraint: "
                "Member must satisfy enum value set: "
                "[STRICT_FAILURE_TOLERANCE, SOFT_FAILURE_TOLERANCE]"
            )
        )
    preferences = Preferences(
        region_order=tuple(raw.get("RegionOrder") or ()),
        region_concurrency=region_concurrency,
        concurrency_mode=mode,
        failure_tolerance_count=_int(raw.get("FailureToleranceCount")),
        failure_tolerance_percentage=_int(raw.get("FailureTolerancePercentage")),
        max_concurrent_count=_int(raw.get("MaxConcurrentCount")),
        max_concurrent_percentage=_int(raw.get("MaxConcurrentPercentage")),
    )
    for name, value, low, high in (
        ("failureToleranceCount", preferences.failure_tolerance_count, 0, None),
        ("failureTolerancePercentage", preferences.failure_tolerance_percentage, 0, 100),
        ("maxConcurrentCount", preferences.max_concurrent_count, 1, None),
        ("maxConcurrentPercentage", preferences.max_concurrent_percentage, 1, 100),
    ):
        if value is not None and (value < low or (high is not None and value > high)):
            bound = (
                f"greater than or equal to {low}"
                if value < low
                else f"less than or equal to {high}"
            )
            raise ValidationError(
                message=(
                    f"1 validation error detected: Value '{value}' at "
                    f"'operationPreferences.{name}' failed to satisfy constraint: "
                    f"Member must have value {bound}"
                )
            )
    return preferences


def _call_as(response: CloudFormationResponse) -> str:
    call_as = str(response._get_param("CallAs") or "SELF")
    if call_as not in ("SELF", "DELEGATED_ADMIN"):
        raise ValidationError(
            message=(
                f"1 validation error detected: Value '{call_as}' at 'callAs' failed to "
                "satisfy constraint: Member must satisfy enum value set: [SELF, DELEGATED_ADMIN]"
            )
        )
    return call_as


# -- the organization --------------------------------------------------------------------


def _organization_of(account_id: str, partition: str, call_as: str) -> OrganizationsBackend:
    """The organization a SERVICE_MANAGED StackSet of this caller deploys into."""
    own = organizations_backends[account_id][partition]
    if call_as == "SELF":
        if own.org is None:
            raise ValidationError(
                message="You must be the management account of an organization "
                "(or call as its delegated administrator) to operate a service managed stack set"
            )
        management = own
    else:
        master = organizations_backends.master_accounts.get(account_id)
        management = organizations_backends[master[0]][master[1]] if master else own
        admin = next((a for a in management.admins if a.account.id == account_id), None)
        if (
            management.org is None
            or admin is None
            or (STACK_SETS_SERVICE_PRINCIPAL not in admin.services)
        ):
            raise ValidationError(
                message=f"Account {account_id} is not registered as a delegated administrator "
                "for CloudFormation StackSets"
            )
    trusted = {s["ServicePrincipal"] for s in management.services}
    if STACK_SETS_SERVICE_PRINCIPAL not in trusted:
        raise ValidationError(
            message="You must enable organizations access to operate a service managed stack set"
        )
    return management


def _accounts_under(org: OrganizationsBackend, ou_id: str) -> list[str]:
    """Accounts in an OU (or the root) and every OU below it, the management account excepted."""
    assert org.org is not None  # _organization_of checked it
    if ou_id != org.org.root_id:
        try:
            org.get_organizational_unit_by_id(ou_id)
        except Exception:
            raise ValidationError(
                message=f"OrganizationalUnitId {ou_id} does not exist in the organization"
            ) from None
    units = {ou_id}
    grew = True
    while grew:
        below = {ou.id for ou in org.ou if ou.parent_id in units}
        grew = not below <= units
        units |= below
    management = org.org.master_account_id
    return [
        a.id
        for a in org.accounts
        if a.parent_id in units and a.id != management and a.status == "ACTIVE"
    ]


def _targets(
    stack_set: StackSet,
    response: CloudFormationResponse,
    *,
    existing_only: bool,
) -> list[Target]:
    """The accounts and regions a request names, resolved as StackSets resolves them."""
    regions = list(response._get_param("Regions", []) or [])
    accounts = list(response._get_param("Accounts", []) or [])
    deployment = dict(_params(response).get("DeploymentTargets") or {})
    reached: list[tuple[str, str | None]] = []
    if stack_set.permission_model == "SERVICE_MANAGED":
        ou_ids = list(deployment.get("OrganizationalUnitIds") or [])
        if not ou_ids:
            if not deployment:
                raise ValidationError(
                    message="StackSets with SERVICE_MANAGED permission model can only have "
                    "OrganizationalUnit as target"
                )
            raise ValidationError(message="OrganizationalUnitIds are required")
        for ou_id in ou_ids:
            if not re.fullmatch(r"ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}", ou_id):
                raise ValidationError(
                    message=f"1 validation error detected: Value '[{ou_id}]' at "
                    "'deploymentTargets.organizationalUnitIds' failed to satisfy constraint: "
                    "Member must satisfy regular expression pattern: "
                    "^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$"
                )
        named = list(deployment.get("Accounts") or [])
        account_filter = str(deployment.get("AccountFilterType") or "NONE")
        if account_filter not in _ACCOUNT_FILTERS:
            raise ValidationError(
                message=f"1 validation error detected: Value '{account_filter}' at "
                "'deploymentTargets.accountFilterType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [NONE, UNION, INTERSECTION, DIFFERENCE]"
            )
        if named and account_filter == "NONE":
            raise ValidationError(
                message="AccountFilterType should be specified when both OrganizationalUnitIds "
                "and Accounts are provided"
            )
        org = _settings(stack_set).organization
        assert org is not None  # CreateStackSet found it for SERVICE_MANAGED
        in_units = [(a, ou) for ou in ou_ids for a in _accounts_under(org, ou)]
        if account_filter == "INTERSECTION":
            reached = [(a, ou) for a, ou in in_units if a in named]
        elif account_filter == "DIFFERENCE":
            reached = [(a, ou) for a, ou in in_units if a not in named]
        else:
            reached = list(in_units)
            if account_filter == "UNION":
                members = {a.id for a in org.accounts}
                for account in named:
                    if account not in members:
                        raise ValidationError(
                            message=f"Account {account} is not a member of the organization"
                        )
                    reached.append((account, None))
    else:
        if deployment.get("OrganizationalUnitIds"):
            raise ValidationError(
                message="StackSets with SELF_MANAGED permission model can only have accounts "
                "as target"
            )
        reached = [(a, None) for a in [*accounts, *(deployment.get("Accounts") or [])]]
    if not regions:
        raise ValidationError(message="Regions cannot be empty")
    seen: dict[tuple[str, str], Target] = {}
    for region in regions:
        for account, ou in reached:
            seen.setdefault((account, region), Target(account, region, ou))
    targets = list(seen.values())
    if existing_only:
        for target in targets:
            if _instance(stack_set, target) is None:
                raise StackInstanceNotFound()
    return targets


# -- instances and stacks ----------------------------------------------------------------


def _instances(stack_set: StackSet) -> list[StackSetInstance]:
    # moto's own list, so DeleteStackSet still refuses a StackSet with instances.
    return cast(list[StackSetInstance], stack_set.instances.stack_instances)


def _settings(stack_set: StackSet) -> StackSetSettings:
    return _SETTINGS.setdefault(stack_set.id, StackSetSettings())


def _instance(stack_set: StackSet, target: Target) -> StackSetInstance | None:
    return next(
        (
            i
            for i in _instances(stack_set)
            if i.account_id == target.account_id and i.region_name == target.region_name
        ),
        None,
    )


def _template(stack_set: StackSet) -> dict[str, Any]:
    body = stack_set.template
    try:
        return dict(json.loads(body))
    except ValueError:
        import yaml

        return dict(yaml.safe_load(body))


def parameter_violation(template: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """CloudFormation's refusal of a parameter value that breaks its template's constraint."""
    for key, slot in (template.get("Parameters") or {}).items():
        if key not in values or values[key] is None:
            if "Default" not in slot:
                return f"Parameters: [{key}] must have values"
            continue
        value = str(values[key])
        allowed = slot.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            return f"Parameter '{key}' must be one of AllowedValues"
        pattern = slot.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            description = slot.get("ConstraintDescription")
            if description:
                return f"Parameter {key} failed to satisfy constraint: {description}"
            return f"Parameter '{key}' must match pattern {pattern}"
        if "MaxLength" in slot and len(value) > int(slot["MaxLength"]):
            return f"Parameter '{key}' must contain at most {slot['MaxLength']} characters"
        if "MinLength" in slot and len(value) < int(slot["MinLength"]):
            return f"Parameter '{key}' must contain at least {slot['MinLength']} characters"
        if slot.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                return f"Parameter '{key}' must be a number"
            if "MinValue" in slot and number < float(slot["MinValue"]):
                return f"Parameter '{key}' must be a number not less than {slot['MinValue']}"
            if "MaxValue" in slot and number > float(slot["MaxValue"]):
                return f"Parameter '{key}' must be a number not greater than {slot['MaxValue']}"
    return None


def _stack_parameters(stack_set: StackSet, instance: StackSetInstance) -> dict[str, str]:
    return {**dict(stack_set.parameters or {}), **instance.parameter_overrides}


def _live_stack(instance: StackSetInstance) -> Any:
    if instance.stack_id is None:
        return None
    backend = cloudformation_backends[instance.account_id][instance.region_name]
    stack = backend.stacks.get(instance.stack_id)
    if stack is None or stack.status in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        return None
    return stack


def _reason(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return f"{getattr(error, 'code', type(error).__name__)}: {message}"[:1024]


def _deploy(stack_set: StackSet, instance: StackSetInstance) -> str | None:
    """Create or update the instance's stack; the failure's reason, or None."""
    template = _template(stack_set)
    parameters = _stack_parameters(stack_set, instance)
    violation = parameter_violation(template, parameters)
    if violation is not None:
        return violation
    backend = cloudformation_backends[instance.account_id][instance.region_name]
    stack = _live_stack(instance)
    if stack is not None:
        try:
            backend.update_stack(
                name=stack.stack_id,
                template=stack_set.template,
                role_arn=None,
                parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                tags=None,
            )
        except Exception as error:
            stack._add_stack_event(
                "UPDATE_ROLLBACK_COMPLETE", resource_status_reason=_reason(error)
            )
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
            return _reason(error)
        return None
    if instance.stack_id is not None:
        # A stack that failed to create is replaced, as StackSets retries a failed instance.
        with contextlib.suppress(Exception):
            backend.delete_stack(instance.stack_id)
    name = f"StackSet-{stack_set.name}-{uuid.uuid4()}"
    try:
        stack = backend.create_stack(name=name, template=stack_set.template, parameters=parameters)
    except Exception as error:
        failed = next((s for s in backend.stacks.values() if s.name == name), None)
        if failed is not None:
            instance.stack_id = failed.stack_id
            roll_back_failed_create(failed, error)
        return _reason(error)
    instance.stack_id = stack.stack_id
    if stack.status not in ("CREATE_COMPLETE", "CREATE_IN_PROGRESS"):
        return f"Stack {name} ended in {stack.status}"
    return None


def _remove(instance: StackSetInstance, *, retain_stack: bool) -> str | None:
    """Delete the instance's stack unless retained; the failure's reason, or None."""
    if retain_stack or instance.stack_id is None:
        return None
    backend = cloudformation_backends[instance.account_id][instance.region_name]
    if instance.stack_id not in backend.stacks:
        return None
    backend.delete_stack(instance.stack_id)
    stack = backend.stacks.get(instance.stack_id)
    if stack is not None and stack.status == "DELETE_FAILED":
        reasons = [
            e.resource_status_reason for e in stack.events if e.resource_status == "DELETE_FAILED"
        ]
        return str(reasons[-1] if reasons else "The stack failed to delete")
    return None


# -- operations --------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(stack_set: StackSet) -> Any:
    with _RUNNING_GUARD:
        lock = _RUNNING.setdefault(stack_set.id, threading.Lock())
    if not lock.acquire(blocking=False):
        raise OperationInProgressException(
            f"Another Operation on StackSet {stack_set.arn} is in progress"
        )
    try:
        yield
    finally:
        lock.release()


def _run(
    stack_set: StackSet,
    response: CloudFormationResponse,
    action: str,
    targets: list[Target],
    act: Callable[[Target, str], str | None],
    *,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Run one operation over its targets with its preferences; its id."""
    preferences = _preferences(_params(response).get("OperationPreferences"))
    operation_id = str(response._get_param("OperationId") or uuid.uuid4())
    if any(o["OperationId"] == operation_id for o in stack_set.operations):
        raise OperationIdAlreadyExistsException(f"The operation ID {operation_id} already exists")
    outcomes = [Outcome(t) for t in targets]
    operation: dict[str, Any] = {
        "OperationId": operation_id,
        "StackSetId": stack_set.id,
        "Action": action,
        "Status": "RUNNING",
        "CreationTimestamp": utcnow(),
        "OperationPreferences": preferences.as_dict(),
        "AdministrationRoleARN": stack_set.administration_role_arn,
        "ExecutionRoleName": stack_set.execution_role_name,
        "Outcomes": outcomes,
        **(extra or {}),
    }
    deployment = _params(response).get("DeploymentTargets")
    if deployment:
        operation["DeploymentTargets"] = deployment
    stack_set.operations.append(operation)
    regions = list(dict.fromkeys([*preferences.region_order, *(t.region_name for t in targets)]))
    stopped_in: str | None = None
    for region in regions:
        in_region = [o for o in outcomes if o.target.region_name == region]
        if stopped_in is not None and preferences.region_concurrency == "SEQUENTIAL":
            break
        tolerance = preferences.tolerance(len(in_region))
        failures = 0
        pending = list(in_region)
        while pending:
            batch_size = preferences.concurrency(len(in_region))
            if preferences.concurrency_mode == "STRICT_FAILURE_TOLERANCE":
                batch_size = max(1, min(batch_size, tolerance + 1 - failures))
            batch, pending = pending[:batch_size], pending[batch_size:]
            for outcome in batch:
                outcome.status = "RUNNING"
                outcome.reason = act(outcome.target, operation_id)
                outcome.status = "FAILED" if outcome.reason else "SUCCEEDED"
                failures += outcome.reason is not None
            if failures > tolerance:
                stopped_in = stopped_in or region
                break
    for outcome in outcomes:
        if outcome.status == "PENDING":
            outcome.status = "CANCELLED"
            outcome.reason = "Cancelled since failure tolerance has exceeded"
            # Not attempted: the instance is no longer up to date with what was asked.
            instance = _instance(stack_set, outcome.target)
            if instance is not None:
                instance.last_operation_id = operation_id
                instance.status = "OUTDATED"
                instance.detailed_status = "CANCELLED"
                instance.status_reason = outcome.reason
    failed = sum(o.status == "FAILED" for o in outcomes)
    operation["StatusDetails"] = {"FailedStackInstancesCount": failed}
    operation["EndTimestamp"] = utcnow()
    if stopped_in is not None:
        operation["Status"] = "FAILED"
        operation["StatusReason"] = (
            f"The operation exceeded the failure tolerance in region {stopped_in}: "
            f"{failed} stack instance(s) failed"
        )
    else:
        operation["Status"] = "SUCCEEDED"
    return operation_id


def _deploy_instance(
    stack_set: StackSet, target: Target, operation_id: str, overrides: list[dict[str, Any]] | None
) -> str | None:
    instance = _instance(stack_set, target)
    if instance is None:
        instance = StackSetInstance(
            stack_set_id=stack_set.id,
            account_id=target.account_id,
            region_name=target.region_name,
            organizational_unit_id=target.organizational_unit_id,
        )
        _instances(stack_set).append(instance)
    if overrides is not None:
        instance.parameter_overrides = _apply_overrides(instance.parameter_overrides, overrides)
    instance.last_operation_id = operation_id
    instance.detailed_status = "RUNNING"
    reason = _deploy(stack_set, instance)
    instance.status = "OUTDATED" if reason else "CURRENT"
    instance.detailed_status = "FAILED" if reason else "SUCCEEDED"
    instance.status_reason = reason
    return reason


def _apply_overrides(current: Mapping[str, str], given: list[dict[str, Any]]) -> dict[str, str]:
    """AWS's rule: a listed key takes its value (or keeps it with UsePreviousValue);
    a key left out goes back to the StackSet's value."""
    result: dict[str, str] = {}
    for parameter in given:
        key = str(parameter["ParameterKey"])
        if _true(parameter.get("UsePreviousValue")):
            if key in current:
                result[key] = current[key]
        else:
            result[key] = str(parameter.get("ParameterValue", ""))
    return result


# -- the API -----------------------------------------------------------------------------


def _stack_set(response: CloudFormationResponse) -> StackSet:
    stack_set: StackSet = response.cloudformation_backend.describe_stack_set(
        response._get_param("StackSetName")
    )
    return stack_set


_original_create_stack_set = CloudFormationResponse.create_stack_set


def _create_stack_set(self: CloudFormationResponse) -> ActionResult:
    call_as = _call_as(self)
    organization = None
    if self._get_param("PermissionModel") == "SERVICE_MANAGED":
        organization = _organization_of(self.current_account, self.partition, call_as)
    result = _original_create_stack_set(self)
    stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
    managed = _params(self).get("ManagedExecution") or {}
    auto = _params(self).get("AutoDeployment")
    _SETTINGS[stack_set.id] = StackSetSettings(
        organization=organization,
        managed_execution=_true(managed.get("Active")),
        auto_deployment=(
            {
                "Enabled": _true(auto.get("Enabled")),
                "RetainStacksOnAccountRemoval": _true(auto.get("RetainStacksOnAccountRemoval")),
            }
            if auto
            else None
        ),
    )
    return result


def _describe_stack_set(self: CloudFormationResponse) -> ActionResult:
    stack_set = _stack_set(self)
    described: dict[str, Any] = {
        "StackSetName": stack_set.name,
        "StackSetId": stack_set.id,
        "StackSetARN": stack_set.arn,
        "Description": stack_set.description,
        "Status": stack_set.status,
        "TemplateBody": stack_set.template,
        # moto's serializer turns these two dicts into AWS's lists.
        "Parameters": dict(stack_set.parameters or {}),
        "Tags": dict(stack_set.tags or {}),
        "AdministrationRoleARN": stack_set.administration_role_arn,
        "ExecutionRoleName": stack_set.execution_role_name,
        "PermissionModel": stack_set.permission_model,
        "ManagedExecution": {"Active": _settings(stack_set).managed_execution},
    }
    auto = _settings(stack_set).auto_deployment
    if auto is not None:
        described["AutoDeployment"] = auto
    units = sorted(
        {i.organizational_unit_id for i in _instances(stack_set) if i.organizational_unit_id}
    )
    if units:
        described["OrganizationalUnitIds"] = units
    return ActionResult({"StackSet": {k: v for k, v in described.items() if v is not None}})


def _create_stack_instances(self: CloudFormationResponse) -> ActionResult:
    _call_as(self)
    stack_set = _stack_set(self)
    with _exclusive(stack_set):
        targets = _targets(stack_set, self, existing_only=False)
        overrides = _given_overrides(self)
        operation_id = _run(
            stack_set,
            self,
            "CREATE",
            targets,
            lambda target, op: _deploy_instance(stack_set, target, op, overrides),
        )
    return ActionResult({"OperationId": operation_id})


def _update_stack_instances(self: CloudFormationResponse) -> ActionResult:
    _call_as(self)
    stack_set = _stack_set(self)
    with _exclusive(stack_set):
        targets = _targets(stack_set, self, existing_only=True)
        given = _given_overrides(self)
        operation_id = _run(
            stack_set,
            self,
            "UPDATE",
            targets,
            lambda target, op: _deploy_instance(stack_set, target, op, given),
        )
    return ActionResult({"OperationId": operation_id})


_original_update_stack_set = CloudFormationResponse.update_stack_set


def _update_stack_set(self: CloudFormationResponse) -> ActionResult:
    """moto's UpdateStackSet (template, parameters, roles), then every instance (or the
    accounts and regions named) updated to it, as one operation."""
    _call_as(self)
    stack_set = _stack_set(self)
    with _exclusive(stack_set):
        named = bool(self._get_param("Regions"))
        targets = (
            _targets(stack_set, self, existing_only=True)
            if named
            else [
                Target(i.account_id, i.region_name, i.organizational_unit_id)
                for i in _instances(stack_set)
            ]
        )
        operations_before = len(stack_set.operations)
        # moto's own update records a SUCCEEDED operation of its own: replaced by ours.
        with mock.patch.object(StackSet, "update_instances", lambda *a, **k: None):
            _original_update_stack_set(self)
        del stack_set.operations[operations_before:]
        operation_id = _run(
            stack_set,
            self,
            "UPDATE",
            targets,
            lambda target, op: _deploy_instance(stack_set, target, op, None),
        )
    return ActionResult({"OperationId": operation_id})


def _delete_stack_instances(self: CloudFormationResponse) -> ActionResult:
    _call_as(self)
    stack_set = _stack_set(self)
    retain = _true(self._get_param("RetainStacks"))
    with _exclusive(stack_set):
        targets = [
            t for t in _targets(stack_set, self, existing_only=False) if _instance(stack_set, t)
        ]

        def delete(target: Target, operation_id: str) -> str | None:
            instance = _instance(stack_set, target)
            if instance is None:
                return None
            instance.last_operation_id = operation_id
            reason = _remove(instance, retain_stack=retain)
            if reason is None:
                _instances(stack_set).remove(instance)
            else:
                instance.status = "INOPERABLE"
                instance.detailed_status = "INOPERABLE"
                instance.status_reason = reason
            return reason

        operation_id = _run(
            stack_set, self, "DELETE", targets, delete, extra={"RetainStacks": retain}
        )
    return ActionResult({"OperationId": operation_id})


def _list_stack_instances(self: CloudFormationResponse) -> ActionResult:
    stack_set = _stack_set(self)
    filters = {
        str(f.get("Name")): str(f.get("Values"))
        for f in self._get_param("Filters", []) or []
        if isinstance(f, Mapping)
    }
    account = self._get_param("StackInstanceAccount")
    region = self._get_param("StackInstanceRegion")
    summaries = [
        i.summary()
        for i in _instances(stack_set)
        if (account is None or i.account_id == account)
        and (region is None or i.region_name == region)
        and ("DETAILED_STATUS" not in filters or i.detailed_status == filters["DETAILED_STATUS"])
        and (
            "LAST_OPERATION_ID" not in filters
            or i.last_operation_id == filters["LAST_OPERATION_ID"]
        )
    ]
    return ActionResult({"Summaries": summaries})


def _describe_stack_instance(self: CloudFormationResponse) -> ActionResult:
    stack_set = _stack_set(self)
    instance = _instance(
        stack_set,
        Target(self._get_param("StackInstanceAccount"), self._get_param("StackInstanceRegion")),
    )
    if instance is None:
        raise StackInstanceNotFound()
    return ActionResult({"StackInstance": instance.to_dict()})


def _operation(response: CloudFormationResponse) -> tuple[StackSet, dict[str, Any]]:
    stack_set = _stack_set(response)
    operation_id = response._get_param("OperationId")
    operation = next((o for o in stack_set.operations if o["OperationId"] == operation_id), None)
    if operation is None:
        raise CloudFormationError(
            "OperationNotFoundException", f"Operation {operation_id} not found"
        )
    return stack_set, operation


def _shown(operation: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in operation.items() if k != "Outcomes"}


def _describe_stack_set_operation(self: CloudFormationResponse) -> ActionResult:
    _, operation = _operation(self)
    return ActionResult({"StackSetOperation": _shown(operation)})


def _list_stack_set_operations(self: CloudFormationResponse) -> ActionResult:
    stack_set = _stack_set(self)
    return ActionResult({"Summaries": [_shown(o) for o in reversed(stack_set.operations)]})


def _list_stack_set_operation_results(self: CloudFormationResponse) -> ActionResult:
    _, operation = _operation(self)
    outcomes: list[Outcome] = operation.get("Outcomes", [])
    return ActionResult({"Summaries": [o.result() for o in outcomes]})


def _activate_organizations_access(self: CloudFormationResponse) -> ActionResult:
    """CloudFormation's switch for StackSets' trusted access (management account only)."""
    backend = organizations_backends[self.current_account][self.partition]
    if backend.org is None:
        raise ValidationError(
            message="You must be the management account of an organization to activate "
            "organizations access"
        )
    backend.enable_aws_service_access(ServicePrincipal=STACK_SETS_SERVICE_PRINCIPAL)
    return EmptyResult()


def _describe_organizations_access(self: CloudFormationResponse) -> ActionResult:
    try:
        _organization_of(self.current_account, self.partition, _call_as(self))
    except ValidationError:
        return ActionResult({"Status": "DISABLED"})
    return ActionResult({"Status": "ENABLED"})
