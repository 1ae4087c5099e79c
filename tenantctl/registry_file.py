"""Editing the registry file: add or remove a tenant, keep comments, write atomically.

``tenantctl onboard`` and ``offboard`` change one list item in a file people
also edit by hand, so an edit must leave every other byte alone: comments,
quoting, key order and blank lines. ruamel.yaml's round-trip mode keeps most of
that, but it attaches a comment written *above* a list item to the end of the
item before it, so deleting a tenant would delete its neighbour's comment and
keep its own. The edits here therefore splice lines, using ruamel.yaml only to
find where each tenant starts and to render a new one, and then check that the
spliced text loads to exactly the intended data; if it does not (an unusual
layout), they fall back to a plain round-trip dump, which is still correct
data with most comments kept.

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
import io
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from contracts.registry import (
    TenantRegistry,
    parse_registry,
    parse_registry_yaml,
    read_registry_text,
)

# Keys whose values YAML would read as numbers if unquoted (account ids keep
# leading zeros only as strings); new entries quote them like the file does.
_QUOTED_KEYS = frozenset({"account_id"})


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

    Holds the original text so :func:`write_atomic` can refuse to overwrite a
    file that changed in between.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.data: Any = parse_registry_yaml(text, str(path))

    @classmethod
    def read(cls, path: str | Path) -> RegistryFile:
        """Read a registry file; RegistryError if it cannot be read or is not YAML."""
        return cls(Path(path), read_registry_text(path))

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
        """The file with ``entry`` appended to ``tenants``, comments and layout kept."""
        expected = copy.deepcopy(self.data) if isinstance(self.data, dict) else {}
        tenants = expected.get("tenants") or []
        expected["tenants"] = [*tenants, dict(entry)]
        rendered = _render_item(entry)
        spliced = _splice_append(self.text, rendered)
        return self._checked(spliced, expected, lambda doc: _rt_append(doc, entry))

    def update_tenant(self, index: int, changes: Mapping[str, Any]) -> RegistryEdit:
        """The file with ``changes`` set on ``tenants[index]``, comments and layout kept."""
        expected = copy.deepcopy(self.data)
        expected["tenants"][index].update(copy.deepcopy(dict(changes)))

        def rt_edit(doc: CommentedMap) -> None:
            item = doc["tenants"][index]
            for key, value in yaml_ready(changes).items():
                item[key] = value

        return self._checked(None, expected, rt_edit)

    def remove_tenant(self, index: int) -> RegistryEdit:
        """The file without ``tenants[index]`` and the comment lines directly above it."""
        expected = copy.deepcopy(self.data)
        del expected["tenants"][index]
        spliced = _splice_remove(self.text, index)
        return self._checked(spliced, expected, lambda doc: doc["tenants"].pop(index))

    def _checked(self, spliced: str | None, expected: dict[str, Any], rt_edit: Any) -> RegistryEdit:
        if spliced is not None and _loads_equal(spliced, expected):
            return RegistryEdit(text=spliced, data=expected)
        yaml = _round_trip_yaml()
        doc = yaml.load(self.text)
        if doc is None:
            doc = CommentedMap()
        rt_edit(doc)
        out = io.StringIO()
        yaml.dump(doc, out)
        text = out.getvalue()
        if not _loads_equal(text, expected):  # pragma: no cover - ruamel bug guard
            raise RuntimeError("registry edit did not round-trip; file left unchanged")
        return RegistryEdit(text=text, data=expected)


def _loads_equal(text: str, expected: Any) -> bool:
    try:
        return bool(YAML(typ="safe", pure=True).load(text) == expected)
    except YAMLError:
        return False


def _render_item(entry: Mapping[str, Any]) -> str:
    out = io.StringIO()
    _round_trip_yaml().dump([yaml_ready(entry)], out)
    return out.getvalue()


def _rt_append(doc: CommentedMap, entry: Mapping[str, Any]) -> None:
    tenants = doc.get("tenants")
    if not isinstance(tenants, CommentedSeq):
        tenants = CommentedSeq()
        doc["tenants"] = tenants
    tenants.fa.set_block_style()  # `tenants: []` would otherwise stay a flow list
    tenants.append(yaml_ready(entry))


def yaml_ready(entry: Mapping[str, Any]) -> CommentedMap:
    """A tenant entry as a round-trip mapping, with account ids quoted."""
    item = CommentedMap()
    for key, value in entry.items():
        if key in _QUOTED_KEYS and isinstance(value, str):
            value = DoubleQuotedScalarString(value)
        elif isinstance(value, (list, tuple)):
            value = CommentedSeq(value)
        item[key] = value
    return item


# --- line splicing -------------------------------------------------------------------------


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


@dataclass(frozen=True)
class _SeqLayout:
    starts: list[int]  # line of each item's dash
    content_ends: list[int]  # one past each item's last non-comment line
    dash_col: int


def _tenants_layout(text: str) -> _SeqLayout | None:
    """Where each tenant item sits, or None for a layout the splicer does not handle."""
    try:
        doc = _round_trip_yaml().load(text)
    except YAMLError:
        return None
    tenants = doc.get("tenants") if isinstance(doc, CommentedMap) else None
    if not isinstance(tenants, CommentedSeq) or not tenants or tenants.fa.flow_style():
        return None
    lines = text.splitlines(keepends=True)
    starts: list[int] = []
    dash_col = -1
    for i in range(len(tenants)):
        line_no, col = tenants.lc.item(i)
        dash = lines[line_no].rfind("-", 0, col)
        if dash < 0 or (dash_col >= 0 and dash != dash_col):
            return None
        dash_col = dash
        starts.append(line_no)
    # The list ends at the first content line indented at or left of the dashes
    # that is not itself a list item (the next top-level key), or at end of file.
    seq_end = len(lines)
    for n in range(starts[-1] + 1, len(lines)):
        line = lines[n]
        if _is_comment_or_blank(line):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent < dash_col or (indent == dash_col and not line.lstrip(" ").startswith("-")):
            seq_end = n
            break
    content_ends: list[int] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else seq_end
        while end > start + 1 and _is_comment_or_blank(lines[end - 1]):
            end -= 1
        content_ends.append(end)
    return _SeqLayout(starts=starts, content_ends=content_ends, dash_col=dash_col)


def _splice_append(text: str, rendered: str) -> str | None:
    layout = _tenants_layout(text)
    if layout is None:
        return None
    lines = text.splitlines(keepends=True)
    rendered_lines = rendered.splitlines(keepends=True)
    rendered_dash = len(rendered_lines[0]) - len(rendered_lines[0].lstrip(" "))
    shift = layout.dash_col - rendered_dash
    if shift < 0:
        return None
    new_lines = [" " * shift + line if line.strip() else line for line in rendered_lines]
    at = layout.content_ends[-1]
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    return "".join(lines[:at] + new_lines + lines[at:])


def _splice_remove(text: str, index: int) -> str | None:
    layout = _tenants_layout(text)
    if layout is None:
        return None
    lines = text.splitlines(keepends=True)
    start, end = layout.starts[index], layout.content_ends[index]
    # Comment lines directly above an item describe it; a blank line ends that block.
    while start > 0 and lines[start - 1].strip().startswith("#"):
        start -= 1
    return "".join(lines[:start] + lines[end:])


# --- writing -------------------------------------------------------------------------------


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
    if expected_current is not None and path.read_text(encoding="utf-8") != expected_current:
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
