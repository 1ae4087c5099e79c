"""validate, onboard and update print a ``warning:`` line for a price override that prices nothing."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli_fixtures import Cli

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_35 = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"


def _with_override(registry_path: Path, tenant: str, model: str) -> None:
    # The override block goes right under the tenant's id line.
    text = registry_path.read_text()
    entry = f"  - id: {tenant}\n"
    block = f"    price_overrides:\n      {model}: {{input: 0.2, output: 1.0}}\n"
    registry_path.write_text(text.replace(entry, entry + block, 1))


def test_validate_warns_of_an_override_for_a_model_the_tenant_does_not_use(
    cli: Cli, registry_path: Path
) -> None:
    _with_override(registry_path, "globex", HAIKU_35)  # globex has only Claude 3 Haiku

    result = cli("validate")

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: tenants[1].price_overrides.{HAIKU_35}: prices none of this tenant's "
        f"models ({HAIKU}); it has no effect"
    ]
    assert "valid (2 tenants)" in result.stdout


def test_an_override_keyed_by_the_base_model_of_a_profile_raises_no_warning(
    cli: Cli, registry_path: Path
) -> None:
    _with_override(registry_path, "acme", HAIKU_35)  # acme calls us.<Claude 3.5 Haiku>

    result = cli("validate")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_update_warns_when_a_model_change_leaves_an_override_pricing_nothing(
    cli: Cli, registry_path: Path
) -> None:
    _with_override(registry_path, "acme", HAIKU_35)

    result = cli("update", "--tenant", "acme", "--models", HAIKU)

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: tenants[0].price_overrides.{HAIKU_35}: prices none of this tenant's "
        f"models ({HAIKU}); it has no effect"
    ]


def test_onboard_warns_when_no_tenant_is_left_for_a_default_override(
    cli: Cli, registry_path: Path
) -> None:
    # A registry of no tenants yet: the default override prices the default models.
    text = registry_path.read_text()
    text = text[: text.index("tenants:")] + "tenants: []\n"
    text = text.replace(
        "defaults:\n", f"defaults:\n  price_overrides:\n    {HAIKU}: {{input: 0.2, output: 1.0}}\n"
    )
    registry_path.write_text(text)
    assert cli("validate").stderr == ""

    result = cli("onboard", "--tenant", "initech", "--account", "444444444444",
                 "--region", "eu-west-1", "--models", NOVA_MICRO)  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: defaults.price_overrides.{HAIKU}: prices no tenant's models; it has no effect"
    ]
