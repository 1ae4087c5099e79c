"""No unmetered path: the invoker role never allows a Bedrock call the tenant's meter misses.

The meter is the usage record the tenant's function writes for each Converse
call. These actions bypass it, so no invoker role may allow them, in any
template the registries in ``config/`` or the every-feature registry synthesize:

- ``bedrock:StartAsyncInvoke``: an async invocation answers into S3, long after
  the function returned;
- ``bedrock:InvokeModelWithBidirectionalStream``: a session the function does not hold;
- ``bedrock:CallWithBearerToken``: a Bedrock API key calls as the role, from anywhere;
- ``bedrock-mantle:*``: Bedrock's OpenAI-compatible endpoints, another API surface;
- any Bedrock action on ``Resource: "*"``: every model, every profile.

An Allow statement's wildcard action (``bedrock:*``, ``bedrock:Invoke*``, ``*``)
counts as allowing what it matches; ``NotAction`` counts as allowing everything
it does not name.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from contracts import naming
from contracts.registry import TenantRegistry, load_registry
from tests.conftest import ROOT
from tests.infra.conftest import synth_templates
from tests.infra.security_registries import wide_registry

UNMETERED_ACTIONS = (
    "bedrock:StartAsyncInvoke",
    "bedrock:InvokeModelWithBidirectionalStream",
    "bedrock:CallWithBearerToken",
    "bedrock-mantle:CreateChatCompletion",
    "bedrock-mantle:CallWithBearerToken",
)
CONFIG_REGISTRIES = sorted((ROOT / "config").glob("tenants*.yaml"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement grants ``action`` (IAM matches actions case-insensitively)."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(
            fnmatchcase(action.lower(), pattern.lower())
            for pattern in _list(statement["NotAction"])
        )
    return any(
        fnmatchcase(action.lower(), pattern.lower()) for pattern in _list(statement["Action"])
    )


def invoker_statements(templates: dict[str, Template]) -> list[tuple[str, dict[str, Any]]]:
    """(role name, statement) of every policy attached to an invoker role."""
    found = []
    for template in templates.values():
        resources = template.to_json()["Resources"]
        invoker_roles = {
            logical
            for logical, resource in resources.items()
            if resource["Type"] == "AWS::IAM::Role"
            and str(resource["Properties"].get("RoleName", "")).startswith(
                naming.INVOKER_ROLE_PREFIX
            )
        }
        for logical in invoker_roles:
            role = resources[logical]["Properties"]
            name = role["RoleName"]
            for inline in role.get("Policies", []):
                found += [(name, s) for s in inline["PolicyDocument"]["Statement"]]
        for resource in resources.values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            attached = {r.get("Ref") for r in resource["Properties"].get("Roles", [])}
            for logical in attached & invoker_roles:
                name = resources[logical]["Properties"]["RoleName"]
                found += [(name, s) for s in resource["Properties"]["PolicyDocument"]["Statement"]]
    return found


def _registries() -> dict[str, TenantRegistry]:
    registries = {path.name: load_registry(Path(path)) for path in CONFIG_REGISTRIES}
    return {**registries, "every-feature": wide_registry()}


@pytest.fixture(scope="module")
def statements_by_registry() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return {
        name: invoker_statements(synth_templates(registry))
        for name, registry in _registries().items()
    }


def test_every_registry_has_invoker_roles_to_check(
    statements_by_registry: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    assert set(statements_by_registry) >= {"tenants.yaml", "every-feature"}
    assert all(statements for statements in statements_by_registry.values())


@pytest.mark.parametrize("action", UNMETERED_ACTIONS)
def test_no_invoker_role_allows_an_unmetered_action(
    statements_by_registry: dict[str, list[tuple[str, dict[str, Any]]]], action: str
) -> None:
    offending = [
        (registry, role, statement.get("Sid"))
        for registry, statements in statements_by_registry.items()
        for role, statement in statements
        if allows(statement, action)
    ]
    assert offending == []


def test_no_invoker_role_allows_a_bedrock_action_on_every_resource(
    statements_by_registry: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    offending = [
        (registry, role, statement.get("Sid"))
        for registry, statements in statements_by_registry.items()
        for role, statement in statements
        if statement.get("Effect") == "Allow"
        and "*" in _list(statement.get("Resource", []))
        and any(
            str(a).lower().startswith(("bedrock", "*"))
            for a in _list(statement.get("Action", ["*"]))
        )
    ]
    assert offending == []


def test_the_check_sees_a_wildcard_as_allowing_what_it_matches() -> None:
    assert allows({"Effect": "Allow", "Action": "bedrock:*"}, "bedrock:StartAsyncInvoke")
    assert allows({"Effect": "Allow", "Action": "Bedrock:Invoke*"}, UNMETERED_ACTIONS[1])
    assert allows({"Effect": "Allow", "NotAction": "s3:*"}, "bedrock-mantle:CreateChatCompletion")
    assert not allows({"Effect": "Deny", "Action": "*"}, "bedrock:StartAsyncInvoke")
    assert not allows(
        {"Effect": "Allow", "Action": ["bedrock:InvokeModel"]}, "bedrock:StartAsyncInvoke"
    )
