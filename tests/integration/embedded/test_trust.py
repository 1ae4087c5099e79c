"""AssumeRole through boto3 against the running embedded cloud: trust is enforced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedCloud
from tests.integration.embedded.conftest import (
    ACME,
    GLOBEX,
    OPS,
    allow,
    create_role,
    policy,
    session_for,
    session_from,
    trust,
)

pytestmark = pytest.mark.xdist_group("embedded-trust")

ACME_EXTERNAL_ID = "acme-5f0c2a9e8b7d4c1e"
GLOBEX_EXTERNAL_ID = "globex-9a1b3c5d7e2f4a6b"


class Roles:
    """ARNs of the product-shaped roles the tests use."""

    acme_invoker = f"arn:aws:iam::{OPS}:role/bedrock-invoker-acme"
    globex_invoker = f"arn:aws:iam::{OPS}:role/bedrock-invoker-globex"
    acme_caller = f"arn:aws:iam::{ACME}:role/bedrock-caller-acme"
    globex_caller = f"arn:aws:iam::{GLOBEX}:role/bedrock-caller-globex"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME, GLOBEX]) as embedded:
        for tenant, account, external_id in (
            ("acme", ACME, ACME_EXTERNAL_ID),
            ("globex", GLOBEX, GLOBEX_EXTERNAL_ID),
        ):
            caller = f"arn:aws:iam::{account}:role/bedrock-caller-{tenant}"
            # The product's trust shape: the tenant account, pinned to the caller role.
            create_role(
                embedded,
                OPS,
                f"bedrock-invoker-{tenant}",
                trust(
                    {"AWS": f"arn:aws:iam::{account}:root"},
                    {
                        "StringEquals": {"sts:ExternalId": external_id},
                        "ArnEquals": {"aws:PrincipalArn": caller},
                    },
                ),
            )
            create_role(
                embedded,
                account,
                f"bedrock-caller-{tenant}",
                trust({"AWS": f"arn:aws:iam::{account}:root"}),
                policy(allow("sts:AssumeRole", [Roles.acme_invoker, Roles.globex_invoker])),
            )
            # Same trust as the caller role, but no permission to assume anything.
            create_role(
                embedded,
                account,
                f"no-permission-{tenant}",
                trust({"AWS": f"arn:aws:iam::{account}:root"}),
            )
        yield embedded


def assume_from(
    cloud: EmbeddedCloud, account: str, caller_role: str, target: str, **kwargs: str
) -> dict[str, str]:
    sts = session_for(cloud, account, caller_role, "acme").client(
        "sts", endpoint_url=cloud.endpoint_url
    )
    return dict(
        sts.assume_role(RoleArn=target, RoleSessionName="acme", **kwargs)["AssumedRoleUser"]
    )


def assert_denied(exc: pytest.ExceptionInfo[ClientError], caller_arn: str, role_arn: str) -> None:
    error = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == (
        f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )


def test_tenant_caller_with_its_external_id_gets_ops_credentials(cloud: EmbeddedCloud) -> None:
    user = assume_from(
        cloud, ACME, Roles.acme_caller, Roles.acme_invoker, ExternalId=ACME_EXTERNAL_ID
    )
    assert user["Arn"] == f"arn:aws:sts::{OPS}:assumed-role/bedrock-invoker-acme/acme"


def test_assumed_credentials_act_in_the_operations_account(cloud: EmbeddedCloud) -> None:
    caller = session_for(cloud, ACME, Roles.acme_caller, "acme")
    sts = caller.client("sts", endpoint_url=cloud.endpoint_url)
    creds = sts.assume_role(
        RoleArn=Roles.acme_invoker, RoleSessionName="acme", ExternalId=ACME_EXTERNAL_ID
    )["Credentials"]
    ops = session_from(creds).client("sts", endpoint_url=cloud.endpoint_url)
    assert ops.get_caller_identity()["Account"] == OPS


@pytest.mark.parametrize(
    "external_id",
    [
        pytest.param("acme-wrong", id="wrong"),
        pytest.param(None, id="missing"),
        pytest.param(ACME_EXTERNAL_ID.upper(), id="wrong-case"),
    ],
)
def test_wrong_or_missing_external_id_is_denied(
    cloud: EmbeddedCloud, external_id: str | None
) -> None:
    kwargs = {"ExternalId": external_id} if external_id else {}
    with pytest.raises(ClientError) as exc:
        assume_from(cloud, ACME, Roles.acme_caller, Roles.acme_invoker, **kwargs)
    assert_denied(
        exc, f"arn:aws:sts::{ACME}:assumed-role/bedrock-caller-acme/acme", Roles.acme_invoker
    )


def test_tenant_cannot_assume_another_tenants_invoker_role(cloud: EmbeddedCloud) -> None:
    # Even with the other tenant's ExternalId (and an identity policy allowing it).
    with pytest.raises(ClientError) as exc:
        assume_from(
            cloud, ACME, Roles.acme_caller, Roles.globex_invoker, ExternalId=GLOBEX_EXTERNAL_ID
        )
    assert_denied(
        exc, f"arn:aws:sts::{ACME}:assumed-role/bedrock-caller-acme/acme", Roles.globex_invoker
    )


def test_other_principal_in_the_tenant_account_is_denied(cloud: EmbeddedCloud) -> None:
    # The acme deployer is an administrator, but the trust policy pins the caller role.
    sts = cloud.client("sts", ACME)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(
            RoleArn=Roles.acme_invoker, RoleSessionName="admin", ExternalId=ACME_EXTERNAL_ID
        )
    assert_denied(exc, cloud.credentials(ACME).user_arn, Roles.acme_invoker)


def test_cross_account_caller_needs_its_own_permission(cloud: EmbeddedCloud) -> None:
    no_permission = f"arn:aws:iam::{ACME}:role/no-permission-acme"
    create_role(cloud, OPS, "trusts-no-permission-role", trust({"AWS": no_permission}))
    target = f"arn:aws:iam::{OPS}:role/trusts-no-permission-role"
    with pytest.raises(ClientError) as exc:
        assume_from(cloud, ACME, no_permission, target)
    assert_denied(exc, f"arn:aws:sts::{ACME}:assumed-role/no-permission-acme/acme", target)


def test_explicit_deny_in_trust_policy_wins(cloud: EmbeddedCloud) -> None:
    document = policy(
        {"Effect": "Allow", "Principal": {"AWS": Roles.acme_caller}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
    )
    create_role(cloud, OPS, "deny-everyone", document)
    target = f"arn:aws:iam::{OPS}:role/deny-everyone"
    with pytest.raises(ClientError) as exc:
        assume_from(cloud, ACME, Roles.acme_caller, target)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_missing_role_is_denied_like_aws(cloud: EmbeddedCloud) -> None:
    target = f"arn:aws:iam::{OPS}:role/does-not-exist"
    with pytest.raises(ClientError) as exc:
        assume_from(cloud, ACME, Roles.acme_caller, target)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_every_decision_is_recorded(cloud: EmbeddedCloud) -> None:
    # Makes its own calls: under xdist the other tests may run in another worker.
    before = len(cloud.assume_role_decisions())
    assume_from(cloud, ACME, Roles.acme_caller, Roles.acme_invoker, ExternalId=ACME_EXTERNAL_ID)
    with pytest.raises(ClientError):
        assume_from(
            cloud, ACME, Roles.acme_caller, Roles.globex_invoker, ExternalId=GLOBEX_EXTERNAL_ID
        )
    # assume_from first assumes the caller role itself; keep the invoker decisions.
    invokers = {Roles.acme_invoker, Roles.globex_invoker}
    decisions = [d for d in cloud.assume_role_decisions()[before:] if d.role_arn in invokers]
    assert [(d.role_arn, d.allowed) for d in decisions] == [
        (Roles.acme_invoker, True),
        (Roles.globex_invoker, False),
    ]
