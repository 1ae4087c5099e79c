"""Field paths for validation messages: ``tenants[2].account_id``, ``messages[1].role``."""

from __future__ import annotations

from collections.abc import Sequence

# Labels pydantic puts in an error's location that are not fields: the branch of a
# union (``int``, ``str`` ...), a validator step (``function-after[...]``) or a
# parametrized type (``tuple[...]``).
_TYPE_LABELS = frozenset({"int", "float", "str", "bool", "list", "dict", "none"})


def field_path(loc: Sequence[int | str], *, key_last: bool = False) -> str:
    """A pydantic error location as a path: ``("tenants", 2, "id")`` -> ``tenants[2].id``.

    ``key_last``: the last element is a key as written (an unknown key), never a
    label, even if it reads ``int`` or ``function-x``.
    """
    path = ""
    for n, part in enumerate(loc):
        last_key = key_last and n == len(loc) - 1
        if isinstance(part, int):
            path += f"[{part}]"
        elif not last_key and (part in _TYPE_LABELS or part.startswith("function-") or "[" in part):
            continue
        else:
            path += f".{part}" if path else part
    return path
