"""What moto's IAM gets wrong for IAM audit tools, and the fixes.

Each fix corrects moto (pinned 5.2.5) toward IAM's documented behaviour, so
tools such as cloudsplaining and parliament, which read a whole account with
GetAccountAuthorizationDetails, work against the embedded accounts:

* **Inline policies from a template.** A role, user or group made by
  CloudFormation (``Policies``, or ``AWS::IAM::Policy``) keeps its inline
  policy documents as parsed JSON where moto's API keeps text. Every answer
  that URL-encodes them then raises (``quote_from_bytes() expected bytes``):
  GetAccountAuthorizationDetails answered HTTP 500 with an HTML page in any
  account with a deployed stack. IAM keeps a policy document as its JSON text;
  here a parsed document is stored as JSON text when it is put.
* **Pagination.** GetAccountAuthorizationDetails returns at most ``MaxItems``
  entries (100 by default) across its user, group, role and policy lists,
  with ``IsTruncated`` and a ``Marker`` for the next page. moto ignores
  ``MaxItems`` and ``Marker`` and returns everything in one page, so a client
  could not be shown to follow the pages it gets on AWS.
* **A role's stack update.** moto's ``AWS::IAM::Role`` update keeps the
  role's tags and trust policy as they were and sets ``MaxSessionDuration``
  from the wrong property (``RoleDescription``, else 3600). CloudFormation
  applies the template's ``Tags`` (a tenant's cost-allocation tags),
  ``AssumeRolePolicyDocument`` and ``MaxSessionDuration``; here so does moto.
* **Managed policies in the answer.** moto's entries lack ``PolicyName`` and
  ``PolicyId``, which audit tools key their findings by; here each carries
  them, as IAM's ``ManagedPolicyDetail`` does.
* **CloudFormation deleting a role.** moto deletes every inline policy of the
  role first, so a role with a policy put beside the stack (``tenantctl block``,
  the limit enforcer's downgrade) was deleted without a word. CloudFormation
  deletes only the inline policies of the role's own ``Policies`` property (an
  ``AWS::IAM::Policy`` is its own resource, deleted before the role by
  dependency), and IAM refuses the rest: ``DeleteConflict``, "Cannot delete
  entity, must delete policies first." Here the deletion fails with that error.
  Deleting the stack then ends in DELETE_FAILED, the stack kept with IAM's
  message in its events, and a later DeleteStack retries, as on AWS (moto
  dropped the stack from the account and answered DeleteStack with IAM's
  error). A stack update that removes such a role fails the update; AWS would
  finish it and leave the role behind (a DELETE_FAILED event in its clean-up),
  the same mistake, only quieter.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.cloudformation.models import CloudFormationBackend, Event
from moto.core.responses import ActionResult
from moto.iam.exceptions import DeleteConflictException, NotFoundException, ValidationError
from moto.iam.models import Group, Role, User, iam_backends
from moto.iam.responses import IamResponse
from moto.utilities.utils import get_partition

# IAM's default page size for GetAccountAuthorizationDetails.
DEFAULT_MAX_ITEMS = 100
# The answer's lists, in the order IAM fills its pages.
_DETAIL_LISTS = (
    ("UserDetailList", "users"),
    ("GroupDetailList", "groups"),
    ("RoleDetailList", "roles"),
    ("Policies", "managed_policies"),
)


def install() -> Callable[[], None]:
    """Install every IAM fix; returns a function that undoes them."""
    patches = contextlib.ExitStack()
    for owner in (Role, User, Group):
        patches.enter_context(
            mock.patch.object(owner, "put_policy", _put_policy_as_text(owner.put_policy))
        )
    patches.enter_context(
        mock.patch.object(
            IamResponse, "get_account_authorization_details", _authorization_details_page
        )
    )
    patches.enter_context(
        mock.patch.object(Role, "update_from_cloudformation_json", classmethod(_role_cfn_update))
    )
    patches.enter_context(
        mock.patch.object(
            Role, "delete_from_cloudformation_json", classmethod(_delete_template_role)
        )
    )
    patches.enter_context(
        mock.patch.object(
            CloudFormationBackend,
            "delete_stack",
            _delete_stack_or_fail(CloudFormationBackend.delete_stack),
        )
    )
    return patches.close


_original_role_cfn_update = Role.update_from_cloudformation_json
# IAM's default when a template gives no MaxSessionDuration.
DEFAULT_MAX_SESSION_SECONDS = 3600


def _role_cfn_update(
    cls: Any,
    /,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Any:
    """moto's role update, then what it leaves out: tags, trust policy, session duration."""
    role = _original_role_cfn_update(
        original_resource, new_resource_name, cloudformation_json, account_id, region_name
    )
    properties = cloudformation_json["Properties"]
    role.tags = [
        {"Key": str(t["Key"]), "Value": str(t["Value"])} for t in properties.get("Tags", [])
    ]
    trust = properties.get("AssumeRolePolicyDocument")
    if trust is not None:
        role.assume_role_policy_document = trust if isinstance(trust, str) else json.dumps(trust)
    # moto keeps it as the text its XML answer shows.
    role.max_session_duration = str(
        properties.get("MaxSessionDuration", DEFAULT_MAX_SESSION_SECONDS)
    )
    return role


def _put_policy_as_text(original: Callable[..., None]) -> Callable[..., None]:
    """``put_policy`` that stores a parsed policy document as its JSON text, as IAM does."""

    def put_policy(self: Any, policy_name: str, policy_json: Any) -> None:
        if not isinstance(policy_json, str):
            policy_json = json.dumps(policy_json)
        original(self, policy_name, policy_json)

    return put_policy


def _authorization_details_page(self: Any) -> ActionResult:
    """GetAccountAuthorizationDetails, one page of at most ``MaxItems`` entries."""
    details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
    details = {
        **details,
        "managed_policies": [_policy_detail(p) for p in details["managed_policies"]],
    }
    entries = [(key, item) for key, source in _DETAIL_LISTS for item in details[source]]
    max_items = int(self._get_param("MaxItems") or DEFAULT_MAX_ITEMS)
    start = _offset_of(self._get_param("Marker"))
    end = start + max_items
    page = entries[start:end]
    result: dict[str, Any] = {
        key: [item for k, item in page if k == key] for key, _ in _DETAIL_LISTS
    }
    result["IsTruncated"] = end < len(entries)
    if result["IsTruncated"]:
        result["Marker"] = base64.urlsafe_b64encode(str(end).encode()).decode()
    return ActionResult(result)


def _policy_detail(policy: Any) -> dict[str, Any]:
    """IAM's ``ManagedPolicyDetail`` of one of moto's managed policies."""
    return {
        "PolicyName": policy.name,
        "PolicyId": policy.id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": policy.attachment_count,
        "IsAttachable": policy.is_attachable,
        "Description": policy.description,
        "CreateDate": policy.create_date,
        "UpdateDate": policy.update_date,
        "PolicyVersionList": policy.policy_version_list,
    }


def _offset_of(marker: str | None) -> int:
    """Where the page a ``Marker`` asks for starts; IAM's ValidationError for a made-up one."""
    if not marker:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(marker.encode()).decode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError("Invalid Marker.") from None


def _delete_template_role(
    cls: type[Role],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> None:
    """Delete a stack's role as CloudFormation does: only the inline policies of its own
    ``Policies`` go with it; any other makes IAM refuse (``DeleteConflict``)."""
    backend = iam_backends[account_id][get_partition(region_name)]
    try:
        role = backend.get_role(resource_name)
    except NotFoundException:
        return  # deleted already: CloudFormation counts that as deleted
    own = {
        str(p["PolicyName"])
        for p in cloudformation_json.get("Properties", {}).get("Policies", [])
        if isinstance(p, dict) and isinstance(p.get("PolicyName"), str)
    }
    # CloudFormation deletes the role's own inline policies, then IAM refuses the role
    # while any other is left.
    for name in own & set(role.policies):
        role.delete_policy(name)
    if role.policies:
        raise DeleteConflictException("Cannot delete entity, must delete policies first.")
    # As moto does: out of its instance profiles, and no longer named by a template's
    # AWS::IAM::Policy (which would otherwise fail detaching from a deleted role).
    for profile in backend.instance_profiles.values():
        profile.delete_role(role_name=resource_name)
    for policy in backend.inline_policies.values():
        policy.role_names = [n for n in policy.role_names if n != resource_name]
    # IAM's own DeleteConflict for a managed policy still attached.
    backend.delete_role(resource_name)


def _delete_stack_or_fail(original: Callable[..., None]) -> Callable[..., None]:
    """DeleteStack that keeps a stack whose role IAM would not delete, in DELETE_FAILED."""

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next(
            (s for s in self.stacks.values() if s.name == name_or_stack_id), None
        )
        if stack is None:
            original(self, name_or_stack_id)
            return
        try:
            original(self, stack.stack_id)
        except DeleteConflictException as conflict:
            # moto took the stack out of the account before deleting its resources.
            self.stacks[stack.stack_id] = stack
            self.deleted_stacks.pop(stack.stack_id, None)
            _mark_delete_failed(stack, conflict.message)

    return delete_stack


def _mark_delete_failed(stack: Any, message: str) -> None:
    """The events and status CloudFormation leaves after a resource failed to delete."""
    resources = stack.resource_map
    failed = sorted(
        name
        for name, template in resources._resource_json_map.items()
        if name in resources._parsed_resources and template.get("DeletionPolicy") != "Retain"
    )
    for name in failed:
        resource = resources._parsed_resources[name]
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=name,
                physical_resource_id=str(getattr(resource, "physical_resource_id", "")),
                resource_type=resources._resource_json_map[name]["Type"],
                resource_status="DELETE_FAILED",
                resource_status_reason=f"{message} (Service: Iam, Status Code: 409)",
                resource_properties=None,
            )
        )
    listed = ", ".join(failed)
    stack._add_stack_event(
        "DELETE_FAILED",
        resource_status_reason=f"The following resource(s) failed to delete: [{listed}]. ",
    )
    stack.status = "DELETE_FAILED"
