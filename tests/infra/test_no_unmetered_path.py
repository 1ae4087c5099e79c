"""No unmetered path: the invoker role never allows a Bedrock call the tenant's meter misses.

The meter is the usage record the tenant's function writes for each Converse
call. These actions bypass it, so no invoker role may allow them, in any
template the registries in ``config/`` or the every-feature registry synthesize:

- ``bedrock:StartAsyncInvoke``: an async invocation answers into S3, long after
  the function returned;
- ``bedrock:InvokeModelWithBidirectionalStream``: a session the function does not hold;
- ``bedrock:CallWithBearerToken``: a Bedrock API key calls as the role, from
  anywhere, and only its caller can write the record. The one exception is the
  registry's opt-in (``short_term_api_keys``): that tenant's role, and no other,
  may accept short-term keys, in one statement that holds only for
  ``bedrock:BearerTokenType`` = ``SHORT_TERM``, never for a long-term key;
- ``bedrock-mantle:*``: Bedrock's OpenAI-compatible endpoints, another API surface;
- any other Bedrock action on ``Resource: "*"``: every model, every profile.

An Allow statement's wildcard action (``bedrock:*``, ``bedrock:Invoke*``, ``*``)
counts as allowing what it matches; ``NotAction`` counts as allowing everything
it does not name. A bearer-token statement counts as allowing a key type unless a
``StringEquals`` on ``bedrock:BearerTokenType`` names other types only (any other
condition operator on that key is read as allowing every type).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from contracts import naming
from contracts.registry import TenantRegistry, load_registry, parse_registry, parse_registry_yaml
from stacks.operations.bedrock_invoker_role import (
    BEARER_TOKEN_ACTION,
    BEARER_TOKEN_TYPE_KEY,
    short_term_api_keys_statement,
)
from tests.conftest import EXAMPLE_REGISTRY, ROOT
from tests.infra.conftest import synth_templates
from tests.infra.security_registries import wide_registry

UNMETERED_ACTIONS = (
    "bedrock:StartAsyncInvoke",
    "bedrock:InvokeModelWithBidirectionalStream",
    "bedrock-mantle:CreateChatCompletion",
    "bedrock-mantle:CallWithBearerToken",
)
BEARER_TOKEN_TYPES = ("SHORT_TERM", "LONG_TERM")
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


def allows_bearer_token_type(statement: dict[str, Any], token_type: str) -> bool:
    """Whether a statement lets a Bedrock API key of ``token_type`` be used.

    IAM compares condition keys case-insensitively and values case-sensitively. A
    condition on the key other than ``StringEquals`` is not modelled: it counts as
    allowing every type, so the check fails closed.
    """
    if not allows(statement, BEARER_TOKEN_ACTION):
        return False
    for operator, block in statement.get("Condition", {}).items():
        for key, value in block.items():
            if key.lower() != BEARER_TOKEN_TYPE_KEY.lower():
                continue
            if operator == "StringEquals" and token_type not in _list(value):
                return False
    return True


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
    return {**registries, "every-feature": wide_registry(), **_opted_in_by_default()}


def _opted_in_by_default() -> dict[str, TenantRegistry]:
    """The example registry with ``defaults.short_term_api_keys`` and a workload role
    for each tenant but the last, which opts out: a default opt-in reaches the role
    of every tenant that does not say otherwise, and only those."""
    data = parse_registry_yaml(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    data["defaults"]["short_term_api_keys"] = True
    for tenant in data["tenants"]:
        tenant["workload_role"] = {"services": ["ecs-tasks"]}
    data["tenants"][-1]["short_term_api_keys"] = False
    return {"opted-in-by-default": parse_registry(data)}


def _opted_in_roles(registry: TenantRegistry) -> set[str]:
    return {
        naming.invoker_role_name(t.id) for t in registry.resolved_tenants() if t.short_term_api_keys
    }


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


def test_only_opted_in_tenants_roles_accept_api_keys_and_only_short_term_ones(
    statements_by_registry: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    registries = _registries()
    for name, statements in statements_by_registry.items():
        accepting = {
            token_type: {role for role, s in statements if allows_bearer_token_type(s, token_type)}
            for token_type in BEARER_TOKEN_TYPES
        }
        assert accepting == {"SHORT_TERM": _opted_in_roles(registries[name]), "LONG_TERM": set()}
        # Each opted-in role in exactly one statement: that action, that condition, only.
        grants = [s for _, s in statements if allows(s, BEARER_TOKEN_ACTION)]
        assert len(grants) == len(_opted_in_roles(registries[name])), name
        assert all(s == short_term_api_keys_statement() for s in grants), grants


def test_some_registry_opts_in_and_some_role_stays_out(
    statements_by_registry: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    registries = _registries()
    roles = {name: {role for role, _ in statements_by_registry[name]} for name in registries}
    assert _opted_in_roles(registries["every-feature"])
    assert roles["every-feature"] - _opted_in_roles(registries["every-feature"])
    assert _opted_in_roles(registries["opted-in-by-default"]) == roles["opted-in-by-default"] - {
        naming.invoker_role_name(registries["opted-in-by-default"].tenants[-1].id)
    }
    assert not _opted_in_roles(registries["tenants.yaml"])


def test_no_invoker_role_allows_a_bedrock_action_on_every_resource(
    statements_by_registry: dict[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    # The short-term key statement is the one exception (its action has no resource
    # type), checked above to allow nothing else.
    offending = [
        (registry, role, statement.get("Sid"))
        for registry, statements in statements_by_registry.items()
        for role, statement in statements
        if statement.get("Effect") == "Allow"
        and statement != short_term_api_keys_statement()
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


def test_the_check_sees_which_key_types_a_bearer_token_statement_allows() -> None:
    def statement(**condition: Any) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": "bedrock:*", "Resource": "*", "Condition": condition}

    def types(s: dict[str, Any]) -> set[str]:
        return {t for t in BEARER_TOKEN_TYPES if allows_bearer_token_type(s, t)}

    assert types(short_term_api_keys_statement()) == {"SHORT_TERM"}
    assert types(statement()) == {"SHORT_TERM", "LONG_TERM"}
    assert types(statement(StringEquals={"Bedrock:bearertokentype": "LONG_TERM"})) == {"LONG_TERM"}
    assert types(
        statement(StringEquals={"bedrock:BearerTokenType": ["SHORT_TERM", "LONG_TERM"]})
    ) == {"SHORT_TERM", "LONG_TERM"}
    assert types(statement(StringLike={"bedrock:BearerTokenType": "SHORT*"})) == {
        "SHORT_TERM",
        "LONG_TERM",
    }
    assert types(statement(StringEquals={"bedrock:BearerTokenType": "short_term"})) == set()
    assert types({**short_term_api_keys_statement(), "Effect": "Deny"}) == set()
