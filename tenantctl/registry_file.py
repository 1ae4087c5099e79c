"""Editing the registry file: add, change or remove a tenant, touching only its lines.

``tenantctl onboard``, ``update`` and ``offboard`` change one list item in a file
people also edit by hand. An edit therefore rewrites only the lines of what it
changes; every other line keeps its bytes: comments, indentation, quoting, flow
or block lists, blank lines and line ends (LF or CRLF, final newline or not).

ruamel.yaml's round-trip mode alone does not give that: it dumps the whole file
with one indentation, and it attaches a comment written *above* a list item to
the end of the item before it, so a key added to one tenant lands under the next
tenant's comment, and removing a tenant takes its neighbour's comment along. The
edits here splice lines instead. ruamel.yaml (round-trip) tells where each
tenant and key starts, and renders new values in the style the file already
uses; the spliced text must then load to exactly the intended data. Only if it
does not, or the layout is one the splicer does not know (a flow-style
``tenants: [...]``, a tenant using a ``<<:`` merge key), does an edit fall back
to a round-trip dump of the whole file: still the right data, most comments kept.

Which comment lines belong to a tenant: the ones directly above its dash (no
blank line between) indented no deeper than the dash, and the ones inside the
entry, indented deeper than the dash. A comment directly above a key, at the
key's column, belongs to that key.

Nothing here validates tenants: callers run ``parse_registry`` on
:attr:`RegistryEdit.data` before :func:`write_atomic`, so an invalid edit never
reaches the disk.

Concurrent edits: every read-validate-write runs under :func:`registry_lock`, a
real lock file next to the registry, so two ``tenantctl onboard`` processes edit
one after the other and neither loses the other's tenant. The stale-file check
in :func:`write_atomic` stays for people editing the file by hand meanwhile.
"""

from __future__ import annotations

import copy
import enum
import io
import os
import re
import secrets
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from contracts.registry import (
    TenantRegistry,
    parse_registry,
    parse_registry_yaml,
    read_registry_text,
)

# Keys whose values YAML would read as numbers if unquoted (account ids keep
# leading zeros only as strings); new entries quote them like the file does, and
# with double quotes when the file has none yet.
_QUOTED_KEYS = frozenset({"account_id"})

# What the safe loader raises besides YAMLError on text that is not complete YAML.
_LOAD_ERRORS = (YAMLError, ValueError, KeyError, TypeError, OverflowError, RecursionError)


@dataclass(frozen=True)
class RegistryEdit:
    """The result of an edit, not yet written: the new text and the data it loads to."""

    text: str
    data: dict[str, Any]


def _round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    # The layout config/tenants.yaml uses: list dashes indented under their key.
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long values such as model ids
    return yaml


class RegistryFile:
    """A registry file as read from disk, ready for one edit.

    Holds the original text, line ends included, so an edit can keep them and
    :func:`write_atomic` can refuse to overwrite a file that changed in between.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.data: Any = parse_registry_yaml(text, str(path))

    @classmethod
    def read(cls, path: str | Path) -> RegistryFile:
        """Read a registry file; RegistryError if it cannot be read or is not YAML."""
        path = Path(path)
        try:
            # newline="": CRLF stays CRLF, so an edit leaves the other lines' ends alone.
            with path.open(encoding="utf-8", newline="") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            text = read_registry_text(path)  # raises the registry's own error, naming the file
        return cls(path, text)

    def validated(self) -> TenantRegistry:
        """The file's registry, validated; RegistryError naming each bad field."""
        return parse_registry(self.data, str(self.path))

    def tenant_specs(self) -> list[Mapping[str, Any]]:
        """The tenant entries as written (no defaults applied)."""
        tenants = self.data.get("tenants") if isinstance(self.data, dict) else None
        return [t for t in tenants or [] if isinstance(t, Mapping)]

    def index_of(self, tenant_id: str) -> int | None:
        """Position of a tenant in ``tenants``, or None."""
        for i, spec in enumerate(self.tenant_specs()):
            if spec.get("id") == tenant_id:
                return i
        return None

    def add_tenant(self, entry: Mapping[str, Any]) -> RegistryEdit:
        """The file with ``entry`` appended to ``tenants`` in the layout the file uses."""
        return self.add_tenants([entry])

    def add_tenants(self, entries: Sequence[Mapping[str, Any]]) -> RegistryEdit:
        """The file with ``entries`` appended to ``tenants``, in order, as one edit.

        One splice and one check of the result however many there are, so a bulk
        import costs what one onboarding does, plus the new lines.
        """
        plain: list[dict[str, Any]] = [_plain(entry) for entry in entries]
        expected = copy.deepcopy(self.data) if isinstance(self.data, dict) else {}
        expected["tenants"] = [*(expected.get("tenants") or []), *plain]

        def rt_edit(doc: CommentedMap) -> None:
            tenants = doc.get("tenants")
            if not isinstance(tenants, CommentedSeq):
                tenants = CommentedSeq()
                doc["tenants"] = tenants
            tenants.fa.set_block_style()  # `tenants: []` would otherwise stay a flow list
            tenants.extend(_yaml_value(entry, flow_lists=False) for entry in plain)

        return self._edited(lambda lines: lines.add(plain), expected, rt_edit)

    def update_tenant(self, index: int, changes: Mapping[str, Any]) -> RegistryEdit:
        """The file with ``changes`` set on ``tenants[index]``; only their lines change.

        A change to None deletes the key (and the comment lines above it, at its
        column): the tenant then inherits the default, or has no such setting.
        A change to the value already there leaves its line alone.
        """
        return self.update_tenants({index: changes})

    def update_tenants(self, changes: Mapping[int, Mapping[str, Any]]) -> RegistryEdit:
        """The file with ``changes[index]`` set on each ``tenants[index]``, as one edit."""
        planned = {
            index: {key: _plain(value) for key, value in entry_changes.items()}
            for index, entry_changes in changes.items()
        }
        expected = copy.deepcopy(self.data)
        for index, entry_changes in planned.items():
            entry = expected["tenants"][index]
            for key, value in entry_changes.items():
                if value is None:
                    entry.pop(key, None)
                else:
                    entry[key] = value

        def rt_edit(doc: CommentedMap) -> None:
            for index, entry_changes in planned.items():
                item = doc["tenants"][index]
                for key, value in entry_changes.items():
                    if value is None:
                        item.pop(key, None)
                    else:
                        item[key] = _yaml_value(value, flow_lists=False)

        return self._edited(lambda lines: lines.update(planned), expected, rt_edit)

    def remove_tenant(self, index: int) -> RegistryEdit:
        """The file without ``tenants[index]``, its own comment lines and its blank separator."""
        expected = copy.deepcopy(self.data)
        del expected["tenants"][index]
        return self._edited(
            lambda lines: lines.remove(index), expected, lambda doc: doc["tenants"].pop(index)
        )

    def _edited(
        self,
        splice: Callable[[_RegistryLines], str],
        expected: dict[str, Any],
        rt_edit: Callable[[CommentedMap], Any],
    ) -> RegistryEdit:
        try:
            spliced: str | None = splice(_RegistryLines(self.text))
        except (_UnsupportedLayout, YAMLError):
            spliced = None
        if spliced is not None and _loads_equal(spliced, expected):
            return RegistryEdit(text=spliced, data=expected)
        text = _round_trip_dump(self.text, rt_edit)
        if not _loads_equal(text, expected):  # pragma: no cover - ruamel bug guard
            raise RuntimeError("registry edit did not round-trip; file left unchanged")
        return RegistryEdit(text=text, data=expected)


def _round_trip_dump(text: str, rt_edit: Callable[[CommentedMap], Any]) -> str:
    """The whole file edited and dumped by ruamel.yaml: the fallback for unknown layouts."""
    yaml = _round_trip_yaml()
    doc = yaml.load(text)
    if doc is None:
        doc = CommentedMap()
    rt_edit(doc)
    out = io.StringIO()
    yaml.dump(doc, out)
    dumped = out.getvalue()
    newline = _LINE_BREAK.search(text)
    return dumped.replace("\n", newline.group()) if newline else dumped


def _loads_equal(text: str, expected: Any) -> bool:
    try:
        return bool(YAML(typ="safe", pure=True).load(text) == expected)
    except _LOAD_ERRORS:
        return False


def _plain(value: Any) -> Any:
    """A value as the registry file holds it: lists, dicts and plain scalars."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _yaml_value(value: Any, *, flow_lists: bool, quote: type[str] | None = None) -> Any:
    """A plain value as ruamel.yaml round-trip nodes, in the given list and quote style."""
    if isinstance(value, str) and quote is not None:
        return quote(value)
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = _yaml_value(item, flow_lists=flow_lists)
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_yaml_value(item, flow_lists=flow_lists) for item in value)
        if flow_lists:
            seq.fa.set_flow_style()
        return seq
    return value


# --- line splicing -------------------------------------------------------------------------

# The line breaks YAML counts, so line numbers agree with ruamel.yaml's.
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_BREAK_CHARS = "\r\n\x85\u2028\u2029"


class _UnsupportedLayout(Exception):
    """A layout the line splicer does not handle; the edit falls back to a full dump."""


def _split_lines(text: str) -> list[str]:
    """The lines of ``text``, each with its own line break."""
    lines: list[str] = []
    start = 0
    for match in _LINE_BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def _body(line: str) -> str:
    return line.rstrip(_BREAK_CHARS)


def _indent(line: str) -> int:
    body = _body(line)
    return len(body) - len(body.lstrip(" "))


def _is_blank(line: str) -> bool:
    return not _body(line).strip()


def _is_comment(line: str) -> bool:
    return _body(line).lstrip().startswith("#")


def _comment_start(body: str) -> int | None:
    """Where the end-of-line comment of one line of YAML starts, or None.

    A ``#`` starts a comment only after whitespace and outside quotes: the first
    such ``#`` with complete YAML before it is the one.
    """
    for match in re.finditer(r"(?<=[ \t])#", body):
        try:
            YAML(typ="safe", pure=True).load(body[: match.start()])
        except _LOAD_ERRORS:
            continue
        return match.start()
    return None


def _with_comment(new_body: str, old_body: str) -> str:
    """``new_body`` with the end-of-line comment of ``old_body``, in its column if it fits."""
    at = _comment_start(old_body)
    if at is None:
        return new_body
    gap = at - len(old_body[:at].rstrip())
    return new_body + " " * max(at - len(new_body), min(gap, 2)) + old_body[at:]


def _without_comment(body: str) -> str:
    at = _comment_start(body)
    return (body[:at] if at is not None else body).rstrip()


@dataclass(frozen=True)
class _EntryPlace:
    """Where one tenant entry sits, as line numbers (0-based) and columns."""

    head: int  # first line of its block: its own comment lines above the dash
    dash: int  # the line of its dash
    end: int  # one past its last line (its last key, or a comment indented inside it)
    dash_col: int
    key_col: int


@dataclass(frozen=True)
class _Style:
    """How the file writes nested values: list style and indentation."""

    flow_lists: bool = False
    list_offset: int = 2  # a block list's dashes, past its key's column
    list_gap: int = 2  # a block list's items, past their dash
    map_indent: int = 2


class _RegistryLines:
    """The registry text as lines, with where each tenant and key sits in them."""

    def __init__(self, text: str) -> None:
        self.lines = _split_lines(text)
        first_break = _LINE_BREAK.search(text)
        self.newline = first_break.group() if first_break else "\n"
        self.final_break = not self.lines or _body(self.lines[-1]) != self.lines[-1]
        if self.lines and not self.final_break:
            self.lines[-1] += (
                self.newline
            )  # every line ends alike while splicing; _spliced undoes it
        doc = _round_trip_yaml().load(text)
        if not isinstance(doc, CommentedMap):
            raise _UnsupportedLayout("the registry is not a mapping")
        self.doc = doc
        self.map_indent = self._map_indent()
        self._places: list[_EntryPlace] | None = None  # found once: the lines never change

    # --- the three edits ---------------------------------------------------------------------

    def add(self, entries: list[dict[str, Any]]) -> str:
        """The text with ``entries`` after the last tenant, laid out like the tenants before."""
        renderer = _EntryRenderer(self)
        tenants = self.doc.get("tenants")
        if isinstance(tenants, CommentedSeq) and tenants and not tenants.fa.flow_style():
            places = self.places()
            last = places[-1]
            # Tenants separated by blank lines get one before each new tenant too.
            blank = len(places) > 1 and any(map(_is_blank, self.lines[places[-2].end : last.head]))
            new = [
                line
                for entry in entries
                for line in [
                    *([self.newline] if blank else []),
                    *renderer.entry_lines(entry, last.dash_col, last.key_col),
                ]
            ]
            return self._spliced([(last.end, last.end, new)])
        if tenants is not None and not (isinstance(tenants, CommentedSeq) and not tenants):
            raise _UnsupportedLayout("tenants is a flow list or not a list")
        # No tenant to copy: nest the list like the defaults' lists, if any.
        dash_col = self._key_col_of_tenants() + self._style([self.doc.get("defaults")]).list_offset
        new = [
            line
            for entry in entries
            for line in renderer.entry_lines(entry, dash_col, dash_col + 2)
        ]
        if "tenants" not in self.doc:
            return self._spliced(
                [(len(self.lines), len(self.lines), [self._line("tenants:"), *new])]
            )
        # `tenants:` or `tenants: []`, with any comment: the list starts on the next line.
        line_no = self.doc.lc.key("tenants")[0]
        body = _body(self.lines[line_no])
        named = _without_comment(body)
        named = named.removesuffix("[]").rstrip() if isinstance(tenants, CommentedSeq) else named
        if not named.endswith(":"):
            raise _UnsupportedLayout("tenants: a value on its key's line")
        return self._spliced(
            [
                (line_no, line_no + 1, [self._line(_with_comment(named, body))]),
                (line_no + 1, line_no + 1, new),
            ]
        )

    def update(self, changes: Mapping[int, Mapping[str, Any]]) -> str:
        """The text with ``changes[i]`` applied to each tenant ``i``, each on its own lines only."""
        places = self.places()
        splices: list[tuple[int, int, list[str]]] = []
        for index, entry_changes in changes.items():
            splices += self._updated(index, entry_changes, places[index])
        return self._spliced(splices)

    def _updated(
        self, index: int, changes: Mapping[str, Any], place: _EntryPlace
    ) -> list[tuple[int, int, list[str]]]:
        item = self._item(index)
        spans = self._key_spans(item, place)
        tenants = self.doc["tenants"]
        # The nearest entries first: this one, then the others from the last up.
        hints = _NearestEntries(item, tenants, index, self.doc.get("defaults"))
        splices: list[tuple[int, int, list[str]]] = []
        added: list[str] = []
        for key, value in changes.items():
            if key in spans and _plain(item[key]) == value:
                continue  # already so: its line stays as written
            if value is None:
                if key in spans:
                    start, end = spans[key]
                    if start == place.dash:
                        raise _UnsupportedLayout("deleting the key on the dash line")
                    while (
                        _is_comment(self.lines[start - 1])
                        and _indent(self.lines[start - 1]) == place.key_col
                    ):
                        start -= 1
                    splices.append((start, end, []))
                continue
            rendered = self._render(key, value, hints)
            if key in spans:
                splices.append(self._replaced(item, key, spans[key], place, rendered))
            else:
                added += [self._line(" " * place.key_col + line) for line in rendered]
        if added:
            splices.append((place.end, place.end, added))
        return splices

    def remove(self, index: int) -> str:
        """The text without tenant ``index``, its own comments and the blank lines after it."""
        places = self.places()
        place = places[index]
        start, end = place.head, place.end
        if index + 1 < len(places):
            while end < places[index + 1].head and _is_blank(self.lines[end]):
                end += 1
        elif index > 0:
            while start > places[index - 1].end and _is_blank(self.lines[start - 1]):
                start -= 1
        splices: list[tuple[int, int, list[str]]] = [(start, end, [])]
        if len(places) == 1:  # `tenants:` alone would load as null; an empty list stays a list
            line_no = self.doc.lc.key("tenants")[0]
            body = _body(self.lines[line_no])
            splices.append(
                (
                    line_no,
                    line_no + 1,
                    [self._line(_with_comment(_without_comment(body) + " []", body))],
                )
            )
        return self._spliced(splices)

    # --- where things are ----------------------------------------------------------------------

    def places(self) -> list[_EntryPlace]:
        """Where each tenant entry sits; _UnsupportedLayout for a layout not handled."""
        if self._places is None:
            self._places = self._find_places()
        return self._places

    def _find_places(self) -> list[_EntryPlace]:
        tenants = self.doc.get("tenants")
        if not isinstance(tenants, CommentedSeq) or tenants.fa.flow_style():
            raise _UnsupportedLayout("tenants is not a block list")
        dashes: list[tuple[int, int, int]] = []
        for i in range(len(tenants)):
            line_no, col = tenants.lc.item(i)
            body = _body(self.lines[line_no])
            dash = body.rfind("-", 0, col)
            if dash < 0 or body[:dash].strip() or body[dash + 1 : col].strip():
                raise _UnsupportedLayout(f"tenants[{i}] does not start on its dash's line")
            dashes.append((line_no, dash, col))
        places: list[_EntryPlace] = []
        for i, (dash_line, dash_col, key_col) in enumerate(dashes):
            end = dashes[i + 1][0] if i + 1 < len(dashes) else self._end_of_tenants()
            # Blank lines and comments no deeper than the dash, at the end, are not
            # the entry's: they separate it from, or describe, what follows.
            while end > dash_line + 1 and (
                _is_blank(self.lines[end - 1])
                or (_is_comment(self.lines[end - 1]) and _indent(self.lines[end - 1]) <= dash_col)
            ):
                end -= 1
            head = dash_line
            while (
                head > 0
                and _is_comment(self.lines[head - 1])
                and _indent(self.lines[head - 1]) <= dash_col
            ):
                head -= 1
            places.append(_EntryPlace(head, dash_line, end, dash_col, key_col))
        return places

    def _end_of_tenants(self) -> int:
        keys = list(self.doc.keys())
        after = keys.index("tenants") + 1
        return self.doc.lc.key(keys[after])[0] if after < len(keys) else len(self.lines)

    def _key_col_of_tenants(self) -> int:
        return self.doc.lc.key("tenants")[1] if "tenants" in self.doc else 0

    def _item(self, index: int) -> CommentedMap:
        item = self.doc["tenants"][index]
        if not isinstance(item, CommentedMap) or item.fa.flow_style() or item.merge:
            raise _UnsupportedLayout(f"tenants[{index}] is not a plain block mapping")
        return item

    def _key_spans(self, item: CommentedMap, place: _EntryPlace) -> dict[str, tuple[int, int]]:
        """Each key's lines: from its own line to its value's last line, comments after excluded."""
        keys = list(item.keys())
        starts = [item.lc.key(key)[0] for key in keys]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise _UnsupportedLayout("keys share a line")
        spans: dict[str, tuple[int, int]] = {}
        for n, key in enumerate(keys):
            end = starts[n + 1] if n + 1 < len(keys) else place.end
            while end > starts[n] + 1 and (
                _is_blank(self.lines[end - 1]) or _is_comment(self.lines[end - 1])
            ):
                end -= 1
            spans[key] = (starts[n], end)
        return spans

    # --- writing new lines in the file's style -------------------------------------------------

    def _replaced(
        self,
        item: CommentedMap,
        key: str,
        span: tuple[int, int],
        place: _EntryPlace,
        rendered: list[str],
    ) -> tuple[int, int, list[str]]:
        start, end = span
        body = _body(self.lines[start])
        first = body[: place.key_col] + rendered[0]  # the dash stays on the first key's line
        old = item[key]
        block_value = isinstance(old, (CommentedMap, CommentedSeq)) and not old.fa.flow_style()
        prefix = f"{key}: "
        if (
            old is not None
            and not block_value
            and len(rendered) == 1
            and end == start + 1
            and item.lc.value(key)[0] == start
            and rendered[0].startswith(prefix)
        ):
            # Only the value changes: the key and its alignment stay as written.
            first = body[: item.lc.value(key)[1]] + rendered[0][len(prefix) :]
        new = [_with_comment(first, body), *(" " * place.key_col + line for line in rendered[1:])]
        return start, end, [self._line(line) for line in new]

    def _render(self, key: str, value: Any, hints: Iterable[Any]) -> list[str]:
        """``key: value`` as the file would write it, at column 0, one string per line.

        Only a nested value needs the file's list style, only a string its quotes:
        a scalar's line is the same in any style, so the lookup is skipped.
        """
        style = self._style(hints, key) if _nested(value) else _Style(map_indent=self.map_indent)
        quote = self._quote(hints, key) if isinstance(value, str) else None
        return self._dump([(key, value, quote)], style)

    def _dump(self, items: list[tuple[str, Any, type[str] | None]], style: _Style) -> list[str]:
        """``key: value`` lines of each ``(key, value, quotes)``, in ``style``, at column 0."""
        yaml = YAML(typ="rt")
        yaml.width = 4096
        yaml.indent(
            mapping=style.map_indent,
            sequence=style.list_offset + style.list_gap,
            offset=style.list_offset,
        )
        node = CommentedMap()
        for key, value, quote in items:
            node[key] = _yaml_value(value, flow_lists=style.flow_lists, quote=quote)
        out = io.StringIO()
        yaml.dump(node, out)
        return out.getvalue().splitlines()

    def _quote(self, hints: Iterable[Any], key: str) -> type[str] | None:
        """The quotes the nearest entry (this one first) puts on ``key``'s string value."""
        for mapping in hints:
            value = mapping.get(key) if isinstance(mapping, CommentedMap) else None
            if isinstance(value, (SingleQuotedScalarString, DoubleQuotedScalarString)):
                return type(value)
            if isinstance(value, str):
                return None
        return DoubleQuotedScalarString if key in _QUOTED_KEYS else None

    def _style(self, hints: Iterable[Any], key: str | None = None) -> _Style:
        """The style of the nearest list: ``key``'s own first, then any in the nearest entry."""
        for mapping in hints:
            if not isinstance(mapping, CommentedMap):
                continue
            keys = sorted(mapping, key=lambda k: k != key)  # the same key first
            for candidate in keys:
                style = self._list_style(mapping, candidate)
                if style is not None:
                    return style
        # No list to copy: nest like the tenants list itself does under its key.
        tenants = self.doc.get("tenants")
        offset = 2
        if isinstance(tenants, CommentedSeq) and tenants and not tenants.fa.flow_style():
            offset = self.places()[0].dash_col - self._key_col_of_tenants()
        return _Style(list_offset=offset, map_indent=self.map_indent)

    def _list_style(self, mapping: CommentedMap, key: Any) -> _Style | None:
        seq = mapping.get(key)
        if not isinstance(seq, CommentedSeq):
            return None
        if seq.fa.flow_style():
            return _Style(flow_lists=True, map_indent=self.map_indent)
        if not seq:
            return None
        line_no, col = seq.lc.item(0)
        dash = _body(self.lines[line_no]).rfind("-", 0, col)
        offset, gap = dash - mapping.lc.key(key)[1], col - dash
        if dash < 0 or offset < 0 or gap < 2:
            return None
        return _Style(list_offset=offset, list_gap=gap, map_indent=self.map_indent)

    def _map_indent(self) -> int:
        """How far the file indents a nested mapping's keys (``operations:`` and the like)."""
        for key, value in self.doc.items():
            if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
                indent = value.lc.key(next(iter(value)))[1] - self.doc.lc.key(key)[1]
                if indent > 0:
                    return int(indent)
        return 2

    def _line(self, body: str) -> str:
        return body + self.newline

    def _spliced(self, splices: list[tuple[int, int, list[str]]]) -> str:
        """The text with each ``(start, end, new lines)`` replacing lines ``start:end``."""
        lines = list(self.lines)
        bottom = len(lines) + 1
        for start, end, new in sorted(splices, key=lambda s: (s[0], s[1]), reverse=True):
            if end > bottom:
                raise _UnsupportedLayout("overlapping edits")
            lines[start:end] = new
            bottom = start
        text = "".join(lines)
        if not self.final_break and text.endswith(self.newline):
            text = text[: -len(self.newline)]
        return text


class _EntryRenderer:
    """New tenant entries in the file's style, each key's style looked up once for all.

    A new entry copies the nearest entry's list style and quotes: the last
    tenant's first, then the ones above it, then the defaults'.
    """

    def __init__(self, lines: _RegistryLines) -> None:
        self.lines = lines
        self.hints = [*reversed(lines.doc.get("tenants") or []), lines.doc.get("defaults")]
        self._styles: dict[str, _Style] = {}
        self._quotes: dict[str, type[str] | None] = {}

    def entry_lines(self, entry: Mapping[str, Any], dash_col: int, key_col: int) -> list[str]:
        dash = " " * dash_col + "-" + " " * (key_col - dash_col - 1)
        nested = {self._style(key) for key, value in entry.items() if _nested(value)}
        if len(nested) <= 1:
            # One dump for the whole entry: its keys' lines are the same as one by one.
            style = nested.pop() if nested else _Style(map_indent=self.lines.map_indent)
            rendered = self.lines._dump(
                [(key, value, self._quote(key, value)) for key, value in entry.items()], style
            )
        else:
            rendered = [
                line
                for key, value in entry.items()
                for line in self.lines._dump(
                    [(key, value, self._quote(key, value))],
                    self._style(key)
                    if _nested(value)
                    else _Style(map_indent=self.lines.map_indent),
                )
            ]
        lines = [dash + rendered[0], *(" " * key_col + line for line in rendered[1:])]
        return [self.lines._line(line) for line in lines]

    def _style(self, key: str) -> _Style:
        if key not in self._styles:
            self._styles[key] = self.lines._style(self.hints, key)
        return self._styles[key]

    def _quote(self, key: str, value: Any) -> type[str] | None:
        if not isinstance(value, str):
            return None
        if key not in self._quotes:
            self._quotes[key] = self.lines._quote(self.hints, key)
        return self._quotes[key]


def _nested(value: Any) -> bool:
    """A value whose lines follow the file's list style (a scalar's line has none)."""
    return isinstance(value, (Mapping, list))


class _NearestEntries:
    """The entries a changed tenant copies its style from, nearest first: itself, the
    other tenants from the last up, the defaults. Lazy: a lookup mostly stops early."""

    def __init__(self, item: Any, tenants: Sequence[Any], index: int, defaults: Any) -> None:
        self.item, self.tenants, self.index, self.defaults = item, tenants, index, defaults

    def __iter__(self) -> Iterator[Any]:
        yield self.item
        for i in range(len(self.tenants) - 1, -1, -1):
            if i != self.index:
                yield self.tenants[i]
        yield self.defaults


# --- writing -------------------------------------------------------------------------------


def new_external_id(tenant_id: str, taken: set[str]) -> str:
    """A fresh ExternalId: the tenant id plus 64 random bits, unique in the registry.

    ``taken``: the ExternalIds already in use; the new one is not added to it.
    """
    while True:
        candidate = f"{tenant_id}-{secrets.token_hex(8)}"
        if candidate not in taken:
            return candidate


class ConcurrentEditError(Exception):
    """The file changed on disk between reading and writing it."""


class RegistryLockTimeout(Exception):
    """Another process held the registry's lock for too long."""


LOCK_TIMEOUT_SECONDS = 60.0


def lock_path(path: str | Path) -> Path:
    """The lock file of a registry: ``.<name>.lock`` beside it (git-ignored)."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextmanager
def registry_lock(path: str | Path, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the registry's lock for one read-validate-write.

    An OS-level lock (``flock`` through the ``filelock`` library): released by the
    kernel if the process dies, so a crash never leaves the registry locked.
    Temporary files an interrupted writer left behind are removed while it is held.
    """
    lock = FileLock(lock_path(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise RegistryLockTimeout(
            f"{path} is being edited by another tenantctl (lock {lock_path(path)} held for "
            f"over {timeout:.0f}s); try again"
        ) from None
    try:
        _remove_stale_temporaries(Path(path))
        yield
    finally:
        lock.release()


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def _remove_stale_temporaries(path: Path) -> None:
    # Only a writer holding the lock creates these, and this process holds it now:
    # any that exist were left by a writer killed mid-write (SIGKILL, power loss).
    for leftover in path.parent.glob(f"{_temporary_prefix(path)}*.tmp"):
        leftover.unlink(missing_ok=True)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, then let them act.

    Ctrl-C or a kill during the write would otherwise stop the process between
    creating the temporary copy and renaming or removing it, leaving a full copy
    of the registry behind. Deferred, the signal arrives when the file is whole
    again (old or new) and the temporary copy is gone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    deferred = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, deferred)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_atomic(path: str | Path, text: str, *, expected_current: str | None = None) -> None:
    """Replace ``path`` with ``text`` so readers see the old file or the new one, never half.

    The text goes to a temporary file in the same directory (``os.replace`` is
    only atomic within one filesystem), is fsynced, then renamed over the
    original; the directory is fsynced so the rename survives a crash. On any
    failure the temporary file is removed and the original is untouched. With
    ``expected_current``, refuses (ConcurrentEditError) if the file no longer
    holds that text, so a concurrent hand edit is not silently lost.
    """
    path = Path(path)
    if expected_current is not None and _current_text(path) != expected_current:
        raise ConcurrentEditError(
            f"{path} changed while it was being edited; run the command again"
        )
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    with _signals_deferred():
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as tmp:
                tmp.write(text)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, mode)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


def _current_text(path: Path) -> str:
    # As RegistryFile.read reads it: line ends as they are, CRLF included.
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
