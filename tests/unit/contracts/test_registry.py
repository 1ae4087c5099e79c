"""Registry validation: every bad input is refused with the path of its field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from contracts.registry import LogContent, RegistryError, load_registry, parse_registry
from tests.conftest import EXAMPLE_REGISTRY, LOCAL_REGISTRY

VALID: dict[str, Any] = {
    "version": 1,
    "operations": {"account_id": "111111111111", "region": "us-east-1"},
    "defaults": {"models": ["anthropic.claude-3-haiku-20240307-v1:0"]},
    "tenants": [
        {
            "id": "acme",
            "account_id": "222222222222",
            "region": "us-east-1",
            "external_id": "acme-ext-1",
        },
        {
            "id": "globex",
            "account_id": "333333333333",
            "region": "eu-west-1",
            "external_id": "globex-ext-2",
        },
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with one field (dotted path, list indexes as numbers) replaced."""
    data = copy.deepcopy(VALID)
    *parents, leaf = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(leaf) if leaf.isdigit() else leaf] = value
    return data


def _issues(data: Any) -> list[str]:
    with pytest.raises(RegistryError) as exc:
        parse_registry(data)
    return [str(i) for i in exc.value.issues]


def test_example_registries_are_valid() -> None:
    assert [t.id for t in load_registry(EXAMPLE_REGISTRY).resolved_tenants()] == ["acme", "globex"]
    assert len(load_registry(LOCAL_REGISTRY).tenants) == 2


def test_tenant_inherits_defaults_it_does_not_set() -> None:
    registry = parse_registry(_with("tenants.1.log_content", "full"))
    acme, globex = registry.resolved_tenants()
    assert acme.log_content is LogContent.METADATA
    assert globex.log_content is LogContent.FULL
    assert acme.models == ("anthropic.claude-3-haiku-20240307-v1:0",)
    assert acme.log_retention_days == 90


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("tenants.0.account_id", "12345", "tenants[0].account_id: must be 12 digits"),
        ("operations.account_id", "abcdefghijkl", "operations.account_id: must be 12 digits"),
        ("tenants.1.account_id", 333333333333, "tenants[1].account_id: must be a quoted string"),
        ("tenants.0.id", "Acme", "tenants[0].id: must be lowercase letters, digits and hyphens"),
        ("tenants.0.id", "acme_corp", "tenants[0].id: must be lowercase letters"),
        ("tenants.0.id", "-acme", "tenants[0].id: must be lowercase letters"),
        ("tenants.0.id", "a" * 41, "tenants[0].id: must be at most 40 characters"),
        ("tenants.0.id", "a", "tenants[0].id: must be at least 2 characters (it is the STS"),
        (
            "tenants.0.external_id",
            "x",
            "tenants[0].external_id: must be 2 to 1224 characters (got 1)",
        ),
        (
            "tenants.0.external_id",
            "x" * 1225,
            "tenants[0].external_id: must be 2 to 1224 characters",
        ),
        ("tenants.0.external_id", "has space", "tenants[0].external_id: may only contain"),
        ("tenants.0.region", "useast1", "tenants[0].region: 'useast1' is not an AWS region name"),
        (
            "tenants.0.models",
            ["claude-3"],
            "tenants[0].models[0]: 'claude-3' is not a Bedrock model id",
        ),
        (
            "tenants.0.models",
            ["acme.model-v1:0"],
            "tenants[0].models[0]: 'acme.model-v1:0': unknown model provider 'acme'",
        ),
        (
            "tenants.0.models",
            ["xx.anthropic.claude-3-haiku-20240307-v1:0"],
            "unknown inference profile prefix 'xx'",
        ),
        ("tenants.0.models", [], "tenants[0].models: must list at least one model"),
        (
            "defaults.models",
            ["anthropic.claude-3-haiku-20240307-v1:0"] * 2,
            "defaults.models: 'anthropic.claude-3-haiku-20240307-v1:0' is listed twice",
        ),
        (
            "tenants.0.models",
            ["eu.anthropic.claude-3-haiku-20240307-v1:0"],
            "tenants[0].models[0]: inference profile 'eu.' is not offered in the operations region us-east-1",
        ),
        (
            "tenants.0.log_retention_days",
            45,
            "tenants[0].log_retention_days: 45 is not accepted by CloudWatch Logs",
        ),
        (
            "defaults.log_retention_days",
            "90",
            "defaults.log_retention_days: Input should be a valid integer",
        ),
        (
            "tenants.0.log_content",
            "everything",
            "tenants[0].log_content: Input should be 'metadata', 'redacted' or 'full'",
        ),
        ("tenants.0.accont_id", "222222222222", "tenants[0].accont_id: unknown key"),
        ("operations.regoin", "us-east-1", "operations.regoin: unknown key"),
        (
            "tenants.0.reserved_concurrency",
            0,
            "tenants[0].reserved_concurrency: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_field_is_refused_with_its_path(path: str, value: Any, expected: str) -> None:
    issues = _issues(_with(path, value))
    assert any(expected in issue for issue in issues), issues


def test_one_bad_model_id_is_one_issue() -> None:
    assert _issues(_with("tenants.0.models", ["bad"])) == [
        "tenants[0].models[0]: 'bad' is not a Bedrock model id (like "
        "anthropic.claude-3-haiku-20240307-v1:0 or us.anthropic.claude-3-5-haiku-20241022-v1:0)"
    ]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("tenants.0.account_id", "222222222222\n", "tenants[0].account_id"),
        ("tenants.0.account_id", "\u0662" * 12, "tenants[0].account_id"),  # Arabic-Indic digits
        ("tenants.0.id", "acme\n", "tenants[0].id"),
        ("tenants.0.region", "us-east-1\n", "tenants[0].region"),
        ("tenants.0.external_id", "\u00fcmlaut-\u00df", "tenants[0].external_id"),
        ("tenants.0.models", ["anthropic.claude-3-haiku-20240307-v1:0\n"], "tenants[0].models[0]"),
        ("defaults.usage_log_group", "/aws/b\u00e9drock/logs", "defaults.usage_log_group"),
    ],
)
def test_values_aws_would_refuse_do_not_slip_through(path: str, value: Any, field: str) -> None:
    # A trailing newline or a non-ASCII digit or letter would pass a loose regex,
    # deploy, and then fail in AWS or at the function's cold start.
    assert any(issue.startswith(f"{field}:") for issue in _issues(_with(path, value)))


def test_missing_required_field_is_named() -> None:
    data = copy.deepcopy(VALID)
    del data["tenants"][1]["external_id"]
    assert _issues(data) == ["tenants[1].external_id: is required"]


def test_duplicate_tenant_id_is_refused() -> None:
    assert "tenants[1].id: duplicate tenant id 'acme' (also tenants[0])" in _issues(
        _with("tenants.1.id", "acme")
    )


def test_duplicate_tenant_account_is_refused() -> None:
    assert "tenants[1].account_id: account 222222222222 is already used by tenants[0]" in _issues(
        _with("tenants.1.account_id", "222222222222")
    )


def test_tenant_in_the_operations_account_is_refused() -> None:
    assert (
        "tenants[0].account_id: is an operations account; a tenant needs its own account"
        in _issues(_with("tenants.0.account_id", "111111111111"))
    )


def test_shared_external_id_is_refused() -> None:
    assert any(
        i.startswith("tenants[1].external_id: is the same as tenants[0]")
        for i in _issues(_with("tenants.1.external_id", "acme-ext-1"))
    )


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = _with("tenants.0.account_id", "1")
    data["tenants"][1]["region"] = "nowhere"
    issues = _issues(data)
    assert len(issues) == 2
    assert issues[0].startswith("tenants[0].account_id")
    assert issues[1].startswith("tenants[1].region")


def test_longest_valid_tenant_id_fits_every_derived_name() -> None:
    registry = parse_registry(_with("tenants.0.id", "a" * 40))
    tenant = registry.resolved_tenants()[0]
    assert len(tenant.function_name) <= 64
    assert len(registry.invoker_role_arn(tenant.id).split("/")[-1]) <= 64


def _tenants(count: int, shard_of: Any = None) -> list[dict[str, Any]]:
    return [
        {
            "id": f"t{i}",
            "account_id": f"{200000000000 + i}",
            "region": "us-east-1",
            "external_id": f"ext-{i}",
            **({} if shard_of is None else {"shard": shard_of(i)}),
        }
        for i in range(count)
    ]


def test_a_full_shard_of_tenants_without_a_shard_points_to_fix_placement() -> None:
    data = copy.deepcopy(VALID)
    data["tenants"] = _tenants(151)  # no shard recorded: all in shard 0
    assert _issues(data) == [
        "tenants[150].shard: tenant 't150' is the 151st in operations stack BedrockOperations "
        "(shard 0), over operations.shard_capacity 150; run `tenantctl validate "
        "--fix-placement` to record a placement for every tenant without one"
    ]


def test_a_full_shard_refuses_a_tenant_recorded_there_naming_it() -> None:
    data = copy.deepcopy(VALID)
    data["tenants"] = _tenants(151, shard_of=lambda i: 0)
    assert _issues(data) == [
        "tenants[150].shard: tenant 't150' is the 151st in operations stack BedrockOperations "
        "(shard 0), over operations.shard_capacity 150; give it a shard with room "
        "(tenantctl onboard records one)"
    ]


@pytest.mark.parametrize(
    ("n", "written"),
    [(2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (101, "101st"), (111, "111th"), (112, "112th"), (151, "151st"),
     (152, "152nd"), (153, "153rd")],
)  # fmt: skip
def test_the_capacity_error_counts_in_english_ordinals(n: int, written: str) -> None:
    data = copy.deepcopy(VALID)
    data["operations"]["shard_capacity"] = n - 1
    data["tenants"] = _tenants(n)
    [issue] = _issues(data)
    assert issue.startswith(f"tenants[{n - 1}].shard: tenant 't{n - 1}' is the {written} in ")


def test_a_thousand_tenants_spread_over_shards_validate() -> None:
    data = copy.deepcopy(VALID)
    data["operations"]["iam_role_quota"] = 2000
    data["tenants"] = _tenants(1000, shard_of=lambda i: i // 150)
    registry = parse_registry(data)
    shards = registry.shards()
    assert sorted(shards) == [0, 1, 2, 3, 4, 5, 6]
    assert [len(t) for t in shards.values()] == [150] * 6 + [100]
    assert registry.shard_for_new_tenant() == 6
    assert registry.tenant("t999").operations_stack_name == "BedrockOperations-6"


def test_shard_capacity_is_configurable_and_bounded() -> None:
    data = copy.deepcopy(VALID)
    data["operations"]["shard_capacity"] = 2
    data["tenants"] = _tenants(3)
    assert _issues(data)[0].startswith("tenants[2].shard: tenant 't2' is the 3rd in operations")
    data["operations"]["shard_capacity"] = 191
    assert _issues(data) == ["operations.shard_capacity: Input should be less than or equal to 190"]


def test_roles_over_the_accounts_iam_quota_are_refused() -> None:
    data = copy.deepcopy(VALID)
    data["tenants"] = _tenants(1000, shard_of=lambda i: i // 150)  # the default quota: 1,000
    assert _issues(data) == [
        "tenants: 1007 IAM roles (1000 invoker roles and 7 guard roles) exceed "
        "operations.iam_role_quota 1000 of account 111111111111; raise the quota (up to "
        "5,000) or move tenants to another operations account"
    ]
    data["operations"]["iam_role_quota"] = 5000
    parse_registry(data)


def test_role_arns_use_the_regions_partition() -> None:
    data = copy.deepcopy(VALID)
    data["operations"]["region"] = "us-gov-west-1"
    data["tenants"] = [
        {
            "id": "agency",
            "account_id": "222222222222",
            "region": "us-gov-east-1",
            "external_id": "agency-ext",
        }
    ]
    registry = parse_registry(data)
    assert (
        registry.invoker_role_arn("agency")
        == "arn:aws-us-gov:iam::111111111111:role/bedrock-invoker-agency"
    )
    assert (
        registry.tenant("agency").caller_role_arn
        == "arn:aws-us-gov:iam::222222222222:role/bedrock-caller-agency"
    )


def test_registry_models_are_frozen() -> None:
    registry = parse_registry(VALID)
    with pytest.raises(Exception, match="frozen"):
        registry.operations.region = "eu-west-1"  # type: ignore[misc]


def test_file_errors_are_clean(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("operations: [unclosed\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(RegistryError, match="must be a YAML mapping"):
        load_registry(bad)


def test_unknown_tenant_lookup_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown tenant 'initech' \\(known: acme, globex\\)"):
        parse_registry(VALID).tenant("initech")


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "on", None])
def test_allow_ops_invocation_logging_is_a_strict_boolean(value: Any) -> None:
    # This flag lets tenant content be logged in the operations account.
    data = copy.deepcopy(VALID)
    data["operations"]["allow_ops_invocation_logging"] = value
    [issue] = _issues(data)
    assert issue.startswith("operations.allow_ops_invocation_logging: Input should be a valid bool")


def test_allow_ops_invocation_logging_takes_true_and_false() -> None:
    for value in (True, False):
        data = copy.deepcopy(VALID)
        data["operations"]["allow_ops_invocation_logging"] = value
        assert parse_registry(data).operations.allow_ops_invocation_logging is value


def test_a_tenant_whose_function_environment_exceeds_lambdas_4_kb_is_refused_naming_it() -> None:
    # 18 models with price overrides and the longest ExternalId IAM allows: over
    # 4 KB of variables, which Lambda would refuse at deploy time.
    models = [f"us.anthropic.claude-3-5-sonnet-{n:02d}241022-v2:0" for n in range(18)]
    data = copy.deepcopy(VALID)
    data["tenants"][0]["models"] = models
    data["tenants"][0]["external_id"] = "x" * 1224
    data["tenants"][0]["price_overrides"] = {
        m: {"input": 0.25, "output": 1.25, "cache_read": 0.03, "cache_write": 0.3} for m in models
    }
    issues = _issues(data)
    assert len(issues) == 1
    assert issues[0].startswith("tenants[0]: tenant 'acme': its function's environment is ")
    assert "over Lambda's 4096" in issues[0]


def test_a_cost_centre_of_only_spaces_is_refused() -> None:
    data = copy.deepcopy(VALID)
    data["tenants"][0]["cost_centre"] = "   "
    assert _issues(data) == [
        "tenants[0].cost_centre: must be 1-256 letters, digits, spaces and _ . : / = + - @, "
        "not only spaces"
    ]
