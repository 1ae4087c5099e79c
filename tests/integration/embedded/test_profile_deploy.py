"""Tenants with application inference profiles, deployed by the real CDK CLI.

acme goes through ``tenantctl.fleet``; initech through two plain ``npx cdk deploy``
runs of the app (operations stack, then customer stack, each with its own
account's credentials), which is what the product card promises a user can do.
Either way the operations stack makes the tagged profiles and publishes their
ARNs in its account, the deployed function reads them there and calls Bedrock
through its profiles, and its role cannot call the base model directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from ruamel.yaml import YAML

from contracts import naming
from contracts.registry import Tenant, TenantRegistry, load_registry
from demo.scenario import invoker_session
from embedded_aws import EmbeddedCloud
from tenantctl.cdk_runner import PROJECT_ROOT, cli_environment, run_cdk
from tenantctl.fleet import deploy_registry
from tests.integration.embedded.conftest import ACME, GLOBEX, HAIKU, OPS, REGION, US_HAIKU_35

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("embedded-profile-deploy"),
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]
MODELS = (HAIKU, US_HAIKU_35)


@dataclass(frozen=True)
class Deployed:
    cloud: EmbeddedCloud
    registry: TenantRegistry
    tenant: Tenant


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    path = tmp_path_factory.mktemp("profiles") / "tenants.yaml"
    initech = {
        "id": "initech",
        "account_id": GLOBEX,
        "region": REGION,
        "external_id": "initech-profiles-0123456789",
        "models": [HAIKU],
        "application_inference_profiles": True,
    }
    YAML().dump(
        {
            "version": 1,
            "operations": {"account_id": OPS, "region": REGION},
            "tenants": [
                {
                    "id": "acme",
                    "account_id": ACME,
                    "region": REGION,
                    "external_id": "acme-profiles-0123456789",
                    "models": list(MODELS),
                    "application_inference_profiles": True,
                    "cost_centre": "CC-4711",
                },
                initech,
            ],
        },
        path,
    )
    registry = load_registry(path)
    with EmbeddedCloud(registry=registry) as cloud:
        report = deploy_registry(cloud, path, tenant_ids=["acme"])
        assert not report.failed, report.failed
        yield Deployed(cloud, registry, registry.tenant("acme"))


def _plain_cdk_deploy(deployed: Deployed, stack: str, account: str, registry: Path) -> None:
    """``npx cdk deploy <stack>`` of the project's app, as a user runs it per account."""
    env = cli_environment(deployed.cloud.env(account, REGION))
    context = ["-c", f"registry={registry}"]
    for key, value in deployed.cloud.cdk_context.items():
        context += ["-c", f"{key}={value}"]
    run_cdk(["bootstrap", f"aws://{account}/{REGION}", *context], env=env, cwd=PROJECT_ROOT)
    run_cdk(["deploy", stack, "--require-approval", "never", *context], env=env, cwd=PROJECT_ROOT)


def _stack(deployed: Deployed, account: str, name: str) -> dict[str, object]:
    cfn = deployed.cloud.client("cloudformation", account)
    return dict(cfn.describe_stacks(StackName=name)["Stacks"][0])


def _profile_arns(deployed: Deployed, tenant_id: str = "acme") -> dict[str, str]:
    """The ARNs the operations account publishes for the tenant's function."""
    ssm = deployed.cloud.client("ssm", OPS)
    name = naming.inference_profiles_parameter_name(tenant_id)
    return dict(json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"]))


def test_the_operations_stack_made_tagged_profiles_and_a_tagged_role(deployed: Deployed) -> None:
    arns = _profile_arns(deployed)
    made = {p.arn: p for p in deployed.cloud.bedrock.application_profiles()}
    for model, arn in arns.items():
        profile = made[arn]
        assert profile.model_id == model
        assert profile.name == naming.application_inference_profile_name("acme", model)
        assert dict(profile.tags) == {"tenant-id": "acme", "cost-centre": "CC-4711"}
    tags = deployed.cloud.client("iam", OPS).list_role_tags(
        RoleName=naming.invoker_role_name("acme")
    )["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"tenant-id": "acme", "cost-centre": "CC-4711"}


def test_the_arns_are_published_in_the_operations_account_not_given_to_the_function(
    deployed: Deployed,
) -> None:
    arns = _profile_arns(deployed)
    assert set(arns) == set(MODELS)
    made = {p.arn for p in deployed.cloud.bedrock.application_profiles()}
    assert set(arns.values()) <= made
    stack = _stack(deployed, ACME, deployed.tenant.stack_name)
    assert not {p["ParameterKey"] for p in stack.get("Parameters") or []} - {"BootstrapVersion"}  # type: ignore[attr-defined]
    config = deployed.cloud.client("lambda", ACME).get_function_configuration(
        FunctionName=deployed.tenant.function_name
    )
    env = config["Environment"]["Variables"]
    assert env["APPLICATION_INFERENCE_PROFILES"] == "true"
    assert "INFERENCE_PROFILE_ARNS" not in env


def test_the_function_calls_each_model_through_its_profile(deployed: Deployed) -> None:
    arns = _profile_arns(deployed)
    cloud = deployed.cloud
    cloud.bedrock.clear_calls()
    for model in MODELS:
        answer = cloud.invoke(
            ACME,
            deployed.tenant.function_name,
            {"prompt": "Hello", "user_id": "alice", "application_id": "app", "model_id": model},
        )
        assert answer["function_error"] is None, answer
        assert answer["payload"]["model_id"] == model, answer["payload"]
    calls = cloud.bedrock.calls()
    assert [(c.model_id, c.base_model_id, c.outcome) for c in calls] == [
        (arns[HAIKU], HAIKU, "success"),
        (arns[US_HAIKU_35], US_HAIKU_35, "success"),
    ]
    assert {c.role_arn for c in calls} == {deployed.registry.invoker_role_arn("acme")}


def test_the_tenants_role_cannot_call_the_base_model_directly(deployed: Deployed) -> None:
    session = invoker_session(deployed.cloud, deployed.registry, deployed.tenant)
    runtime = session.client("bedrock-runtime", endpoint_url=deployed.cloud.endpoint_url)
    for model in MODELS:
        with pytest.raises(ClientError) as denied:
            runtime.converse(
                modelId=model, messages=[{"role": "user", "content": [{"text": "Hello"}]}]
            )
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException", model
    # Through its profile, the same session is allowed (in its tier, which it must name).
    answer = runtime.converse(
        modelId=_profile_arns(deployed)[HAIKU],
        messages=[{"role": "user", "content": [{"text": "Hello"}]}],
        serviceTier={"type": "default"},
    )
    assert answer["stopReason"] == "end_turn"


def test_a_plain_rerun_keeps_the_arns(deployed: Deployed, tmp_path: Path) -> None:
    before = _profile_arns(deployed)
    registry_path = tmp_path / "same.yaml"
    YAML().dump(deployed.registry.model_dump(mode="json", exclude_none=True), registry_path)
    report = deploy_registry(deployed.cloud, registry_path, tenant_ids=["acme"])
    assert not report.failed, report.failed
    assert _profile_arns(deployed) == before


def test_a_plain_cdk_deploy_per_account_gives_a_working_profile_tenant(
    deployed: Deployed, tmp_path: Path
) -> None:
    registry_path = tmp_path / "tenants.yaml"
    YAML().dump(deployed.registry.model_dump(mode="json", exclude_none=True), registry_path)
    initech = deployed.registry.tenant("initech")
    _plain_cdk_deploy(deployed, initech.operations_stack_name, OPS, registry_path)
    _plain_cdk_deploy(deployed, initech.stack_name, GLOBEX, registry_path)

    deployed.cloud.bedrock.clear_calls()
    answer = deployed.cloud.invoke(
        GLOBEX,
        initech.function_name,
        {"prompt": "Hello", "user_id": "alice", "application_id": "app"},
    )
    assert answer["function_error"] is None, answer
    assert "error" not in answer["payload"], answer["payload"]
    [call] = deployed.cloud.bedrock.calls()
    assert (call.model_id, call.base_model_id) == (_profile_arns(deployed, "initech")[HAIKU], HAIKU)
