"""Data protection on every template: encrypted, retained logs; no secrets; per-tenant limits.

Also the operations account's guard and alert as synthesized: the custom
resource carries the registry's consent, the rule watches the CloudTrail event
that turns logging on, and the topic is encrypted, SSL-only and mailed only
when the registry names an address.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from contracts import naming
from contracts.registry import TenantRegistry, load_registry
from stacks.operations.invocation_logging_guard import GUARD_FUNCTION_NAME, GUARD_RESOURCE_TYPE
from stacks.operations.operations_stack import tenant_set_digest
from tests.conftest import EXAMPLE_REGISTRY
from tests.infra.conftest import synth_templates
from tests.infra.security_registries import wide_registry

# TOKEN, not TOKENS: a session or API token is a secret, a count of model tokens is not.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN(?!S)|PRIVATE|CREDENTIAL|ACCESS_KEY|API_KEY")
SECRET_VALUE = re.compile(
    r"(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key id
    r"|(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"  # AWS secret key shape
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bsk-[A-Za-z0-9]{20,}"
)


@pytest.fixture(scope="module")
def registries() -> dict[str, TenantRegistry]:
    return {"example": load_registry(EXAMPLE_REGISTRY), "wide": wide_registry()}


@pytest.fixture(scope="module")
def all_templates(registries: dict[str, TenantRegistry]) -> dict[str, dict[str, Any]]:
    return {
        name: {k: t.to_json() for k, t in synth_templates(r).items()}
        for name, r in registries.items()
    }


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_stateful_resources_are_retained_and_keys_rotate(
    all_templates: dict[str, dict[str, Any]],
) -> None:
    for templates in all_templates.values():
        for where, template in templates.items():
            for kind in ("AWS::Logs::LogGroup", "AWS::KMS::Key"):
                for logical, resource in _of_type(template, kind).items():
                    assert resource.get("DeletionPolicy") == "Retain", f"{where} {logical}"
                    assert resource.get("UpdateReplacePolicy") == "Retain", f"{where} {logical}"
            for logical, key in _of_type(template, "AWS::KMS::Key").items():
                assert key["Properties"]["EnableKeyRotation"] is True, f"{where} {logical}"


@pytest.mark.parametrize("registry_name", ["example", "wide"])
def test_tenant_log_groups_are_kms_encrypted_with_the_registrys_retention(
    all_templates: dict[str, dict[str, Any]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    for tenant in registries[registry_name].resolved_tenants():
        template = all_templates[registry_name][tenant.stack_name]
        groups = {
            g["Properties"]["LogGroupName"]: g["Properties"]
            for g in _of_type(template, "AWS::Logs::LogGroup").values()
        }
        assert set(groups) == {tenant.usage_log_group, f"/aws/lambda/{tenant.function_name}"}
        # One key for both groups (an alarm topic, when there is one, has its own).
        (key,) = {props["KmsKeyId"]["Fn::GetAtt"][0] for props in groups.values()}
        assert key in _of_type(template, "AWS::KMS::Key")
        for props in groups.values():
            assert props["RetentionInDays"] == tenant.log_retention_days
            assert props["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


def test_every_function_logs_to_its_own_log_group_with_retention(
    all_templates: dict[str, dict[str, Any]],
) -> None:
    for templates in all_templates.values():
        for where, template in templates.items():
            groups = _of_type(template, "AWS::Logs::LogGroup")
            for logical, fn in _of_type(template, "AWS::Lambda::Function").items():
                ref = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
                assert groups[ref]["Properties"]["RetentionInDays"] > 0, f"{where} {logical}"


def test_no_function_environment_carries_a_secret(
    all_templates: dict[str, dict[str, Any]],
) -> None:
    checked = 0
    for templates in all_templates.values():
        for where, template in templates.items():
            for logical, fn in _of_type(template, "AWS::Lambda::Function").items():
                variables = fn["Properties"].get("Environment", {}).get("Variables", {})
                for name, value in variables.items():
                    assert not SECRET_NAME.search(name), f"{where} {logical}: {name}"
                    assert not SECRET_VALUE.search(str(value)), f"{where} {logical}: {name}"
                    checked += 1
    assert checked > 0


def test_the_secret_detector_would_notice_a_credential() -> None:
    assert SECRET_NAME.search("OPS_SECRET_ACCESS_KEY")
    assert SECRET_NAME.search("AWS_SESSION_TOKEN") and SECRET_NAME.search("API_TOKEN_VALUE")
    assert not SECRET_NAME.search("MAX_TOKENS")  # a count of model tokens
    assert SECRET_VALUE.search("AKIAIOSFODNN7EXAMPLE")
    assert SECRET_VALUE.search("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert not SECRET_VALUE.search("acme-5f0c2a9e8b7d4c1e")  # an ExternalId is not a secret


@pytest.mark.parametrize("registry_name", ["example", "wide"])
def test_reserved_concurrency_and_tracing_follow_the_registry(
    all_templates: dict[str, dict[str, Any]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    for tenant in registries[registry_name].resolved_tenants():
        template = all_templates[registry_name][tenant.stack_name]
        (fn,) = _of_type(template, "AWS::Lambda::Function").values()
        props = fn["Properties"]
        assert props.get("ReservedConcurrentExecutions") == tenant.reserved_concurrency
        expected = {"Mode": "Active"} if tenant.xray_tracing else None
        assert props.get("TracingConfig") == expected, tenant.id
    if registry_name == "wide":
        assert {t.reserved_concurrency for t in registries["wide"].resolved_tenants()} == {20, 5}


@pytest.mark.parametrize(("registry_name", "allowed"), [("example", "false"), ("wide", "true")])
def test_guard_carries_the_registrys_consent_and_runs_on_its_own_function(
    all_templates: dict[str, dict[str, Any]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
    allowed: str,
) -> None:
    template = all_templates[registry_name][naming.OPERATIONS_STACK_NAME]
    (check,) = _of_type(template, GUARD_RESOURCE_TYPE).values()
    (fn_logical, fn) = next(iter(_of_type(template, "AWS::Lambda::Function").items()))
    assert fn["Properties"]["FunctionName"] == GUARD_FUNCTION_NAME
    assert fn["Properties"]["Handler"] == "handler.lambda_handler"
    assert check["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": [fn_logical, "Arn"]},
        "AllowOpsInvocationLogging": allowed,
        "RecheckToken": tenant_set_digest(registries[registry_name].resolved_tenants()),
    }


@pytest.mark.parametrize(("registry_name", "email"), [("example", None), ("wide", True)])
def test_alert_rule_watches_logging_being_turned_on_and_mails_an_encrypted_topic(
    all_templates: dict[str, dict[str, Any]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
    email: bool | None,
) -> None:
    template = all_templates[registry_name][naming.OPERATIONS_STACK_NAME]
    Template.from_json(template).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.bedrock"],
                "detail-type": ["AWS API Call via CloudTrail"],
                "detail": {
                    "eventSource": ["bedrock.amazonaws.com"],
                    "eventName": ["PutModelInvocationLoggingConfiguration"],
                },
            },
            "State": "ENABLED",
        },
    )
    ((topic_logical, topic),) = _of_type(template, "AWS::SNS::Topic").items()
    (key_logical,) = _of_type(template, "AWS::KMS::Key")
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_logical, "Arn"]}
    (rule,) = _of_type(template, "AWS::Events::Rule").values()
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Ref": topic_logical}]
    (policy,) = _of_type(template, "AWS::SNS::TopicPolicy").values()
    sids = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert sids["AllowPublishThroughSSLOnly"]["Effect"] == "Deny"
    assert sids["AllowTheAlertRuleToPublish"]["Principal"] == {"Service": "events.amazonaws.com"}
    address = registries[registry_name].operations.alert_email
    expected = [{"Endpoint": address, "Protocol": "email"}] if email else None
    assert topic["Properties"].get("Subscription") == expected
