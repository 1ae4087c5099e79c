"""Least privilege, asserted on every policy of every synthesized template.

Two registries are synthesized: the example one and a "wide" one with
geographic and global inference profiles, X-Ray and an alert e-mail (see
``security_registries``). Each check walks every policy document it finds, so
a new resource or statement is covered without touching these tests.

Identity policies (``AWS::IAM::Policy``, managed and inline role policies) are
held to: no ``*`` in any action, and no ``*`` in the resource of any bedrock,
sts, logs, kms or ssm statement. A tenant's workload role has exactly the
function's rights (assume its invoker role, write the usage log group) and the
read of its client settings parameter, and admits exactly its listed principals.
Two exceptions are named, each an action IAM only accepts with Resource ``*``:
the deploy-time guard's ``bedrock:GetModelInvocationLoggingConfiguration``, an
account-level read, and an opted-in tenant's ``bedrock:CallWithBearerToken``
(registry ``short_term_api_keys``), held to short-term keys and to that
tenant's role.

KMS *key policies* are different: their Resource ``*`` means "this key", and
the first statement (account root, ``kms:*``) is AWS's default key policy,
which hands the key's access control to IAM in the same account, where the
identity-policy checks above apply. What is checked there instead: every
statement for a service principal carries a condition pinning it to this
product's own log groups or rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from contracts import naming
from contracts.model_access import APPLY_GUARDRAIL_SID, DEFAULT_INFERENCE_PROFILE_REGIONS
from contracts.registry import TenantRegistry, load_registry
from stacks.operations.bedrock_invoker_role import (
    SHORT_TERM_API_KEYS_SID,
    short_term_api_keys_statement,
    tenant_guardrail,
)
from stacks.operations.invocation_logging_alert import ALERT_RULE_NAME
from stacks.operations.invocation_logging_guard import (
    GUARD_FUNCTION_NAME,
    READ_LOGGING_CONFIG,
    READ_LOGGING_CONFIG_SID,
)
from tests.conftest import EXAMPLE_REGISTRY
from tests.infra.conftest import synth_templates
from tests.infra.security_registries import wide_registry

Statement = dict[str, Any]
REGISTRY_NAMES = ("example", "wide")
INVOKE_ACTIONS = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}


@pytest.fixture(scope="module")
def registries() -> dict[str, TenantRegistry]:
    return {"example": load_registry(EXAMPLE_REGISTRY), "wide": wide_registry()}


@pytest.fixture(scope="module")
def all_templates(registries: dict[str, TenantRegistry]) -> dict[str, dict[str, Template]]:
    return {name: synth_templates(registry) for name, registry in registries.items()}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(template: Template) -> Iterator[tuple[str, Statement]]:
    """(logical id of the policy or role, statement) for every identity policy."""
    resources = template.to_json()["Resources"]
    for logical, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            for statement in props["PolicyDocument"]["Statement"]:
                yield logical, statement
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical, statement


def key_policy_statements(template: Template) -> Iterator[tuple[str, Statement]]:
    for logical, key in template.find_resources("AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            yield logical, statement


def every_template(
    all_templates: dict[str, dict[str, Template]],
) -> Iterator[tuple[str, Template]]:
    for registry_name, templates in all_templates.items():
        for stack_name, template in templates.items():
            yield f"{registry_name}/{stack_name}", template


def _is_named_guard_exception(statement: Statement) -> bool:
    return statement.get("Sid") == READ_LOGGING_CONFIG_SID and _list(statement["Action"]) == [
        READ_LOGGING_CONFIG
    ]


def _is_named_api_key_exception(statement: Statement) -> bool:
    return statement == short_term_api_keys_statement()


def test_no_identity_policy_has_a_wildcard_action(
    all_templates: dict[str, dict[str, Template]],
) -> None:
    for where, template in every_template(all_templates):
        for logical, statement in identity_statements(template):
            for action in _list(statement["Action"]):
                assert "*" not in action, f"{where} {logical}: wildcard action {action}"
            assert "NotAction" not in statement and "NotResource" not in statement


def test_bedrock_sts_logs_kms_ssm_statements_never_use_a_bare_wildcard_resource(
    all_templates: dict[str, dict[str, Template]],
) -> None:
    exceptions = 0
    api_key_exceptions = 0
    for where, template in every_template(all_templates):
        for logical, statement in identity_statements(template):
            actions = _list(statement["Action"])
            if not any(
                a.startswith(("bedrock:", "sts:", "logs:", "kms:", "ssm:")) for a in actions
            ):
                continue
            if _is_named_guard_exception(statement):
                exceptions += 1
                assert len(actions) == 1 and statement["Effect"] == "Allow"
                continue
            if _is_named_api_key_exception(statement):
                # Whose role it is, and that it is only for short-term keys:
                # tests/infra/test_no_unmetered_path.py.
                api_key_exceptions += 1
                continue
            for resource in _list(statement["Resource"]):
                assert resource != "*", f"{where} {logical}: {actions} on Resource *"
                text = str(resource)
                assert not text.endswith(":*:*") and ":role/*" not in text, text
    assert exceptions == len(all_templates), "one guard statement per operations stack"
    assert api_key_exceptions == 1, "the wide registry's one opted-in tenant"


def test_no_resource_policy_grants_a_service_wide_action(
    all_templates: dict[str, dict[str, Template]],
) -> None:
    for where, template in every_template(all_templates):
        for logical, statement in key_policy_statements(template):
            for action in _list(statement["Action"]):
                if action in {"*", "kms:*"}:
                    # AWS's default key policy: the account root, i.e. IAM in this account.
                    principal = statement["Principal"]["AWS"]
                    assert str(principal).endswith(":root") and statement["Effect"] == "Allow", (
                        f"{where} {logical}: {action} for {principal}"
                    )
        for logical, policy in template.find_resources("AWS::SNS::TopicPolicy").items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                for action in _list(statement["Action"]):
                    assert "*" not in action, f"{where} {logical}: {action}"
                if statement["Effect"] == "Allow":
                    assert statement.get("Condition"), f"{where} {logical}: unconditioned allow"


def test_key_policies_admit_services_only_for_this_products_log_groups_or_rule(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
) -> None:
    for registry_name, templates in all_templates.items():
        registry = registries[registry_name]
        ops = registry.operations
        for tenant in registry.resolved_tenants():
            template = templates[tenant.stack_name]
            base = f"arn:aws:logs:{tenant.region}:{tenant.account_id}:log-group:"
            expected = [
                f"{base}{tenant.usage_log_group}",
                f"{base}/aws/lambda/{naming.function_name(tenant.id)}",
            ]
            services = [
                s for _, s in key_policy_statements(template) if "Service" in s["Principal"]
            ]
            assert services, tenant.id
            for statement in services:
                if statement["Principal"]["Service"] == "cloudwatch.amazonaws.com":
                    # The alarm topic's own key (stacks/customer/observability/usage_alarms.py), as AWS documents
                    # it: unconditioned, since a condition CloudWatch does not send would
                    # silently stop every notice. The topic policy admits this tenant's
                    # alarms only.
                    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
                    assert statement["Resource"] == "*"
                    continue
                assert statement["Principal"]["Service"] == f"logs.{tenant.region}.amazonaws.com"
                assert statement["Resource"] == "*"  # in a key policy: this key
                assert statement["Condition"] == {
                    "ArnEquals": {"kms:EncryptionContext:aws:logs:arn": expected}
                }
        ops_services = [
            s
            for _, s in key_policy_statements(templates[naming.OPERATIONS_STACK_NAME])
            if "Service" in s["Principal"]
        ]
        rule = f"arn:aws:events:{ops.region}:{ops.account_id}:rule/{ALERT_RULE_NAME}"
        assert ops_services == [
            {
                "Sid": "AllowEventBridgeForTheAlertRuleOnly",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:SourceArn": rule}},
            }
        ]


def _expected_model_arns(registry: TenantRegistry, models: tuple[str, ...]) -> set[str]:
    """Written out independently of contracts.model_access, from Bedrock's documented rules."""
    ops = registry.operations
    arns: set[str] = set()
    for model in models:
        prefix, _, rest = model.partition(".")
        if prefix in DEFAULT_INFERENCE_PROFILE_REGIONS or prefix == "global":
            arns.add(f"arn:aws:bedrock:{ops.region}:{ops.account_id}:inference-profile/{model}")
            if prefix == "global":
                arns.add(f"arn:aws:bedrock:{ops.region}::foundation-model/{rest}")
                arns.add(f"arn:aws:bedrock:::foundation-model/{rest}")
            else:
                arns.update(
                    f"arn:aws:bedrock:{region}::foundation-model/{rest}"
                    for region in ops.profile_regions(prefix)
                )
        else:
            arns.add(f"arn:aws:bedrock:{ops.region}::foundation-model/{model}")
    return arns


def _expected_grants(registry: TenantRegistry, tenant_id: str) -> set[str]:
    """A tenant with application profiles: its own profiles (by name), and the
    foundation models they route to, no system profile; else ``_expected_model_arns``."""
    tenant = registry.tenant(tenant_id)
    arns = _expected_model_arns(registry, tenant.models)
    if not tenant.application_inference_profiles:
        return arns
    own = {
        f"profile:{naming.application_inference_profile_name(tenant.id, m)}" for m in tenant.models
    }
    return own | {a for a in arns if ":foundation-model/" in a}


def _resource_names(template: Template, resources: Any) -> list[str]:
    """Resources as text; an application profile's GetAtt as ``profile:<its name>``."""
    profiles = template.find_resources("AWS::Bedrock::ApplicationInferenceProfile")
    names = []
    for resource in _list(resources):
        if isinstance(resource, dict) and "Fn::GetAtt" in resource:
            logical, attribute = resource["Fn::GetAtt"]
            assert attribute == "InferenceProfileArn", resource
            resource = f"profile:{profiles[logical]['Properties']['InferenceProfileName']}"
        names.append(resource)
    return names


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_each_invoker_role_reaches_exactly_its_tenants_model_arns(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    registry = registries[registry_name]
    template = all_templates[registry_name][naming.OPERATIONS_STACK_NAME]
    roles = template.find_resources("AWS::IAM::Role")
    for tenant in registry.resolved_tenants():
        (logical,) = [
            k
            for k, r in roles.items()
            if r["Properties"].get("RoleName") == naming.invoker_role_name(tenant.id)
        ]
        every_statement = [
            s
            for k, p in template.find_resources("AWS::IAM::Policy").items()
            if {"Ref": logical} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        # A profile tenant may also read the one parameter listing its profiles' ARNs.
        directory = [s for s in every_statement if s["Sid"] == "ReadOwnInferenceProfileArns"]
        assert [s["Resource"] for s in directory] == (
            [
                naming.inference_profiles_parameter_arn(
                    tenant.operations_account_id, tenant.id, region=tenant.bedrock_region
                )
            ]
            if tenant.application_inference_profiles
            else []
        ), tenant.id
        assert all(s["Action"] == "ssm:GetParameter" for s in directory)
        # A guardrail tenant may also apply its own guardrail, that one only; one its
        # operations stack created is that stack's guardrail, read from its parameter.
        guardrail = [
            s for s in every_statement if s["Sid"] in {APPLY_GUARDRAIL_SID, "ReadOwnGuardrail"}
        ]
        existing = tenant_guardrail(tenant, registry.operations_account(tenant.operations_account))
        created = tenant.guardrail is not None and tenant.guardrail.create is not None
        if created:
            own_guardrails = template.find_resources(
                "AWS::Bedrock::Guardrail",
                {"Properties": {"Name": naming.guardrail_name(tenant.id)}},
            )
            (own,) = own_guardrails
            assert [(s["Action"], s["Resource"]) for s in guardrail] == [
                ("bedrock:ApplyGuardrail", {"Fn::GetAtt": [own, "GuardrailArn"]}),
                (
                    "ssm:GetParameter",
                    naming.guardrail_parameter_arn(
                        tenant.operations_account_id, tenant.id, region=tenant.bedrock_region
                    ),
                ),
            ], tenant.id
        else:
            assert [(s["Action"], s["Resource"]) for s in guardrail] == (
                [("bedrock:ApplyGuardrail", existing[0])] if existing else []
            ), tenant.id
        # A tenant opted in to short-term API keys may use them: that statement, alone.
        api_keys = [s for s in every_statement if s["Sid"] == SHORT_TERM_API_KEYS_SID]
        assert api_keys == (
            [short_term_api_keys_statement()] if tenant.short_term_api_keys else []
        ), tenant.id
        statements = [s for s in every_statement if s not in directory + guardrail + api_keys]
        granted = {r for s in statements for r in _resource_names(template, s["Resource"])}
        actions = {a for s in statements for a in _list(s["Action"])}
        assert actions == INVOKE_ACTIONS, tenant.id
        assert granted == _expected_grants(registry, tenant.id), tenant.id
        if tenant.application_inference_profiles:
            # Every foundation model only through the tenant's own profiles.
            own = {
                f"profile:{naming.application_inference_profile_name(tenant.id, m)}"
                for m in tenant.models
            }
            for statement in statements:
                if statement["Sid"] == "ApplicationInferenceProfiles":
                    continue
                via = statement["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]
                assert set(_resource_names(template, via)) == own, tenant.id


def test_the_wide_registry_has_a_tenant_with_application_profiles(
    registries: dict[str, TenantRegistry],
) -> None:
    assert any(t.application_inference_profiles for t in registries["wide"].resolved_tenants())


def _role_of_policy(template: Template, logical: str) -> str:
    """The RoleName of the role an identity policy (or inline policy's role) belongs to."""
    resources = template.to_json()["Resources"]
    resource = resources[logical]
    if resource["Type"] != "AWS::IAM::Role":
        (ref,) = resource["Properties"]["Roles"]
        resource = resources[ref["Ref"]]
    return str(resource["Properties"]["RoleName"])


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_only_the_assuming_and_workload_roles_may_assume_and_exactly_one_arn(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    registry = registries[registry_name]
    for where, template in all_templates[registry_name].items():
        sts = [
            (logical, s)
            for logical, s in identity_statements(template)
            if any(a.startswith("sts:") for a in _list(s["Action"]))
        ]
        if where == naming.OPERATIONS_STACK_NAME:
            assert sts == [], "nothing in the operations account assumes roles"
            continue
        tenant = next(t for t in registry.resolved_tenants() if t.stack_name == where)
        roles = [naming.caller_role_name(tenant.id)]
        if tenant.workload_role is not None:
            roles.append(naming.workload_role_name(tenant.id))
        assert [_role_of_policy(template, logical) for logical, _ in sts] == roles, where
        for _, statement in sts:
            assert _list(statement["Action"]) == ["sts:AssumeRole"]
            assert _list(statement["Resource"]) == [registry.invoker_role_arn(tenant.id)]


def test_the_wide_registry_has_a_tenant_with_a_workload_role(
    registries: dict[str, TenantRegistry],
) -> None:
    assert any(t.workload_role for t in registries["wide"].resolved_tenants())


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_ssm_reads_in_a_tenant_account_are_its_client_settings_only_by_its_workload_role(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    registry = registries[registry_name]
    for tenant in registry.resolved_tenants():
        template = all_templates[registry_name][tenant.stack_name]
        ssm = [
            (_role_of_policy(template, logical), s)
            for logical, s in identity_statements(template)
            if any(a.startswith("ssm:") for a in _list(s["Action"]))
        ]
        expected = (
            []
            if tenant.workload_role is None
            else [
                (
                    naming.workload_role_name(tenant.id),
                    naming.client_settings_parameter_arn(
                        tenant.account_id, tenant.id, region=tenant.region
                    ),
                )
            ]
        )
        assert [(role, s["Resource"]) for role, s in ssm] == expected, tenant.id
        assert all(_list(s["Action"]) == ["ssm:GetParameter"] for _, s in ssm)


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_a_tenant_accounts_roles_have_only_the_functions_kinds_of_rights(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    """The workload role: the function's rights (assume, write the usage group) and its
    settings' read, nothing else."""
    registry = registries[registry_name]
    for tenant in registry.resolved_tenants():
        if tenant.workload_role is None:
            continue
        template = all_templates[registry_name][tenant.stack_name]
        usage = (
            f"arn:aws:logs:{tenant.region}:{tenant.account_id}:log-group:{tenant.usage_log_group}"
        )
        granted = {
            (a, r)
            for logical, s in identity_statements(template)
            if _role_of_policy(template, logical) == naming.workload_role_name(tenant.id)
            for a in _list(s["Action"])
            for r in _list(s["Resource"])
        }
        assert granted == {
            ("sts:AssumeRole", registry.invoker_role_arn(tenant.id)),
            ("logs:CreateLogStream", usage),
            ("logs:CreateLogStream", f"{usage}:log-stream:*"),
            ("logs:PutLogEvents", usage),
            ("logs:PutLogEvents", f"{usage}:log-stream:*"),
            (
                "ssm:GetParameter",
                naming.client_settings_parameter_arn(
                    tenant.account_id, tenant.id, region=tenant.region
                ),
            ),
        }, tenant.id


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_logs_permissions_name_only_the_usage_log_group_and_the_functions_own(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    registry = registries[registry_name]
    ops = registry.operations
    for where, template in all_templates[registry_name].items():
        resources = {
            r
            for _, s in identity_statements(template)
            if any(a.startswith("logs:") for a in _list(s["Action"]))
            for r in _list(s["Resource"])
        }
        if where == naming.OPERATIONS_STACK_NAME:
            group = (
                f"arn:aws:logs:{ops.region}:{ops.account_id}:log-group:"
                f"/aws/lambda/{GUARD_FUNCTION_NAME}"
            )
        else:
            tenant = next(t for t in registry.resolved_tenants() if t.stack_name == where)
            base = f"arn:aws:logs:{tenant.region}:{tenant.account_id}:log-group:"
            usage = f"{base}{tenant.usage_log_group}"
            group = f"{base}/aws/lambda/{naming.function_name(tenant.id)}"
            assert {usage, f"{usage}:log-stream:*"} <= resources
            resources -= {usage, f"{usage}:log-stream:*"}
        assert resources == {group, f"{group}:log-stream:*"}, where
        actions = {
            a
            for _, s in identity_statements(template)
            for a in _list(s["Action"])
            if a.startswith("logs:")
        }
        assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"}, where


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_every_cross_account_trust_requires_the_external_id_and_pins_the_caller_role(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    registry = registries[registry_name]
    by_role_name = {t.id: t for t in registry.resolved_tenants()}
    workload_roles = {
        naming.workload_role_name(t.id): t for t in by_role_name.values() if t.workload_role
    }
    checked = set()
    for where, template in all_templates[registry_name].items():
        for role in template.find_resources("AWS::IAM::Role").values():
            if role["Properties"].get("RoleName") in workload_roles:
                continue  # its listed principals: test_a_workload_role_admits_only_...
            trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            for statement in trust:
                principal = statement["Principal"]
                if "Service" in principal:
                    assert principal == {"Service": "lambda.amazonaws.com"}, where
                    assert "Condition" not in statement
                    continue
                tenant_id = role["Properties"]["RoleName"].removeprefix(naming.INVOKER_ROLE_PREFIX)
                tenant = by_role_name[tenant_id]
                callers = [tenant.caller_role_arn]
                if tenant.workload_role is not None:
                    callers.append(
                        naming.workload_role_arn(tenant.account_id, tenant.id, region=tenant.region)
                    )
                assert principal == {"AWS": f"arn:aws:iam::{tenant.account_id}:root"}
                assert _list(statement["Action"]) == ["sts:AssumeRole"]
                assert statement["Condition"] == {
                    "StringEquals": {
                        "sts:ExternalId": tenant.external_id,
                        "sts:RoleSessionName": tenant.id,
                    },
                    "ArnEquals": {"aws:PrincipalArn": callers[0] if len(callers) == 1 else callers},
                }
                checked.add(tenant.id)
    assert checked == set(by_role_name), "every tenant's invoker role was checked"


@pytest.mark.parametrize("registry_name", REGISTRY_NAMES)
def test_a_workload_role_admits_only_its_listed_principals_and_services(
    all_templates: dict[str, dict[str, Template]],
    registries: dict[str, TenantRegistry],
    registry_name: str,
) -> None:
    """Each account of a listed principal, pinned to exactly those ARNs by
    aws:PrincipalArn (an account root: the account); the listed services; nobody else."""
    for tenant in registries[registry_name].resolved_tenants():
        if tenant.workload_role is None:
            continue
        template = all_templates[registry_name][tenant.stack_name]
        (role,) = template.find_resources(
            "AWS::IAM::Role", {"Properties": {"RoleName": naming.workload_role_name(tenant.id)}}
        ).values()
        admitted: dict[str, set[str]] = {}
        services: set[str] = set()
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
            principal = statement["Principal"]
            services.update(_list(principal.get("Service", [])))
            pinned = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn")
            assert set(statement.get("Condition", {})) <= {"ArnEquals"}, statement
            for account_root in _list(principal.get("AWS", [])):
                account = account_root.split(":")[4]
                assert account_root == f"arn:aws:iam::{account}:root"
                assert account not in admitted, f"{account} trusted twice"
                admitted[account] = set(_list(pinned)) if pinned else {account_root}
        listed: dict[str, set[str]] = {}
        for arn in tenant.workload_role.principals:
            listed.setdefault(arn.split(":")[4], set()).add(arn)
        assert admitted == listed, tenant.id
        assert services == {s.service_principal for s in tenant.workload_role.services}
