"""Field paths for validation messages: ``tenants[2].account_id``, ``messages[1].role``."""

from __future__ import annotations

from collections.abc import Sequence

# Labels pydantic puts in an error's location that are not fields: the branch of a
# union (``int``, ``str`` ...), a validator step (``function-after[...]``) or a
# parametrized type (``tuple[...]``).
_TYPE_LABELS = frozenset({"int", "float", "str", "bool", "list", "dict", "none"})


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a path: ``("tenants", 2, "id")`` -> ``tenants[2].id``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _TYPE_LABELS or part.startswith("function-") or "[" in part:
            continue
        else:
            path += f".{part}" if path else part
    return path
