"""Reading a registry file: its text, its YAML, and validation into the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from contracts.errors import field_path
from contracts.registry.issues import RegistryError, RegistryIssue
from contracts.registry.model import UNPLACED, TenantRegistry


def _friendly(err: dict[str, Any]) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; allowed keys are in docs/registry.md)"
    if kind == "missing":
        return "is required"
    if kind == "string_type" and isinstance(err.get("input"), int):
        return (
            "must be a quoted string (YAML reads unquoted numbers as integers "
            "and drops leading zeros)"
        )
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg


def issues_from_validation_error(exc: ValidationError) -> list[RegistryIssue]:
    """Turn pydantic's errors into field-path issues."""
    return [
        RegistryIssue(
            path=field_path(tuple(e["loc"]), key_last=e["type"] == "extra_forbidden"),
            message=_friendly(dict(e)),
        )
        for e in exc.errors()
    ]


def parse_registry(data: Any, source: str | None = None, *, placed: bool = True) -> TenantRegistry:
    """Validate already-loaded registry data; raises RegistryError.

    ``placed=False``: the registry is read to be given placements
    (``validate --fix-placement``), so full shards and accounts are not errors yet.
    """
    if not isinstance(data, dict):
        raise RegistryError(
            [RegistryIssue(path="", message="the registry must be a YAML mapping")], source
        )
    try:
        return TenantRegistry.model_validate(data, context={UNPLACED: not placed})
    except ValidationError as exc:
        raise RegistryError(issues_from_validation_error(exc), source) from None
    except RegistryError as exc:
        raise RegistryError(exc.issues, source) from None


def read_registry_text(path: str | Path) -> str:
    """A registry file's text; RegistryError if it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"cannot read {path}: {exc.strerror}")], str(path)
        ) from None
    except UnicodeDecodeError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"{path} is not UTF-8 text (byte {exc.start})")],
            str(path),
        ) from None


def parse_registry_yaml(text: str, source: str | None = None) -> Any:
    """Registry text as plain data (not yet validated); RegistryError if not YAML."""
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise RegistryError(
            [RegistryIssue(path="", message=f"not valid YAML: {exc}")], source
        ) from None
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        # The loader's own conversions: an impossible date (2021-02-30), an integer
        # past Python's 4,300 digits, a !!bool or !!int tag on text that is neither.
        raise RegistryError(
            [RegistryIssue(path="", message=f"not valid YAML: {type(exc).__name__}: {exc}")],
            source,
        ) from None
    except RecursionError:
        raise RegistryError(
            [RegistryIssue(path="", message="not valid YAML: nested too deeply")], source
        ) from None


def load_registry(path: str | Path) -> TenantRegistry:
    """Read and validate a registry file; raises RegistryError naming each bad field."""
    source = str(path)
    return parse_registry(parse_registry_yaml(read_registry_text(path), source), source)
