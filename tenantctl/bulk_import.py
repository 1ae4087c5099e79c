"""Bulk import: many tenants from a YAML or CSV file, placed and validated as onboard would.

``tenantctl import <file>`` reads the rows (:func:`read_rows`), turns them into
registry entries (:func:`plan_import`) and writes them in one edit of the
registry. Every row is checked before anything is written, and every problem
is reported at its file line and field (``tenants.csv:14: account_id: must be
12 digits``); one bad row means nothing is written.

The entries are what ``onboard`` would write, tenant by tenant: an ExternalId
from the same generator where the row has none, and the place (operations
account and shard) from the same placement, each row seeing the ones placed
before it (``contracts.registry.placement.Occupancy``). The whole registry is
validated once, at the end, so a thousand rows cost one validation, not a
thousand.

File formats:

- YAML: a list of tenant entries, or a mapping with a ``tenants:`` list (a
  registry fragment). Keys as in the registry's ``tenants[]``; ``account`` is
  accepted for ``account_id``.
- CSV: a header row naming the columns, one tenant per row. Empty cells are
  unset. Lists (``models``, ``applications``, ``service_tiers``) are separated by
  ``;`` or spaces; booleans are ``true`` or ``false``; blocks (``alarms``,
  ``guardrail``, ``limits``, ``price_overrides``) are JSON objects.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from contracts.function_environment import base_type
from contracts.registry import (
    RegistryError,
    RegistryIssue,
    TenantRegistry,
    TenantSpec,
    issues_from_validation_error,
    parse_registry,
)
from contracts.registry.placement import Occupancy, tenant_slots
from contracts.tenant_settings import TenantSettings
from tenantctl.registry_file import new_external_id

# Other spellings of a column or key, and the field they stand for.
ALIASES = {"account": "account_id"}
# Who a tenant is and where it lives, in the order onboard writes them; its
# settings follow, in the order the file gives them.
_IDENTITY = ("id", "account_id", "region", "external_id", "display_name")
_LIST_SEPARATORS = re.compile(r"[;\s]+")
_TENANT_REF = re.compile(r"tenants\[(\d+)\]")


@dataclass(frozen=True)
class ImportRow:
    """One tenant as the file gives it: its fields and the lines they are on (1-based)."""

    line: int
    fields: dict[str, Any]
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, name: str) -> int:
        return self.field_lines.get(name, self.line)


class ImportRefused(Exception):
    """The file cannot be imported; carries every problem, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class ImportPlan:
    """The entries to append to ``tenants``, in file order, and the registry they make."""

    entries: list[dict[str, Any]]
    registry: TenantRegistry


# --- reading the file --------------------------------------------------------------------------


def read_rows(path: Path, text: str | None = None) -> list[ImportRow]:
    """The file's rows; CSV or YAML by extension (``.csv``, ``.yaml``/``.yml``), else by content.

    ImportRefused if the file cannot be read or is neither.
    """
    source = path.name
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportRefused([f"{path}: cannot read it: {exc}"]) from None
    suffix = path.suffix.lower()
    if suffix == ".csv" or (suffix not in {".yaml", ".yml"} and _looks_like_csv(text)):
        return _csv_rows(text, source)
    return _yaml_rows(text, source)


def _looks_like_csv(text: str) -> bool:
    """A header line of comma-separated names, with no YAML key or list item."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return "," in first and ":" not in first and not first.lstrip().startswith(("-", "#"))


def _yaml_rows(text: str, source: str) -> list[ImportRow]:
    try:
        doc = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise ImportRefused([f"{source}: not valid YAML: {exc}"]) from None
    items = doc.get("tenants") if isinstance(doc, CommentedMap) else doc
    if not isinstance(items, CommentedSeq):
        raise ImportRefused([f"{source}:1: a list of tenants (or `tenants:` with one) expected"])
    rows: list[ImportRow] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        line = items.lc.item(i)[0] + 1
        if not isinstance(item, CommentedMap):
            problems.append(f"{source}:{line}: a tenant is a mapping of keys to values")
            continue
        fields: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key, value in item.items():
            name = ALIASES.get(str(key), str(key))
            at = item.lc.key(key)[0] + 1
            if name in fields:
                problems.append(f"{source}:{at}: {key}: {name} is given twice")
                continue
            fields[name] = _plain(value)
            lines[name] = at
        rows.append(ImportRow(line, fields, lines))
    if problems:
        raise ImportRefused(problems)
    return rows


def _plain(value: Any) -> Any:
    """ruamel's round-trip nodes as the plain values the registry's safe loader gives."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _csv_rows(text: str, source: str) -> list[ImportRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 1
    rows: list[ImportRow] = []
    problems: list[str] = []
    for cells in reader:
        line = reader.line_num  # the row's last line: a quoted cell may span several
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header, header_line = _header(cells, line, source, problems), line
            continue
        if len(cells) > len(header):
            problems.append(
                f"{source}:{line}: {len(cells)} cells, but the header (line {header_line}) "
                f"names {len(header)} columns"
            )
            continue
        fields: dict[str, Any] = {}
        for name, cell in zip(header, cells, strict=False):
            if name and cell.strip():
                try:
                    fields[name] = _cell_value(name, cell.strip())
                except ValueError as exc:
                    problems.append(f"{source}:{line}: {name}: {exc}")
        rows.append(ImportRow(line, fields))
    if header is None:
        raise ImportRefused([f"{source}:1: no header row (id,account_id,region,...)"])
    if problems:
        raise ImportRefused(problems)
    return rows


def _header(cells: list[str], line: int, source: str, problems: list[str]) -> list[str]:
    """The columns' field names; an unknown or repeated column is a problem (and ignored)."""
    names: list[str] = []
    for cell in cells:
        name = ALIASES.get(cell.strip().lower(), cell.strip().lower())
        if name not in TenantSpec.model_fields:
            allowed = ", ".join(["account", *TenantSpec.model_fields])
            problems.append(f"{source}:{line}: {cell.strip()}: unknown column (allowed: {allowed})")
            name = ""
        elif name in names:
            problems.append(f"{source}:{line}: {cell.strip()}: {name} is given twice")
            name = ""
        names.append(name)
    return names


def _cell_value(name: str, cell: str) -> Any:
    """A CSV cell as the value the registry's YAML would hold for field ``name``."""
    kind = base_type(TenantSpec.model_fields[name].annotation)
    if kind in {tuple, list}:
        return [item for item in _LIST_SEPARATORS.split(cell) if item]
    if kind is bool:
        if cell.lower() not in {"true", "false"}:
            raise ValueError(f"must be true or false, not {cell!r}")
        return cell.lower() == "true"
    if kind is int:
        try:
            return int(cell)
        except ValueError:
            raise ValueError(f"must be a whole number, not {cell!r}") from None
    if kind is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a block is a JSON object in a CSV cell: {exc.msg}") from None
    return cell


# --- planning the entries ----------------------------------------------------------------------


def plan_import(
    registry: TenantRegistry,
    registry_data: Mapping[str, Any],
    rows: Sequence[ImportRow],
    *,
    source: str,
) -> ImportPlan:
    """The registry entries of ``rows``, placed and validated; ImportRefused naming every problem.

    ``registry_data``: the registry file as loaded (``registry`` is it validated);
    ``source``: the import file's name, as the problems cite it.
    """
    problems: list[tuple[int, str]] = []

    def problem(line: int, where: str, message: str) -> None:
        at = f"{source}:{line}: {where}" if where else f"{source}:{line}"
        problems.append((line, f"{at}: {message}"))

    taken = _taken_external_ids(registry, rows)
    specs: list[tuple[ImportRow, dict[str, Any], TenantSpec]] = []
    for row in rows:
        entry = _entry(row)
        generated = "external_id" not in entry and isinstance(entry.get("id"), str)
        if generated:
            entry["external_id"] = new_external_id(entry["id"], taken)
            taken.add(entry["external_id"])
        try:
            spec = TenantSpec.model_validate(entry)
        except ValidationError as exc:
            issues = issues_from_validation_error(exc)
            if generated and any(i.path == "id" for i in issues):
                # The generated ExternalId starts with the id: report the id, not it.
                issues = [i for i in issues if i.path != "external_id"]
            for issue in issues:
                problem(row.line_of(_field_of(issue.path)), issue.path, issue.message)
            continue
        specs.append((row, entry, spec))

    specs = _without_duplicates(registry, specs, problem)
    occupancy = Occupancy(registry)
    for row, entry, spec in specs:
        slots = tenant_slots(registry, spec)
        try:
            account = registry.operations_account(
                spec.operations_account or registry.operations.name
            )
        except KeyError as exc:
            problem(row.line_of("operations_account"), "operations_account", exc.args[0])
            continue
        if spec.shard is not None:  # the file records a place: kept, and counted
            occupancy.add(account.name, spec.shard, slots)
            continue
        ops, shard = occupancy.place(slots, spec.operations_account)
        _place(entry, registry, ops.name, shard)

    entries = [entry for _, entry, _ in specs]
    try:
        after = parse_registry(_with_tenants(registry_data, entries), source)
    except RegistryError as exc:
        rows_at = [row for row, _, _ in specs]
        for issue in exc.issues:
            problems.append(_located(issue, len(registry.tenants), rows_at, source))
        after = None
    if problems or after is None:
        raise ImportRefused([message for _, message in sorted(problems, key=lambda p: p[0])])
    return ImportPlan(entries, after)


def _taken_external_ids(registry: TenantRegistry, rows: Iterable[ImportRow]) -> set[str]:
    taken = {t.external_id for t in registry.tenants}
    taken.update(str(r.fields["external_id"]) for r in rows if "external_id" in r.fields)
    return taken


def _entry(row: ImportRow) -> dict[str, Any]:
    """The row as a registry entry: identity first, as onboard writes it, then the settings."""
    given = row.fields
    entry = {name: given[name] for name in _IDENTITY if name in given}
    entry.update({k: v for k, v in given.items() if k not in entry})
    return entry


def _place(entry: dict[str, Any], registry: TenantRegistry, account: str, shard: int) -> None:
    """Record the place in the entry, where onboard writes it: before the settings."""
    settings = {k: entry.pop(k) for k in list(entry) if k in TenantSettings.model_fields}
    if registry.additional_operations:
        entry["operations_account"] = account
    entry["shard"] = shard
    entry.update(settings)


def _without_duplicates(
    registry: TenantRegistry,
    specs: list[tuple[ImportRow, dict[str, Any], TenantSpec]],
    problem: Callable[[int, str, str], None],
) -> list[tuple[ImportRow, dict[str, Any], TenantSpec]]:
    """The rows whose id, account and ExternalId are new; a problem for each that is not."""
    unique = ("id", "account_id", "external_id")
    seen: dict[str, dict[str, str]] = {name: {} for name in unique}
    for i, t in enumerate(registry.tenants):
        for name in unique:
            seen[name].setdefault(getattr(t, name), f"tenants[{i}] ('{t.id}') in the registry")
    kept = []
    for row, entry, spec in specs:
        clashes = [name for name in unique if getattr(spec, name) in seen[name]]
        for name in clashes:
            value = getattr(spec, name)
            problem(row.line_of(name), name, f"{value} is already {seen[name][value]}")
        for name in unique:
            seen[name].setdefault(getattr(spec, name), f"on line {row.line_of(name)}")
        if not clashes:
            kept.append((row, entry, spec))
    return kept


def _with_tenants(
    registry_data: Mapping[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    return {**registry_data, "tenants": [*(registry_data.get("tenants") or []), *entries]}


def _field_of(path: str) -> str:
    """The entry's field a path within it starts with: ``models[0]`` -> ``models``."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _located(
    issue: RegistryIssue, first_new: int, rows: Sequence[ImportRow], source: str
) -> tuple[int, str]:
    """A registry issue at the file line of the row (and field) it concerns.

    Issues elsewhere keep their registry path; another new row a message names
    is named by its line.
    """

    def cite(ref: re.Match[str]) -> str:
        k = int(ref[1])
        return f"the tenant on line {rows[k - first_new].line}" if k >= first_new else ref[0]

    message = _TENANT_REF.sub(cite, issue.message)
    match = re.match(r"tenants\[(\d+)\]\.?(.*)", issue.path)
    if match is None or int(match[1]) < first_new:
        return 0, f"{source}: {issue.path}: {message}" if issue.path else f"{source}: {message}"
    row = rows[int(match[1]) - first_new]
    where = match[2]
    line = row.line_of(_field_of(where)) if where else row.line
    return line, f"{source}:{line}: {where}: {message}" if where else f"{source}:{line}: {message}"
