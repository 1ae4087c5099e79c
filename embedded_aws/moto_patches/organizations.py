"""What moto's Organizations lacks for an organization of existing accounts, and the fix.

moto (pinned 5.2.5) only grows an organization with ``CreateAccount``, which
makes a new account with a random id. The embedded cloud's accounts already
exist (one deployer per account, the ids of the registry), and AWS brings an
existing account into an organization with an invitation: the management
account calls ``InviteAccountToOrganization`` and the invited account calls
``AcceptHandshake``. moto has neither (nor any handshake), so here:

* ``InviteAccountToOrganization`` (management account only) opens a handshake
  for an ``ACCOUNT`` target, with AWS's id and ARN shapes; an account already in
  an organization, or already invited, is refused as AWS refuses it;
* ``AcceptHandshake`` by the invited account makes it a member (``JoinedMethod``
  ``INVITED``, placed in the root), so ``MoveAccount``, ``ListAccountsForParent``
  and the members' own ``DescribeOrganization`` work as for a created account;
  unlike ``CreateAccount`` it creates no ``OrganizationAccountAccessRole`` in the
  account, as AWS does not for an invited one;
* ``DescribeHandshake`` and ``DeclineHandshake`` for either party.

``embedded_aws.organization.build_organization`` drives these calls to build an
organization with OUs for tests and the demo.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from unittest import mock

from moto.core.utils import unix_time, utcnow
from moto.organizations import utils as organizations_utils
from moto.organizations.exceptions import (
    AWSOrganizationsNotInUseException,
    OrganizationsClientError,
)
from moto.organizations.models import FakeAccount, OrganizationsBackend, organizations_backends
from moto.organizations.responses import OrganizationsResponse

# An invitation stays open for 15 days on AWS.
_HANDSHAKE_LIFETIME = timedelta(days=15)
_HANDSHAKE_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass
class Handshake:
    """One invitation of an existing account into an organization."""

    id: str
    management_account_id: str
    partition: str
    organization_id: str
    account_id: str
    notes: str | None
    state: str = "OPEN"
    requested: datetime = field(default_factory=utcnow)

    def describe(self) -> dict[str, Any]:
        """The ``Handshake`` structure as Organizations returns it."""
        resources: list[dict[str, Any]] = [
            {"Type": "MASTER_EMAIL", "Value": organizations_utils.MASTER_ACCOUNT_EMAIL},
            {"Type": "MASTER_NAME", "Value": "master"},
            {"Type": "ORGANIZATION_FEATURE_SET", "Value": "ALL"},
        ]
        if self.notes:
            resources.append({"Type": "NOTES", "Value": self.notes})
        return {
            "Id": self.id,
            "Arn": (
                f"arn:{self.partition}:organizations::{self.management_account_id}:"
                f"handshake/{self.organization_id}/invite/{self.id}"
            ),
            "Parties": [
                {"Id": self.organization_id.removeprefix("o-"), "Type": "ORGANIZATION"},
                {"Id": self.account_id, "Type": "ACCOUNT"},
            ],
            "State": self.state,
            "RequestedTimestamp": unix_time(self.requested),
            "ExpirationTimestamp": unix_time(self.requested + _HANDSHAKE_LIFETIME),
            "Action": "INVITE",
            "Resources": [
                {"Type": "ORGANIZATION", "Value": self.organization_id, "Resources": resources}
            ],
        }


# Handshakes of the running cloud, by id (moto keeps no handshake model to hang them on).
_HANDSHAKES: dict[str, Handshake] = {}
_LOCK = threading.Lock()


def install() -> Callable[[], None]:
    """Add the handshake operations to moto's Organizations; returns the undo."""
    _forget_memberships()
    patches = contextlib.ExitStack()
    for name, operation in {
        "invite_account_to_organization": _invite_account_to_organization,
        "accept_handshake": _accept_handshake,
        "decline_handshake": _decline_handshake,
        "describe_handshake": _describe_handshake,
    }.items():
        patches.enter_context(
            mock.patch.object(OrganizationsResponse, name, operation, create=True)
        )
    patches.callback(_forget_memberships)
    return patches.close


def _forget_memberships() -> None:
    """A fresh cloud's accounts belong to no organization.

    moto's reset recreates each account's backend but keeps the backend dict's
    ``master_accounts`` (member account -> its organization's management
    account), so an account that joined an organization in an earlier cloud of
    the same process was refused as "already a member" in the next one.
    """
    _HANDSHAKES.clear()
    organizations_backends.master_accounts.clear()


def _error(code: str, message: str) -> OrganizationsClientError:
    return OrganizationsClientError(code, message)


def _member_of(account_id: str, partition: str) -> tuple[str, str] | None:
    """(management account, partition) of the organization an account belongs to, if any."""
    master = organizations_backends.master_accounts.get(account_id)
    if master is not None:
        return master
    if organizations_backends[account_id][partition].org is not None:
        return account_id, partition
    return None


def _invite_account_to_organization(self: OrganizationsResponse) -> str:
    backend: OrganizationsBackend = self.organizations_backend
    if backend.org is None:
        raise AWSOrganizationsNotInUseException
    target = self._get_param("Target") or {}
    account_id = str(target.get("Id", ""))
    if target.get("Type") != "ACCOUNT" or not account_id.isdigit() or len(account_id) != 12:
        raise _error(
            "InvalidInputException",
            "You provided a value that does not match the required pattern.",
        )
    with _LOCK:
        if _member_of(account_id, backend.partition) is not None:
            raise _error(
                "HandshakeConstraintViolationException",
                "The account is already a member of an organization.",
            )
        if any(h.account_id == account_id and h.state == "OPEN" for h in _HANDSHAKES.values()):
            raise _error(
                "DuplicateHandshakeException",
                "A handshake with the same action and target already exists.",
            )
        handshake = Handshake(
            id="h-" + "".join(secrets.choice(_HANDSHAKE_ID_CHARS) for _ in range(10)),
            management_account_id=backend.account_id,
            partition=backend.partition,
            organization_id=backend.org.id,
            account_id=account_id,
            notes=self._get_param("Notes"),
        )
        _HANDSHAKES[handshake.id] = handshake
    return json.dumps({"Handshake": handshake.describe()})


def _handshake_for(response: OrganizationsResponse) -> Handshake:
    """The handshake the request names, if the caller is one of its parties."""
    handshake = _HANDSHAKES.get(str(response._get_param("HandshakeId", "")))
    caller = response.current_account
    if handshake is None or caller not in (handshake.account_id, handshake.management_account_id):
        raise _error(
            "HandshakeNotFoundException",
            "We can't find a handshake with the HandshakeId that you specified.",
        )
    return handshake


def _accept_handshake(self: OrganizationsResponse) -> str:
    with _LOCK:
        handshake = _handshake_for(self)
        if self.current_account != handshake.account_id:
            raise _error(
                "AccessDeniedException",
                "You don't have permissions to access this resource.",
            )
        if handshake.state != "OPEN":
            raise _error(
                "InvalidHandshakeTransitionException",
                "You can't perform the operation on the handshake in its current state "
                f"{handshake.state}.",
            )
        backend = organizations_backends[handshake.management_account_id][handshake.partition]
        if backend.org is None or backend.org.id != handshake.organization_id:
            raise AWSOrganizationsNotInUseException
        backend.accounts.append(_invited_account(backend, handshake.account_id))
        for policy_id in (
            organizations_utils.DEFAULT_SCP_POLICY_ID,
            organizations_utils.DEFAULT_RCP_POLICY_ID,
        ):
            backend.attach_policy(PolicyId=policy_id, TargetId=handshake.account_id)
        organizations_backends.master_accounts[handshake.account_id] = (
            handshake.management_account_id,
            handshake.partition,
        )
        handshake.state = "ACCEPTED"
    return json.dumps({"Handshake": handshake.describe()})


def _invited_account(backend: OrganizationsBackend, account_id: str) -> FakeAccount:
    """A member account for an existing id. ``FakeAccount()`` would draw a random id and
    create the role AWS creates only in accounts the organization creates itself."""
    org = backend.org
    assert org is not None
    account: Any = FakeAccount.__new__(FakeAccount)
    account.type = "ACCOUNT"
    account.region = org.region
    account.organization_id = org.id
    account.master_account_id = org.master_account_id
    account.create_account_status_id = organizations_utils.make_random_create_account_status_id()
    account.id = account_id
    account.name = account_id
    account.email = f"{account_id}@example.com"
    account.create_time = utcnow()
    account.status = "ACTIVE"
    account.state = "ACTIVE"
    account.joined_method = "INVITED"
    account.parent_id = org.root_id
    account.attached_policies = []
    account.tags = {}
    return cast(FakeAccount, account)


def _decline_handshake(self: OrganizationsResponse) -> str:
    with _LOCK:
        handshake = _handshake_for(self)
        if handshake.state == "OPEN":
            handshake.state = "DECLINED"
    return json.dumps({"Handshake": handshake.describe()})


def _describe_handshake(self: OrganizationsResponse) -> str:
    return json.dumps({"Handshake": _handshake_for(self).describe()})
