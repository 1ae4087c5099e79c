"""The options every command spells the same way, and the old spellings they replace.

One word per concept across the command line:

* ``--tenant``: the tenant, by registry id;
* ``--tenant-profile``: the AWS profile of the tenant's account;
* ``--ops-profile``: the AWS profile of the operations account;
* ``--operations-account``: an operations account, by registry name.

The two profile options are patterns (``{account_id}``, ``{name}``) and can be
set once in the environment (``TENANTCTL_TENANT_PROFILE``,
``TENANTCTL_OPS_PROFILE``): that is how ``tenantctl local env`` points every
command at the embedded cloud, with no option of its own.

An option renamed for that keeps its old spelling for one release as a hidden
alias: a command declares it (:data:`ProfileAlias`, :data:`OperationsAlias`)
beside the new option and resolves the pair with :func:`deprecated_alias`,
which prints one ``warning:`` line and then treats the value exactly as if the
new option had been given.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, TypeVar

import typer

from tenantctl.cli.errors import BadInput

TENANT = "--tenant"
TENANT_PROFILE = "--tenant-profile"
OPS_PROFILE = "--ops-profile"
TENANT_PROFILE_ENV = "TENANTCTL_TENANT_PROFILE"
OPS_PROFILE_ENV = "TENANTCTL_OPS_PROFILE"
OPERATIONS_ACCOUNT = "--operations-account"

TenantOption = Annotated[str, typer.Option(TENANT, help="Tenant id from the registry.")]
TenantsOption = Annotated[
    list[str] | None, typer.Option(TENANT, help="Only this tenant (repeatable).")
]
TenantProfileOption = Annotated[
    str | None,
    typer.Option(
        TENANT_PROFILE,
        envvar=TENANT_PROFILE_ENV,
        help="AWS profile of the tenant's account; a pattern may use {account_id} and "
        "{name} (the tenant id), e.g. 'tenant-{account_id}'.",
    ),
]
OpsProfileOption = Annotated[
    str | None,
    typer.Option(
        OPS_PROFILE,
        envvar=OPS_PROFILE_ENV,
        help="AWS profile of the operations account; a pattern may use {account_id} and "
        "{name} (its registry name), e.g. 'ops-{name}'.",
    ),
]
OperationsAccountOption = Annotated[
    str | None,
    typer.Option(
        OPERATIONS_ACCOUNT, help="Operations account by registry name (default: the first)."
    ),
]
CDK_CONTEXT_ENV = "TENANTCTL_CDK_CONTEXT"
CdkContextOption = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        "-c",
        envvar=CDK_CONTEXT_ENV,
        help="CDK context KEY=VALUE for the app (repeatable), as `cdk -c`; "
        "e.g. lambda_platform=host for the embedded cloud.",
    ),
]


def cdk_context(values: list[str] | None) -> dict[str, str]:
    """``--context`` values as a mapping; BadInput names a value that is not KEY=VALUE."""
    context: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--context: '{value}' is not KEY=VALUE")
        context[key.strip()] = rest
    return context


def _local_removed(value: bool) -> bool:
    if value:
        raise BadInput(
            "--local: removed; the embedded cloud is reached through AWS profiles like any "
            'account: run eval "$(tenantctl local env)" once, then the same command '
            "without --local"
        )
    return value


# The old way to reach the embedded cloud, hidden: it only says what replaced it.
LocalOption = Annotated[
    bool,
    typer.Option("--local", hidden=True, callback=_local_removed, help="Removed."),
]

# The old spellings, hidden from --help. `--profile` meant the tenant's account
# in most commands and the operations account in `doctor`; each command says
# which new option it stands for when it resolves it.
ProfileAlias = Annotated[
    str | None, typer.Option("--profile", hidden=True, help="Deprecated spelling.")
]
OperationsAlias = Annotated[
    str | None, typer.Option("--operations", hidden=True, help="Deprecated spelling.")
]
# For a command that took the tenant as a positional argument: the argument
# becomes optional and hidden, and --tenant optional until the alias goes.
OptionalTenantOption = Annotated[
    str | None, typer.Option(TENANT, help="Tenant id from the registry.")
]
TenantArgumentAlias = Annotated[
    str | None, typer.Argument(hidden=True, metavar="[TENANT]", help="Deprecated: use --tenant.")
]
TENANT_ARGUMENT = "the tenant id as an argument"

Value = TypeVar("Value")


def deprecated_alias(
    new_value: Value | None, old_value: Value | None, *, new: str, old: str
) -> Value | None:
    """The value of option ``new``, also when it was given by its old spelling ``old``.

    The old spelling prints ``warning: <old> is deprecated; use <new>`` on
    stderr and then counts as the new option. Both at once with different
    values is refused: one of them would silently lose.
    """
    if old_value is None:
        return new_value
    typer.echo(f"warning: {old} is deprecated; use {new}", err=True)
    if new_value is not None and new_value != old_value:
        raise BadInput(f"{new}: given twice, also as its deprecated spelling {old}")
    return old_value


def required(value: Value | None, option: str) -> Value:
    """``value``, or the same one-line error click gives a missing required option."""
    if value is None:
        raise BadInput(f"{option}: {MISSING}")
    return value


MISSING = "missing; this command needs it"


class ReportFormat(StrEnum):
    """``--format`` of a report that is a table or one JSON document."""

    TABLE = "table"
    JSON = "json"


_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str, option: str = "--since") -> timedelta:
    """``15m``, ``1h``, ``7d``, ``2w``, ``30s`` as a timedelta; BadInput otherwise."""
    match = _DURATION_RE.match(value)
    if not match or int(match.group(1)) == 0:
        raise BadInput(
            f"{option}: '{value}' is not a duration; use a positive number and a unit "
            "(s, m, h, d, w), e.g. 15m, 1h, 7d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
