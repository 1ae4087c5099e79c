"""Editing the registry file touches only the lines of the tenant it changes.

People edit config/tenants.yaml by hand too: its comments, indentation, quoting
and list styles are theirs. Each test below writes a file in one layout, makes
one edit and compares the whole new text with what a person would have typed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.registry import RegistryError, parse_registry_yaml
from tenantctl.registry_file import RegistryEdit, RegistryFile, write_atomic

HEAD = """\
version: 1
operations:
  account_id: "111111111111"
  region: us-east-1
"""

# Dashes at column 0 under `tenants:`, a comment above each tenant, one inside
# an entry and one at the end of the file.
COLUMN_ZERO = (
    HEAD
    + """\
tenants:
# Acme: first customer
- id: acme
  account_id: "222222222222"
  region: us-east-1
  external_id: acme-5f0c2a9e8b7d4c1e
  # full content: asked for by their DPO
  log_content: full   # metadata | redacted | full
  cost_centre: CC-7
# Globex: pilot
- id: globex
  account_id: '333333333333'
  region: us-west-2
  external_id: globex-9a1b3c5d7e2f4a6b
  models: [anthropic.claude-3-haiku-20240307-v1:0]
# new tenants go above this line
"""
)

# Dashes indented under `tenants:` (the layout of config/tenants.yaml), block lists.
INDENTED = (
    HEAD
    + """\
tenants:
  # Acme: first customer
  - id: acme
    account_id: "222222222222"
    region: us-east-1
    external_id: acme-5f0c2a9e8b7d4c1e
    models:
      - anthropic.claude-3-haiku-20240307-v1:0
      - us.anthropic.claude-3-5-haiku-20241022-v1:0

  # Globex: pilot
  - id: globex
    account_id: "333333333333"
    region: us-west-2
    external_id: globex-9a1b3c5d7e2f4a6b
    log_retention_days: 365
"""
)

INITECH = {
    "id": "initech",
    "account_id": "444444444444",
    "region": "eu-west-1",
    "external_id": "initech-0123456789abcdef",
    "models": ["anthropic.claude-3-haiku-20240307-v1:0"],
}


def _doc(text: str) -> RegistryFile:
    return RegistryFile(Path("tenants.yaml"), text)


def _consistent(edit: RegistryEdit) -> str:
    """The edit's text, after checking it loads to the data the caller validates."""
    assert parse_registry_yaml(edit.text) == edit.data
    return edit.text


# --- update ----------------------------------------------------------------------------------


def test_update_changes_only_the_changed_line_in_a_column_zero_layout() -> None:
    text = _consistent(_doc(COLUMN_ZERO).update_tenant(0, {"log_content": "redacted"}))

    # The end-of-line comment stays in its column; nothing is re-indented.
    assert text == COLUMN_ZERO.replace(
        "  log_content: full   # metadata", "  log_content: redacted  # metadata"
    )


def test_update_adds_a_key_at_the_end_of_the_entry_not_under_the_next_tenants_comment() -> None:
    text = _consistent(_doc(COLUMN_ZERO).update_tenant(0, {"log_retention_days": 30}))

    assert text == COLUMN_ZERO.replace(
        "  cost_centre: CC-7\n", "  cost_centre: CC-7\n  log_retention_days: 30\n"
    )


def test_update_to_none_deletes_the_key_and_nothing_else() -> None:
    edit = _doc(COLUMN_ZERO).update_tenant(0, {"cost_centre": None})

    assert "cost_centre" not in edit.data["tenants"][0]
    assert _consistent(edit) == COLUMN_ZERO.replace("  cost_centre: CC-7\n", "")


def test_update_to_none_deletes_the_comment_written_above_that_key() -> None:
    text = _consistent(_doc(COLUMN_ZERO).update_tenant(0, {"log_content": None}))

    assert text == COLUMN_ZERO.replace(
        "  # full content: asked for by their DPO\n"
        "  log_content: full   # metadata | redacted | full\n",
        "",
    )


def test_update_of_an_unset_key_to_none_changes_nothing() -> None:
    assert _consistent(_doc(INDENTED).update_tenant(1, {"cost_centre": None})) == INDENTED


def test_update_keeps_a_flow_list_a_flow_list() -> None:
    models = ["anthropic.claude-3-haiku-20240307-v1:0", "us.amazon.nova-lite-v1:0"]

    text = _consistent(_doc(COLUMN_ZERO).update_tenant(1, {"models": models}))

    assert text == COLUMN_ZERO.replace(
        "  models: [anthropic.claude-3-haiku-20240307-v1:0]\n",
        "  models: [anthropic.claude-3-haiku-20240307-v1:0, us.amazon.nova-lite-v1:0]\n",
    )


def test_update_keeps_a_block_list_a_block_list_at_its_indentation() -> None:
    text = _consistent(
        _doc(INDENTED).update_tenant(0, {"models": ["anthropic.claude-3-haiku-20240307-v1:0"]})
    )

    assert text == INDENTED.replace("      - us.anthropic.claude-3-5-haiku-20241022-v1:0\n", "")


def test_update_keeps_the_quoting_style_of_the_value_it_replaces() -> None:
    text = _consistent(_doc(COLUMN_ZERO).update_tenant(1, {"account_id": "555555555555"}))

    assert text == COLUMN_ZERO.replace("'333333333333'", "'555555555555'")


def test_update_with_the_values_already_there_returns_the_same_text() -> None:
    edit = _doc(INDENTED).update_tenant(1, {"log_retention_days": 365, "region": "us-west-2"})

    assert _consistent(edit) == INDENTED


def test_update_of_the_last_line_of_a_file_without_a_final_newline() -> None:
    original = INDENTED.rstrip("\n")

    text = _consistent(_doc(original).update_tenant(1, {"log_retention_days": 30}))

    assert text == original.replace("log_retention_days: 365", "log_retention_days: 30")


def test_update_keeps_crlf_line_ends() -> None:
    original = INDENTED.replace("\n", "\r\n")

    text = _consistent(_doc(original).update_tenant(1, {"cost_centre": "CC-9"}))

    assert text == original + "    cost_centre: CC-9\r\n"


# --- remove ----------------------------------------------------------------------------------


def test_remove_takes_the_entry_and_its_own_comment_but_not_the_next_tenants() -> None:
    text = _consistent(_doc(COLUMN_ZERO).remove_tenant(0))

    start = COLUMN_ZERO.index("# Acme")
    assert text == COLUMN_ZERO[:start] + COLUMN_ZERO[COLUMN_ZERO.index("# Globex") :]


def test_remove_after_an_update_still_keeps_the_next_tenants_comment() -> None:
    updated = _consistent(_doc(COLUMN_ZERO).update_tenant(0, {"log_retention_days": 30}))

    text = _consistent(_doc(updated).remove_tenant(0))

    assert text.endswith(COLUMN_ZERO[COLUMN_ZERO.index("# Globex") :])
    assert "Acme" not in text and "acme" not in text


def test_remove_of_the_last_tenant_keeps_the_comment_at_the_end_of_the_file() -> None:
    text = _consistent(_doc(COLUMN_ZERO).remove_tenant(1))

    start = COLUMN_ZERO.index("# Globex")
    end = COLUMN_ZERO.index("# new tenants go above")
    assert text == COLUMN_ZERO[:start] + COLUMN_ZERO[end:]


def test_remove_takes_the_blank_line_that_separated_the_entry() -> None:
    text = _consistent(_doc(INDENTED).remove_tenant(0))

    assert text == HEAD + "tenants:\n" + INDENTED[INDENTED.index("  # Globex") :]


# --- add -------------------------------------------------------------------------------------


def test_add_appends_in_the_column_zero_layout_above_the_comment_at_the_end() -> None:
    text = _consistent(_doc(COLUMN_ZERO).add_tenant(INITECH))

    # Lists of new entries follow the file's own style: here, flow.
    new = (
        "- id: initech\n"
        "  account_id: '444444444444'\n"
        "  region: eu-west-1\n"
        "  external_id: initech-0123456789abcdef\n"
        "  models: [anthropic.claude-3-haiku-20240307-v1:0]\n"
    )
    at = COLUMN_ZERO.index("# new tenants go above")
    assert text == COLUMN_ZERO[:at] + new + COLUMN_ZERO[at:]


def test_add_appends_in_the_indented_layout_with_a_blank_line_like_the_others() -> None:
    text = _consistent(_doc(INDENTED).add_tenant(INITECH))

    assert text == INDENTED + (
        "\n"
        "  - id: initech\n"
        '    account_id: "444444444444"\n'
        "    region: eu-west-1\n"
        "    external_id: initech-0123456789abcdef\n"
        "    models:\n"
        "      - anthropic.claude-3-haiku-20240307-v1:0\n"
    )


def test_add_to_a_file_without_a_final_newline_keeps_it_without_one() -> None:
    original = COLUMN_ZERO.rstrip("\n")

    text = _consistent(_doc(original).add_tenant(INITECH))

    assert not text.endswith("\n")
    assert text.endswith("\n# new tenants go above this line")
    assert text.count("- id: initech\n") == 1


def test_add_to_an_empty_list_writes_a_block_list_and_keeps_the_rest() -> None:
    original = HEAD + "tenants: []  # none yet\n# end\n"

    text = _consistent(_doc(original).add_tenant({"id": "initech", "region": "eu-west-1"}))

    # The comment keeps its column, as end-of-line comments do on every changed line.
    assert text == HEAD + "tenants:     # none yet\n  - id: initech\n    region: eu-west-1\n# end\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_add_keeps_the_files_line_ends(newline: str) -> None:
    original = INDENTED.replace("\n", newline)

    text = _consistent(_doc(original).add_tenant(INITECH))

    assert text.startswith(original)
    assert text.count(newline) == text.count("\n")


def test_remove_of_the_only_tenant_leaves_an_empty_list() -> None:
    original = HEAD + "tenants:   # who may call\n  - id: acme\n    region: us-east-1\n# end\n"

    text = _consistent(_doc(original).remove_tenant(0))

    assert text == HEAD + "tenants: []  # who may call\n# end\n"


def test_update_accepts_enum_values_and_writes_their_value() -> None:
    class Content(enum.Enum):
        REDACTED = "redacted"

    edit = _doc(INDENTED).update_tenant(1, {"log_content": Content.REDACTED})

    assert _consistent(edit) == INDENTED + "    log_content: redacted\n"


def test_a_flow_style_tenants_list_is_still_edited_to_the_right_data() -> None:
    # Not spliced (one line holds every tenant): a whole round-trip dump instead.
    original = HEAD + "tenants: [{id: acme, region: us-east-1}, {id: globex, region: us-west-2}]\n"

    edit = _doc(original).update_tenant(1, {"cost_centre": "CC-1"})

    assert edit.data["tenants"][1] == {"id": "globex", "region": "us-west-2", "cost_centre": "CC-1"}
    assert _consistent(edit).startswith(HEAD)


def test_a_crlf_file_read_from_disk_is_edited_and_written_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    original = INDENTED.replace("\n", "\r\n").encode()
    path.write_bytes(original)

    doc = RegistryFile.read(path)
    edit = doc.update_tenant(1, {"log_content": "full"})
    write_atomic(path, edit.text, expected_current=doc.text)

    assert path.read_bytes() == original + b"    log_content: full\r\n"


def test_a_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "tenants.yaml"
    with pytest.raises(RegistryError, match=r"cannot read .*tenants\.yaml"):
        RegistryFile.read(missing)
    missing.write_bytes(b"tenants: [\xff]\n")
    with pytest.raises(RegistryError, match=r"tenants\.yaml is not UTF-8 text \(byte 10\)"):
        RegistryFile.read(missing)


# --- properties: any layout, any edit, only the edited tenant's lines change -----------------

MODELS = ("anthropic.claude-3-haiku-20240307-v1:0", "us.amazon.nova-lite-v1:0")


@dataclass(frozen=True)
class Layout:
    """How a person might have written the file."""

    dash_col: int  # of the tenants' dashes, under `tenants:` at column 0
    key_gap: int  # from a dash to its entry's keys
    lists: str  # "flow", or "block<offset>": a block list's dashes past its key
    newline: str
    final_newline: bool
    blank_between: bool  # a blank line between tenants
    defaults_after: bool  # another top-level key after the tenants
    end_comment: bool  # a comment at column 0 after the last tenant


@dataclass(frozen=True)
class Entry:
    above: bool  # a comment above its dash
    models: tuple[str, ...] | None
    log_content: bool  # with an end-of-line comment, and a comment line above it
    cost_centre: bool


Owner = tuple[Any, ...]


def _written(layout: Layout, entries: list[Entry]) -> list[tuple[str, Owner]]:
    """The file's lines, each with what it belongs to."""
    key_col = layout.dash_col + layout.key_gap
    keys = " " * key_col
    lines: list[tuple[str, Owner]] = [(line, ("head",)) for line in HEAD.splitlines()]
    lines.append(("tenants:", ("head",)))
    for i, entry in enumerate(entries):
        if i and layout.blank_between:
            lines.append(("", ("gap", i - 1)))
        if entry.above:
            lines.append((f"{' ' * layout.dash_col}# tenant {i}", ("entry", i, "above")))
        dash = f"{' ' * layout.dash_col}-{' ' * (layout.key_gap - 1)}"
        lines.append((f"{dash}id: t{i}", ("entry", i, "key", "id")))
        lines.append((f'{keys}account_id: "2222222222{i:02d}"', ("entry", i, "key", "account_id")))
        lines.append((f"{keys}region: us-east-1", ("entry", i, "key", "region")))
        if entry.models is not None:
            key = ("entry", i, "key", "models")
            if layout.lists == "flow":
                lines.append((f"{keys}models: [{', '.join(entry.models)}]", key))
            else:
                lines.append((f"{keys}models:", key))
                offset = int(layout.lists.removeprefix("block"))
                lines += [(f"{keys}{' ' * offset}- {model}", key) for model in entry.models]
        if entry.log_content:
            lines.append((f"{keys}# why full", ("entry", i, "key", "log_content")))
            lines.append(
                (f"{keys}log_content: full   # asked for", ("entry", i, "key", "log_content"))
            )
        if entry.cost_centre:
            lines.append((f"{keys}cost_centre: CC-{i}", ("entry", i, "key", "cost_centre")))
    if layout.end_comment:
        lines.append(("# end of tenants", ("tail",)))
    if layout.defaults_after:
        lines += [("defaults:", ("tail",)), ("  log_retention_days: 90", ("tail",))]
    return lines


def _text(layout: Layout, lines: list[tuple[str, Owner]]) -> str:
    text = layout.newline.join(line for line, _ in lines)
    return text + layout.newline if layout.final_newline else text


layouts = st.builds(
    Layout,
    dash_col=st.sampled_from([0, 2, 4]),
    key_gap=st.sampled_from([2, 4]),
    lists=st.sampled_from(["flow", "block0", "block2"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
    blank_between=st.booleans(),
    defaults_after=st.booleans(),
    end_comment=st.booleans(),
)
entries = st.lists(
    st.builds(
        Entry,
        above=st.booleans(),
        models=st.none() | st.lists(st.sampled_from(MODELS), min_size=1, max_size=2).map(tuple),
        log_content=st.booleans(),
        cost_centre=st.booleans(),
    ),
    min_size=1,
    max_size=4,
)
new_values = {
    "models": st.lists(st.sampled_from(MODELS), min_size=1, max_size=2),
    "log_content": st.just("redacted"),
    "cost_centre": st.just("CC 42/b"),
    "log_retention_days": st.just(30),
}
PROPERTIES = settings(max_examples=150, deadline=None, database=None)


def _lines_of(layout: Layout, text: str) -> list[str]:
    if layout.newline == "\r\n":
        assert text.count("\n") == text.count("\r\n"), "every line end stays CRLF"
    assert text.endswith(layout.newline) == layout.final_newline
    return text.split(layout.newline)


def _spliced_only(old: list[str], new: list[str], start: int, end: int) -> list[str]:
    """What replaced old[start:end], after checking every other line is unchanged."""
    kept_after = len(old) - end
    assert new[:start] == old[:start]
    assert new[len(new) - kept_after :] == old[end:]
    return new[start : len(new) - kept_after]


def _where(lines: list[tuple[str, Owner]], match: Callable[[Owner], bool]) -> tuple[int, int]:
    at = [n for n, (_, owner) in enumerate(lines) if match(owner)]
    return at[0], at[-1] + 1


@PROPERTIES
@given(layout=layouts, tenants=entries, data=st.data())
def test_update_changes_only_the_lines_of_the_changed_key(
    layout: Layout, tenants: list[Entry], data: st.DataObject
) -> None:
    lines = _written(layout, tenants)
    original = _text(layout, lines)
    index = data.draw(st.integers(0, len(tenants) - 1))
    key = data.draw(st.sampled_from(sorted(new_values)))
    value = data.draw(st.none() | new_values[key])
    expected = parse_registry_yaml(original)
    if value is None:
        expected["tenants"][index].pop(key, None)
    else:
        expected["tenants"][index][key] = value

    edit = _doc(original).update_tenant(index, {key: value})

    assert edit.data == expected
    new = _lines_of(layout, _consistent(edit))
    old = _lines_of(layout, original)
    present = any(owner == ("entry", index, "key", key) for _, owner in lines)
    if present:
        start, end = _where(lines, lambda owner: owner == ("entry", index, "key", key))
        if key == "log_content" and value is not None:
            start += 1  # its comment line above goes only with the key
        replaced = _spliced_only(old, new, start, end)
        keys = " " * (layout.dash_col + layout.key_gap)
        if value is None:
            assert replaced == []
        elif key == "log_content":
            assert replaced == [f"{keys}log_content: redacted  # asked for"]
        else:
            assert replaced[0].startswith(f"{keys}{key}:")
            assert all(line.startswith(keys) for line in replaced)
    else:
        _, end = _where(lines, lambda owner: owner[:2] == ("entry", index))
        added = _spliced_only(old, new, end, end)
        if value is None:
            assert added == []
        else:  # at the end of the entry, at its keys' column
            assert added[0].startswith(f"{' ' * (layout.dash_col + layout.key_gap)}{key}:")


@PROPERTIES
@given(layout=layouts, tenants=entries, data=st.data())
def test_remove_takes_only_the_tenants_own_lines(
    layout: Layout, tenants: list[Entry], data: st.DataObject
) -> None:
    lines = _written(layout, tenants)
    original = _text(layout, lines)
    index = data.draw(st.integers(0, len(tenants) - 1))

    edit = _doc(original).remove_tenant(index)

    new = _lines_of(layout, _consistent(edit))
    old = _lines_of(layout, original)
    assert [t["id"] for t in edit.data["tenants"]] == [
        f"t{i}" for i in range(len(tenants)) if i != index
    ]
    last = index == len(tenants) - 1
    # Its separating blank line goes too: the one after it, or before the last tenant.
    gap = index - 1 if last else index
    start, end = _where(lines, lambda owner: owner[:2] == ("entry", index) or owner == ("gap", gap))
    if len(tenants) > 1:
        assert _spliced_only(old, new, start, end) == []
    else:  # the list stays a list, on the line that names it
        assert _spliced_only(old, new, start - 1, end) == ["tenants: []"]


@PROPERTIES
@given(layout=layouts, tenants=entries)
def test_add_appends_after_the_last_tenant_in_its_layout(
    layout: Layout, tenants: list[Entry]
) -> None:
    lines = _written(layout, tenants)
    original = _text(layout, lines)

    edit = _doc(original).add_tenant(INITECH)

    assert edit.data["tenants"][-1] == INITECH
    new = _lines_of(layout, _consistent(edit))
    old = _lines_of(layout, original)
    _, end = _where(lines, lambda owner: owner[:2] == ("entry", len(tenants) - 1))
    added = _spliced_only(old, new, end, end)
    if layout.blank_between and len(tenants) > 1:
        assert added[0] == ""
        added = added[1:]
    key_col = layout.dash_col + layout.key_gap
    assert added[0] == f"{' ' * layout.dash_col}-{' ' * (layout.key_gap - 1)}id: initech"
    assert added[1] == f'{" " * key_col}account_id: "444444444444"'
    # Lists follow the nearest tenant's list; block lists keep the file's indentation.
    with_models = [t for t in tenants if t.models is not None]
    if with_models and layout.lists == "flow":
        assert added[-1] == f"{' ' * key_col}models: [{INITECH['models'][0]}]"
    elif with_models:
        offset = int(layout.lists.removeprefix("block"))
        assert added[-1] == f"{' ' * (key_col + offset)}- {INITECH['models'][0]}"
