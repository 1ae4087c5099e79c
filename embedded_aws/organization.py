"""Build an AWS Organization out of the embedded cloud's accounts, through the AWS API.

A test bench helper (tests, the demo, benches), not product code: the product
only reads an organization that already exists. The calls are the ones an
administrator makes on AWS: ``CreateOrganization`` in the management account,
``CreateOrganizationalUnit`` per OU, ``InviteAccountToOrganization`` and, as the
invited account, ``AcceptHandshake`` (``embedded_aws.moto_patches.organizations``),
``MoveAccount`` into its OU, and trusted access for CloudFormation StackSets
(``EnableAWSServiceAccess`` of ``member.org.stacksets.cloudformation.amazonaws.com``),
which SERVICE_MANAGED StackSets need. Optionally a delegated administrator for
StackSets (``RegisterDelegatedAdministrator``).

Usage::

    org = build_organization(
        cloud,
        management_account=OPS,
        organizational_units={"tenants": [ACME], "tenants/eu": [GLOBEX]},
    )
    org.organizational_units["tenants"]  # 'ou-abcd-12345678'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import boto3

from embedded_aws.cloud import AccountCredentials

# The service principal trusted access and delegated administration name for StackSets.
STACK_SETS_SERVICE_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"


class CloudAccounts(Protocol):
    """What the helper needs of a cloud: ``EmbeddedCloud`` and ``process.RunningCloud`` both fit."""

    endpoint_url: str
    region: str

    def credentials(self, account_id: str) -> AccountCredentials: ...


@dataclass(frozen=True)
class Organization:
    """The organization built: its ids, and each OU's id by its path (``"tenants/eu"``)."""

    id: str
    root_id: str
    management_account_id: str
    organizational_units: Mapping[str, str]
    delegated_admin: str | None = None


def organizations_client(cloud: CloudAccounts, account_id: str) -> Any:
    """An Organizations client acting as the account's deployer."""
    creds = cloud.credentials(account_id)
    return boto3.client(
        "organizations",
        endpoint_url=cloud.endpoint_url,
        region_name=cloud.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
    )


def build_organization(
    cloud: CloudAccounts,
    *,
    management_account: str,
    organizational_units: Mapping[str, Iterable[str]],
    outside_accounts: Iterable[str] = (),
    delegated_admin: str | None = None,
) -> Organization:
    """An organization managed by ``management_account`` with the given OUs.

    ``organizational_units`` maps an OU path (parents before children, ``/``
    between levels: ``"tenants"``, ``"tenants/eu"``) to the accounts placed in
    it. ``outside_accounts`` join the organization but stay in the root.
    ``delegated_admin`` (a member) is registered as StackSets' delegated
    administrator, to call StackSets with ``CallAs=DELEGATED_ADMIN``.
    """
    management = organizations_client(cloud, management_account)
    org = management.create_organization(FeatureSet="ALL")["Organization"]
    root_id = management.list_roots()["Roots"][0]["Id"]
    management.enable_aws_service_access(ServicePrincipal=STACK_SETS_SERVICE_PRINCIPAL)
    placed = {a: path for path, accounts in organizational_units.items() for a in accounts}
    members = [*placed, *outside_accounts]
    if delegated_admin is not None:
        members.append(delegated_admin)
    for account in dict.fromkeys(members):
        handshake = management.invite_account_to_organization(
            Target={"Type": "ACCOUNT", "Id": account}
        )["Handshake"]
        organizations_client(cloud, account).accept_handshake(HandshakeId=handshake["Id"])
    ou_ids: dict[str, str] = {}
    for path in organizational_units:
        parent, _, name = path.rpartition("/")
        if parent and parent not in ou_ids:
            raise ValueError(f"OU {path!r}: its parent {parent!r} must come first")
        ou_ids[path] = management.create_organizational_unit(
            ParentId=ou_ids[parent] if parent else root_id, Name=name
        )["OrganizationalUnit"]["Id"]
    for account, path in placed.items():
        management.move_account(
            AccountId=account, SourceParentId=root_id, DestinationParentId=ou_ids[path]
        )
    if delegated_admin is not None:
        management.register_delegated_administrator(
            AccountId=delegated_admin, ServicePrincipal=STACK_SETS_SERVICE_PRINCIPAL
        )
    return Organization(
        id=org["Id"],
        root_id=root_id,
        management_account_id=management_account,
        organizational_units=ou_ids,
        delegated_admin=delegated_admin,
    )
