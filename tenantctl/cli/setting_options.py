"""The ``onboard`` and ``update`` options for tenant settings, generated from the contract.

Every setting in ``contracts.tenant_settings`` that names an ``option`` becomes
one, typed by the setting (a list repeats, a boolean is ``--x/--no-x``, an enum
offers its values), with the setting's own help. A new setting therefore shows
up in both commands, in their errors and in ``update --unset`` by itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer

from contracts.function_environment import base_type
from contracts.tenant_settings import setting_named, settings

# The settings a command line sets, by field name: their option spellings.
SETTING_OPTIONS: dict[str, str] = {name: how.option for name, _, how in settings() if how.option}

# ``update --unset <setting>``: any setting, spelled as its option (or its field
# name, hyphenated, for blocks only the file sets); the tenant inherits the default again.
UnsetSetting = Enum(  # type: ignore[misc]
    "UnsetSetting",
    {name.upper(): name.replace("_", "-") for name, _, _ in settings()},
    type=str,
)


def _option(name: str) -> inspect.Parameter:
    field, how = setting_named(name)
    spelling = SETTING_OPTIONS[name]
    kind = base_type(field.annotation)
    annotation: Any
    if kind is bool:
        flag = f"{spelling}/--no-{spelling.removeprefix('--')}"
        annotation = Annotated[bool | None, typer.Option(flag, help=how.help)]
    elif kind in {tuple, list}:
        annotation = Annotated[list[str] | None, typer.Option(spelling, help=how.help)]
    elif kind is int:
        annotation = Annotated[int | None, typer.Option(spelling, help=how.help)]
    elif isinstance(kind, type) and issubclass(kind, Enum):
        annotation = Annotated[
            kind | None, typer.Option(spelling, help=how.help, case_sensitive=False)
        ]
    else:
        annotation = Annotated[str | None, typer.Option(spelling, help=how.help)]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def registry_value(value: Any) -> Any:
    """An option's value as the registry file holds it (enum values, lists)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return list(value)
    return value


def with_setting_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command(..., settings=...)`` as a Typer command with one option per setting.

    The generated options are added after the command's own; ``settings``
    receives the ones the user gave, as registry values, by field name.
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "settings"]
    generated = [_option(name) for name in SETTING_OPTIONS]

    def run(**given: Any) -> None:
        chosen = {
            name: registry_value(value)
            for name in SETTING_OPTIONS
            if (value := given.pop(name, None)) is not None and value != []
        }
        command(**given, settings=chosen)

    parameters = [*own, *generated]
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    run.__name__ = command.__name__
    run.__doc__ = command.__doc__
    return run
