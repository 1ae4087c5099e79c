"""The bundler's lazy package ``__init__`` (``lazy_init_source``) keeps what the eager one exports.

A made-up package stands in for langchain-aws: re-exports from submodules, a
``from . import`` of a submodule, code with a side effect, an ``__getattr__`` of
its own. The same reads run in a fresh interpreter against the original and the
rewritten package; every name must be the same object (module and qualified
name, or value), and the re-exporting submodules load only when read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stacks.shared.lambda_bundling import (
    DeferredImportError,
    LazyInitError,
    deferred_import_source,
    lazy_init_source,
)

ORIGINAL_INIT = '''
"""A package whose __init__ re-exports its submodules."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .models import Fast, Slow as SlowModel
from shop.pricing import price_of
from . import plugins

if TYPE_CHECKING:
    from .typing_only import Hint

os.environ["SHOP_INIT_RAN"] = "yes"  # a side effect the lazy init must keep

__all__ = ["Fast", "SlowModel", "price_of", "plugins", "Dynamic"]


def __getattr__(name):
    if name == "Dynamic":
        return "made by the original __getattr__"
    raise AttributeError(name)
'''

SUBMODULES = {
    "models.py": "class Fast:\n    pass\n\n\nclass Slow:\n    pass\n",
    "pricing.py": "def price_of(item):\n    return 3\n",
    "plugins/__init__.py": "NAME = 'plugins'\n",
    "typing_only.py": "Hint = int\n",
}

READS = ["Fast", "SlowModel", "price_of", "plugins", "Dynamic", "models", "pricing"]

# Reads every name in a fresh interpreter; reports what each is and when modules loaded.
READER = textwrap.dedent(
    """
    import json, os, sys, types
    sys.path.insert(0, sys.argv[1])
    import shop
    loaded_at_import = sorted(m for m in sys.modules if m.startswith("shop."))

    def what(value):
        if isinstance(value, types.ModuleType):
            return "module " + value.__name__
        if hasattr(value, "__qualname__"):
            return value.__module__ + "." + value.__qualname__
        return repr(value)

    found = {}
    for name in json.loads(sys.argv[2]):
        try:
            found[name] = what(getattr(shop, name))
        except AttributeError as error:
            found[name] = "AttributeError"
    namespace = {}
    exec("from shop import *", namespace)
    from shop.models import Fast
    print(json.dumps({
        "found": found,
        "same_object": shop.Fast is Fast,
        "star": sorted(n for n in namespace if n != "__builtins__"),
        "side_effect": os.environ.get("SHOP_INIT_RAN"),
        "loaded_at_import": loaded_at_import,
    }))
    """
)


def _package(root: Path, init: str) -> Path:
    package = root / "shop"
    for name, text in SUBMODULES.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    (package / "__init__.py").write_text(init)
    return package


def _read(root: Path, names: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", READER, str(root), json.dumps(names)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def eager_and_lazy(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    eager_root = tmp_path_factory.mktemp("eager")
    _package(eager_root, ORIGINAL_INIT)
    lazy_root = tmp_path_factory.mktemp("lazy")
    package = _package(lazy_root, ORIGINAL_INIT)
    (package / "__init__.py").write_text(lazy_init_source(ORIGINAL_INIT, "shop", package))
    names = [*READS, "NoSuchName"]
    return _read(eager_root, names), _read(lazy_root, names)


def test_every_name_reads_as_the_object_the_eager_init_bound(
    eager_and_lazy: tuple[dict, dict],
) -> None:
    eager, lazy = eager_and_lazy
    assert lazy["found"] == eager["found"]
    assert eager["found"]["SlowModel"] == "shop.models.Slow"
    assert eager["found"]["Dynamic"] == "'made by the original __getattr__'"
    assert lazy["found"]["NoSuchName"] == "AttributeError"
    assert lazy["same_object"] is True


def test_star_import_and_the_init_side_effect_are_kept(eager_and_lazy: tuple[dict, dict]) -> None:
    eager, lazy = eager_and_lazy
    assert lazy["star"] == eager["star"]
    assert lazy["side_effect"] == eager["side_effect"] == "yes"


def test_the_submodules_load_on_first_read_not_at_import(
    eager_and_lazy: tuple[dict, dict],
) -> None:
    eager, lazy = eager_and_lazy
    assert eager["loaded_at_import"] == ["shop.models", "shop.plugins", "shop.pricing"]
    assert lazy["loaded_at_import"] == []


def test_kept_code_that_reads_a_reexport_is_refused(tmp_path: Path) -> None:
    init = "from .models import Fast\n\nDEFAULT = Fast()\n"
    with pytest.raises(LazyInitError, match="reads \\['Fast'\\]"):
        lazy_init_source(init, "shop", _package(tmp_path, init))


def test_a_reexport_named_like_a_submodule_is_refused(tmp_path: Path) -> None:
    init = "from .models import Fast as pricing\n"
    with pytest.raises(LazyInitError, match="also submodules: \\['pricing'\\]"):
        lazy_init_source(init, "shop", _package(tmp_path, init))


# A made-up module stands in for langchain-aws' bedrock_converse: a module-level
# import of parsers only one method (decorated, with a docstring) and the
# decorated function nested in it use, as ``with_structured_output`` uses
# langchain_aws.function_calling.
CHAT_MODULE = '''
"""A chat model."""
import functools
from shop.parsers import (
    JsonParser,
    ToolParser as Tools,
)


class Chat:
    def invoke(self, prompt):
        return prompt.upper()

    @functools.lru_cache(maxsize=None)
    def structured(self, strict):
        """The output parser."""
        @functools.cache
        def build():
            return Tools() if strict else JsonParser()
        return build()
'''

PARSERS = "class JsonParser:\n    pass\n\n\nclass ToolParser:\n    pass\n"

DEFERRED_READER = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    import shop.chat
    chat = shop.chat.Chat()
    found = {"invoke": chat.invoke("hi"), "at_import": "shop.parsers" in sys.modules}
    found["parsers"] = [type(chat.structured(s)).__qualname__ for s in (True, False)]
    found["after_use"] = "shop.parsers" in sys.modules
    print(json.dumps(found))
    """
)


def _read_chat(root: Path, chat: str) -> dict[str, object]:
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "parsers.py").write_text(PARSERS)
    (root / "shop" / "chat.py").write_text(chat)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", DEFERRED_READER, str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_a_deferred_import_loads_on_first_use_and_gives_the_same_objects(tmp_path: Path) -> None:
    deferred = deferred_import_source(CHAT_MODULE, "shop.chat", "shop.parsers")
    assert "from shop.parsers import JsonParser, ToolParser as Tools" in deferred
    eager = _read_chat(tmp_path / "eager", CHAT_MODULE)
    lazy = _read_chat(tmp_path / "lazy", deferred)
    assert eager["at_import"] is True
    assert lazy["at_import"] is False
    assert lazy["after_use"] is True
    assert {**lazy, "at_import": True} == eager
    assert lazy["parsers"] == ["ToolParser", "JsonParser"]


@pytest.mark.parametrize(
    ("use", "why"),
    [
        ("DEFAULT = JsonParser\n", "outside a function body"),
        ("class Other:\n    parser = JsonParser\n", "outside a function body"),
        ("def f(parser=JsonParser):\n    return parser\n", "outside a function body"),
        ("def f(parser: JsonParser):\n    return parser\n", "outside a function body"),
        ("__all__ = ['JsonParser']\n", "outside a function body"),
        ("def f():\n    global JsonParser\n    JsonParser = 1\n", "outside a function body"),
    ],
)
def test_a_name_used_outside_function_bodies_is_refused(use: str, why: str) -> None:
    with pytest.raises(DeferredImportError, match=why):
        deferred_import_source(CHAT_MODULE + use, "shop.chat", "shop.parsers")


def test_a_module_without_that_one_import_is_refused() -> None:
    with pytest.raises(DeferredImportError, match="not one plain"):
        deferred_import_source("import shop.parsers\n", "shop.chat", "shop.parsers")
    with pytest.raises(DeferredImportError, match="not one plain"):
        deferred_import_source("from shop.parsers import *\n", "shop.chat", "shop.parsers")
