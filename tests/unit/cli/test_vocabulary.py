"""One word per concept across every command, and the old spellings as hidden aliases.

`--tenant` names the tenant, `--tenant-profile` the tenant account's AWS
profile, `--ops-profile` the operations account's, `--operations-account` an
operations account by name. `--profile` and `--operations` still work for one
release, hidden from --help, with one warning line.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer

from tenantctl.cli import app
from tests.support.cli_fixtures import Cli

# The old spellings: hidden if a command still takes them.
DEPRECATED = {"--profile", "--operations"}


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found.update(_commands(command, f"{path} "))
        else:
            found[path] = command
    return found


COMMANDS = _commands(typer.main.get_command(app))


def _shown(command: Any) -> list[Any]:
    return [p for p in command.params if not getattr(p, "hidden", False)]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_shows_only_the_current_spellings(path: str) -> None:
    shown = _shown(COMMANDS[path])
    options = {opt for p in shown for opt in p.opts if opt.startswith("--")}

    assert not options & DEPRECATED
    # The tenant is an option, never a positional argument.
    assert not [p.name for p in shown if p.param_type_name == "argument" and "tenant" in p.name]


def test_each_profile_option_means_the_same_account_in_every_command() -> None:
    account = {"--tenant-profile": "tenant", "--ops-profile": "operations"}
    helps = [
        (path, opt, p.help or "")
        for path, command in COMMANDS.items()
        for p in _shown(command)
        for opt in p.opts
        if opt in account
    ]

    assert {opt for _, opt, _ in helps} == set(account)
    assert [(path, opt) for path, opt, text in helps if account[opt] not in text] == []


def test_doctor_takes_the_old_profile_spelling_as_the_operations_profile(cli: Cli) -> None:
    result = cli("doctor", "--profile", "nosuch")
    hidden = cli("doctor", "--help")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "warning: --profile is deprecated; use --ops-profile",
        "error: --ops-profile: no AWS profile named 'nosuch'",
    ]
    assert "--ops-profile" in hidden.stdout and "--profile " not in hidden.stdout


def test_doctor_says_local_is_gone(cli: Cli) -> None:
    result = cli("doctor", "--ops-profile", "ops", "--local")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --local: removed;")
