"""The two accounts stay apart in ``stacks/``: a reader finds each account's code by folder,
and neither account's constructs reach into the other's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("account", "other"), [("operations", "customer"), ("customer", "operations")]
)
def test_one_accounts_stacks_never_import_the_other_accounts(account: str, other: str) -> None:
    crossings = {
        f"{path.relative_to(STACKS.parent)} imports {module}"
        for path in (STACKS / account).rglob("*.py")
        for module in _imported_modules(path)
        if module == f"stacks.{other}" or module.startswith(f"stacks.{other}.")
    }
    assert not crossings, sorted(crossings)


def test_shared_helpers_belong_to_neither_account() -> None:
    crossings = {
        f"{path.relative_to(STACKS.parent)} imports {module}"
        for path in (STACKS / "shared").rglob("*.py")
        for module in _imported_modules(path)
        if module.startswith(("stacks.operations", "stacks.customer"))
    }
    assert not crossings, sorted(crossings)


def test_every_stack_module_sits_in_an_account_folder() -> None:
    loose = sorted(p.name for p in STACKS.glob("*.py") if p.name != "__init__.py")
    assert loose == [], "put each construct under operations/, customer/ or shared/"
