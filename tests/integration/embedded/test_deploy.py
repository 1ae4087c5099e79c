"""The real CDK CLI bootstraps and deploys into the embedded cloud, one account each."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded_aws import EmbeddedCloud
from tenantctl import fleet
from tenantctl.cdk_runner import StackTarget
from tenantctl.fleet import FleetTarget
from tests.integration.embedded.conftest import ACME, OPS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("embedded-deploy")]
APP_DIR = Path(__file__).parent / "cdk_app"


@pytest.fixture(scope="module")
def cloud() -> Iterator[EmbeddedCloud]:
    with EmbeddedCloud(accounts=[OPS, ACME]) as embedded:
        yield embedded


def test_each_stack_deploys_into_its_own_account_with_its_custom_resource(
    cloud: EmbeddedCloud,
) -> None:
    targets = [FleetTarget(StackTarget(f"Seam-{a}", a, "us-east-1")) for a in (OPS, ACME)]
    with tempfile.TemporaryDirectory() as tmp:
        assembly = Path(tmp) / "cdk.out"
        fleet.synthesize(cloud, assembly, context={"accounts": f"{OPS},{ACME}"}, app_dir=APP_DIR)
        report = fleet.deploy(cloud, targets, assembly, app_dir=APP_DIR)
    assert [r.status for r in report.results] == ["deployed", "deployed"], report.results
    for account in (OPS, ACME):
        cfn = cloud.client("cloudformation", account)
        names = [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
        assert sorted(names) == ["CDKToolkit", f"Seam-{account}"]
        stack = cfn.describe_stacks(StackName=f"Seam-{account}")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert outputs["GreetingOut"] == "hello embedded"
